"""Declared messages: what a producer publishes is what the consumer gets back, on the wire
exactly as before; unknown types are logged once and acknowledged, malformed ones fail the
record; which case changes reach the triage link is declared with the message (ER7)."""
import dataclasses
import json
import logging

import pytest

from hospital import messages
from hospital.messaging import Consumer, process_batch
from hospital.payments.messages import PaymentPaid, RefundRequested
from hospital.rescue.messages import (
    CaseChanged,
    CaseCreated,
    Dispatched,
    LocationChanged,
    StaffAlert,
    TriageCaseChanged,
)
from hospital.unit_of_work import UnitOfWork

EXAMPLES = [
    CaseCreated(case_id="c1"),
    CaseCreated(case_id="c1", republished=True),
    LocationChanged(case_id="c1", location_id=7),
    Dispatched(case_id="c1", dispatch_id="d1"),
    *[CaseChanged(case_id="c1", node=node) for node in CaseChanged.NODES],
    StaffAlert(case_id="c1", user_id=3),
    TriageCaseChanged(case_id="c1"),
    PaymentPaid(order_id="o1"),
    RefundRequested(refund_id="r1"),
]


def body(message, message_id="41"):
    """The queue body the outbox relays for a published message (outbox.envelope's shape)."""
    return json.loads(json.dumps({"message_id": message_id, "type": message.wire_type,
                                  "created_at": "2025-01-01T00:00:00Z", "data": message.data()}))


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: m.wire_type)
def test_a_message_comes_back_as_it_was_published(message):
    assert messages.decode(body(message)) == message


def test_the_wire_names_and_data_are_those_already_in_queues_and_outbox_rows():
    assert [(m.QUEUE, m.wire_type, m.data()) for m in EXAMPLES[:4]] == [
        ("rescue-events", "rescue.case_created", {"case_id": "c1"}),
        ("rescue-events", "rescue.case_created", {"case_id": "c1", "republished": True}),
        ("rescue-events", "rescue.location_changed", {"case_id": "c1", "location_id": 7}),
        ("rescue-events", "rescue.dispatched", {"case_id": "c1", "dispatch_id": "d1"}),
    ]
    assert {m.wire_type for m in EXAMPLES if isinstance(m, CaseChanged)} == {
        "rescue.accepted", "rescue.decided", "rescue.cancelled", "rescue.completed", "rescue.en_route",
        "rescue.on_scene", "rescue.patient_contact", "rescue.left_scene", "rescue.at_hospital",
        "rescue.handed_over", "rescue.back_in_service"}
    assert CaseChanged(case_id="c1", node="on_scene").data() == {"case_id": "c1"}
    assert [(m.QUEUE, m.wire_type, m.data()) for m in EXAMPLES[-4:]] == [
        ("notifications", "notify.staff_alert", {"case_id": "c1", "user_id": 3}),
        ("triage", "triage.case_changed", {"case_id": "c1"}),
        ("payment-events", "payment.paid", {"order_id": "o1"}),
        ("refunds", "refund.requested", {"refund_id": "r1"}),
    ]


def test_a_reader_ignores_data_it_does_not_know_and_fills_defaults():
    older = {"message_id": "1", "type": "rescue.case_created", "data": {"case_id": "c1"}}
    newer = {"message_id": "2", "type": "rescue.case_created", "data": {"case_id": "c1", "priority": "high"}}
    assert messages.decode(older) == messages.decode(newer) == CaseCreated(case_id="c1", republished=False)


def test_the_triage_link_hears_of_new_cases_locations_and_the_status_moves_the_ed_sees_ER7():
    to_triage = {m.wire_type for m in EXAMPLES if getattr(m, "to_triage", False)}
    assert to_triage == {
        "rescue.case_created", "rescue.location_changed", "rescue.cancelled", "rescue.accepted",
        "rescue.dispatched", "rescue.completed", "rescue.on_scene", "rescue.left_scene",
        "rescue.at_hospital", "rescue.handed_over"}


@pytest.mark.parametrize("data", [
    {},                                        # a field missing
    {"case_id": 12},                           # a field of another type
    {"case_id": "c1", "user_id": True},        # true is not user 1
    {"case_id": "c1", "user_id": "3"},
], ids=["missing", "wrong-type", "bool-for-int", "string-for-int"])
def test_data_that_does_not_fit_its_type_is_malformed(data):
    with pytest.raises(messages.MalformedMessage):
        messages.decode({"message_id": "1", "type": "notify.staff_alert", "data": data})


def test_a_message_cannot_be_built_wrong_by_its_producer_either():
    with pytest.raises(ValueError):
        CaseChanged(case_id="c1", node="teleported")  # not a declared step
    with pytest.raises(TypeError):
        LocationChanged(case_id="c1", location_id="7")
    with pytest.raises(TypeError):
        UnitOfWork(conn=None).publish("rescue-events")  # the old string form is gone


def test_a_later_version_travels_under_its_own_name_so_queued_older_ones_still_decode():
    @dataclasses.dataclass(frozen=True)
    class PaymentPaidV2(PaymentPaid):
        VERSION = 2
        channel: str = "wechat"

    assert PaymentPaidV2(order_id="o1", channel="credit").wire_type == "payment.paid.v2"
    assert messages.decode({"type": "payment.paid", "data": {"order_id": "o1"}}) == PaymentPaid(order_id="o1")


def test_a_wire_name_is_declared_once():
    with pytest.raises(ValueError):
        @messages.declare
        class Again(PaymentPaid):
            pass


class Seen:
    def __init__(self):
        self.handled = []

    def __call__(self, message, delivery):
        self.handled.append((message, delivery))


def record(body_text, receives="1"):
    return {"messageId": "sqs-1", "receiptHandle": "rh", "body": body_text, "messageAttributes": {},
            "attributes": {"ApproximateReceiveCount": receives},
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:hospital-dev-payment-events"}


def test_a_consumer_hands_its_handler_the_decoded_message_and_the_delivery():
    seen = Seen()
    consumer = Consumer("payment-events", {PaymentPaid: seen})
    result = process_batch([record(json.dumps(body(PaymentPaid(order_id="o1"))), receives="3")], consumer)
    assert result == {"batchItemFailures": []}
    [(message, delivery)] = seen.handled
    assert message == PaymentPaid(order_id="o1")
    assert (delivery.message_id, delivery.receive_count) == ("41", 3)


@pytest.mark.parametrize("kind", ["test.left_behind", None, "refund.requested", "rescue.teleported"],
                         ids=["undeclared", "no-type", "another-queue's", "undeclared-rescue"])
def test_an_unknown_type_is_logged_once_and_acknowledged(kind, caplog):
    seen = Seen()
    consumer = Consumer("payment-events", {PaymentPaid: seen})
    text = json.dumps({"message_id": "9", "type": kind, "data": {"refund_id": "r1"}})
    with caplog.at_level(logging.WARNING, logger="hospital.messaging"):
        assert process_batch([record(text)], consumer) == {"batchItemFailures": []}
    assert seen.handled == []
    assert [(r.getMessage(), r.message_type) for r in caplog.records] == [("ignored message of unknown type", kind)]


@pytest.mark.parametrize("text", [
    json.dumps({"message_id": "9", "type": "payment.paid", "data": {}}),
    json.dumps({"message_id": "9", "type": "payment.paid", "data": "o1"}),
    json.dumps(["payment.paid"]),
], ids=["missing-field", "data-not-an-object", "not-an-envelope"])
def test_a_malformed_message_fails_its_record_so_it_comes_back_and_ends_in_the_dlq(text):
    seen = Seen()
    consumer = Consumer("payment-events", {PaymentPaid: seen})
    with pytest.raises(messages.MalformedMessage):
        consumer(json.loads(text), record(text))
    assert seen.handled == []


def test_a_consumer_takes_only_messages_of_its_own_queue():
    with pytest.raises(ValueError):
        Consumer("payment-events", {RefundRequested: Seen()})
