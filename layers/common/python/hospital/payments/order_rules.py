"""An order's states and which move may follow which: pure rules (plain data in, a decision
out, no I/O; importable without the database). hospital.payments.orders applies them with
one guarded UPDATE per move (`WHERE status IN entered_from(to)`).

    created ──> paying ──> paid ──> confirmed ──> refund_pending ──> refunded
       │  ^        │         │          ^  (partial refund: back to confirmed)
       │  └ credit ┘         └──> his_failed ──> refunded    (the HIS refused: money goes back)
       └──> closed <┘    a late payment of a closed order is still taken as paid (and flagged)
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

CREATED, PAYING, PAID, CONFIRMED = "created", "paying", "paid", "confirmed"
HIS_FAILED, REFUND_PENDING, REFUNDED, CLOSED = "his_failed", "refund_pending", "refunded", "closed"
STATES = (CREATED, PAYING, PAID, CONFIRMED, HIS_FAILED, REFUND_PENDING, REFUNDED, CLOSED)
OPEN = (CREATED, PAYING, PAID, CONFIRMED, HIS_FAILED, REFUND_PENDING)
MONEY_TAKEN = (PAID, CONFIRMED, HIS_FAILED, REFUND_PENDING, REFUNDED)

# Which states each state may be entered from.
ALLOWED_FROM: dict[str, frozenset[str]] = {
    CREATED: frozenset({PAYING}),  # a credit charge that was declined gives the order back
    PAYING: frozenset({CREATED}),
    PAID: frozenset({CREATED, PAYING, CLOSED}),
    CONFIRMED: frozenset({PAID, REFUND_PENDING}),
    HIS_FAILED: frozenset({PAID}),
    REFUND_PENDING: frozenset({CONFIRMED}),
    REFUNDED: frozenset({HIS_FAILED, REFUND_PENDING, CONFIRMED, PAID}),
    CLOSED: frozenset({CREATED, PAYING}),
}


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: what the caller is told (a 409 unless said otherwise)."""

    code: str
    message: str
    field: str | None = None


def may_follow(to: str, current: str) -> bool:
    """Whether an order in `current` may move to `to`. ValueError for a state we do not have."""
    if to not in ALLOWED_FROM:
        raise ValueError(f"no transition into {to}")
    return current in ALLOWED_FROM[to]


def entered_from(to: str) -> tuple[str, ...]:
    """Every state `to` may follow: the guarded UPDATE's `WHERE status IN (...)`."""
    return tuple(state for state in STATES if may_follow(to, state))


def frees_the_bill(to: str) -> bool:
    """An order that ends here no longer holds its bill: a new order may pay it."""
    return to in (CLOSED, REFUNDED)


def payable_refusal(status: str, expires_at: dt.datetime, now: dt.datetime) -> Refusal | None:
    """Why an order in `status`, open for payment until `expires_at`, cannot be paid at `now`."""
    if status in MONEY_TAKEN:
        return Refusal("already_paid", "this order is already paid")
    if status == CLOSED:
        return Refusal("order_closed", "this order has expired or was closed; start a new one")
    if expires_at <= now:
        return Refusal("order_expired", "this order has expired; start a new one")
    return None
