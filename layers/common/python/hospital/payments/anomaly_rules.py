"""Abnormal orders on finance's work list (AS1): which stuck state the watchdog records under
which reason, when a recorded state has cleared by itself, and which safe action each reason
allows. Pure (plain data in, a decision out, no I/O; importable without the database):
hospital.payments.watchdog and hospital.payments.anomaly_actions apply them.

The watchdog records what stayed stuck longer than the payment sweeper needs to settle it:

    payment_unsettled      an order still paying well after it expired (the provider could not
                           be asked, or would not close it): paid or not, nobody knows yet
    paid_unconfirmed       paid, and the HIS has not confirmed it (HIS down, slow or failing)
    his_failed_unrefunded  the HIS failed the order, its money is not all back and no refund of
                           it is under way
    refund_unsent          a refund that has not reached its provider
    refund_stuck           a refund its provider has been processing for too long
    refund_abnormal        a refund its provider ended abnormal (card frozen or closed)

Each of these is a state of an order or a refund: once the order or refund has left that
state (the sweeper confirmed the order, the refund succeeded), the entry is resolved by the
system with a note saying so. Every other reason (news that fit no order, a refund the
provider refused, ...) is recorded where it happens and stays until a person resolves it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hospital.payments.order_rules import CLOSED, CREATED, HIS_FAILED, PAID, PAYING, Refusal
from hospital.payments.refund_rules import ABNORMAL, PROCESSING, REQUESTED

PAYMENT_UNSETTLED = "payment_unsettled"
PAID_UNCONFIRMED = "paid_unconfirmed"
HIS_FAILED_UNREFUNDED = "his_failed_unrefunded"
REFUND_UNSENT = "refund_unsent"
REFUND_STUCK = "refund_stuck"
REFUND_ABNORMAL = "refund_abnormal"  # the reason hospital.payments.refund_records records it under too

ORDER, REFUND = "order", "refund"
# Reason -> what it is about, and the states of that order or refund in which it still holds.
HOLDS_WHILE: dict[str, tuple[str, frozenset[str]]] = {
    PAYMENT_UNSETTLED: (ORDER, frozenset({PAYING})),
    PAID_UNCONFIRMED: (ORDER, frozenset({PAID})),
    HIS_FAILED_UNREFUNDED: (ORDER, frozenset({HIS_FAILED})),
    REFUND_UNSENT: (REFUND, frozenset({REQUESTED})),
    REFUND_STUCK: (REFUND, frozenset({PROCESSING})),
    REFUND_ABNORMAL: (REFUND, frozenset({ABNORMAL})),
}
WATCHED = tuple(HOLDS_WHILE)

# ---- what the watchdog records ----------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """How long each state may last before finance sees it (hospital.settings, PAYMENT_WATCHDOG)."""

    unsettled: dt.timedelta     # still paying, past the order's expiry
    unconfirmed: dt.timedelta   # paid, since it was paid
    his_failed: dt.timedelta    # failed by the HIS, since the failure
    refund_unsent: dt.timedelta  # a refund requested, since it was asked for
    refund_processing: dt.timedelta  # a refund processing, since it was asked for


@dataclass(frozen=True)
class Cutoffs:
    """A state that began before these instants has lasted too long (for the watchdog's queries)."""

    expired_before: dt.datetime
    paid_before: dt.datetime
    failed_before: dt.datetime
    refund_unsent_before: dt.datetime
    refund_processing_before: dt.datetime


def cutoffs(now: dt.datetime, limits: Thresholds) -> Cutoffs:
    return Cutoffs(now - limits.unsettled, now - limits.unconfirmed, now - limits.his_failed,
                   now - limits.refund_unsent, now - limits.refund_processing)


def order_reason(status: str, *, expires_at: dt.datetime, paid_at: dt.datetime | None, updated_at: dt.datetime,
                 paid_fen: int, refunded_fen: int, refund_under_way: bool, at: Cutoffs) -> str | None:
    """Why an order in `status` belongs on the work list now, or None."""
    if status == PAYING and expires_at <= at.expired_before:
        return PAYMENT_UNSETTLED
    if status == PAID and paid_at is not None and paid_at <= at.paid_before:
        return PAID_UNCONFIRMED
    if (status == HIS_FAILED and refunded_fen < paid_fen and not refund_under_way
            and updated_at <= at.failed_before):
        return HIS_FAILED_UNREFUNDED
    return None


def refund_reason(status: str, *, created_at: dt.datetime, at: Cutoffs) -> str | None:
    """Why a refund in `status`, asked for at `created_at`, belongs on the work list now, or None."""
    if status == REQUESTED and created_at <= at.refund_unsent_before:
        return REFUND_UNSENT
    if status == PROCESSING and created_at <= at.refund_processing_before:
        return REFUND_STUCK
    if status == ABNORMAL:
        return REFUND_ABNORMAL
    return None


def dedupe_prefix(reason: str) -> str:
    """The dedupe key of an entry is this and the order id or out_refund_no: one entry per order
    or refund and reason, however often the watchdog runs. An abnormal refund shares the key
    hospital.payments.refund_records records it under, so it is never listed twice."""
    return "refund:abnormal:" if reason == REFUND_ABNORMAL else f"watchdog:{reason}:"


def cleared(reason: str, status: str | None) -> str | None:
    """A note saying the condition ended, when the order or refund an entry of `reason` is about
    is in `status` now; None while it still holds, or for a reason no state defines."""
    if reason not in HOLDS_WHILE:
        return None
    about, holding = HOLDS_WHILE[reason]
    if status in holding:
        return None
    if status is None:
        return f"cleared by itself: the {about} no longer exists"
    return f"cleared by itself: the {about} is {status} now"


# ---- what finance may do about an entry ------------------------------------------------------------

QUERY_PROVIDER, RETRY_HIS, REFUND_ACTION, RESOLVE = "query_provider", "retry_his", "refund", "resolve"
ACTIONS = (QUERY_PROVIDER, RETRY_HIS, REFUND_ACTION, RESOLVE)

# Reason -> the actions that may help, besides resolving (always allowed while open). Reasons
# not named here (news that fits no order of ours, a second transaction, a mismatch) name no
# money of ours to move: a person settles them outside and resolves them with a note.
_ALLOWED: dict[str, frozenset[str]] = {
    PAYMENT_UNSETTLED: frozenset({QUERY_PROVIDER}),
    PAID_UNCONFIRMED: frozenset({RETRY_HIS, REFUND_ACTION}),
    HIS_FAILED_UNREFUNDED: frozenset({QUERY_PROVIDER, REFUND_ACTION}),
    REFUND_UNSENT: frozenset({QUERY_PROVIDER}),
    REFUND_STUCK: frozenset({QUERY_PROVIDER}),
    REFUND_ABNORMAL: frozenset({QUERY_PROVIDER}),
    # recorded elsewhere
    "refunded_unconfirmed": frozenset({QUERY_PROVIDER}),  # refunded by policy: follow that refund
    "refund_refused": frozenset({REFUND_ACTION}),  # ask again once the cause is dealt with
    "refund_closed": frozenset({REFUND_ACTION}),
    "paid_after_close": frozenset({RETRY_HIS, REFUND_ACTION}),
    "cancelled_registration_not_refunded": frozenset({REFUND_ACTION}),
}


def allowed(reason: str) -> tuple[str, ...]:
    """The actions finance may take on an open entry of `reason`, in ACTIONS order."""
    extra = _ALLOWED.get(reason, frozenset())
    return tuple(action for action in ACTIONS if action in extra or action == RESOLVE)


def action_refusal(reason: str, action: str, resolved: bool) -> Refusal | None:
    """Why `action` cannot be taken on an entry of `reason` (409), or None."""
    if resolved:
        return Refusal("already_resolved", "this abnormal order is resolved; nothing more is done on it")
    if action not in allowed(reason):
        return Refusal("action_not_allowed",
                       f"{action} does not apply to {reason}; allowed: {', '.join(allowed(reason))}", "action")
    return None


def body_problem(action: str, note: str | None, amount_fen: int | None) -> tuple[str, str] | None:
    """(field, message) of an action's body that does not fit it (400), or None."""
    if action == RESOLVE and note is None:
        return "note", "note is required to resolve: say how it was settled"
    if amount_fen is not None and action != REFUND_ACTION:
        return "amount_fen", f"amount_fen is only for a refund, not for {action}"
    return None


def refund_reason_of(anomaly_id: int) -> str:
    """The refund reason of finance's refund on an entry: the same for every retry, so the
    refund's out_refund_no is too and the money goes back once."""
    return f"anomaly:{anomaly_id}"


def refund_amount(order_status: str, paid_fen: int, refundable_fen: int, asked_fen: int | None) -> int | Refusal:
    """How much finance's refund gives back: what was asked, by default all that can still be
    refunded. An order the HIS has not confirmed is refunded in full (it stops being confirmed)."""
    if order_status == PAID:
        if asked_fen not in (None, paid_fen):
            return Refusal("refund_must_be_full",
                           "a paid order the HIS has not confirmed is refunded in full", "amount_fen")
        return paid_fen
    if asked_fen is None:
        if refundable_fen <= 0:
            return Refusal("nothing_to_refund", "nothing of this order is left to refund")
        return refundable_fen
    return asked_fen


def asks_the_payment(order_status: str) -> bool:
    """Querying the provider about an order in this state asks about its payment (whether it
    was paid); an order whose money was taken is asked about its open refunds instead."""
    return order_status in (PAYING, CLOSED)


def nothing_to_ask(order_status: str) -> bool:
    """An order never sent to a provider has nothing the provider could say."""
    return order_status == CREATED
