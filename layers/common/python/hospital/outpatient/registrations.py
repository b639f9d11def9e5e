"""The registrations table and its steps: the queries the booking, cancellation and card
modules share, and what a patient sees of a registration. In the caller's transaction."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from hospital.db import tables as t
from hospital.outpatient import registration_rules as rules
from hospital.timeutil import iso_utc, utcnow


def live_candidates(conn, *where):
    """Registrations that may still hold their place (their statuses say so before the order
    is looked at), with their order's status, for registration_rules.holds_its_place."""
    return conn.execute(
        sa.select(t.registrations.c.id, t.registrations.c.slot_id, t.registrations.c.status,
                  t.registrations.c.updated_at, t.payment_orders.c.status.label("order_status"))
        .select_from(t.registrations.outerjoin(t.payment_orders,
                                               t.payment_orders.c.id == t.registrations.c.order_id))
        .where(t.registrations.c.status.in_((rules.HOLDING, rules.HELD, rules.CANCEL_PENDING)), *where)).all()


def step(conn, registration_id: str, name: str, actor_user_id: int | None = None, **details) -> None:
    conn.execute(t.registration_steps.insert().values(
        registration_id=registration_id, step=name, at=utcnow(), actor_user_id=actor_user_id,
        details=details or None))


def suspended_slots(conn, doctor_code: str, visit_date: dt.date) -> set[str]:
    """In the caller's transaction: the slots of a doctor's day some suspension holds."""
    held: set[str] = set()
    for slot_ids in conn.execute(sa.select(t.suspensions.c.slot_ids).where(
            t.suspensions.c.doctor_code == doctor_code, t.suspensions.c.visit_date == visit_date)).scalars():
        held |= set(slot_ids)
    return held


# ---- what the patient sees --------------------------------------------------------------------------------

def with_order():
    return sa.select(t.registrations, t.payment_orders.c.status.label("order_status"),
                     t.payment_orders.c.expires_at.label("pay_by"), t.payment_orders.c.his_error,
                     t.payment_orders.c.his_confirmation, t.payment_orders.c.refunded_fen) \
        .select_from(t.registrations.outerjoin(t.payment_orders,
                                               t.payment_orders.c.id == t.registrations.c.order_id))


def view(row) -> dict:
    status = rules.visible_status(row.status, row.order_status)
    confirmation = row.his_confirmation or {}
    return {
        "registration_id": row.id, "status": status, "card_id": row.card_id,
        "dept_code": row.dept_code, "dept_name": row.dept_name, "doctor_code": row.doctor_code,
        "doctor_name": row.doctor_name, "visit_date": row.visit_date.isoformat(), "start": row.start_time,
        "end": row.end_time, "fee_fen": row.fee_fen, "order_id": row.order_id,
        "pay_by": iso_utc(row.pay_by) if status == "awaiting_payment" else None,
        "reg_no": row.reg_no or confirmation.get("reg_no"),
        "visit_no": row.visit_no or confirmation.get("visit_no"),
        "failure": rules.failure_message(row.his_error) if status == "failed" else None,
        "refunded_fen": row.refunded_fen or 0,
        "cancel_reason": row.cancel_reason, "cancel_source": row.cancel_source,
        "created_at": iso_utc(row.created_at),
    }
