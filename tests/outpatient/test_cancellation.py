"""Cancellation by the patient (OR1-OR5): the window (visit day to 7 days after), the HIS's risk
check, the HIS's cancellation, the refund, in that order and each recorded; a refusal changes
nothing; a crash or an HIS failure between any two steps is resumed, never repeated; ledger
entries for the refund."""
import datetime as dt

import pytest
import requests

from hospital.outpatient import cancellation
from tests.outpatient.support import SHANGHAI, cancel, registration, registration_row, steps
from tests.outpatient.test_booking import booked
from tests.payments.support import anomalies_of, deliver_queued, ledger_rows, order_row

STEPS_DONE = ["holding", "held", "window_checked", "his_checked", "his_cancelled", "refund_requested"]


@pytest.fixture
def on_visit_day(monkeypatch):
    """The hospital's clock on the registration's visit day (tomorrow), 10:00 in Shanghai."""
    def set_day(visit_date: dt.date, days_after: int = 0, hh: int = 10, mm: int = 0, ss: int = 0):
        local = dt.datetime.combine(visit_date + dt.timedelta(days=days_after), dt.time(hh, mm, ss), SHANGHAI)
        monkeypatch.setattr(cancellation, "utcnow", lambda: local.astimezone(dt.UTC).replace(tzinfo=None))
    return set_day


def his_cancellations(platform, reg_no):
    views = requests.get(f"{platform.his.url}/_sim/cancellations", timeout=5).json()
    return [c for c in views if c["reg_no"] == reg_no]


def test_cancelled_on_the_visit_day_in_order_and_refunded_once(db, platform, functions, on_visit_day):
    _, token, _, doctor, held = booked(platform, functions)
    on_visit_day(doctor["day"], hh=23, mm=59, ss=59)
    reg_no = registration(functions, token, held["registration_id"])[1]["reg_no"]

    status, view = cancel(functions, token, held["registration_id"], "身体好转")

    assert status == 200, view
    assert view["status"] == "cancelled" and view["cancel_source"] == "patient" and view["cancel_reason"] == "身体好转"
    assert steps(held["registration_id"]) == STEPS_DONE
    assert len(his_cancellations(platform, reg_no)) == 1
    assert platform.his.registrations[reg_no]["status"] == "cancelled"
    deliver_queued(platform, functions, "RefundsQueue", until=lambda: order_row(held["order_id"]).status == "refunded")
    assert [(e.entry_type, e.amount_fen) for e in ledger_rows(held["order_id"])] == [("payment", 2500),
                                                                                   ("refund", -2500)]
    assert registration(functions, token, held["registration_id"])[1]["refunded_fen"] == 2500
    status, again = cancel(functions, token, held["registration_id"])
    assert status == 200 and again["status"] == "cancelled"
    assert len(his_cancellations(platform, reg_no)) == 1 and steps(held["registration_id"]) == STEPS_DONE


@pytest.mark.parametrize("days_after, hh, mm, ss, code", [
    (-1, 23, 59, 59, "cancellation_not_yet_open"),    # the day before the visit
    (0, 0, 0, 0, None),                              # the visit day at 00:00
    (7, 23, 59, 59, None),                           # day 7 after a missed visit, its last second
    (8, 0, 0, 0, "cancellation_window_closed"),      # day 8
])
def test_the_window_at_its_edges(db, platform, functions, on_visit_day, days_after, hh, mm, ss, code):
    _, token, _, doctor, held = booked(platform, functions)
    on_visit_day(doctor["day"], days_after, hh, mm, ss)

    status, body = cancel(functions, token, held["registration_id"])

    if code is None:
        assert status == 200 and body["status"] == "cancelled", body
    else:
        assert status == 409 and body["error"]["code"] == code and body["error"]["field"] == "registration_id"
        assert registration(functions, token, held["registration_id"])[1]["status"] == "booked"
        assert steps(held["registration_id"]) == ["holding", "held"]
        assert order_row(held["order_id"]).status == "confirmed"


@pytest.mark.parametrize("blocker, code", [("seen", "his_refused_seen"), ("charges", "his_refused_charges")])
def test_the_his_saying_no_is_a_clear_error_that_changes_nothing(db, platform, functions, on_visit_day, blocker, code):
    _, token, _, doctor, held = booked(platform, functions)
    on_visit_day(doctor["day"])
    reg_no = registration(functions, token, held["registration_id"])[1]["reg_no"]
    {"seen": platform.his.mark_seen, "charges": platform.his.attach_charges}[blocker](reg_no)

    status, body = cancel(functions, token, held["registration_id"])

    assert status == 409 and body["error"]["code"] == code, body
    assert registration(functions, token, held["registration_id"])[1]["status"] == "booked"
    assert steps(held["registration_id"]) == ["holding", "held"]
    assert his_cancellations(platform, reg_no) == [] and order_row(held["order_id"]).status == "confirmed"


def test_the_his_timing_out_at_the_cancellation_is_resumed_by_asking_again(db, platform, functions, on_visit_day):
    _, token, _, doctor, held = booked(platform, functions)
    on_visit_day(doctor["day"])
    reg_no = registration(functions, token, held["registration_id"])[1]["reg_no"]
    platform.his.inject_trade_fault("REG_CANCEL", "http500", count=1)

    status, body = cancel(functions, token, held["registration_id"])

    assert status == 503, body
    assert registration(functions, token, held["registration_id"])[1]["status"] == "cancelling"
    assert order_row(held["order_id"]).status == "confirmed"  # no refund before the HIS let go
    status, view = cancel(functions, token, held["registration_id"])
    assert status == 200 and view["status"] == "cancelled"
    assert len(his_cancellations(platform, reg_no)) == 1 and steps(held["registration_id"]) == STEPS_DONE


def test_a_crash_between_the_his_cancellation_and_the_refund_is_resumed_once(db, platform, functions, on_visit_day,
                                                                             monkeypatch):
    _, token, _, doctor, held = booked(platform, functions)
    on_visit_day(doctor["day"])
    reg_no = registration(functions, token, held["registration_id"])[1]["reg_no"]
    real_refund = cancellation._refund

    def crash(registration_id):
        raise RuntimeError("the container died here")

    monkeypatch.setattr(cancellation, "_refund", crash)
    with pytest.raises(RuntimeError):
        cancellation.cancel(_principal(held), held["registration_id"], None)
    assert registration_row(held["registration_id"]).status == "cancel_pending"
    assert steps(held["registration_id"])[-1] == "his_cancelled"
    monkeypatch.setattr(cancellation, "_refund", real_refund)

    assert cancellation.carry_on(held["registration_id"]) == "cancelled"  # the sweeper's or a retry's entry
    assert cancellation.carry_on(held["registration_id"]) == "cancelled"
    assert len(his_cancellations(platform, reg_no)) == 1 and steps(held["registration_id"]) == STEPS_DONE
    deliver_queued(platform, functions, "RefundsQueue", until=lambda: order_row(held["order_id"]).status == "refunded")
    assert [e.amount_fen for e in ledger_rows(held["order_id"])] == [2500, -2500]


def test_a_registration_the_his_forgot_cannot_be_cancelled_here(db, platform, functions, on_visit_day):
    _, token, _, doctor, held = booked(platform, functions)
    on_visit_day(doctor["day"])
    reg_no = registration(functions, token, held["registration_id"])[1]["reg_no"]
    platform.his.forget_registration(reg_no)

    status, body = cancel(functions, token, held["registration_id"])

    assert status == 409 and body["error"]["code"] == "his_unknown_registration"
    assert registration(functions, token, held["registration_id"])[1]["status"] == "booked"
    assert anomalies_of(held["order_id"]) == []


def test_a_registration_forgotten_between_the_check_and_the_cancellation_is_refunded_and_flagged(
        db, platform, functions, on_visit_day):
    _, token, _, doctor, held = booked(platform, functions)
    on_visit_day(doctor["day"])
    reg_no = registration(functions, token, held["registration_id"])[1]["reg_no"]
    platform.his.inject_trade_fault("REG_CANCEL", "http500", count=1)
    assert cancel(functions, token, held["registration_id"])[0] == 503
    platform.his.forget_registration(reg_no)  # the HIS confirmed it once and no longer knows it

    status, view = cancel(functions, token, held["registration_id"])

    assert status == 200 and view["status"] == "cancelled"
    assert steps(held["registration_id"])[-2:] == ["his_unknown", "refund_requested"]
    assert [a.reason for a in anomalies_of(held["order_id"])] == ["registration_unknown_to_his"]


def test_only_a_booked_registration_can_be_cancelled(db, platform, functions, on_visit_day):
    from tests.outpatient.support import book, doctor_with_slots, patient_with_card

    _, token, card, _ = patient_with_card(platform, functions)
    doctor = doctor_with_slots(platform, dt.date.today() + dt.timedelta(days=2))
    held = book(functions, token, card["card_id"], doctor)[1]
    on_visit_day(doctor["day"])

    status, body = cancel(functions, token, held["registration_id"])

    assert status == 409 and body["error"]["code"] == "not_cancellable"
    assert "awaiting_payment" in body["error"]["message"]


def _principal(held):
    from hospital.auth.tokens import Principal

    return Principal(user_id=registration_row(held["registration_id"]).user_id, roles=frozenset({"patient"}))
