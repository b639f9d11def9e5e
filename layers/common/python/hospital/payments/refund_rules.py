"""A refund's rules: how much of an order can still be refunded, what a provider's word about a
refund means for the refund and its order. Pure (plain data in, a decision out, no I/O;
importable without the database): hospital.payments.refunds and refund_records apply them to
the locked rows.

    requested ──> processing ──> succeeded
        │              ├──> closed     (the provider gave up: a person decides)
        └──────────────┴──> abnormal   (card frozen or closed: a person uses the offline route)
"""
from __future__ import annotations

from dataclasses import dataclass

from hospital.payments.order_rules import CONFIRMED, MONEY_TAKEN, REFUND_PENDING, REFUNDED, Refusal

REQUESTED, PROCESSING, SUCCEEDED, CLOSED, ABNORMAL = "requested", "processing", "succeeded", "closed", "abnormal"
FINAL = (SUCCEEDED, CLOSED)
OPEN = (REQUESTED, PROCESSING, ABNORMAL)
CASH_DONE = "cash_done"  # the provider's (cash) part of a refund with more parts came back; more steps follow
DUPLICATE, IGNORED = "duplicate", "ignored"

# ---- asking for a refund ----------------------------------------------------------------------


def repeat_refusal(existing_fen: int, amount_fen: int) -> Refusal | None:
    """A refund for the same order and reason exists: the same request again is that refund;
    another amount under that reason is refused."""
    if existing_fen != amount_fen:
        return Refusal("refund_reason_used",
                       f"a refund for this reason exists with {existing_fen} fen; use another reason", "reason")
    return None


def state_refusal(order_status: str) -> Refusal | None:
    """Only an order whose money was taken, and not all given back, can be refunded."""
    if order_status not in MONEY_TAKEN or order_status == REFUNDED:
        return Refusal("not_refundable", f"an order that is {order_status} cannot be refunded")
    return None


def refundable_fen(paid_fen: int, refunded_fen: int, pending_fen: int) -> int:
    """What can still be refunded: paid, less what came back, less what open refunds ask for."""
    return paid_fen - refunded_fen - pending_fen


def amount_refusal(amount_fen: object, refundable: int) -> Refusal | None:
    """A refund asks for a whole number of fen, at least 1, at most what can still be refunded."""
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or not 1 <= amount_fen <= refundable:
        return Refusal("refund_too_large", f"at most {refundable} fen of this order can still be refunded",
                       "amount_fen")
    return None


def full_only_refusal(paid_fen: int, amount_fen: int) -> Refusal | None:
    """A mixed (medical-insurance) payment is refunded in full: the insurance platform gives its
    parts back as they were settled."""
    if amount_fen != paid_fen:
        return Refusal("refund_must_be_full", "a medical-insurance payment is refunded in full", "amount_fen")
    return None


def mixed_parts(paid_fen: int, cash_fen: int | None) -> dict:
    """How a full refund of a mixed payment splits: its cash, and the insurance parts."""
    return {"cash_fen": cash_fen or 0, "insurance_fen": paid_fen - (cash_fen or 0)}


def order_status_on_request(order_status: str) -> str | None:
    """Where a new refund puts its order: a confirmed order waits in refund_pending; a paid
    order the HIS has not confirmed stays paid (the confirmation goes on)."""
    return REFUND_PENDING if order_status == CONFIRMED else None


def worker_done(refund_status: str) -> bool:
    """Nothing left for the refund worker to ask of a provider: final, or with a person."""
    return refund_status in FINAL or refund_status == ABNORMAL


# ---- a provider's word ------------------------------------------------------------------------


@dataclass(frozen=True)
class Settlement:
    """What a provider's refund state does to a refund in `refund_status` (applied by
    hospital.payments.refund_records.settle on the locked rows)."""

    outcome: str                 # what the news came to, for the caller
    status: str | None = None    # the refund's new status (None: unchanged)
    only_from: str | None = None  # the new status is written only if the refund is still in this one
    book: bool = False           # the money is back: the refund's channel books it (and names the outcome)
    to_finance: str | None = None  # the reason finance sees it (an abnormal order)
    leaves_refund_pending: bool = False  # the order may leave refund_pending, if no other refund is open


def settle(refund_status: str, provider_status: str) -> Settlement:
    """A provider says `provider_status` (SUCCESS, CLOSED, ABNORMAL, PROCESSING) of a refund in
    `refund_status`."""
    if provider_status == "PROCESSING":
        # Only records that the provider has it; a refund further on stays where it is.
        return Settlement(PROCESSING, status=PROCESSING, only_from=REQUESTED)
    if refund_status in FINAL:
        return Settlement(DUPLICATE)
    if provider_status == "SUCCESS":
        return Settlement(SUCCEEDED, book=True)
    if provider_status in ("CLOSED", "ABNORMAL"):
        new = CLOSED if provider_status == "CLOSED" else ABNORMAL
        if refund_status == new:
            return Settlement(DUPLICATE)
        # closed: it no longer counts against what can be refunded; abnormal: a person finishes it
        return Settlement(new, status=new, to_finance=f"refund_{new}", leaves_refund_pending=new == CLOSED)
    return Settlement(IGNORED)


@dataclass(frozen=True)
class Counted:
    """An order once a refund's money is counted on it."""

    refunded_fen: int
    order_refunded: bool  # all of it is back: the order is refunded (else it goes back to where it was)


def count_refund(paid_fen: int, refunded_fen: int, amount_fen: int) -> Counted:
    """A refund of `amount_fen` succeeded on an order that had `refunded_fen` of `paid_fen` back."""
    refunded = refunded_fen + amount_fen
    return Counted(refunded, fully_refunded(paid_fen, refunded))


def fully_refunded(paid_fen: int, refunded_fen: int) -> bool:
    return refunded_fen >= paid_fen


def order_status_when_refund_ends(order_status: str, others_open: int) -> str | None:
    """A refund of the order ended (succeeded in part, closed, refused): with no other refund
    open, an order waiting in refund_pending goes back to confirmed."""
    return CONFIRMED if not others_open and order_status == REFUND_PENDING else None


def mixed_refund_done(cash_fen: int | None, cash_back: bool, insurance_back: bool, wechat_told: bool) -> bool:
    """Every step of a mixed refund is done: its cash (if any) and insurance parts are back,
    and WeChat has been told of the insurance refund."""
    return (not cash_fen or cash_back) and insurance_back and wechat_told
