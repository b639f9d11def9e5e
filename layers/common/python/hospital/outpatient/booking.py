"""Booking a registration: hold a slot at the HIS, pay the hold's bill (an order like any
other: hospital.payments), the HIS confirms when it is told of the payment.

    1. the patient's card and the slot (asked of the HIS) are checked, and a `holding`
       registration is written (the patient's card row locked: one doctor per day at a time);
    2. the HIS holds the slot (hold_ref = the registration's id, so asking again answers the
       same hold: a retry after a crash or a timeout resumes, it never holds twice);
    3. the order for the hold's bill is opened, payable until the hold runs out, and the
       registration is `held`.
From there the order decides what the patient sees (registration_rules.visible_status): paid,
confirmed by the HIS (booked, with the HIS's registration and queue numbers), refused by the
HIS after payment (failed: the money goes back by itself), or closed unpaid when the hold ran
out (expired; the HIS releases the slot by itself).
"""
from __future__ import annotations

import datetime as dt
import logging
import uuid

import sqlalchemy as sa

from hospital import external_calls
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import AppError, Conflict, NotFound, UpstreamUnavailable
from hospital.outpatient import cards, his_answers, registrations
from hospital.outpatient import registration_rules as rules
from hospital.timeutil import utcnow

log = logging.getLogger("hospital.outpatient")

_HOLD_REFUSALS = {
    "E_SLOT_TAKEN": ("slot_taken", "this slot was just taken; choose another"),
    "E_DUPLICATE": ("already_registered", "you already have a slot of this doctor on that day"),
    "E_SLOT_SUSPENDED": ("slot_suspended", "the doctor's clinic is suspended at this time; choose another slot"),
    "E_SLOT_PAST": ("slot_past", "this slot has already begun"),
}


# ---- entries ------------------------------------------------------------------------------

@external_calls.concerning_caller
def book(principal, wanted) -> tuple[dict, bool]:
    """Hold `wanted.slot_id` of `wanted.doctor_code` on `wanted.visit_date` for the patient of
    card `wanted.card_id`, and open the order that pays it. Returns (registration, created);
    asking again for a slot the caller holds returns that registration."""
    from hospital.adapters import his

    hospital = his.client()
    with transaction() as conn:
        card = cards.bound_card(conn, principal, wanted.card_id)
    slot = _slot(hospital, wanted.doctor_code, wanted.visit_date, wanted.slot_id)
    doctor, dept_name = _doctor(hospital, slot.dept_code, slot.doctor_code)
    with transaction() as conn:
        registration_id, begun = _begin(conn, principal, card, slot, doctor.name, dept_name)
        lapsed = _lapsed_holds(conn, card.id, slot.doctor_code, slot.visit_date)
    if not begun:
        return view(principal, registration_id), False
    _release(hospital, lapsed)
    try:
        hold = hospital.hold_slot(slot.slot_id, card.his_patient_id, registration_id)
    except his.HisRefused as exc:
        with transaction() as conn:
            _abandon(conn, registration_id, f"{exc.code}: {exc.message}"[:200])
        if exc.code == "E_NO_SLOT":
            raise NotFound("no such slot", field="slot_id") from None
        code, message = _HOLD_REFUSALS.get(exc.code, ("slot_unavailable", f"the HIS would not hold it ({exc.code})"))
        raise Conflict(message, field="slot_id", code=code) from None
    try:
        with transaction() as conn:
            _take_hold(conn, principal, registration_id, hold)
    except AppError as exc:  # the order could not be opened for the hold's bill: give the slot back
        with transaction() as conn:
            _abandon(conn, registration_id, f"no order for the hold: {exc.message}"[:200])
        _release(hospital, [(registration_id, hold.hold_id)])
        raise
    return view(principal, registration_id), True


def view(principal, registration_id: str) -> dict:
    with transaction() as conn:
        row = conn.execute(registrations.with_order().where(t.registrations.c.id == registration_id,
                                               t.registrations.c.user_id == principal.user_id)).first()
    if row is None:
        raise NotFound("no such registration", field="registration_id")
    return registrations.view(row)


def list_own(principal, limit: int) -> list[dict]:
    with transaction() as conn:
        rows = conn.execute(registrations.with_order().where(t.registrations.c.user_id == principal.user_id)
                            .order_by(t.registrations.c.created_at.desc()).limit(limit)).all()
    return [registrations.view(row) for row in rows]


# ---- in the caller's transaction ----------------------------------------------------------

def _begin(conn, principal, card, slot, doctor_name: str, dept_name: str) -> tuple[str, bool]:
    """(registration id, whether the HIS is to be asked for the hold): a new `holding`
    registration, or the caller's own for this slot (asking again resumes a hold whose answer
    was never recorded, and returns one already taken)."""
    if conn.execute(sa.select(t.patient_cards.c.id).where(
            t.patient_cards.c.id == card.id, t.patient_cards.c.unbound_at.is_(None)).with_for_update()).first() is None:
        raise NotFound("no such card bound to you", field="card_id")  # unbound since it was read
    now = utcnow()
    if slot.slot_id in registrations.suspended_slots(conn, slot.doctor_code, slot.visit_date):
        code, message = rules.SLOT_REFUSALS["suspended"]  # suspended here, perhaps before the HIS heard of it
        raise Conflict(message, field="slot_id", code=code)
    for row in registrations.live_candidates(conn, t.registrations.c.card_id == card.id,
                               t.registrations.c.doctor_code == slot.doctor_code,
                               t.registrations.c.visit_date == slot.visit_date):
        if row.slot_id == slot.slot_id and row.status == rules.HOLDING:
            conn.execute(t.registrations.update().where(t.registrations.c.id == row.id).values(updated_at=now))
            registrations.step(conn, row.id, "hold_resumed", principal.user_id)
            return row.id, True
        if rules.holds_its_place(row.status, row.order_status, row.updated_at, now):
            if row.slot_id == slot.slot_id and row.status == rules.HELD:
                return row.id, False
            raise Conflict("you already have a slot of this doctor on that day", field="slot_id",
                           code="already_registered")
    refusal = rules.slot_refusal(slot.status, slot.visit_date, slot.start, now)
    if refusal:
        raise Conflict(refusal[1], field="slot_id", code=refusal[0])
    registration_id = uuid.uuid4().hex
    conn.execute(t.registrations.insert().values(
        id=registration_id, user_id=principal.user_id, card_id=card.id, his_patient_id=card.his_patient_id,
        slot_id=slot.slot_id, dept_code=slot.dept_code, dept_name=dept_name[:64], doctor_code=slot.doctor_code,
        doctor_name=doctor_name[:64], visit_date=slot.visit_date, start_time=slot.start, end_time=slot.end,
        fee_fen=slot.fee_fen, status=rules.HOLDING, created_at=now, updated_at=now))
    registrations.step(conn, registration_id, "holding", principal.user_id, slot_id=slot.slot_id)
    return registration_id, True


def _lapsed_holds(conn, card_id: str, doctor_code: str, visit_date: dt.date) -> list[tuple[str, str]]:
    """(registration id, hold id) of the card's registrations of that doctor and day whose
    order closed unpaid: the HIS lets such a hold go by itself when it runs out, but an order
    closed sooner (the patient gave up, the sweeper ran first) must not keep the slot, nor the
    patient's one booking of that doctor and day."""
    rows = conn.execute(sa.select(t.registrations.c.id, t.registrations.c.hold_id)
                        .select_from(t.registrations.join(t.payment_orders,
                                                          t.payment_orders.c.id == t.registrations.c.order_id))
                        .where(t.registrations.c.card_id == card_id, t.registrations.c.doctor_code == doctor_code,
                               t.registrations.c.visit_date == visit_date, t.registrations.c.status == rules.HELD,
                               t.payment_orders.c.status == "closed",
                               ~sa.exists().where(t.registration_steps.c.registration_id == t.registrations.c.id,
                                                  t.registration_steps.c.step == "hold_released"))).all()
    return [(row.id, row.hold_id) for row in rows]


def _release(hospital, lapsed: list[tuple[str, str]]) -> None:
    from hospital.adapters import his

    for registration_id, hold_id in lapsed:
        try:
            hospital.release_hold(hold_id)
        except (his.HisRefused, UpstreamUnavailable) as exc:
            log.warning("a lapsed hold was not released", extra={"hold_id": hold_id, "error": str(exc)[:200]})
            continue
        with transaction() as conn:
            registrations.step(conn, registration_id, "hold_released", hold_id=hold_id)


def _take_hold(conn, principal, registration_id: str, hold) -> None:
    from hospital.adapters.his import Bill
    from hospital.payments import orders

    registration = conn.execute(sa.select(t.registrations).where(t.registrations.c.id == registration_id)
                                .with_for_update()).one()
    if registration.status != rules.HOLDING:
        return  # taken by a concurrent retry of the same request
    title = (f"挂号费 {registration.dept_name} {registration.doctor_name} {registration.visit_date} "
             f"{registration.start_time}")
    bill = Bill(hold.bill_no, registration.his_patient_id, "registration", title, hold.fee_fen, "unpaid")
    expires_at = hold.expires_at.astimezone(dt.UTC).replace(tzinfo=None)
    order, _ = orders.open_order(conn, principal, "registration", hold.bill_no, bill, utcnow(), pay_by=expires_at)
    conn.execute(t.registrations.update().where(t.registrations.c.id == registration_id).values(
        status=rules.HELD, hold_id=hold.hold_id, hold_expires_at=expires_at, order_id=order.id,
        fee_fen=hold.fee_fen, updated_at=utcnow()))
    registrations.step(conn, registration_id, "held", principal.user_id, hold_id=hold.hold_id, order_id=order.id,
         fee_fen=hold.fee_fen)


def _abandon(conn, registration_id: str, why: str) -> None:
    conn.execute(t.registrations.update().where(t.registrations.c.id == registration_id,
                                                t.registrations.c.status == rules.HOLDING)
                 .values(status=rules.ABANDONED, failure=why, updated_at=utcnow()))
    registrations.step(conn, registration_id, "hold_refused", error=why)


# ---- the HIS ------------------------------------------------------------------------------

def _slot(hospital, doctor_code: str, visit_date: dt.date, slot_id: str):
    found = his_answers.ask(lambda: hospital.slots(doctor_code, visit_date, visit_date), "the slot query",
                            {"E_NO_DOCTOR": NotFound("no such doctor", field="doctor_code")})
    for slot in found:
        if slot.slot_id == slot_id:
            return slot
    raise NotFound("the doctor has no such slot on that day", field="slot_id")


def _doctor(hospital, dept_code: str, doctor_code: str):
    doctors = his_answers.ask(lambda: hospital.doctors(dept_code), "the doctor query")
    departments = his_answers.ask(hospital.departments, "the department query")
    doctor = next((d for d in doctors if d.doctor_code == doctor_code), None)
    if doctor is None:
        raise UpstreamUnavailable("the HIS lists a slot of a doctor it does not know")
    return doctor, next((d.name for d in departments if d.dept_code == dept_code), dept_code)
