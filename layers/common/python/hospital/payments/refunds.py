"""Refunds: requested in the business transaction, carried out by the refund worker (SQS),
finished by the provider's notification or by query.

    requested ──> processing ──> succeeded
        │              ├──> closed     (the provider gave up: a person decides)
        └──────────────┴──> abnormal   (card frozen or closed: a person uses the offline route)

The out_refund_no is derived from the order and the reason, so every retry, redelivery or
resumed worker sends the same number and the provider refunds once. The worker holds no lock
while it calls the provider; a crash after the provider accepted and before we saved is
resumed by the redelivered message, which asks again with the same number.
"""
from __future__ import annotations

import hashlib
import logging
import re
import uuid

import sqlalchemy as sa

from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, ValidationFailed
from hospital.payments import anomalies, ledger, messages, orders
from hospital.timeutil import utcnow

log = logging.getLogger("hospital.payments")

REQUESTED, PROCESSING, SUCCEEDED, CLOSED, ABNORMAL = "requested", "processing", "succeeded", "closed", "abnormal"
FINAL = (SUCCEEDED, CLOSED)
CASH_DONE = "cash_done"  # a mixed (insurance) refund's cash part came back; more steps follow
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
        if existing.amount_fen != amount_fen:
            raise Conflict(f"a refund for this reason exists with {existing.amount_fen} fen; use another reason",
                           code="refund_reason_used", field="reason")
        return orders.refund_view(existing)
    if order.status not in orders.MONEY_TAKEN or order.status == orders.REFUNDED:
        raise Conflict(f"an order that is {order.status} cannot be refunded", code="not_refundable")
    pending = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(t.payment_refunds.c.amount_fen), 0)).where(
        t.payment_refunds.c.order_id == order.id, t.payment_refunds.c.status.in_((REQUESTED, PROCESSING, ABNORMAL))
    )).scalar_one()
    refundable = order.paid_fen - order.refunded_fen - int(pending)
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or not 1 <= amount_fen <= refundable:
        raise Conflict(f"at most {refundable} fen of this order can still be refunded", code="refund_too_large",
                       field="amount_fen")
    mixed = {}
    if order.channel == "med_ins":
        # Each part goes back where it came from, whole: the insurance platform refunds an order's
        # insurance parts as they were settled, so a mixed payment is refunded in full.
        if amount_fen != order.paid_fen:
            raise Conflict("a medical-insurance payment is refunded in full", code="refund_must_be_full",
                           field="amount_fen")
        mixed = {"cash_fen": order.cash_fen or 0, "insurance_fen": order.paid_fen - (order.cash_fen or 0)}
    now = utcnow()
    refund_id = uuid.uuid4().hex
    conn.execute(t.payment_refunds.insert().values(
        id=refund_id, order_id=order.id, out_refund_no=number, route=order.channel or "wechat",
        amount_fen=amount_fen, reason=reason, status=REQUESTED, requested_by=requested_by,
        created_at=now, updated_at=now, **mixed))
    if order.status == orders.CONFIRMED:
        orders.move(conn, order.id, orders.REFUND_PENDING)
    uow.publish(messages.RefundRequested(refund_id=refund_id))
    return orders.refund_view(conn.execute(sa.select(t.payment_refunds)
                                           .where(t.payment_refunds.c.id == refund_id)).one())


def process(refund_id: str) -> str:
    """The worker's step: have the provider refund (idempotently), then record its answer."""
    from hospital.adapters.wechatpay_v3 import WeChatPayError
    from hospital.payments import merchants, results

    with transaction() as conn:
        refund = conn.execute(sa.select(t.payment_refunds).where(t.payment_refunds.c.id == refund_id)).first()
        order = refund and conn.execute(sa.select(t.payment_orders)
                                        .where(t.payment_orders.c.id == refund.order_id)).one()
    if refund is None:
        log.warning("refund message for an unknown refund", extra={"refund_id": refund_id})
        return "unknown"
    if refund.status in FINAL or refund.status == ABNORMAL:
        return refund.status
    from hospital.adapters.credit import CreditRefused
    from hospital.payments import credit_care

    if refund.route == "med_ins":
        from hospital.adapters.medical_insurance import InsuranceRefused
        from hospital.payments import medical_insurance

        try:
            return medical_insurance.refund_steps(order, refund)
        except (WeChatPayError, InsuranceRefused) as exc:
            # Some parts may be back already: nothing is undone, a person finishes it.
            return _to_a_person(refund, order, f"{exc.code}: {exc.message}")
    try:
        if refund.route == "credit":
            answer = credit_care.reverse(order, refund)
        else:
            merchant = merchants.by_mchid(order.mchid)
            answer = _create_at_wechat(merchants.client(merchant, order.appid), merchant, order, refund)
    except (WeChatPayError, CreditRefused) as exc:
        return refused(refund, order, f"{exc.code}: {exc.message}")
    return results.apply_refund(answer)


def refused(refund, order, error: str) -> str:
    """The provider refused the refund request itself (a refusal, not an outage: sending it
    again cannot help). The refund is closed, no longer counts against what can be refunded,
    the order leaves refund_pending, and finance sees it: it can ask again with another reason
    once the cause (say, the merchant balance) is dealt with."""
    now = utcnow()
    with transaction() as conn:
        order = orders.locked(conn, order.id)
        changed = conn.execute(t.payment_refunds.update().where(
            t.payment_refunds.c.id == refund.id, t.payment_refunds.c.status.in_((REQUESTED, PROCESSING)))
            .values(status=CLOSED, last_error=error[:200], updated_at=now, finished_at=now,
                    attempts=t.payment_refunds.c.attempts + 1)).rowcount
        if changed:
            anomalies.record(conn, source="refund_worker", reason="refund_refused", order_id=order.id,
                             out_refund_no=refund.out_refund_no, amount_fen=refund.amount_fen,
                             dedupe_key=f"refund:refused:{refund.out_refund_no}", details={"error": error[:200]})
            _leave_refund_pending(conn, order, refund.id)
    return CLOSED


def _to_a_person(refund, order, error: str) -> str:
    now = utcnow()
    with transaction() as conn:
        conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id,
                                                      t.payment_refunds.c.status.in_((REQUESTED, PROCESSING)))
                     .values(status=ABNORMAL, last_error=error[:200], updated_at=now))
        anomalies.record(conn, source="refund_worker", reason="refund_refused", order_id=order.id,
                         out_refund_no=refund.out_refund_no, amount_fen=refund.amount_fen,
                         dedupe_key=f"refund:refused:{refund.out_refund_no}", details={"error": error[:200]})
    return ABNORMAL


def _leave_refund_pending(conn, order, finished_refund_id: str) -> None:
    """No refund of the order is open any more: a confirmed order waiting in refund_pending
    goes back to confirmed."""
    still_open = conn.execute(sa.select(sa.func.count()).select_from(t.payment_refunds).where(
        t.payment_refunds.c.order_id == order.id, t.payment_refunds.c.id != finished_refund_id,
        t.payment_refunds.c.status.in_((REQUESTED, PROCESSING, ABNORMAL)))).scalar_one()
    if not still_open and order.status == orders.REFUND_PENDING:
        orders.move(conn, order.id, orders.CONFIRMED)


def _create_at_wechat(client, merchant, order, refund):
    from hospital.payments import merchants, notify_urls, results

    if merchants.api_version(merchant) == "v3":
        answer = client.create_refund(out_trade_no=order.id, out_refund_no=refund.out_refund_no, reason=refund.reason,
                                      refund_fen=refund.amount_fen, total_fen=order.paid_fen,
                                      notify_url=notify_urls.v3())
        return results.RefundResult("refund_worker", refund.out_refund_no, answer.get("status", "PROCESSING"),
                                    answer.get("amount", {}).get("refund"), answer.get("refund_id"))
    answer = client.create_refund(out_trade_no=order.id, out_refund_no=refund.out_refund_no,
                                  refund_fen=refund.amount_fen, total_fee=order.paid_fen, reason=refund.reason,
                                  notify_url=notify_urls.v2_refund())
    return results.RefundResult("refund_worker", refund.out_refund_no, "PROCESSING",
                                int(answer["refund_fee"]) if answer.get("refund_fee") else None, answer.get("refund_id"))


def settle(conn, order, refund, result, now) -> str:
    """Apply a provider's refund state to the locked order and refund rows."""
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
    if status == "SUCCESS" and refund.route == "med_ins":
        # Only the cash part of a mixed refund: book it; the worker does the rest.
        if refund.cash_done_at is not None:
            return "duplicate"
        conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id)
                     .values(cash_done_at=result.finished_at or now, provider_refund_id=provider_ref, updated_at=now))
        book_part(conn, order, refund, "wechat", refund.cash_fen, provider_ref, result.finished_at or now)
        return CASH_DONE
    if status == "SUCCESS":
        conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id)
                     .values(status=SUCCEEDED, provider_refund_id=provider_ref, updated_at=now,
                             finished_at=result.finished_at or now))
        ledger.book(conn, order_id=order.id, refund_id=refund.id, entry_type=ledger.REFUND, channel=refund.route,
                    amount_fen=-refund.amount_fen, provider_ref=provider_ref,
                    dedupe_key=f"refund:{refund.out_refund_no}", occurred_at=result.finished_at or now)
        refunded = order.refunded_fen + refund.amount_fen
        conn.execute(t.payment_orders.update().where(t.payment_orders.c.id == order.id)
                     .values(refunded_fen=refunded, updated_at=now))
        if refund.route == "credit":
            from hospital.payments import credit_care

            credit_care.on_refunded(conn, order.id, refund.amount_fen, now)
        if refunded >= order.paid_fen:
            orders.move(conn, order.id, orders.REFUNDED)
        else:
            _leave_refund_pending(conn, order, refund.id)  # a partial refund: the rest stays paid
        return SUCCEEDED
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
            _leave_refund_pending(conn, order, refund.id)
        return new
    log.warning("refund state not understood", extra={"out_refund_no": refund.out_refund_no, "state": status[:20]})
    return "ignored"


def book_part(conn, order, refund, channel: str, fen: int, provider_ref: str | None, at) -> None:
    """One part of a mixed refund is back: booked, and counted on the order at once, so the
    ledger and the orders agree at every moment, not only when all parts are done."""
    if ledger.book(conn, order_id=order.id, refund_id=refund.id, entry_type=ledger.REFUND, channel=channel,
                   amount_fen=-fen, provider_ref=provider_ref, dedupe_key=f"refund:{refund.out_refund_no}:{channel}",
                   occurred_at=at):
        conn.execute(t.payment_orders.update().where(t.payment_orders.c.id == order.id)
                     .values(refunded_fen=t.payment_orders.c.refunded_fen + fen, updated_at=utcnow()))


def finish_mixed(refund_id: str) -> str:
    """All steps of a mixed refund done: it succeeded, and the order is refunded."""
    now = utcnow()
    with transaction() as conn:
        # Order first, then refund: the same lock order as the notification path.
        order_id = conn.execute(sa.select(t.payment_refunds.c.order_id)
                                .where(t.payment_refunds.c.id == refund_id)).scalar_one()
        order = orders.locked(conn, order_id)
        refund = conn.execute(sa.select(t.payment_refunds).where(t.payment_refunds.c.id == refund_id)
                              .with_for_update()).one()
        done = (not refund.cash_fen or refund.cash_done_at) and refund.insurance_done_at and refund.notified_at
        if refund.status in FINAL or not done:
            return refund.status if refund.status in FINAL else PROCESSING
        conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id)
                     .values(status=SUCCEEDED, finished_at=now, updated_at=now))
        if order.refunded_fen >= order.paid_fen:  # each part was counted when it came back
            orders.move(conn, order.id, orders.REFUNDED)
    return SUCCEEDED


def follow_up(refund_id: str) -> str:
    """Query a refund the provider is still processing (no notification yet)."""
    from hospital.payments import merchants, results

    with transaction() as conn:
        refund = conn.execute(sa.select(t.payment_refunds).where(t.payment_refunds.c.id == refund_id)).one()
        order = conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.id == refund.order_id)).one()
        # Touched on every follow-up, so the oldest are asked first and none starves the rest.
        conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund_id).values(updated_at=utcnow()))
    if refund.status != PROCESSING:
        return refund.status
    if refund.route in ("credit", "med_ins"):
        return process(refund_id)  # their steps are idempotent at the provider: carry on from there
    merchant = merchants.by_mchid(order.mchid)
    client = merchants.client(merchant, order.appid)
    if merchants.api_version(merchant) == "v3":
        answer = client.query_refund(refund.out_refund_no)
        result = results.RefundResult("query_v3", refund.out_refund_no, answer.get("status", "PROCESSING"),
                                      answer.get("amount", {}).get("refund"), answer.get("refund_id"))
    else:
        answer = client.query_refund(refund.out_refund_no)
        state = {"SUCCESS": "SUCCESS", "REFUNDCLOSE": "CLOSED", "CHANGE": "ABNORMAL"}.get(
            answer.get("refund_status_0", ""), "PROCESSING")
        result = results.RefundResult("query_v2", refund.out_refund_no, state,
                                      int(answer["refund_fee_0"]) if answer.get("refund_fee_0") else None,
                                      answer.get("refund_id_0"))
    return results.apply_refund(result)

