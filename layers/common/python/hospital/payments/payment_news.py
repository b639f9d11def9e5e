"""A provider's word that an order is paid, applied once. The same function serves every way
the news arrives (v3 or v2 notification, order query, mixed-order notification or query,
credit charge), so a duplicate, a concurrent copy, or a notification racing a query all end
in one state change and one ledger entry: the order row is locked, the move is guarded, the
entry is deduplicated.

Facts that do not fit an order (unknown order, other merchant/app/amount: the pure rules of
hospital.payments.news_rules) change no order: they are recorded for finance and
acknowledged. Money after the order was closed is taken, and flagged.

`take_payment` is the service (it takes the caller's unit of work); `apply_payment` is the
entry that opens one for it.
"""
from __future__ import annotations

import logging

from hospital.adapters.payment_results import PaymentResult
from hospital.payments import anomalies, ledger, messages, news_rules, orders
from hospital.unit_of_work import unit_of_work

log = logging.getLogger("hospital.payments")


def apply_payment(result: PaymentResult, on_paid=None, parts: list[tuple[str, int]] | None = None) -> str:
    """Entry: a provider's word that an order is paid, in a unit of work of its own (see
    take_payment); news of anything but a success opens none."""
    if result.trade_state != "SUCCESS":
        return "ignored"
    with unit_of_work() as uow:
        outcome = take_payment(uow, result, on_paid, parts)
    if outcome == "paid":
        log.info("payment applied", extra={"order_id": result.out_trade_no, "source": result.source})
    return outcome


def take_payment(uow, result: PaymentResult, on_paid=None, parts: list[tuple[str, int]] | None = None) -> str:
    """In the caller's unit of work. Returns what happened: paid, duplicate, ignored (not a
    success), or an anomaly reason. `on_paid(conn, order)` runs in the same transaction when
    the order becomes paid; `parts` (channel, fen) book a mixed payment per channel instead of
    one entry. Whether the news fits the order is news_rules' to say."""
    if result.trade_state != "SUCCESS":
        return "ignored"
    conn = uow.conn
    order = orders.locked(conn, result.out_trade_no)
    problem = news_rules.payment_mismatch(order, result)
    if problem:
        anomalies.record(conn, source=result.source, reason=problem, order_id=result.out_trade_no,
                         provider_ref=result.transaction_id, amount_fen=result.total_fen,
                         dedupe_key=f"pay:{problem}:{result.out_trade_no}:{result.transaction_id}",
                         details={"mchid": result.mchid, "appid": result.appid, "signed_by": result.signed_by,
                                  "order_mchid": getattr(order, "mchid", None),
                                  "expected_fen": getattr(order, "amount_fen", None)})
        return problem
    repeat = news_rules.payment_repeat(order.transaction_id, result.transaction_id)
    if repeat == news_rules.SECOND_TRANSACTION:  # paid twice at the provider?
        anomalies.record(conn, source=result.source, reason=repeat, order_id=order.id,
                         provider_ref=result.transaction_id, amount_fen=result.total_fen,
                         dedupe_key=f"pay:second:{order.id}:{result.transaction_id}")
    if repeat is not None:
        return repeat
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
    return "paid"
