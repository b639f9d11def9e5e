"""Booking (OR2's registration side): browse, hold a slot, pay the hold's bill as an order, the
HIS confirms; money back by itself when the HIS cannot confirm; the hold's time bounds the
order; one slot of a doctor a day per patient; the patient sees each registration's status."""
import datetime as dt

import requests

from hospital.timeutil import utcnow
from tests.conftest import make_patient
from tests.outpatient.support import (
    api,
    book,
    doctor_with_slots,
    hospital_today,
    patient_with_card,
    registration,
    registration_row,
    steps,
)
from tests.payments.support import deliver_queued, ledger_rows, order_row, patient_pays, pay, wait_status


def tomorrow():
    return hospital_today() + dt.timedelta(days=1)


def booked(platform, functions):
    """A patient with a registration for tomorrow, paid and confirmed by the HIS."""
    principal, token, card, _ = patient_with_card(platform, functions)
    doctor = doctor_with_slots(platform, tomorrow())
    status, held = book(functions, token, card["card_id"], doctor)
    assert status == 201, held
    assert pay(functions, token, held["order_id"])[0] == 200
    patient_pays(platform, held["order_id"])
    wait_status(held["order_id"], "paid")
    deliver_queued(platform, functions, "PaymentEventsQueue",
                   until=lambda: order_row(held["order_id"]).status != "paid")
    return principal, token, card, doctor, held


def test_browse_departments_doctors_and_a_doctors_free_slots(db, platform, functions):
    _, token = make_patient(platform)
    doctor = doctor_with_slots(platform, tomorrow(), starts=("08:00", "08:30"), fee="50.00")

    status, departments = api(functions, "GET", "/outpatient/departments", token)
    assert status == 200 and doctor["dept_code"] in {d["dept_code"] for d in departments}
    status, doctors = api(functions, "GET", f"/outpatient/departments/{doctor['dept_code']}/doctors", token,
                          resource="/outpatient/departments/{dept_code}/doctors",
                          params={"dept_code": doctor["dept_code"]})
    assert status == 200 and [d["doctor_code"] for d in doctors] == [doctor["doctor_code"]]
    assert doctors[0]["online_consult"] is True and doctors[0]["consult_url"].endswith(doctor["doctor_code"])
    day = tomorrow().isoformat()
    status, slots = api(functions, "GET", f"/outpatient/doctors/{doctor['doctor_code']}/slots", token,
                        resource="/outpatient/doctors/{doctor_code}/slots",
                        params={"doctor_code": doctor["doctor_code"]}, query={"date_from": day, "date_to": day})
    assert status == 200
    assert [(s["slot_id"], s["start"], s["end"], s["fee_fen"], s["available"]) for s in slots] == [
        (doctor["slots"][0], "08:00", "08:30", 5000, True), (doctor["slots"][1], "08:30", "09:00", 5000, True)]


def test_slot_queries_are_checked_and_name_the_field(db, platform, functions):
    _, token = make_patient(platform)
    doctor = doctor_with_slots(platform, tomorrow())
    path, resource = f"/outpatient/doctors/{doctor['doctor_code']}/slots", "/outpatient/doctors/{doctor_code}/slots"
    params = {"doctor_code": doctor["doctor_code"]}
    yesterday = (hospital_today() - dt.timedelta(days=1)).isoformat()
    far = (hospital_today() + dt.timedelta(days=14)).isoformat()
    today = hospital_today().isoformat()
    for query, field in [({"date_from": yesterday, "date_to": today}, "date_from"),
                         ({"date_from": today, "date_to": far}, "date_to"),
                         ({"date_from": "2026-13-01", "date_to": today}, "date_from"),
                         ({"date_from": today}, "date_to")]:
        status, body = api(functions, "GET", path, token, resource=resource, params=params, query=query)
        assert status == 400 and body["error"]["field"] == field, (query, body)
    status, body = api(functions, "GET", "/outpatient/doctors/NOPE/slots", token, resource=resource,
                       params={"doctor_code": "NOPE"}, query={"date_from": today, "date_to": today})
    assert status == 404 and body["error"]["field"] == "doctor_code"


def test_a_held_slot_is_an_order_for_its_bill_payable_until_the_hold_runs_out(db, platform, functions):
    principal, token, card, _ = patient_with_card(platform, functions)
    doctor = doctor_with_slots(platform, tomorrow(), fee="25.00")

    status, held = book(functions, token, card["card_id"], doctor)

    assert status == 201, held
    assert held["status"] == "awaiting_payment" and held["fee_fen"] == 2500
    assert (held["doctor_code"], held["visit_date"], held["start"]) == (doctor["doctor_code"],
                                                                        tomorrow().isoformat(), "09:00")
    order = order_row(held["order_id"])
    row = registration_row(held["registration_id"])
    hold = platform.his.holds[row.hold_id]
    assert (order.kind, order.his_ref, order.amount_fen, order.user_id) == (
        "registration", hold["bill_no"], 2500, principal.user_id)
    assert order.expires_at <= row.hold_expires_at  # the order closes no later than the HIS lets the slot go
    assert steps(held["registration_id"]) == ["holding", "held"]
    status, again = book(functions, token, card["card_id"], doctor)
    assert status == 200 and again["registration_id"] == held["registration_id"]
    assert len([h for h in platform.his.holds.values() if h["slot_id"] == doctor["slots"][0]]) == 1


def test_paid_and_confirmed_by_the_his_is_booked_with_its_numbers(db, platform, functions):
    _, token, _, doctor, held = booked(platform, functions)

    status, view = registration(functions, token, held["registration_id"])

    assert status == 200 and view["status"] == "booked"
    assert view["reg_no"] and isinstance(view["visit_no"], int)
    assert not {"name", "phone", "id_no", "card_no"} & set(view)  # no personal field
    assert platform.his.registrations[view["reg_no"]]["slot_id"] == doctor["slots"][0]
    assert [(e.entry_type, e.amount_fen) for e in ledger_rows(held["order_id"])] == [("payment", 2500)]
    status, listed = api(functions, "GET", "/outpatient/registrations", token)
    assert [r["registration_id"] for r in listed] == [held["registration_id"]]


def test_one_slot_of_a_doctor_a_day_per_patient(db, platform, functions):
    _, token, card, _ = patient_with_card(platform, functions)
    doctor = doctor_with_slots(platform, tomorrow())
    assert book(functions, token, card["card_id"], doctor, 0)[0] == 201

    status, body = book(functions, token, card["card_id"], doctor, 1)

    assert status == 409 and body["error"]["code"] == "already_registered" and body["error"]["field"] == "slot_id"
    other_day = doctor_with_slots(platform, tomorrow() + dt.timedelta(days=1))
    assert book(functions, token, card["card_id"], other_day)[0] == 201  # another doctor, another day: fine


def test_a_slot_someone_else_holds_or_a_suspended_one_cannot_be_held(db, platform, functions):
    doctor = doctor_with_slots(platform, tomorrow())
    _, first_token, first_card, _ = patient_with_card(platform, functions)
    _, token, card, _ = patient_with_card(platform, functions)
    assert book(functions, first_token, first_card["card_id"], doctor, 0)[0] == 201

    status, body = book(functions, token, card["card_id"], doctor, 0)
    assert status == 409 and body["error"]["code"] == "slot_taken"

    platform.his.suspend(doctor["doctor_code"], tomorrow(), [doctor["slots"][1]], "停诊")
    status, body = book(functions, token, card["card_id"], doctor, 1)
    assert status == 409 and body["error"]["code"] == "slot_suspended"
    status, body = api(functions, "GET", "/outpatient/registrations", token)
    assert body == []


def test_a_card_that_is_not_the_callers_cannot_book(db, platform, functions):
    _, _, card, _ = patient_with_card(platform, functions)
    _, token = make_patient(platform)
    doctor = doctor_with_slots(platform, tomorrow())

    status, body = book(functions, token, card["card_id"], doctor)

    assert status == 404 and body["error"]["field"] == "card_id"
    assert not [h for h in platform.his.holds.values() if h["slot_id"] == doctor["slots"][0]]


def test_paid_after_the_hold_ran_out_the_his_refuses_and_the_money_goes_back(db, platform, functions):
    _, token, card, _ = patient_with_card(platform, functions)
    doctor = doctor_with_slots(platform, tomorrow())
    _, held = book(functions, token, card["card_id"], doctor)
    assert pay(functions, token, held["order_id"])[0] == 200
    patient_pays(platform, held["order_id"])
    wait_status(held["order_id"], "paid")
    hold = platform.his.holds[registration_row(held["registration_id"]).hold_id]
    hold["expires_at"] = platform.his.now() - 1  # the HIS let the slot go before it heard of the payment

    deliver_queued(platform, functions, "PaymentEventsQueue",
                   until=lambda: order_row(held["order_id"]).status != "paid")
    deliver_queued(platform, functions, "RefundsQueue", until=lambda: order_row(held["order_id"]).status == "refunded")

    _, view = registration(functions, token, held["registration_id"])
    assert view["status"] == "failed" and "came later" in view["failure"] and "refunded" in view["failure"]
    assert view["refunded_fen"] == 2500
    assert [(e.entry_type, e.amount_fen) for e in ledger_rows(held["order_id"])] == [("payment", 2500),
                                                                                   ("refund", -2500)]
    # The slot is free again and the patient may book this doctor that day afresh.
    assert book(functions, token, card["card_id"], doctor, 1)[0] == 201


def test_an_unpaid_hold_expires_with_its_order(db, platform, functions):
    from hospital.payments import sweeper

    _, token, card, _ = patient_with_card(platform, functions)
    doctor = doctor_with_slots(platform, tomorrow())
    _, held = book(functions, token, card["card_id"], doctor)

    sweeper.run(now=utcnow() + dt.timedelta(hours=1))

    assert order_row(held["order_id"]).status == "closed"
    _, view = registration(functions, token, held["registration_id"])
    assert view["status"] == "expired"
    assert book(functions, token, card["card_id"], doctor, 1)[0] == 201  # no longer holds the doctor's day


def test_a_patient_sees_only_their_own_registrations(db, platform, functions):
    patient_with_card(platform, functions)  # another patient with a card of their own
    _, owner_token, owner_card, _ = patient_with_card(platform, functions)
    doctor = doctor_with_slots(platform, tomorrow())
    held = book(functions, owner_token, owner_card["card_id"], doctor)[1]
    _, token = make_patient(platform)

    status, body = registration(functions, token, held["registration_id"])

    assert status == 404 and body["error"]["field"] == "registration_id"
    assert api(functions, "GET", "/outpatient/registrations", token)[1] == []


def test_the_his_down_when_holding_gives_503_and_asking_again_resumes_the_same_hold(db, platform, functions):
    _, token, card, _ = patient_with_card(platform, functions)
    doctor = doctor_with_slots(platform, tomorrow())
    platform.his.inject_trade_fault("SLOT_HOLD", "http500", count=1)

    status, body = book(functions, token, card["card_id"], doctor)
    assert status == 503, body

    status, held = book(functions, token, card["card_id"], doctor)
    assert status == 201, held
    assert steps(held["registration_id"]) == ["holding", "hold_resumed", "held"]
    assert len([h for h in requests.get(f"{platform.his.url}/_sim/holds", timeout=5).json()
                if h["slot_id"] == doctor["slots"][0]]) == 1


def test_a_hold_whose_answer_never_came_back_is_given_up_by_the_sweeper(db, platform, functions):
    from hospital.outpatient import sweeper

    _, token, card, _ = patient_with_card(platform, functions)
    doctor = doctor_with_slots(platform, tomorrow())
    platform.his.inject_trade_fault("SLOT_HOLD", "http500", count=1)
    assert book(functions, token, card["card_id"], doctor)[0] == 503
    (listed,) = api(functions, "GET", "/outpatient/registrations", token)[1]
    assert listed["status"] == "holding"

    sweeper.run(now=utcnow() + dt.timedelta(minutes=10))
    assert registration(functions, token, listed["registration_id"])[1]["status"] == "holding"  # not yet
    done = sweeper.run(now=utcnow() + dt.timedelta(minutes=31))

    assert done["holds_given_up"] >= 1
    assert registration(functions, token, listed["registration_id"])[1]["status"] == "expired"
    assert steps(listed["registration_id"])[-1] == "hold_given_up"
