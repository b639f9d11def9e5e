"""The HIS's daily ledger (DAILY_LEDGER) over real HTTP (AD1): the bundled gateway adapter
against a HisSimulator of each test's own, its entries made by the real trade codes (a hold's
fee confirmed, a plain bill confirmed, a registration cancelled with our reference). Pages
followed to the last with the day's figures checked; the hospital's day on the simulator's
clock; an empty day; discrepancies a test puts in; a malformed entry, a garbled answer or a
ledger that changes while read refused."""
from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
import requests

from hospital.adapters.his import HisRefused, LedgerEntry
from hospital.adapters.statements import StatementUnreadable
from hospital.errors import UpstreamUnavailable
from infra.simulators.his import trade_key
from tests.outpatient.support import SHANGHAI as CST

_id_numbers = itertools.count(1)



def today(sim) -> dt.date:
    return dt.datetime.fromtimestamp(sim.now(), CST).date()


def patient(sim) -> str:
    return sim.add_archive("张三", f"11010119900307{next(_id_numbers):04d}", "13800138000")["patient_id"]


def registration_paid(sim, his, order_id: str, doctor: str = "DOC001", start: str = "09:00"):
    """A slot tomorrow held and its fee paid through us: (the hold, the HIS's confirmation)."""
    slot = f"{doctor}-{today(sim) + dt.timedelta(days=1):%Y%m%d}-{start.replace(':', '')}"
    hold = his.hold_slot(slot, patient(sim), uuid.uuid4().hex)
    return hold, his.confirm_payment(bill_no=hold.bill_no, pay_order_no=order_id, transaction_id="4200" + order_id,
                                     amount_fen=hold.fee_fen, channel="wechatpay_v3",
                                     paid_at="2026-12-01T01:00:00Z")


def bill_paid(sim, his, order_id: str, amount: str = "30.00"):
    bill = sim.add_bill(patient(sim), amount, "outpatient")
    return his.confirm_payment(bill_no=bill["bill_no"], pay_order_no=order_id, transaction_id="4200" + order_id,
                               amount_fen=int(amount.replace(".", "")), channel="credit",
                               paid_at="2026-12-01T01:00:00Z")


def test_the_days_payments_and_refunds_are_read_across_pages_AD1(sim, his):
    hold, confirmed = registration_paid(sim, his, "ORD-HIS-1")
    registration_paid(sim, his, "ORD-HIS-2", "DOC002")
    bill_paid(sim, his, "ORD-HIS-3")
    his.cancel_registration(confirmed.reg_no, "registration-id-1")

    entries = list(his.daily_ledger(today(sim), page_size=3))

    assert sim.stats()[trade_key("DAILY_LEDGER")] == 2  # 4 entries, 3 a page
    assert [(e.kind, e.pay_order_no) for e in entries] == [
        ("payment", "ORD-HIS-1"), ("payment", "ORD-HIS-2"), ("payment", "ORD-HIS-3"), ("refund", "ORD-HIS-1")]
    payment, _, plain, refund = entries
    assert payment == LedgerEntry("payment", hold.bill_no, "ORD-HIS-1", "4200ORD-HIS-1", hold.fee_fen,
                                  confirmed.receipt_no, "wechatpay_v3", confirmed.reg_no, None, payment.booked_at)
    assert (plain.amount_fen, plain.reg_no, plain.channel) == (3000, None, "credit")
    assert (refund.bill_no, refund.amount_fen, refund.refund_ref, refund.reg_no, refund.transaction_id) == (
        hold.bill_no, hold.fee_fen, "registration-id-1", confirmed.reg_no, None)
    assert all(e.booked_at.tzinfo == dt.UTC and e.booked_at.astimezone(CST).date() == today(sim) for e in entries)


def test_a_day_is_the_hospitals_date_on_its_clock_and_an_empty_day_yields_nothing_AD1(sim, his):
    first_day = today(sim)
    bill_paid(sim, his, "ORD-HIS-DAY-1")
    sim.advance_clock(24 * 3600)
    bill_paid(sim, his, "ORD-HIS-DAY-2")

    assert [e.pay_order_no for e in his.daily_ledger(first_day)] == ["ORD-HIS-DAY-1"]
    assert [e.pay_order_no for e in his.daily_ledger(first_day + dt.timedelta(days=1))] == ["ORD-HIS-DAY-2"]
    assert list(his.daily_ledger(dt.date(2020, 1, 1))) == []


def test_a_payment_confirmed_twice_is_booked_once(sim, his):
    hold, _ = registration_paid(sim, his, "ORD-HIS-TWICE")
    his.confirm_payment(bill_no=hold.bill_no, pay_order_no="ORD-HIS-TWICE", transaction_id="4200ORD-HIS-TWICE",
                        amount_fen=hold.fee_fen, channel="wechatpay_v3", paid_at="2026-12-01T01:00:00Z")

    assert [e.pay_order_no for e in his.daily_ledger(today(sim))] == ["ORD-HIS-TWICE"]


def test_entries_dropped_changed_or_added_at_the_his_come_out_as_it_states_them_AD1(sim, his):
    day = today(sim)
    bill_paid(sim, his, "ORD-HIS-DROP")
    bill_paid(sim, his, "ORD-HIS-AMOUNT")
    _, confirmed = registration_paid(sim, his, "ORD-HIS-CANCELLED")
    his.cancel_registration(confirmed.reg_no, "registration-id-2")
    sim.statement_edits.drop(day, pay_order_no="ORD-HIS-DROP")
    sim.statement_edits.change(day, {"pay_order_no": "ORD-HIS-AMOUNT"}, amount="31.00")
    sim.statement_edits.change(day, {"kind": "refund", "refund_ref": "registration-id-2"}, refund_ref=None)
    sim.statement_edits.add(day, {"kind": "payment", "pay_order_no": "ORD-HIS-NEVER", "amount": "88.00"})

    entries = {(e.kind, e.pay_order_no): e for e in his.daily_ledger(day, page_size=2)}

    assert ("payment", "ORD-HIS-DROP") not in entries
    assert entries["payment", "ORD-HIS-AMOUNT"].amount_fen == 3100
    assert entries["refund", "ORD-HIS-CANCELLED"].refund_ref is None  # a refund not made through us
    assert entries["payment", "ORD-HIS-NEVER"].amount_fen == 8800


def test_the_edits_are_controls_over_http_too(sim, his):
    bill_paid(sim, his, "ORD-HIS-HTTP")
    answer = requests.post(f"{sim.url}/_sim/statement-edits", timeout=5, json={
        "day": today(sim).isoformat(), "change": {"pay_order_no": "ORD-HIS-HTTP"}, "to": {"amount": "1.00"}})

    assert answer.status_code == 200
    assert [e.amount_fen for e in his.daily_ledger(today(sim))] == [100]
    assert requests.get(f"{sim.url}/_sim/statement-edits", timeout=5).json()[0]["to"] == {"amount": "1.00"}


def test_a_malformed_entry_is_refused_naming_its_field(sim, his):
    bill_paid(sim, his, "ORD-HIS-BAD")
    sim.statement_edits.change(today(sim), {"pay_order_no": "ORD-HIS-BAD"}, receipt_no=None)

    with pytest.raises(StatementUnreadable, match=r"field receipt_no") as info:
        list(his.daily_ledger(today(sim)))

    assert "ORD-HIS-BAD" not in info.value.message


def test_a_ledger_that_changes_between_its_pages_is_refused(sim, his):
    for number in range(3):
        bill_paid(sim, his, f"ORD-HIS-MOVING-{number}")
    entries = his.daily_ledger(today(sim), page_size=2)
    assert next(entries).pay_order_no == "ORD-HIS-MOVING-0"

    bill_paid(sim, his, "ORD-HIS-LATE")  # booked while the day is being read

    with pytest.raises(StatementUnreadable, match="changed while it was read"):
        list(entries)


def test_a_garbled_answer_or_a_his_failing_inside_is_upstream_unavailable(sim, his):
    bill_paid(sim, his, "ORD-HIS-GARBLED")
    sim.inject_trade_fault("DAILY_LEDGER", "garbled")

    with pytest.raises(UpstreamUnavailable, match="not JSON"):
        list(his.daily_ledger(today(sim)))

    sim.inject_trade_fault("DAILY_LEDGER", "errcode", count=5)
    with pytest.raises(UpstreamUnavailable, match="E_SYSTEM"):
        list(his.daily_ledger(today(sim)))


def test_a_bad_request_is_refused_by_the_his(sim, his):
    with pytest.raises(HisRefused) as info:
        list(his.daily_ledger(today(sim), page_size=501))

    assert info.value.code == "E_FORMAT"
