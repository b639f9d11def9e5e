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

from hospital import settings
from hospital.adapters import medical_insurance as platform
from hospital.adapters.wechatpay_v3 import MixedOrder
from hospital.db import tables as t
from hospital.payments import anomalies, messages, news_rules, orders, payment_news, refund_records, refund_rules
from hospital.timeutil import utcnow
from hospital.unit_of_work import unit_of_work

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
    """Entry: a mixed order's state from WeChat (its notification or a query), in a unit of
    work of its own (see take_mixed)."""
    with unit_of_work() as uow:
        outcome = take_mixed(uow, source, news, mchid, signed_by)
    if outcome == "paid":
        log.info("payment applied", extra={"order_id": news.out_trade_no, "source": source})
    return outcome


def take_mixed(uow, source: str, news: MixedOrder, mchid: str, signed_by: str | None = None) -> str:
    """A mixed order's state from WeChat, in the caller's unit of work: applied once if it is
    paid and its numbers are the order's (news_rules.mixed_mismatch); anything else goes to
    finance. The order row is locked first, as on every payment path."""
    conn = uow.conn
    row = orders.locked(conn, news.out_trade_no)
    problem = news_rules.mixed_mismatch(row, news.mix_trade_no, news.fees)
    if problem is not None:
        total = news.fees["total_fee"]
        anomalies.record(conn, source=source, reason=problem, order_id=news.out_trade_no[:64],
                         provider_ref=str(news.mix_trade_no)[:64], amount_fen=total if isinstance(total, int) else None,
                         dedupe_key=f"medins:{news.out_trade_no}:{news.mix_trade_no}", details=news.fees)
        return "anomaly"
    if not news.paid:
        return "ignored"
    return payment_news.take_payment(uow, news.payment_result(source=source, mchid=mchid, channel=CHANNEL,
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


def insurance_part_back(uow, order, refund, provider_ref: str | None, now) -> None:
    """The platform refunded the insurance parts (6203): recorded once, each part booked."""
    conn = uow.conn
    locked = orders.locked(conn, order.id)
    if conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id,
                                                     t.payment_refunds.c.insurance_done_at.is_(None))
                    .values(insurance_done_at=now, updated_at=now)).rowcount:
        for channel, fen in parts(order):
            if channel != CASH:
                refund_records.book_part(conn, locked, refund, channel, fen, provider_ref, now)


def wechat_told(uow, refund, now) -> None:
    """WeChat has been told of the insurance refund (med-ins/refunds/notify)."""
    uow.conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id)
                     .values(notified_at=now, updated_at=now))


def finish_refund(uow, refund_id: str) -> str:
    """All steps of a mixed refund done: it succeeded, and the order is refunded."""
    now = utcnow()
    conn = uow.conn
    # Order first, then refund: the same lock order as the notification path.
    order_id = conn.execute(sa.select(t.payment_refunds.c.order_id)
                            .where(t.payment_refunds.c.id == refund_id)).scalar_one()
    order = orders.locked(conn, order_id)
    refund = conn.execute(sa.select(t.payment_refunds).where(t.payment_refunds.c.id == refund_id)
                          .with_for_update()).one()
    if refund.status in refund_records.FINAL:
        return refund.status
    if not refund_rules.mixed_refund_done(refund.cash_fen, refund.cash_done_at is not None,
                                          refund.insurance_done_at is not None, refund.notified_at is not None):
        return refund_records.PROCESSING
    conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id)
                 .values(status=refund_records.SUCCEEDED, finished_at=now, updated_at=now))
    refund_records.moved(refund, refund_records.SUCCEEDED)
    if refund_rules.fully_refunded(order.paid_fen, order.refunded_fen):  # each part was counted when it came back
        orders.move(conn, order.id, orders.REFUNDED)
    return refund_records.SUCCEEDED


def handle_callback(headers: dict, body: bytes) -> tuple[int, dict]:
    """Entry: the insurance platform's own notices, verified, then applied in a unit of work
    of their own (see take_notice)."""
    import json

    from hospital import config

    try:
        platform.verify_callback(headers, body, config.secret_value(settings.MED_INS_SECRET_ARN, "api_key"))
        event = json.loads(body)
        kind, pay_ord_id = str(event["event"]), str(event["pay_ord_id"])
    except (ValueError, KeyError, TypeError) as exc:
        log.warning("insurance callback refused", extra={"reason": str(exc)[:80]})
        return 401, {"infcode": -1, "err_msg": "verification failed"}
    with unit_of_work() as uow:
        order_id = take_notice(uow, kind, pay_ord_id, event.get("out_refund_no"))
    if order_id is not None:
        log.info("insurance callback", extra={"event": kind[:32], "order_id": order_id})
    return 200, {"infcode": 0}


def take_notice(uow, kind: str, pay_ord_id: str, out_refund_no) -> str | None:
    """A refund (6203) that was processing has finished, or a settlement went through: applied
    once; what fits nothing goes to finance (and None is returned, else the order's id)."""
    conn = uow.conn
    order = conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.ins_pay_ord_id == pay_ord_id)).first()
    refund = None
    if order is not None and kind == "refund.succeeded":
        refund = conn.execute(sa.select(t.payment_refunds).where(
            t.payment_refunds.c.out_refund_no == str(out_refund_no), t.payment_refunds.c.order_id == order.id)).first()
    if order is None or (kind == "refund.succeeded" and refund is None):
        anomalies.record(conn, source="medical_insurance", reason="unknown_insurance_order",
                         order_id=pay_ord_id[:64], out_refund_no=str(out_refund_no or "")[:64] or None,
                         dedupe_key=f"ins:unknown:{pay_ord_id}:{kind}:{out_refund_no}")
        return None
    if (kind == "refund.succeeded" and refund is not None and refund.insurance_done_at is None
            and refund.status not in refund_records.FINAL):
        # The worker asks 6203 again (same out_refund_no: no second refund), books the parts
        # and carries the refund on; the platform's word here is the reason to go on now.
        uow.publish(messages.RefundRequested(refund_id=refund.id))
    return order.id
