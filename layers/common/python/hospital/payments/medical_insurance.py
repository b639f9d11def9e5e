"""Medical-insurance mixed orders (OP1-OP3): what the books know of them. A mixed order's
amount is split into the pooled fund, the personal account, other insurance and the
self-paid cash; each part is booked in the ledger on its own channel, and each part of a
refund is counted as it comes back. Paying and refunding them at the providers is the
medical-insurance channel (hospital.payments.channels.med_ins); this module is its books and
the insurance platform's own callback.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa

from hospital.adapters import medical_insurance as platform
from hospital.adapters.wechatpay_v3 import MixedOrder
from hospital.db import tables as t
from hospital.db import transaction
from hospital.payments import anomalies, messages, orders, payment_news, refund_records
from hospital.timeutil import utcnow

log = logging.getLogger("hospital.payments")
CHANNEL = "med_ins"  # recorded on mixed orders and on their refunds
FUND, ACCOUNT, OTHER, CASH = "med_ins_fund", "med_ins_account", "med_ins_other", "wechat"


def split_view(row) -> dict:
    return {"fund_fen": row.ins_fund_fen, "account_fen": row.ins_account_fen, "other_fen": row.ins_other_fen,
            "cash_fen": row.cash_fen}


def parts(row) -> list[tuple[str, int]]:
    """The ledger channels and amounts of a mixed order, parts of 0 left out."""
    return [(channel, fen) for channel, fen in ((FUND, row.ins_fund_fen), (ACCOUNT, row.ins_account_fen),
                                                (OTHER, row.ins_other_fen), (CASH, row.cash_fen)) if fen]


def insurance_fen(row) -> int:
    return (row.ins_fund_fen or 0) + (row.ins_account_fen or 0) + (row.ins_other_fen or 0)


def apply_mixed(source: str, news: MixedOrder, mchid: str, signed_by: str | None = None) -> str:
    """A mixed order's state from WeChat (its notification or a query): applied once if it is
    paid and its numbers are the order's; anything else goes to finance."""
    with transaction() as conn:
        row = conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.id == news.out_trade_no)).first()
    expected = None if row is None else {"total_fee": row.amount_fen, "med_ins_gov_fee": row.ins_fund_fen,
                                         "med_ins_self_fee": row.ins_account_fen,
                                         "med_ins_other_fee": row.ins_other_fen, "med_ins_cash_fee": row.cash_fen}
    if row is None or row.mix_trade_no != news.mix_trade_no or news.fees != expected:
        total = news.fees["total_fee"]
        with transaction() as conn:
            anomalies.record(conn, source=source, reason="unknown_order" if row is None else "med_ins_mismatch",
                             order_id=news.out_trade_no[:64], provider_ref=str(news.mix_trade_no)[:64],
                             amount_fen=total if isinstance(total, int) else None,
                             dedupe_key=f"medins:{news.out_trade_no}:{news.mix_trade_no}", details=news.fees)
        return "anomaly"
    if not news.paid:
        return "ignored"
    return payment_news.apply_payment(news.payment_result(source=source, mchid=mchid, channel=CHANNEL,
                                                          signed_by=signed_by), parts=parts(row))


# ---- a mixed refund, part by part: cash (WeChat), insurance (6203), then WeChat is told --------

def cash_part_back(conn, order, refund, provider_ref: str | None, at, now) -> str:
    """WeChat's refund of a mixed order is its cash part only: booked; the worker does the rest."""
    if refund.cash_done_at is not None:
        return "duplicate"
    conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id)
                 .values(cash_done_at=at, provider_refund_id=provider_ref, updated_at=now))
    refund_records.book_part(conn, order, refund, CASH, refund.cash_fen, provider_ref, at)
    return refund_records.CASH_DONE


def insurance_part_back(order, refund, provider_ref: str | None, now) -> None:
    """The platform refunded the insurance parts (6203): recorded once, each part booked."""
    with transaction() as conn:
        locked = orders.locked(conn, order.id)
        if conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id,
                                                         t.payment_refunds.c.insurance_done_at.is_(None))
                        .values(insurance_done_at=now, updated_at=now)).rowcount:
            for channel, fen in parts(order):
                if channel != CASH:
                    refund_records.book_part(conn, locked, refund, channel, fen, provider_ref, now)


def wechat_told(refund, now) -> None:
    """WeChat has been told of the insurance refund (med-ins/refunds/notify)."""
    with transaction() as conn:
        conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id)
                     .values(notified_at=now, updated_at=now))


def finish_refund(refund_id: str) -> str:
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
        if refund.status in refund_records.FINAL or not done:
            return refund.status if refund.status in refund_records.FINAL else refund_records.PROCESSING
        conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id)
                     .values(status=refund_records.SUCCEEDED, finished_at=now, updated_at=now))
        if order.refunded_fen >= order.paid_fen:  # each part was counted when it came back
            orders.move(conn, order.id, orders.REFUNDED)
    return refund_records.SUCCEEDED


def handle_callback(headers: dict, body: bytes) -> tuple[int, dict]:
    """The insurance platform's own notices: a refund (6203) that was processing has finished,
    or a settlement went through. Verified, applied once; what fits nothing goes to finance."""
    import json

    from hospital import config

    try:
        platform.verify_callback(headers, body, config.secret_value("MED_INS_SECRET_ARN", "api_key"))
        event = json.loads(body)
        kind, pay_ord_id = str(event["event"]), str(event["pay_ord_id"])
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("insurance callback refused", extra={"reason": str(exc)[:80]})
        return 401, {"infcode": -1, "err_msg": "verification failed"}
    with transaction() as conn:
        order = conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.ins_pay_ord_id == pay_ord_id)).first()
        refund = None
        if order is not None and kind == "refund.succeeded":
            refund = conn.execute(sa.select(t.payment_refunds).where(
                t.payment_refunds.c.out_refund_no == str(event.get("out_refund_no")),
                t.payment_refunds.c.order_id == order.id)).first()
        if order is None or (kind == "refund.succeeded" and refund is None):
            anomalies.record(conn, source="medical_insurance", reason="unknown_insurance_order",
                             order_id=pay_ord_id[:64], out_refund_no=str(event.get("out_refund_no") or "")[:64] or None,
                             dedupe_key=f"ins:unknown:{pay_ord_id}:{kind}:{event.get('out_refund_no')}")
            return 200, {"infcode": 0}
    if (kind == "refund.succeeded" and refund is not None and refund.insurance_done_at is None
            and refund.status not in refund_records.FINAL):
        # The worker asks 6203 again (same out_refund_no: no second refund), books the parts
        # and carries the refund on; the platform's word here is the reason to go on now.
        from hospital.unit_of_work import unit_of_work

        with unit_of_work() as uow:
            uow.publish(messages.RefundRequested(refund_id=refund.id))
    log.info("insurance callback", extra={"event": kind[:32], "order_id": order.id})
    return 200, {"infcode": 0}
