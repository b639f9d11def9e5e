"""Every consumer changes nothing twice when the sweeper sends a message again (the container
that relayed it went idle or died before its mark): each message here is published by its
real producer, relayed, forgotten by its container, swept again, and both copies (one
message_id) are delivered. What the consumer owns and what it asked of outside systems is the
same after the second copy as after the first."""
import datetime as dt
import json

import pytest
import sqlalchemy as sa

from hospital import outbox
from hospital.db import engine, tables
from hospital.rescue import messages as rescue_messages
from hospital.unit_of_work import unit_of_work
from tests.conftest import api_event, call, make_patient, wait_for
from tests.functions.test_outbox_crash_points import taken
from tests.functions.test_rescue_dispatch import staff_member
from tests.functions.test_staff_alerts import alerted_nodes, known_to_wechat
from tests.payments.support import ledger_rows, order_row, wait_status
from tests.payments.test_refunds import confirmed_order, finance_token, refund_by_hand, refund_row, sim_refunds

LOCATION = {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "wgs84", "accuracy_m": 20}
ARN = "arn:aws:sqs:us-east-1:123456789012:"
CONSUMERS = {"RescueEventsQueue": ("RescueEventsFunction", "hospital-dev-rescue-events"),
             "NotificationsQueue": ("NotificationsFunction", "hospital-dev-notifications"),
             "TriageQueue": ("TriageLinkFunction", "hospital-dev-triage"),
             "PaymentEventsQueue": ("PaymentEventsFunction", "hospital-dev-payment-events"),
             "RefundsQueue": ("RefundWorkerFunction", "hospital-dev-refunds")}


def sent_twice(platform, queue: str, key: str) -> list[dict]:
    """The copies on `queue` of the message carrying `key`: its relay's, and the sweeper's
    after its container forgot the mark it owed. Two, one message_id."""
    copies = wait_for(lambda: taken(platform, queue, key))  # the relay's (a callback's may be a moment late)
    message_id = int(json.loads(copies[0]["Body"])["message_id"])
    wait_for(lambda: message_id in outbox.owed_marks())
    outbox.forget_owed_marks()
    outbox.sweep(grace=dt.timedelta(0))
    copies += taken(platform, queue, key)
    assert len(copies) == 2, copies
    assert {json.loads(m["Body"])["message_id"] for m in copies} == {str(message_id)}
    return copies


def deliver(functions, queue: str, copy: dict) -> None:
    function, name = CONSUMERS[queue]
    record = {"messageId": copy["MessageId"], "receiptHandle": copy["ReceiptHandle"], "body": copy["Body"],
              "attributes": copy.get("Attributes", {}), "messageAttributes": {}, "eventSourceARN": ARN + name}
    assert functions.invoke(function, {"Records": [record]}).result == {"batchItemFailures": []}


def each_copy_leaves(functions, queue: str, copies: list[dict], observe) -> None:
    deliver(functions, queue, copies[0])
    first = observe()
    deliver(functions, queue, copies[1])
    assert observe() == first


@pytest.fixture(autouse=True)
def clean(platform):
    platform.triage.clear_faults()
    for queue in CONSUMERS:
        taken(platform, queue, "-")


def new_case(platform, functions) -> str:
    _, token = make_patient(platform)
    status, case = call(functions, "RescueApiFunction",
                        api_event("POST", "/rescue/cases", body={"location": LOCATION}, token=token))
    assert status == 201
    return case["case_id"]


def timeline(case_id):
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.rescue_events.c.node, tables.rescue_events.c.dedupe_key)
                            .where(tables.rescue_events.c.case_id == case_id)
                            .order_by(tables.rescue_events.c.id)).all()


def triage_link_of(case_id):
    """The link's state; not triage_attempts, which counts pushes (a repeated push is one)."""
    with engine().connect() as conn:
        return tuple(conn.execute(sa.select(tables.rescue_cases.c.triage_status, tables.rescue_cases.c.triage_version,
                                            tables.rescue_cases.c.triage_ref)
                                  .where(tables.rescue_cases.c.id == case_id)).one())


def test_the_rescue_events_consumer_alerts_a_case_once(db, platform, functions):
    case_id = new_case(platform, functions)
    copies = sent_twice(platform, "RescueEventsQueue", case_id)
    each_copy_leaves(functions, "RescueEventsQueue", copies,
                     lambda: (timeline(case_id), [n for n, _ in timeline(case_id)].count("alerted")))
    assert [n for n, _ in timeline(case_id)].count("alerted") == 1  # the ED console's, once


def test_a_staff_alert_reaches_the_staff_member_once(db, platform, functions):
    case_id = new_case(platform, functions)
    member, _ = staff_member(platform, "staff")
    openid = known_to_wechat(platform, member.user_id)
    with unit_of_work() as uow:  # what the rescue-events consumer's fan-out publishes per person on duty
        uow.publish(rescue_messages.StaffAlert(case_id=case_id, user_id=member.user_id))
    copies = sent_twice(platform, "NotificationsQueue", case_id)

    def sent():
        return [m for m in platform.wechat.messages(touser=openid) if case_id in (m["body"].get("page") or "")]

    each_copy_leaves(functions, "NotificationsQueue", copies, lambda: (alerted_nodes(case_id), len(sent())))
    assert len(sent()) == 1
    assert alerted_nodes(case_id)[f"wechat:{member.user_id}"]["result"] == "sent"


def test_the_triage_link_leaves_the_ed_and_the_case_as_the_first_push_did(db, platform, functions):
    case_id = new_case(platform, functions)
    with unit_of_work() as uow:  # what the rescue-events consumer forwards
        uow.publish(rescue_messages.TriageCaseChanged(case_id=case_id))
    copies = sent_twice(platform, "TriageQueue", case_id)
    each_copy_leaves(functions, "TriageQueue", copies, lambda: (
        triage_link_of(case_id), [(c["accepted_version"], c["case"]) for c in platform.triage.cases(case_id)]))
    assert triage_link_of(case_id)[0] == "delivered"
    assert [d["result"] for d in platform.triage.deliveries(case_id)] == ["created", "duplicate"]


def test_the_his_confirms_a_payment_once(db, platform, functions):
    from tests.payments.support import create_order, patient_pays, patient_with_bill, pay

    _, token, bill = patient_with_bill(platform)
    order_id = create_order(functions, token, bill)[1]["order_id"]
    assert pay(functions, token, order_id)[0] == 200
    patient_pays(platform, order_id)
    wait_status(order_id, "paid")
    copies = sent_twice(platform, "PaymentEventsQueue", order_id)

    def confirmed():
        row = order_row(order_id)
        return (row.status, row.his_attempts, row.his_confirmed_at,
                [c for c in platform.his.confirmations if c.get("pay_order_no") == order_id])

    each_copy_leaves(functions, "PaymentEventsQueue", copies, confirmed)
    assert order_row(order_id).status == "confirmed"
    assert len(confirmed()[3]) == 1


def test_a_refund_goes_back_once(db, platform, functions):
    order_id, _ = confirmed_order(platform, functions)
    refund = refund_by_hand(functions, finance_token(platform, order_id[:8]), order_id, 2500)[1]
    copies = sent_twice(platform, "RefundsQueue", refund["refund_id"])
    deliver(functions, "RefundsQueue", copies[0])
    wait_status(order_id, "refunded")  # the provider's notification

    def refunded():
        row = refund_row(refund["out_refund_no"])
        return (row.status, row.amount_fen, len(sim_refunds(platform, order_id)),
                [(e.entry_type, e.amount_fen) for e in ledger_rows(order_id)], order_row(order_id).status)

    first = refunded()
    deliver(functions, "RefundsQueue", copies[1])
    assert refunded() == first
    assert first[2] == 1 and first[3] == [("payment", 2500), ("refund", -2500)]
