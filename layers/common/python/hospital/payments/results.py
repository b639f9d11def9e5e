"""What a provider tells us about a refund, applied once. The same function serves every way
the news arrives (v3 or v2 notification, the refund worker's own request, a query), so a
duplicate, a concurrent copy, or a notification racing a query all end in one state change
and one ledger entry: the order row is locked, then the refund row, the move is guarded, the
entry is deduplicated. (A payment's news: hospital.payments.payment_news.)

News that fits no refund of ours (unknown refund, another merchant, another amount) changes
nothing: it is recorded for finance and acknowledged.

`take_refund_news` is the service (it takes the caller's unit of work); `apply_refund` is the
entry that opens one for it.
"""
from __future__ import annotations

import sqlalchemy as sa

from hospital.adapters.payment_results import RefundResult
from hospital.db import tables as t
from hospital.payments import anomalies, messages, news_rules, orders, refund_records
from hospital.payments.channels import registry
from hospital.timeutil import utcnow
from hospital.unit_of_work import unit_of_work


def apply_refund(result: RefundResult) -> str:
    """Entry: a refund's provider state, in a unit of work of its own (see take_refund_news)."""
    with unit_of_work() as uow:
        return take_refund_news(uow, result)


def take_refund_news(uow, result: RefundResult) -> str:
    """A refund's provider state, in the caller's unit of work: SUCCESS books it once (as its
    channel says); CLOSED and ABNORMAL go to a person; PROCESSING only records that the provider
    has it (refund_rules.settle decides, refund_records.settle applies). News naming another
    merchant or amount changes nothing (news_rules.refund_mismatch)."""
    now = utcnow()
    conn = uow.conn
    refund = conn.execute(sa.select(t.payment_refunds).where(
        t.payment_refunds.c.out_refund_no == result.out_refund_no)).first()
    if refund is None:
        anomalies.record(conn, source=result.source, reason="unknown_refund", out_refund_no=result.out_refund_no,
                         provider_ref=result.provider_refund_id, amount_fen=result.refund_fen,
                         dedupe_key=f"refund:unknown:{result.out_refund_no}:{result.refund_status}")
        return "unknown_refund"
    order = orders.locked(conn, refund.order_id)
    refund = conn.execute(sa.select(t.payment_refunds).where(t.payment_refunds.c.id == refund.id)
                          .with_for_update()).one()
    channel = registry.named(refund.route)
    problem = news_rules.refund_mismatch(order.mchid, result, channel.refunded_by_provider(refund))
    if problem == news_rules.MERCHANT_MISMATCH:
        anomalies.record(conn, source=result.source, reason=problem, order_id=order.id,
                         out_refund_no=refund.out_refund_no, amount_fen=result.refund_fen,
                         dedupe_key=f"refund:merchant:{refund.out_refund_no}:{result.mchid}:{result.signed_by}",
                         details={"mchid": result.mchid, "signed_by": result.signed_by, "order_mchid": order.mchid})
        return problem
    if problem is not None:
        anomalies.record(conn, source=result.source, reason=problem, order_id=order.id,
                         out_refund_no=refund.out_refund_no, amount_fen=result.refund_fen,
                         dedupe_key=f"refund:amount:{refund.out_refund_no}:{result.refund_fen}")
        return problem
    outcome = refund_records.settle(conn, order, refund, result, now, channel)
    if outcome == refund_records.CASH_DONE:  # the provider's part is back, more steps follow: the worker goes on
        uow.publish(messages.RefundRequested(refund_id=refund.id))
    return outcome
