"""A refund's record: its states, and how a provider's word moves them, in the caller's
transaction (order row locked first, then the refund row).

    requested ──> processing ──> succeeded
        │              ├──> closed     (the provider gave up: a person decides)
        └──────────────┴──> abnormal   (card frozen or closed: a person uses the offline route)

What the provider's SUCCESS means is its channel's to say (hospital.payments.channels): for
most, the whole refund is back (`succeeded`); for a mixed order, only its cash part.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa

from hospital.db import tables as t
from hospital.db import transaction
from hospital.payments import anomalies, ledger, orders
from hospital.timeutil import utcnow

log = logging.getLogger("hospital.payments")

REQUESTED, PROCESSING, SUCCEEDED, CLOSED, ABNORMAL = "requested", "processing", "succeeded", "closed", "abnormal"
FINAL = (SUCCEEDED, CLOSED)
OPEN = (REQUESTED, PROCESSING, ABNORMAL)
CASH_DONE = "cash_done"  # the provider's (cash) part of a refund with more parts came back; more steps follow


def refund_row(refund_id: str):
    with transaction() as conn:
        return conn.execute(sa.select(t.payment_refunds).where(t.payment_refunds.c.id == refund_id)).one()


def settle(conn, order, refund, result, now, channel) -> str:
    """Apply a provider's refund state to the locked order and refund rows; `channel` (the
    refund's, by its route) books a SUCCESS."""
    status = result.refund_status
    provider_ref = result.provider_refund_id or refund.provider_refund_id
    if status == "PROCESSING":
        conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id,
                                                      t.payment_refunds.c.status == REQUESTED)
                     .values(status=PROCESSING, provider_refund_id=provider_ref, updated_at=now,
                             attempts=t.payment_refunds.c.attempts + 1))
        return PROCESSING
    if refund.status in FINAL:
        return "duplicate"
    if status == "SUCCESS":
        return channel.refund_succeeded(conn, order, refund, provider_ref, result.finished_at or now, now)
    if status in ("CLOSED", "ABNORMAL"):
        new = CLOSED if status == "CLOSED" else ABNORMAL
        if refund.status == new:
            return "duplicate"
        conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id)
                     .values(status=new, provider_refund_id=provider_ref, updated_at=now,
                             last_error=f"provider says {status}"))
        anomalies.record(conn, source=result.source, reason=f"refund_{new}", order_id=order.id,
                         out_refund_no=refund.out_refund_no, provider_ref=provider_ref, amount_fen=refund.amount_fen,
                         dedupe_key=f"refund:{new}:{refund.out_refund_no}")
        if new == CLOSED:
            leave_refund_pending(conn, order, refund.id)
        return new
    log.warning("refund state not understood", extra={"out_refund_no": refund.out_refund_no, "state": status[:20]})
    return "ignored"


def succeeded(conn, order, refund, provider_ref: str | None, at, now) -> str:
    """The whole refund is back: booked on its route, counted on the order, and the order
    refunded (or, for a partial refund, back to where it was)."""
    conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id)
                 .values(status=SUCCEEDED, provider_refund_id=provider_ref, updated_at=now, finished_at=at))
    ledger.book(conn, order_id=order.id, refund_id=refund.id, entry_type=ledger.REFUND, channel=refund.route,
                amount_fen=-refund.amount_fen, provider_ref=provider_ref,
                dedupe_key=f"refund:{refund.out_refund_no}", occurred_at=at)
    refunded = order.refunded_fen + refund.amount_fen
    conn.execute(t.payment_orders.update().where(t.payment_orders.c.id == order.id)
                 .values(refunded_fen=refunded, updated_at=now))
    if refunded >= order.paid_fen:
        orders.move(conn, order.id, orders.REFUNDED)
    else:
        leave_refund_pending(conn, order, refund.id)  # a partial refund: the rest stays paid
    return SUCCEEDED


def book_part(conn, order, refund, channel: str, fen: int, provider_ref: str | None, at) -> None:
    """One part of a mixed refund is back: booked, and counted on the order at once, so the
    ledger and the orders agree at every moment, not only when all parts are done."""
    if ledger.book(conn, order_id=order.id, refund_id=refund.id, entry_type=ledger.REFUND, channel=channel,
                   amount_fen=-fen, provider_ref=provider_ref, dedupe_key=f"refund:{refund.out_refund_no}:{channel}",
                   occurred_at=at):
        conn.execute(t.payment_orders.update().where(t.payment_orders.c.id == order.id)
                     .values(refunded_fen=t.payment_orders.c.refunded_fen + fen, updated_at=utcnow()))


def leave_refund_pending(conn, order, finished_refund_id: str) -> None:
    """No refund of the order is open any more: a confirmed order waiting in refund_pending
    goes back to confirmed."""
    still_open = conn.execute(sa.select(sa.func.count()).select_from(t.payment_refunds).where(
        t.payment_refunds.c.order_id == order.id, t.payment_refunds.c.id != finished_refund_id,
        t.payment_refunds.c.status.in_(OPEN))).scalar_one()
    if not still_open and order.status == orders.REFUND_PENDING:
        orders.move(conn, order.id, orders.CONFIRMED)
