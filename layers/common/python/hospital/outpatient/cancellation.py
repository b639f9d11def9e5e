"""Cancelling a booked registration (OR1-OR5): the window rule, the HIS's risk check, the
HIS's cancellation, the refund, in that order, each recorded as a registration step.

    patient asks ──> window rule ──> HIS risk check ──> cancel_pending ──> HIS cancel ──> refund ──> cancelled
                     (refused: nothing changes)         (recorded: window_checked, his_checked)
                                                                    (his_cancelled)  (refund_requested)

The first two only read, so a refusal (outside the window; seen already; charges attached)
changes nothing. From `cancel_pending` on, `carry_on` finishes the rest and is safe to run
again at any point: the HIS cancellation carries the registration's id as its reference and
answers the same when repeated, the step is recorded once, and the refund's number is derived
from the order and the reason (hospital.payments.refunds), so a crash between any two steps
is resumed by the patient asking again or by the sweeper, never repeated and never lost. The
HIS refusing at the cancellation itself (seen in the meantime) puts the registration back to
booked. A registration the HIS no longer knows (an HIS that confirmed it and lost it) is
refunded, since the patient holds nothing for the money, and flagged for finance; so is a
cancelled registration whose refund the payments refuse (an order refunded in part by hand),
which then waits for finance rather than being retried.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa

from hospital import external_calls
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, NotFound
from hospital.outpatient import his_answers, registrations
from hospital.outpatient import registration_rules as rules
from hospital.timeutil import utcnow
from hospital.unit_of_work import unit_of_work

log = logging.getLogger("hospital.outpatient")

REFUND_REASON = "registration_cancelled"
_HIS_REASONS = {
    "seen": ("his_refused_seen", "the doctor has already seen this registration; it cannot be cancelled here"),
    "charges": ("his_refused_charges",
                "charges are attached to this registration; please settle them at the hospital first"),
}
_HIS_REFUSED = ("his_refused", "the hospital's system refused to cancel this registration")


# ---- entries ------------------------------------------------------------------------------

def cancel(principal, registration_id: str, reason: str | None) -> dict:
    """The patient cancels their booked registration. Asking again carries a cancellation
    under way on (and answers the cancelled registration)."""
    from hospital.adapters import his

    row = _own(principal, registration_id)
    if row.status == rules.CANCEL_PENDING:
        carry_on(registration_id)
        return _view(registration_id)
    visible = rules.visible_status(row.status, row.order_status)
    if row.status == rules.CANCELLED:
        return registrations.view(row)
    if visible != "booked":
        raise Conflict(f"only a booked registration can be cancelled; this one is {visible}",
                       field="registration_id", code="not_cancellable")
    now = utcnow()
    refusal = rules.cancellation_refusal(row.visit_date, now)
    if refusal:
        raise Conflict(refusal.message, field="registration_id", code=refusal.code)
    reg_no = _reg_no(row)
    with external_calls.concerning(order_id=row.order_id, user_id=row.user_id):
        check = his_answers.ask(lambda: his.client().cancel_check(reg_no), "the cancellation check", {
            "E_NO_REG": Conflict("the hospital's system does not know this registration; please ask at the hospital",
                                 field="registration_id", code="his_unknown_registration")})
    if not check.cancellable:
        code, message = _HIS_REASONS.get(check.reason or "", _HIS_REFUSED)
        raise Conflict(message, field="registration_id", code=code)
    with transaction() as conn:
        moved = conn.execute(t.registrations.update().where(
            t.registrations.c.id == registration_id, t.registrations.c.status == rules.HELD).values(
            status=rules.CANCEL_PENDING, cancel_source="patient", cancel_reason=reason, updated_at=utcnow()))
        if moved.rowcount == 1:
            registrations.step(conn, registration_id, "window_checked", principal.user_id,
                               visit_date=row.visit_date.isoformat(), day=rules.hospital_day(now).isoformat())
            registrations.step(conn, registration_id, "his_checked", principal.user_id, reg_no=reg_no)
    carry_on(registration_id)
    return _view(registration_id)


def carry_on(registration_id: str) -> str:
    """Entry (the patient's retry, the sweeper, the suspension consumer): finish a cancellation
    under way: the HIS's cancellation, then the refund. Returns the registration's status."""
    from hospital.adapters import his

    with transaction() as conn:
        row = conn.execute(registrations.with_order().where(t.registrations.c.id == registration_id)).first()
        done = _steps(conn, registration_id)
    if row is None:
        raise NotFound("no such registration", field="registration_id")
    if row.status != rules.CANCEL_PENDING:
        return row.status
    if "his_cancelled" not in done and "his_unknown" not in done:
        try:
            with external_calls.concerning(order_id=row.order_id, user_id=row.user_id):
                his.client().cancel_registration(_reg_no(row), registration_id)
            outcome = "his_cancelled"
        except his.HisRefused as exc:
            if exc.code != "E_NO_REG":
                _put_back(registration_id, f"{exc.code}: {exc.message}"[:200])
                code, message = _HIS_REASONS.get({"E_SEEN": "seen", "E_CHARGES": "charges"}.get(exc.code, ""),
                                                  _HIS_REFUSED)
                raise Conflict(message, field="registration_id", code=code) from None
            outcome = "his_unknown"
        with transaction() as conn:
            if outcome not in _steps(conn, registration_id):
                registrations.step(conn, registration_id, outcome)
    return _refund(registration_id)


# ---- steps --------------------------------------------------------------------------------

def _refund(registration_id: str) -> str:
    from hospital.payments import anomalies, orders, refunds

    with unit_of_work() as uow:
        registration = uow.conn.execute(sa.select(t.registrations).where(t.registrations.c.id == registration_id)
                                        .with_for_update()).one()
        if registration.status != rules.CANCEL_PENDING:
            return registration.status
        order = orders.locked(uow.conn, registration.order_id)
        try:
            refund = refunds.request(uow, order, order.paid_fen - order.refunded_fen, REFUND_REASON)
        except Conflict as exc:  # refunded in part by hand meanwhile, say: finance settles the rest
            if "refund_refused" not in _steps(uow.conn, registration_id):
                registrations.step(uow.conn, registration_id, "refund_refused", error=exc.message)
                anomalies.record(uow.conn, source="outpatient", reason="cancelled_registration_not_refunded",
                                 order_id=order.id, amount_fen=order.paid_fen - order.refunded_fen,
                                 dedupe_key=f"registration:refund:{registration_id}",
                                 details={"registration_id": registration_id, "error": exc.message})
            return registration.status
        if "his_unknown" in _steps(uow.conn, registration_id):
            anomalies.record(uow.conn, source="outpatient", reason="registration_unknown_to_his",
                             order_id=order.id, amount_fen=order.paid_fen,
                             dedupe_key=f"registration:unknown:{registration_id}",
                             details={"registration_id": registration_id, "reg_no": _reg_no(registration, order)})
        uow.conn.execute(t.registrations.update().where(t.registrations.c.id == registration_id).values(
            status=rules.CANCELLED, refund_id=refund["refund_id"], updated_at=utcnow()))
        registrations.step(uow.conn, registration_id, "refund_requested", refund_id=refund["refund_id"],
                           amount_fen=refund["amount_fen"])
    log.info("registration cancelled", extra={"registration_id": registration_id})
    return rules.CANCELLED


def _put_back(registration_id: str, why: str) -> None:
    with transaction() as conn:
        moved = conn.execute(t.registrations.update().where(
            t.registrations.c.id == registration_id, t.registrations.c.status == rules.CANCEL_PENDING).values(
            status=rules.HELD, cancel_source=None, cancel_reason=None, updated_at=utcnow()))
        if moved.rowcount == 1:
            registrations.step(conn, registration_id, "his_refused_cancel", error=why)


def _steps(conn, registration_id: str) -> set[str]:
    return set(conn.execute(sa.select(t.registration_steps.c.step).where(
        t.registration_steps.c.registration_id == registration_id)).scalars())


def _own(principal, registration_id: str):
    with transaction() as conn:
        row = conn.execute(registrations.with_order().where(t.registrations.c.id == registration_id,
                                                            t.registrations.c.user_id == principal.user_id)).first()
    if row is None:
        raise NotFound("no such registration", field="registration_id")
    return row


def _view(registration_id: str) -> dict:
    with transaction() as conn:
        row = conn.execute(registrations.with_order().where(t.registrations.c.id == registration_id)).one()
    return registrations.view(row)


def _reg_no(row, order=None) -> str:
    confirmation = (order.his_confirmation if order is not None else row.his_confirmation) or {}
    reg_no = row.reg_no or confirmation.get("reg_no")
    if not reg_no:
        raise Conflict("the hospital has not confirmed this registration yet", field="registration_id",
                       code="not_confirmed")
    return str(reg_no)
