"""What a provider tells us about money, applied once. The same functions serve every way the
news arrives (v3 or v2 notification, order or refund query, insurance or credit callback), so
a duplicate, a concurrent copy, or a notification racing a query all end in one state change
and one ledger entry: the order row is locked, the move is guarded, the entry is deduplicated.

Facts that do not fit an order (unknown order, other merchant/app/amount, money after the order
was closed) change no order: they are recorded for finance and acknowledged.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import sqlalchemy as sa

from hospital.db import tables as t
from hospital.payments import anomalies, ledger, messages, orders
from hospital.timeutil import utcnow
from hospital.unit_of_work import unit_of_work

log = logging.getLogger("hospital.payments")


@dataclass(frozen=True)
class PaymentResult:
    source: str              # wechatpay_v3, wechatpay_v2, query_v3, ...
    mchid: str
    appid: str
    out_trade_no: str
    transaction_id: str
    trade_state: str         # SUCCESS, or anything else (not paid yet, closed ...)
    total_fen: int
    paid_at: dt.datetime     # naive UTC
    channel: str = "wechat"
    signed_by: str | None = None  # the merchant whose key verified a notification


@dataclass(frozen=True)
class RefundResult:
    source: str
    out_refund_no: str
    refund_status: str       # SUCCESS, CLOSED, ABNORMAL, PROCESSING
    refund_fen: int | None
    provider_refund_id: str | None
    finished_at: dt.datetime | None = None
    mchid: str | None = None      # the merchant a notification names
    signed_by: str | None = None  # the merchant whose key verified it


def apply_payment(result: PaymentResult, on_paid=None, parts: list[tuple[str, int]] | None = None) -> str:
    """Returns what happened: paid, duplicate, ignored (not a success), or an anomaly reason.
    `on_paid(conn, order)` runs in the same transaction when the order becomes paid; `parts`
    (channel, fen) book a mixed payment per channel instead of one entry."""
    if result.trade_state != "SUCCESS":
        return "ignored"
    with unit_of_work() as uow:
        conn = uow.conn
        order = orders.locked(conn, result.out_trade_no)
        problem = _mismatch(order, result)
        if problem:
            anomalies.record(conn, source=result.source, reason=problem, order_id=result.out_trade_no,
                             provider_ref=result.transaction_id, amount_fen=result.total_fen,
                             dedupe_key=f"pay:{problem}:{result.out_trade_no}:{result.transaction_id}",
                             details={"mchid": result.mchid, "appid": result.appid, "signed_by": result.signed_by,
                                      "order_mchid": getattr(order, "mchid", None),
                                      "expected_fen": getattr(order, "amount_fen", None)})
            return problem
        if order.transaction_id is not None:
            if order.transaction_id != result.transaction_id:  # paid twice at the provider?
                anomalies.record(conn, source=result.source, reason="second_transaction", order_id=order.id,
                                 provider_ref=result.transaction_id, amount_fen=result.total_fen,
                                 dedupe_key=f"pay:second:{order.id}:{result.transaction_id}")
                return "second_transaction"
            return "duplicate"
        late = order.status == orders.CLOSED  # its bill may have a new open order by now: leave that be
        if not orders.try_move(conn, order.id, orders.PAID, transaction_id=result.transaction_id,
                               paid_at=result.paid_at, paid_fen=result.total_fen, channel=result.channel):
            return "duplicate"
        for channel, fen in parts or [(result.channel, result.total_fen)]:
            ledger.book(conn, order_id=order.id, entry_type=ledger.PAYMENT, channel=channel, amount_fen=fen,
                        provider_ref=result.transaction_id, occurred_at=result.paid_at,
                        dedupe_key=f"pay:{order.id}:{result.transaction_id}" + (f":{channel}" if parts else ""))
        if late:
            # Money arrived after we closed the order: it is taken and confirmed or refunded
            # like any other, and finance sees it.
            anomalies.record(conn, source=result.source, reason="paid_after_close", order_id=order.id,
                             provider_ref=result.transaction_id, amount_fen=result.total_fen,
                             dedupe_key=f"pay:late:{order.id}:{result.transaction_id}")
        if on_paid is not None:
            on_paid(conn, order)
        uow.publish(messages.PaymentPaid(order_id=order.id))
    log.info("payment applied", extra={"order_id": result.out_trade_no, "source": result.source})
    return "paid"


# Channels whose money comes through WeChat Pay: an order is paid on them only after we
# opened it at WeChat (which recorded the order's merchant).
WECHAT_CHANNELS = ("wechat", "med_ins")


def _mismatch(order, result: PaymentResult) -> str | None:
    if order is None:
        return "unknown_order"
    if result.signed_by is not None and result.mchid != result.signed_by:
        return "merchant_mismatch"  # news of one merchant signed with another's key
    if result.channel in WECHAT_CHANNELS and order.mchid is None:
        return "never_sent_to_provider"
    if order.mchid is not None and order.mchid != result.mchid:
        return "merchant_mismatch"
    if order.appid is not None and result.appid and order.appid != result.appid:
        return "app_mismatch"
    if order.amount_fen != result.total_fen:
        return "amount_mismatch"
    return None


def apply_refund(result: RefundResult) -> str:
    """A refund's provider state: SUCCESS books it once; CLOSED and ABNORMAL go to a person;
    PROCESSING only records that the provider has it."""
    from hospital.payments import refunds

    now = utcnow()
    with unit_of_work() as uow:
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
        if result.mchid is not None and (result.mchid != (result.signed_by or result.mchid)
                                         or result.mchid != order.mchid):
            anomalies.record(conn, source=result.source, reason="merchant_mismatch", order_id=order.id,
                             out_refund_no=refund.out_refund_no, amount_fen=result.refund_fen,
                             dedupe_key=f"refund:merchant:{refund.out_refund_no}:{result.mchid}:{result.signed_by}",
                             details={"mchid": result.mchid, "signed_by": result.signed_by, "order_mchid": order.mchid})
            return "merchant_mismatch"
        # A mixed refund's provider refund is its cash part only.
        expected = refund.cash_fen if refund.route == "med_ins" else refund.amount_fen
        if result.refund_fen is not None and result.refund_fen != expected:
            anomalies.record(conn, source=result.source, reason="refund_amount_mismatch", order_id=order.id,
                             out_refund_no=refund.out_refund_no, amount_fen=result.refund_fen,
                             dedupe_key=f"refund:amount:{refund.out_refund_no}:{result.refund_fen}")
            return "refund_amount_mismatch"
        outcome = refunds.settle(conn, order, refund, result, now)
        if outcome == refunds.CASH_DONE:  # a mixed refund's cash part is back: the worker goes on
            uow.publish(messages.RefundRequested(refund_id=refund.id))
        return outcome
