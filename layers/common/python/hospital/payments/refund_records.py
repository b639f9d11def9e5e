"""A refund's record: how a provider's word moves it, in the caller's transaction (order row
locked first, then the refund row). The states and what each word means are pure rules
(hospital.payments.refund_rules); this module applies their decisions to the rows. Every
function takes the caller's connection and opens nothing itself.

What the provider's SUCCESS means is its channel's to say (hospital.payments.channels): for
most, the whole refund is back (`succeeded`); for a mixed order, only its cash part.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa

from hospital.db import tables as t
from hospital.payments import anomalies, ledger, orders, refund_rules

# The states are the pure rules'; every caller knows them by these names.
from hospital.payments.refund_rules import ABNORMAL as ABNORMAL
from hospital.payments.refund_rules import CASH_DONE as CASH_DONE
from hospital.payments.refund_rules import CLOSED as CLOSED
from hospital.payments.refund_rules import FINAL as FINAL
from hospital.payments.refund_rules import OPEN as OPEN
from hospital.payments.refund_rules import PROCESSING as PROCESSING
from hospital.payments.refund_rules import REQUESTED as REQUESTED
from hospital.payments.refund_rules import SUCCEEDED as SUCCEEDED
from hospital.timeutil import utcnow

log = logging.getLogger("hospital.payments")


def moved(refund, status: str) -> None:
    """The RefundStates metric of a refund (a row with its route) that moved to `status`. Counted
    when the row is written, in the caller's transaction: one that rolls back has counted a move
    the row does not show, which its retry counts again (an alarm errs towards looking)."""
    from hospital import metrics

    metrics.refund_state(status, refund.route)


def refund_row(conn, refund_id: str):
    return conn.execute(sa.select(t.payment_refunds).where(t.payment_refunds.c.id == refund_id)).one()


def settle(conn, order, refund, result, now, channel) -> str:
    """Apply a provider's refund state to the locked order and refund rows, as
    refund_rules.settle decides; `channel` (the refund's, by its route) books a SUCCESS."""
    decision = refund_rules.settle(refund.status, result.refund_status)
    provider_ref = result.provider_refund_id or refund.provider_refund_id
    if decision.book:
        return channel.refund_succeeded(conn, order, refund, provider_ref, result.finished_at or now, now)
    if decision.status is not None and decision.only_from is not None:
        if conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id,
                                                         t.payment_refunds.c.status == decision.only_from)
                        .values(status=decision.status, provider_refund_id=provider_ref, updated_at=now,
                                attempts=t.payment_refunds.c.attempts + 1)).rowcount:
            moved(refund, decision.status)
    elif decision.status is not None:
        conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id)
                     .values(status=decision.status, provider_refund_id=provider_ref, updated_at=now,
                             last_error=f"provider says {result.refund_status}"))
        moved(refund, decision.status)
    if decision.to_finance is not None:
        anomalies.record(conn, source=result.source, reason=decision.to_finance, order_id=order.id,
                         out_refund_no=refund.out_refund_no, provider_ref=provider_ref, amount_fen=refund.amount_fen,
                         dedupe_key=f"refund:{decision.status}:{refund.out_refund_no}")
    if decision.leaves_refund_pending:
        leave_refund_pending(conn, order, refund.id)
    if decision.outcome == refund_rules.IGNORED:
        log.warning("refund state not understood",
                    extra={"out_refund_no": refund.out_refund_no, "state": result.refund_status[:20]})
    return decision.outcome


def succeeded(conn, order, refund, provider_ref: str | None, at, now) -> str:
    """The whole refund is back: booked on its route, counted on the order, and the order
    refunded (or, for a partial refund, back to where it was)."""
    conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id)
                 .values(status=SUCCEEDED, provider_refund_id=provider_ref, updated_at=now, finished_at=at))
    moved(refund, SUCCEEDED)
    ledger.book(conn, order_id=order.id, refund_id=refund.id, entry_type=ledger.REFUND, channel=refund.route,
                amount_fen=-refund.amount_fen, provider_ref=provider_ref,
                dedupe_key=f"refund:{refund.out_refund_no}", occurred_at=at)
    counted = refund_rules.count_refund(order.paid_fen, order.refunded_fen, refund.amount_fen)
    conn.execute(t.payment_orders.update().where(t.payment_orders.c.id == order.id)
                 .values(refunded_fen=counted.refunded_fen, updated_at=now))
    if counted.order_refunded:
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
    to = refund_rules.order_status_when_refund_ends(order.status, still_open)
    if to is not None:
        orders.move(conn, order.id, to)
