"""Paid is not done until the HIS has it: a payment made while the HIS is down ends confirmed
once the HIS recovers, or refunded by policy; a bill the HIS refuses is refunded at once.
Never paid-and-forgotten."""
import datetime as dt

from hospital.timeutil import utcnow
from tests.payments.support import (
    anomalies_of,
    create_order,
    deliver_queued,
    ledger_rows,
    order_row,
    patient_pays,
    patient_with_bill,
    pay,
    wait_status,
)


def paid_order(platform, functions):
    _, token, bill = patient_with_bill(platform)
    order_id = create_order(functions, token, bill)[1]["order_id"]
    assert pay(functions, token, order_id)[0] == 200
    patient_pays(platform, order_id)
    wait_status(order_id, "paid")
    return order_id, bill


def test_paid_while_the_his_is_down_ends_confirmed_when_it_recovers(db, platform, functions):
    order_id, bill = paid_order(platform, functions)
    platform.his.inject_fault("/his/gateway", "http500", count=1000)
    try:
        # Fails: the message stays queued.
        deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(order_id).his_attempts >= 1)
        row = order_row(order_id)
        assert row.status == "paid"
        assert row.his_attempts >= 1
        assert row.his_error
    finally:
        platform.his.clear_faults()
    from hospital.payments import sweeper

    sweeper.run(now=utcnow() + dt.timedelta(minutes=6))  # the sweeper also sends it again
    deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(order_id).status == "confirmed",
                   timeout=30)
    assert platform.his.bills[bill["bill_no"]]["status"] == "paid"


def test_paid_but_never_confirmed_within_the_window_is_refunded_by_policy_and_flagged(db, platform, functions):
    from hospital.payments import sweeper

    order_id, _ = paid_order(platform, functions)
    platform.his.inject_fault("/his/gateway", "http500", count=1000)
    try:
        done = sweeper.run(now=utcnow() + dt.timedelta(hours=3))
    finally:
        platform.his.clear_faults()
    assert done["refunded_by_policy"] >= 1
    assert order_row(order_id).status == "his_failed"
    deliver_queued(platform, functions, "RefundsQueue", until=lambda: order_row(order_id).status == "refunded")
    assert [(e.entry_type, e.amount_fen) for e in ledger_rows(order_id)] == [("payment", 2500), ("refund", -2500)]
    assert [a.reason for a in anomalies_of(order_id)] == ["refunded_unconfirmed"]


def test_a_bill_the_his_refuses_after_payment_is_refunded_at_once(db, platform, functions):
    order_id, bill = paid_order(platform, functions)
    platform.his.bills[bill["bill_no"]]["status"] = "cancelled"  # withdrawn at the window meanwhile
    deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(order_id).status != "paid")
    row = order_row(order_id)
    assert row.status == "his_failed"
    assert "E_BILL_CANCELLED" in row.his_error
    deliver_queued(platform, functions, "RefundsQueue", until=lambda: order_row(order_id).status == "refunded")
    assert row.open_his_ref is not None
    assert order_row(order_id).open_his_ref is None  # the bill is free again
