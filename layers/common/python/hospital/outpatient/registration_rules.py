"""A registration's states, what the patient sees, and when a patient may cancel: pure rules
(plain data in, a decision out, no I/O; importable without the database).

A registration's own status says where booking and cancellation stand; while it is `held`
the payment decides the rest, so what the patient sees is read off both (`visible_status`):

    holding ──> held ─┬─(order: created, paying)────> awaiting_payment
       │              ├─(order: paid)───────────────> confirming
       │              ├─(order: confirmed)──────────> booked ──> cancel_pending ──> cancelled
       │              ├─(order: his_failed, refunded)> failed   (the HIS could not confirm: money back)
       │              └─(order: closed)─────────────> expired  (not paid before the hold ran out)
       └──> abandoned  (the HIS refused the hold, or it was never taken)
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# China keeps no daylight saving time: a fixed offset needs no time-zone database in the runtime.
HOSPITAL_TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")

HOLDING, HELD, ABANDONED = "holding", "held", "abandoned"
CANCEL_PENDING, CANCELLED = "cancel_pending", "cancelled"
STATES = (HOLDING, HELD, ABANDONED, CANCEL_PENDING, CANCELLED)

# How many days after a missed visit the patient may still cancel (the visit day is day 0).
CANCEL_DAYS_AFTER_VISIT = 7
# A hold asked of the HIS with no answer recorded since (a crash, an HIS that never answered)
# stops counting as the patient's booking after this; asking again for the same slot resumes it.
HOLDING_STALE = dt.timedelta(minutes=2)

_BY_ORDER = {"created": "awaiting_payment", "paying": "awaiting_payment", "paid": "confirming",
             "confirmed": "booked", "refund_pending": "refunding", "his_failed": "failed", "refunded": "failed",
             "closed": "expired"}


def visible_status(status: str, order_status: str | None) -> str:
    """What the patient sees of a registration in `status` whose order is in `order_status`."""
    if status == HOLDING:
        return "holding"
    if status == ABANDONED:
        return "expired"
    if status == CANCEL_PENDING:
        return "cancelling"
    if status == CANCELLED:
        return "cancelled"
    if status != HELD or order_status not in _BY_ORDER:
        raise ValueError(f"no visible status for {status}/{order_status}")
    return _BY_ORDER[order_status]


def holds_its_place(status: str, order_status: str | None, updated_at: dt.datetime, now: dt.datetime) -> bool:
    """Whether the registration still counts as the patient's booking of its doctor and day
    (a second one of the same doctor and day is then refused)."""
    if status == HOLDING:
        return now - updated_at < HOLDING_STALE
    return visible_status(status, order_status) in ("awaiting_payment", "confirming", "booked", "cancelling")


SLOT_REFUSALS = {
    "held": ("slot_taken", "this slot is being booked by someone else; choose another"),
    "booked": ("slot_taken", "this slot is already booked; choose another"),
    "suspended": ("slot_suspended", "the doctor's clinic is suspended at this time; choose another slot"),
}


def slot_refusal(slot_status: str, visit_date: dt.date, start: str, now: dt.datetime) -> tuple[str, str] | None:
    """(code, message) saying why a slot cannot be held now, or None."""
    if slot_status in SLOT_REFUSALS:
        return SLOT_REFUSALS[slot_status]
    if slot_status != "free":
        return ("slot_unavailable", "this slot cannot be booked")
    hours, minutes = (int(part) for part in start.split(":"))
    begins = dt.datetime.combine(visit_date, dt.time(hours, minutes), HOSPITAL_TZ)
    if begins <= (now if now.tzinfo else now.replace(tzinfo=dt.UTC)):
        return ("slot_past", "this slot has already begun")
    return None


def hospital_day(at: dt.datetime) -> dt.date:
    """The hospital's calendar day (Asia/Shanghai) of an aware or naive-UTC instant."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(HOSPITAL_TZ).date()


@dataclass(frozen=True)
class CancelRefusal:
    code: str
    message: str


def cancellation_refusal(visit_date: dt.date, now: dt.datetime) -> CancelRefusal | None:
    """Why the patient may not cancel a registration for `visit_date` at `now`, or None. This
    hospital's rule: on the visit day, or up to CANCEL_DAYS_AFTER_VISIT days after a missed
    visit, in Asia/Shanghai days."""
    today = hospital_day(now)
    last = visit_date + dt.timedelta(days=CANCEL_DAYS_AFTER_VISIT)
    if today < visit_date:
        return CancelRefusal("cancellation_not_yet_open",
                             f"a registration can be cancelled from its visit day, {visit_date.isoformat()}")
    if today > last:
        return CancelRefusal("cancellation_window_closed",
                             f"a registration can be cancelled up to {CANCEL_DAYS_AFTER_VISIT} days after its visit "
                             f"day; the last day was {last.isoformat()}")
    return None


# What the patient is told when the HIS could not take the registration after payment, by the
# HIS's refusal code (its message stays in the order for staff).
_FAILURES = {
    "E_HOLD_EXPIRED": "the slot was held for you only until the payment deadline and the payment came later; "
                      "the fee is being refunded",
    "E_SLOT_SUSPENDED": "the doctor's clinic was suspended at this time; the fee is being refunded",
    "E_BILL_CANCELLED": "the hospital withdrew the registration fee; the fee is being refunded",
    "E_AMOUNT_MISMATCH": "the hospital's fee changed; the fee is being refunded",
}
FAILURE_UNKNOWN = "the hospital could not confirm the registration; the fee is being refunded"


def failure_message(his_error: str | None) -> str:
    """The patient's words for why a paid registration failed, from the HIS's "CODE: message"."""
    code = (his_error or "").split(":", 1)[0].strip()
    return _FAILURES.get(code, FAILURE_UNKNOWN)
