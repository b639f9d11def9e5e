"""Refunds: requested in the business transaction, carried out by the refund worker (SQS)
through the order's channel, finished by the provider's notification or by query. (States
and their bookkeeping: hospital.payments.refund_records.)

The out_refund_no is derived from the order and the reason, so every retry, redelivery or
resumed worker sends the same number and the provider refunds once. The worker holds no lock
while it calls the provider; a crash after the provider accepted and before we saved is
resumed by the redelivered message, which asks again with the same number.

`request` is a service (the caller's unit of work). The worker's entries, `process` and
`follow_up`, read in one transaction, ask the provider with none open, and record its answer
in another (`refused`, `to_a_person` and the results entry take or open it).
"""
from __future__ import annotations

import hashlib
import logging
import re
import uuid

import sqlalchemy as sa

from hospital import external_calls, metrics
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, ValidationFailed
from hospital.payments import anomalies, messages, orders, refund_records, refund_rules, results
from hospital.payments.channels import registry
from hospital.payments.channels.base import RefundRefused, RefundRefusedMidway
from hospital.payments.order_rules import Refusal
from hospital.payments.refund_records import ABNORMAL, CLOSED, PROCESSING, REQUESTED
from hospital.timeutil import utcnow

log = logging.getLogger("hospital.payments")

REASON = re.compile(r"^[a-z][a-z0-9_:-]{0,47}$")


def out_refund_no(order_id: str, reason: str) -> str:
    """Deterministic per (order, reason): 'RF' + 30 hex characters."""
    return "RF" + hashlib.sha256(f"{order_id}:{reason}".encode()).hexdigest()[:30]


def request(uow, order, amount_fen: int, reason: str, requested_by: int | None = None) -> dict:
    """Ask for a refund of `amount_fen` of a paid order, in the caller's unit of work (the
    order row locked by the caller). Asking again with the same reason returns that refund."""
    conn = uow.conn
    if not REASON.match(reason):
        raise ValidationFailed("reason must be a short code (a-z, 0-9, _ : -)", field="reason")
    number = out_refund_no(order.id, reason)
    existing = conn.execute(sa.select(t.payment_refunds).where(t.payment_refunds.c.out_refund_no == number)).first()
    if existing is not None:
        _refuse(refund_rules.repeat_refusal(existing.amount_fen, amount_fen))
        return orders.refund_view(existing)
    _refuse(refund_rules.state_refusal(order.status))
    _refuse(refund_rules.amount_refusal(amount_fen, refundable(conn, order)))
    route = registry.name_of(order)
    parts = registry.named(route).refund_parts(order, amount_fen)
    now = utcnow()
    refund_id = uuid.uuid4().hex
    conn.execute(t.payment_refunds.insert().values(
        id=refund_id, order_id=order.id, out_refund_no=number, route=route,
        amount_fen=amount_fen, reason=reason, status=REQUESTED, requested_by=requested_by,
        created_at=now, updated_at=now, **parts))
    metrics.refund_state(REQUESTED, route)
    to = refund_rules.order_status_on_request(order.status)
    if to is not None:
        orders.move(conn, order.id, to)
    uow.publish(messages.RefundRequested(refund_id=refund_id))
    return orders.refund_view(refund_records.refund_row(conn, refund_id))


def refundable(conn, order) -> int:
    """What can still be refunded of the (locked) order: paid, less what came back, less what
    its open refunds ask for."""
    pending = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(t.payment_refunds.c.amount_fen), 0)).where(
        t.payment_refunds.c.order_id == order.id, t.payment_refunds.c.status.in_(refund_records.OPEN)
    )).scalar_one()
    return refund_rules.refundable_fen(order.paid_fen, order.refunded_fen, int(pending))


def _refuse(refusal: Refusal | None) -> None:
    if refusal is not None:
        raise Conflict(refusal.message, code=refusal.code, field=refusal.field)


def process(refund_id: str) -> str:
    """The worker's step: have the provider refund (idempotently), then record its answer,
    then whatever steps the channel has left."""
    with transaction() as conn:
        refund = conn.execute(sa.select(t.payment_refunds).where(t.payment_refunds.c.id == refund_id)).first()
        order = refund and conn.execute(sa.select(t.payment_orders)
                                        .where(t.payment_orders.c.id == refund.order_id)).one()
    if refund is None:
        log.warning("refund message for an unknown refund", extra={"refund_id": refund_id})
        return "unknown"
    if refund_rules.worker_done(refund.status):
        return refund.status
    channel = registry.for_order(order)
    try:
        with external_calls.concerning(order_id=order.id, user_id=order.user_id):
            answer = channel.refund(order, refund)
            outcome = None if answer is None else results.apply_refund(answer)
            return channel.finish_refund(order, refund, outcome)
    except RefundRefusedMidway as exc:
        # Some parts may be back already: nothing is undone, a person finishes it.
        with transaction() as conn:
            return to_a_person(conn, refund, order, str(exc))
    except RefundRefused as exc:
        with transaction() as conn:
            return refused(conn, refund, order, str(exc))


def refused(conn, refund, order, error: str) -> str:
    """The provider refused the refund request itself (a refusal, not an outage: sending it
    again cannot help). The refund is closed, no longer counts against what can be refunded,
    the order leaves refund_pending, and finance sees it: it can ask again with another reason
    once the cause (say, the merchant balance) is dealt with."""
    now = utcnow()
    order = orders.locked(conn, order.id)
    changed = conn.execute(t.payment_refunds.update().where(
        t.payment_refunds.c.id == refund.id, t.payment_refunds.c.status.in_((REQUESTED, PROCESSING)))
        .values(status=CLOSED, last_error=error[:200], updated_at=now, finished_at=now,
                attempts=t.payment_refunds.c.attempts + 1)).rowcount
    if changed:
        refund_records.moved(refund, CLOSED)
        anomalies.record(conn, source="refund_worker", reason="refund_refused", order_id=order.id,
                         out_refund_no=refund.out_refund_no, amount_fen=refund.amount_fen,
                         dedupe_key=f"refund:refused:{refund.out_refund_no}", details={"error": error[:200]})
        refund_records.leave_refund_pending(conn, order, refund.id)
    return CLOSED


def to_a_person(conn, refund, order, error: str) -> str:
    """A refusal after some parts may be back: the refund is abnormal and finance sees it."""
    now = utcnow()
    if conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id,
                                                     t.payment_refunds.c.status.in_((REQUESTED, PROCESSING)))
                    .values(status=ABNORMAL, last_error=error[:200], updated_at=now)).rowcount:
        refund_records.moved(refund, ABNORMAL)
    anomalies.record(conn, source="refund_worker", reason="refund_refused", order_id=order.id,
                     out_refund_no=refund.out_refund_no, amount_fen=refund.amount_fen,
                     dedupe_key=f"refund:refused:{refund.out_refund_no}", details={"error": error[:200]})
    return ABNORMAL


def follow_up(refund_id: str) -> str:
    """Query a refund the provider is still processing (no notification yet); a channel with no
    refund query has the refund carried on again (its steps are idempotent at the provider)."""
    with transaction() as conn:
        refund = conn.execute(sa.select(t.payment_refunds).where(t.payment_refunds.c.id == refund_id)).one()
        order = conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.id == refund.order_id)).one()
        # Touched on every follow-up, so the oldest are asked first and none starves the rest.
        conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund_id).values(updated_at=utcnow()))
    if refund.status != PROCESSING:
        return refund.status
    with external_calls.concerning(order_id=order.id, user_id=order.user_id):
        answer = registry.for_order(order).follow_up(order, refund)
    if answer is None:
        return process(refund_id)
    return results.apply_refund(answer)
