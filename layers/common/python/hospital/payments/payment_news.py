"""A provider's word that an order is paid, applied once. The same function serves every way
the news arrives (v3 or v2 notification, order query, mixed-order notification or query,
credit charge), so a duplicate, a concurrent copy, or a notification racing a query all end
in one state change and one ledger entry: the order row is locked, the move is guarded, the
entry is deduplicated.

Facts that do not fit an order (unknown order, other merchant/app/amount, money after the order
was closed) change no order: they are recorded for finance and acknowledged.
"""
from __future__ import annotations

import logging

from hospital.adapters.payment_results import PaymentResult
from hospital.payments import anomalies, ledger, messages, orders
from hospital.unit_of_work import unit_of_work

log = logging.getLogger("hospital.payments")


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


def _mismatch(order, result: PaymentResult) -> str | None:
    if order is None:
        return "unknown_order"
    if result.signed_by is not None and result.mchid != result.signed_by:
        return "merchant_mismatch"  # news of one merchant signed with another's key
    if result.mchid and order.mchid is None:
        # Money that came to one of our merchants pays only an order we opened there (which
        # recorded the merchant); a credit charge names no merchant.
        return "never_sent_to_provider"
    if order.mchid is not None and order.mchid != result.mchid:
        return "merchant_mismatch"
    if order.appid is not None and result.appid and order.appid != result.appid:
        return "app_mismatch"
    if order.amount_fen != result.total_fen:
        return "amount_mismatch"
    return None
