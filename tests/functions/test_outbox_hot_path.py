"""What publishing costs a request: an intake and a v3 payment notification each commit their
business transaction once; the mark of the message the container sent before rides in that
transaction as one more UPDATE, instead of a commit of its own after the send.

Measured in the steady state (a warm container that has just sent a message). Before, each
paid a second commit per message: intake 2 writing commits (14 round trips on MySQL), v3
notification 2 (8 round trips)."""
import uuid

import pytest

from hospital import outbox
from infra import devenv
from tests.conftest import api_event, call
from tests.db_costs import counted
from tests.payments.support import create_order, order_row, patient_with_bill, pay

LOCATION = {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "wgs84", "accuracy_m": 20}
# (writing commits, read-only commits, statements) per database; SQLite's BEGIN IMMEDIATE is a
# statement of its own. An intake reads in two short transactions besides its one commit: the
# caller's standing and the Idempotency-Key; the consoles to push to are read in the commit's own.
# The intake's audit entry is two statements: the audit chain's head moved, then the entry (hospital.audit).
INTAKE = {"mysql": (1, 2, 10), "sqlite": (1, 2, 13)}
V3_NOTIFICATION = {"mysql": (1, 0, 6), "sqlite": (1, 0, 7)}


def intake(functions, token):
    status, case = call(functions, "RescueApiFunction", api_event(
        "POST", "/rescue/cases", body={"location": LOCATION, "complaint": "胸痛"}, token=token,
        headers={"Idempotency-Key": uuid.uuid4().hex}))
    assert status == 201, case
    return case


def test_an_intake_commits_once_with_the_mark_of_the_message_sent_before(db, patient, functions):
    _, token = patient
    intake(functions, token)  # warm, and leaves a sent message for the next unit of work to mark
    before = outbox.owed_marks()
    assert before, "the warm-up's message was relayed and awaits its mark"
    with counted() as costs:
        intake(functions, token)
    print(f"\nintake on {db}: {costs}")
    assert (costs.writing_commits, costs.reading_commits, costs.statements) == INTAKE[db], f"intake on {db}: {costs}"
    assert costs.writes.count("UPDATE outbox SET") == 1  # the earlier message's mark, in that commit
    assert not set(before) & set(outbox.owed_marks())


def paid_at_wechat(platform, functions) -> dict:
    _, token, bill = patient_with_bill(platform)
    order = create_order(functions, token, bill)[1]
    assert pay(functions, token, order["order_id"])[0] == 200
    platform.wechatpay.pay(devenv.DEV_V3_MCHID, order["order_id"], notify=False)
    body, headers = platform.wechatpay.notification("payment", devenv.DEV_V3_MCHID, order["order_id"])
    event = api_event("POST", "/callbacks/wechatpay/v3", headers=headers)
    event["body"] = body.decode()
    return {"order_id": order["order_id"], "event": event}


def notify(functions, paid):
    invocation = functions.invoke("PaymentCallbacksFunction", paid["event"])
    assert invocation.ok and invocation.result["statusCode"] == 204, invocation.result


def test_a_v3_payment_notification_commits_once_with_the_mark_of_the_message_sent_before(db, platform, functions):
    warm, measured = paid_at_wechat(platform, functions), paid_at_wechat(platform, functions)
    notify(functions, warm)
    before = outbox.owed_marks()
    assert before, "the warm-up's payment.paid was relayed and awaits its mark"
    with counted() as costs:
        notify(functions, measured)
    print(f"\nv3 notification on {db}: {costs}")
    assert order_row(measured["order_id"]).status == "paid"
    assert (costs.writing_commits, costs.reading_commits, costs.statements) == V3_NOTIFICATION[db], \
        f"v3 notification on {db}: {costs}"
    assert costs.writes.count("UPDATE outbox SET") == 1
    assert not set(before) & set(outbox.owed_marks())


# A case_created on the rescue-events queue: the staff fan-out and the triage forward commit
# together (before, each had a commit and a relay of its own). With no ED console open the
# intake could not alert, so the consumer reads the alert and its listeners and records the
# push in a second commit; after an intake that reached a console it stops at the first.
CASE_CREATED = {"mysql": (2, 2), "sqlite": (2, 2)}  # (writing commits, read-only commits)


@pytest.fixture
def nobody_on_duty(db):
    """The counts below are of a case with no staff on duty to tell: another test file the same
    worker ran may have left someone on duty in this database."""
    from hospital.db import engine, tables

    with engine().begin() as conn:
        conn.execute(tables.on_duty.delete())


def test_a_consumed_case_created_commits_its_fan_out_and_triage_forward_once(db, nobody_on_duty, patient, functions):
    from tests.functions.test_rescue_events import created, sqs_event

    _, token = patient
    case_id = intake(functions, token)["case_id"]
    with counted() as costs:
        result = functions.invoke("RescueEventsFunction", sqs_event(created(case_id, uuid.uuid4().hex)))
    assert result.result == {"batchItemFailures": []}
    print(f"\ncase_created consumed on {db}: {costs}")
    assert (costs.writing_commits, costs.reading_commits) == CASE_CREATED[db], f"case_created on {db}: {costs}"
    assert costs.writes.count("INSERT INTO outbox") == 1  # the triage forward, in the fan-out's commit


def test_a_batch_of_case_created_forwards_to_triage_in_one_send(db, nobody_on_duty, patient, functions):
    """The records of one SQS batch relay what they published together: three cases' triage
    forwards are one SendMessageBatch, not three calls (counted on the SQS client's own events)."""
    from hospital.aws import client
    from tests.functions.test_rescue_events import created, sqs_event

    _, token = patient
    case_ids = [intake(functions, token)["case_id"] for _ in range(3)]
    calls: list[tuple[str, int]] = []

    def count(params, model, **_):
        calls.append((model.name, len(params.get("Entries", [None]))))

    sqs = client("sqs", "fast")
    sqs.meta.events.register("before-parameter-build.sqs", count)
    try:
        result = functions.invoke("RescueEventsFunction", sqs_event(*[created(c, uuid.uuid4().hex) for c in case_ids]))
    finally:
        sqs.meta.events.unregister("before-parameter-build.sqs", count)
    assert result.result == {"batchItemFailures": []}
    assert calls == [("SendMessageBatch", 3)]
