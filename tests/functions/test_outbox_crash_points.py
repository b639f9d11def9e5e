"""The outbox loses nothing and leaves nothing stuck, whichever two steps a crash falls
between (hospital.outbox lists them): a patient's intake publishes its case, the container
dies (or fails) at each point in turn, the sweeper does its part, and the rescue-events
consumer, with everything it causes (the triage push, the staff alerts), changes nothing twice
however many copies arrive.

A crash is `Killed`, a BaseException: nothing in our code catches it, as nothing runs after a
container dies. `outbox.forget_owed_marks()` is the container's memory gone with it."""
import concurrent.futures
import datetime as dt
import json
import threading
import uuid

import pytest
import sqlalchemy as sa

from hospital import outbox
from hospital.db import engine, tables
from hospital.outbox_marks import OwedMarks
from hospital.unit_of_work import unit_of_work
from tests.conftest import api_event, call, make_patient, wait_for
from tests.db_costs import counted

LOCATION = {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "wgs84", "accuracy_m": 20}
ARN = "arn:aws:sqs:us-east-1:123456789012:"


class Killed(BaseException):
    """The container dies here."""


def kill(*_args, **_kwargs):
    raise Killed()


def intake(platform, functions, token=None):
    """A new case through the rescue API; returns its case id and its outbox row id."""
    token = token or make_patient(platform)[1]
    invocation = functions.invoke("RescueApiFunction", api_event(
        "POST", "/rescue/cases", body={"location": LOCATION}, token=token,
        headers={"Idempotency-Key": uuid.uuid4().hex}))
    assert invocation.ok and invocation.result["statusCode"] == 201, invocation.result
    case_id = json.loads(invocation.result["body"])["case_id"]
    return case_id, message_of(case_id)


def intake_killed(platform, functions, monkeypatch):
    """An intake whose container dies in its relay (where the caller's patch says)."""
    principal, token = make_patient(platform)
    with pytest.raises(Killed):
        functions.invoke("RescueApiFunction", api_event("POST", "/rescue/cases", body={"location": LOCATION},
                                                        token=token))
    monkeypatch.undo()
    outbox.forget_owed_marks()  # the container is gone
    case_id = case_of(principal)
    assert case_id, "committed: the crash came after step 1"
    return case_id, message_of(case_id)


def case_of(principal):
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.rescue_cases.c.id).where(
            tables.rescue_cases.c.patient_user_id == principal.user_id)).scalar_one_or_none()


def message_of(case_id):
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.outbox.c.id).where(
            tables.outbox.c.message_type == "rescue.case_created",
            tables.outbox.c.payload.contains(case_id))).scalar_one()


def row(message_id):
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.outbox).where(tables.outbox.c.id == message_id)).one()


def taken(platform, queue: str, case_id: str) -> list[dict]:
    """What is on `queue` for this case (the rest is other tests' and goes too)."""
    sqs, url = platform.sqs(), platform.queue_url(queue)
    mine = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                  WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return mine
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            if case_id in m["Body"]:
                mine.append(m)


def deliver(functions, function, queue_name, messages):
    records = [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                "attributes": m.get("Attributes", {}), "messageAttributes": {},
                "eventSourceARN": ARN + queue_name} for m in messages]
    assert functions.invoke(function, {"Records": records}).result == {"batchItemFailures": []}


def state(platform, case_id):
    """What a consumer may change: the case, its timeline, the ED's copy, staff messages. Not
    `triage_attempts`: it counts pushes, and a repeated push is one (the ED answers it as a
    duplicate and keeps what it has)."""
    with engine().connect() as conn:
        case = conn.execute(sa.select(tables.rescue_cases.c.status, tables.rescue_cases.c.triage_status,
                                      tables.rescue_cases.c.triage_version, tables.rescue_cases.c.triage_ref)
                            .where(tables.rescue_cases.c.id == case_id)).one()
        nodes = conn.execute(sa.select(tables.rescue_events.c.node, tables.rescue_events.c.dedupe_key)
                             .where(tables.rescue_events.c.case_id == case_id)
                             .order_by(tables.rescue_events.c.id)).all()
    at_ed = [(c["accepted_version"], c["triage_ref"]) for c in platform.triage.cases(case_id)]
    wechat = [m for m in platform.wechat.messages() if case_id in (m["body"].get("page") or "")]
    return tuple(case), nodes, at_ed, len(wechat)


def consumed_once_each(platform, functions, case_id, copies: int):
    """The case's published copies, each given to the rescue-events consumer with what it
    causes; the state after every copy is the state after the first."""
    created = taken(platform, "RescueEventsQueue", case_id)
    assert len(created) == copies
    assert {json.loads(m["Body"])["message_id"] for m in created} == {str(message_of(case_id))}  # one message
    states = []
    for copy in created:
        deliver(functions, "RescueEventsFunction", "hospital-dev-rescue-events", [copy])
        deliver(functions, "NotificationsFunction", "hospital-dev-notifications",
                taken(platform, "NotificationsQueue", case_id))
        deliver(functions, "TriageLinkFunction", "hospital-dev-triage", taken(platform, "TriageQueue", case_id))
        states.append(state(platform, case_id))
    assert all(s == states[0] for s in states), states
    _case, nodes, at_ed, _ = states[0]
    assert [n for n, _ in nodes].count("alerted") == len({key for n, key in nodes if n == "alerted"})  # once each
    assert "alerted" in [n for n, _ in nodes]
    assert len(at_ed) == 1


def sweep_until_sent(message_id):
    outbox.sweep(grace=dt.timedelta(0))
    stored = row(message_id)
    assert stored.sent_at is not None, "swept and marked"
    return stored


@pytest.fixture(autouse=True)
def clean_queues(platform):
    platform.triage.clear_faults()
    for queue in ("RescueEventsQueue", "NotificationsQueue", "TriageQueue"):
        taken(platform, queue, "-")


def test_killed_after_the_business_commit_before_the_send(db, platform, functions, monkeypatch):
    monkeypatch.setattr(outbox, "_send", kill)
    case_id, message_id = intake_killed(platform, functions, monkeypatch)
    stuck = row(message_id)
    assert (stuck.sent_at, stuck.last_error, stuck.attempts) == (None, None, 0)  # nobody sent it, nobody owes it
    assert taken(platform, "RescueEventsQueue", case_id) == []
    outbox.sweep()
    assert row(message_id).sent_at is None  # younger than GRACE: still its relay's time
    sweep_until_sent(message_id)
    consumed_once_each(platform, functions, case_id, copies=1)


def test_killed_after_the_send_before_its_mark_is_owed(db, platform, functions, monkeypatch):
    monkeypatch.setattr(OwedMarks, "owe", kill)
    case_id, message_id = intake_killed(platform, functions, monkeypatch)
    assert row(message_id).sent_at is None  # sent, but nothing says so
    swept = sweep_until_sent(message_id)
    assert swept.attempts == 1  # the sweeper's claim; the relay's send was never recorded
    consumed_once_each(platform, functions, case_id, copies=2)  # the relay's copy and the sweeper's


def test_marks_owed_when_the_next_unit_of_work_rolls_back_stay_owed(db, platform, functions):
    case_id, message_id = intake(platform, functions)
    sent_by = row(message_id).created_at + dt.timedelta(seconds=10)
    assert message_id in outbox.owed_marks()
    with pytest.raises(RuntimeError), unit_of_work():
        raise RuntimeError("the next request's business rule failed")
    assert row(message_id).sent_at is None
    assert message_id in outbox.owed_marks()
    with unit_of_work():  # the one after writes it
        pass
    assert row(message_id).created_at <= row(message_id).sent_at <= sent_by
    assert message_id not in outbox.owed_marks()
    outbox.sweep(grace=dt.timedelta(0))
    consumed_once_each(platform, functions, case_id, copies=1)  # marked before the sweeper looked: one copy


def test_marks_owed_when_the_next_commit_fails_stay_owed(db, platform, functions):
    case_id, message_id = intake(platform, functions)
    failing = threading.Event()

    def commit_fails(_conn):
        if failing.is_set():
            failing.clear()
            raise sa.exc.OperationalError("COMMIT", {}, Exception("server has gone away"))

    sa.event.listen(engine(), "commit", commit_fails)
    try:
        failing.set()
        with counted() as costs, pytest.raises(sa.exc.OperationalError), unit_of_work():
            pass
    finally:
        sa.event.remove(engine(), "commit", commit_fails)
    assert costs.writes == ["UPDATE outbox SET"]  # written; its commit failed
    assert row(message_id).sent_at is None
    assert message_id in outbox.owed_marks()
    with unit_of_work():
        pass
    assert row(message_id).sent_at is not None
    consumed_once_each(platform, functions, case_id, copies=1)


def test_killed_after_the_marks_commit_before_they_are_settled(db, platform, functions, monkeypatch):
    case_id, message_id = intake(platform, functions)
    monkeypatch.setattr(OwedMarks, "settle", kill)
    with pytest.raises(Killed), unit_of_work():
        pass
    monkeypatch.undo()
    outbox.forget_owed_marks()
    assert row(message_id).sent_at is not None  # committed: step 4 held, whatever 5 did
    outbox.sweep(grace=dt.timedelta(0))
    consumed_once_each(platform, functions, case_id, copies=1)


def test_marks_owed_by_a_container_that_is_gone_are_the_sweepers(db, platform, functions):
    case_id, message_id = intake(platform, functions)
    assert message_id in outbox.owed_marks()
    outbox.forget_owed_marks()  # died, or frozen and never woken
    swept = sweep_until_sent(message_id)
    assert swept.attempts == 1
    consumed_once_each(platform, functions, case_id, copies=2)


def test_an_idle_container_that_wakes_after_the_sweeper_changes_nothing(db, platform, functions, monkeypatch):
    case_id, message_id = intake(platform, functions)
    idle = outbox._owed
    monkeypatch.setattr(outbox, "_owed", {})  # the sweeper runs in a container of its own
    swept = sweep_until_sent(message_id)
    monkeypatch.setattr(outbox, "_owed", idle)  # the intake's container wakes for its next request
    assert message_id in outbox.owed_marks()
    with counted() as costs, unit_of_work():
        pass
    assert costs.writing_commits == 1, str(costs)
    assert row(message_id).sent_at == swept.sent_at  # the sweeper's mark stands
    assert message_id not in outbox.owed_marks()
    consumed_once_each(platform, functions, case_id, copies=2)


def test_a_sweeper_and_a_relay_sending_the_same_row_at_once(db, platform, functions, monkeypatch):
    """The relay is still sending when the sweeper takes the row (only if it outlasts GRACE:
    here its send waits for the sweeper's). Both send; it is marked once."""
    real_send, swept = outbox._send, threading.Event()

    def relay_waits_for_the_sweeper(message, profile="default"):
        if profile == "fast":
            assert swept.wait(20)
        real_send(message, profile)

    monkeypatch.setattr(outbox, "_send", relay_waits_for_the_sweeper)
    principal, token = make_patient(platform)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        request = pool.submit(call, functions, "RescueApiFunction", api_event(
            "POST", "/rescue/cases", body={"location": LOCATION}, token=token))
        case_id = wait_for(lambda: case_of(principal), timeout=20)  # committed; its relay waits
        message_id = message_of(case_id)
        swept_row = sweep_until_sent(message_id)
        swept.set()
        status, case = request.result(timeout=30)
    assert status == 201 and case["case_id"] == case_id
    assert message_id in outbox.owed_marks()
    with unit_of_work():
        pass
    assert row(message_id).sent_at == swept_row.sent_at
    consumed_once_each(platform, functions, case_id, copies=2)


def test_a_failed_send_releases_the_row_with_its_error_and_the_sweeper_sends_it(db, platform, functions,
                                                                                monkeypatch):
    real_send = outbox._send

    def queue_down(message, profile="default"):
        if profile == "fast":
            raise ConnectionError("SQS unreachable")
        real_send(message, profile)

    monkeypatch.setattr(outbox, "_send", queue_down)
    _, token = make_patient(platform)
    with counted() as costs:
        case_id, message_id = intake(platform, functions, token)
    monkeypatch.undo()
    # The intake's one commit, then the failure's own write: the release with its error.
    assert costs.writing_commits == 2 and costs.writes[-1] == "UPDATE outbox SET", str(costs)
    failed = row(message_id)
    assert failed.sent_at is None and "SQS unreachable" in failed.last_error and failed.claimed_until is None
    assert message_id not in outbox.owed_marks()
    swept = sweep_until_sent(message_id)
    assert swept.last_error is None
    consumed_once_each(platform, functions, case_id, copies=1)


def test_a_sweeper_killed_between_its_send_and_its_mark_sends_again_once_its_claim_expires(
        db, platform, functions, monkeypatch):
    monkeypatch.setattr(outbox, "_send", kill)
    case_id, message_id = intake_killed(platform, functions, monkeypatch)  # nothing sent yet
    real_send = outbox._send

    def sent_then_killed(message, profile="default"):
        real_send(message, profile)
        raise Killed()

    monkeypatch.setattr(outbox, "_send", sent_then_killed)
    with pytest.raises(Killed):
        outbox.relay([message_id])
    monkeypatch.undo()
    claimed = row(message_id)
    assert claimed.sent_at is None and claimed.claimed_until is not None
    assert outbox.relay([message_id]) == 0  # the claim holds: no second sweeper sends meanwhile
    with engine().begin() as conn:  # the claim's 30 s pass
        conn.execute(tables.outbox.update().where(tables.outbox.c.id == message_id)
                     .values(claimed_until=claimed.claimed_until - outbox.CLAIM - dt.timedelta(seconds=1)))
    sweep_until_sent(message_id)
    consumed_once_each(platform, functions, case_id, copies=2)
