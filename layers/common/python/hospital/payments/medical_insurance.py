"""Medical-insurance personal-account payment (OP1-OP3): the patient authorises in the
insurance mini-program; we exchange the code for a single-use pay_auth_no, upload the fees
and pre-settle at the insurance platform (the split: pooled fund, personal account, other,
and the self-paid cash), and open the mixed order at WeChat Pay (v3). The result comes by the
MEDICAL_INSURANCE.SUCCESS notification or by polling; each part is booked in the ledger on
its own channel. A refund returns each part where it came from: the cash through WeChat's
refund API, the insurance parts through the platform (6203), then WeChat is told (refunds.py).
"""
from __future__ import annotations

import logging

import sqlalchemy as sa

from hospital.adapters import medical_insurance as platform
from hospital.adapters import wechatpay_v3
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, UpstreamUnavailable, ValidationFailed
from hospital.payments import anomalies, merchants, messages, notify_urls, orders, results
from hospital.timeutil import utcnow

log = logging.getLogger("hospital.payments")
FUND, ACCOUNT, OTHER, CASH = "med_ins_fund", "med_ins_account", "med_ins_other", "wechat"


def pay(principal, order_id: str, auth_code: str) -> dict:
    from hospital.payments.checkout import _openid

    row = orders.own(principal, order_id)
    orders.ensure_payable(row, principal)
    if row.status == orders.PAYING:
        raise Conflict("a payment of this order is already open; finish it or let it expire",
                       code="payment_in_progress")
    merchant = merchants.by_mchid(row.mchid) if row.mchid else merchants.for_new_orders()
    if merchants.api_version(merchant) != "v3":
        raise Conflict("medical-insurance payment needs a WeChat Pay v3 merchant", code="channel_unavailable",
                       field="channel")
    appid = principal.app_id
    if appid not in merchant.appids:
        raise ValidationFailed("this app cannot pay with the hospital's merchant account", field="app")
    openid = _openid(principal.user_id, appid)
    ins = platform.client()
    try:
        pay_auth_no = ins.pay_auth_no(auth_code)
    except platform.InsuranceRefused:
        raise ValidationFailed("the insurance authorisation is invalid or was used; authorise again",
                               field="auth_code") from None
    try:
        pay_ord_id = ins.upload_fees(pay_auth_no, row.id, row.description, row.amount_fen)
        split = ins.pre_settle(pay_auth_no, pay_ord_id)
    except platform.InsuranceRefused as exc:
        raise Conflict(f"the insurance platform refused the settlement ({exc.code})", code="insurance_refused") from None
    if split.total_fen != row.amount_fen:
        raise Conflict("the insurance platform settled another amount than the bill", code="insurance_amount_mismatch")
    client = merchants.client(merchant, appid)
    try:
        answer = client.create_med_ins_order({
            "mix_pay_type": "CASH_AND_INSURANCE" if split.cash_fen else "INSURANCE_ONLY",
            "order_type": "REG_PAY" if row.kind == "registration" else "DIAG_PAY", "appid": appid, "openid": openid,
            "pay_order_id": split.pay_ord_id, "pay_auth_no": pay_auth_no, "out_trade_no": row.id,
            "total_fee": split.total_fen, "med_ins_gov_fee": split.fund_fen, "med_ins_self_fee": split.account_fen,
            "med_ins_other_fee": split.other_fen, "med_ins_cash_fee": split.cash_fen,
            "wechat_pay_cash_fee": split.cash_fen, "notify_url": notify_urls.v3(), "attach": row.kind})
    except wechatpay_v3.WeChatPayError as exc:
        raise UpstreamUnavailable(f"WeChat Pay refused the mixed order ({exc.code})") from None
    with transaction() as conn:
        # Another payment may have started meanwhile: the re-read below says which.
        orders.try_move(conn, row.id, orders.PAYING, channel="med_ins", mchid=merchant.mchid, appid=appid,
                        api_version="v3", mix_trade_no=answer["mix_trade_no"], ins_pay_ord_id=split.pay_ord_id,
                        ins_fund_fen=split.fund_fen, ins_account_fen=split.account_fen,
                        ins_other_fen=split.other_fen, cash_fen=split.cash_fen)
        current = conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.id == row.id)).one()
    if current.mix_trade_no != answer["mix_trade_no"]:
        orders.ensure_payable(current, principal)
        raise Conflict("another payment of this order started at the same moment", code="payment_in_progress")
    return {"order": orders.view(current), "mix_trade_no": current.mix_trade_no, "split": split_view(current)}


def split_view(row) -> dict:
    return {"fund_fen": row.ins_fund_fen, "account_fen": row.ins_account_fen, "other_fen": row.ins_other_fen,
            "cash_fen": row.cash_fen}


def parts(row) -> list[tuple[str, int]]:
    """The ledger channels and amounts of a mixed order, parts of 0 left out."""
    return [(channel, fen) for channel, fen in ((FUND, row.ins_fund_fen), (ACCOUNT, row.ins_account_fen),
                                                (OTHER, row.ins_other_fen), (CASH, row.cash_fen)) if fen]


def apply_result(source: str, resource: dict, mchid: str, signed_by: str | None = None) -> str:
    """A MEDICAL_INSURANCE.SUCCESS notification or a query answer for a mixed order."""
    out_trade_no = str(resource.get("out_trade_no") or "")
    with transaction() as conn:
        row = conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.id == out_trade_no)).first()
    fees = {k: resource.get(k) for k in ("total_fee", "med_ins_gov_fee", "med_ins_self_fee", "med_ins_other_fee",
                                         "med_ins_cash_fee")}
    expected = None if row is None else {"total_fee": row.amount_fen, "med_ins_gov_fee": row.ins_fund_fen,
                                         "med_ins_self_fee": row.ins_account_fen,
                                         "med_ins_other_fee": row.ins_other_fen, "med_ins_cash_fee": row.cash_fen}
    if row is None or row.mix_trade_no != resource.get("mix_trade_no") or fees != expected:
        with transaction() as conn:
            anomalies.record(conn, source=source, reason="unknown_order" if row is None else "med_ins_mismatch",
                             order_id=out_trade_no[:64], provider_ref=str(resource.get("mix_trade_no"))[:64],
                             amount_fen=fees["total_fee"] if isinstance(fees["total_fee"], int) else None,
                             dedupe_key=f"medins:{out_trade_no}:{resource.get('mix_trade_no')}", details=fees)
        return "anomaly"
    if resource.get("mix_pay_status") != "MIX_PAY_SUCCESS":
        return "ignored"
    from hospital.payments.callbacks import _rfc3339

    return results.apply_payment(results.PaymentResult(
        source=source, mchid=str(resource.get("mchid") or mchid), appid=str(resource.get("appid") or ""),
        out_trade_no=row.id, transaction_id=row.mix_trade_no, trade_state="SUCCESS", total_fen=row.amount_fen,
        paid_at=_rfc3339(resource.get("paid_time")) or utcnow(), channel="med_ins", signed_by=signed_by),
        parts=parts(row))


def poll(order) -> bool:
    """Ask WeChat about a mixed order still waiting; apply it if paid. True if paid."""
    client = merchants.client(merchants.by_mchid(order.mchid), order.appid)
    answer = client.query_med_ins_order(order.mix_trade_no)
    return apply_result("query_med_ins", answer, order.mchid) in ("paid", "duplicate")


def refund_steps(order, refund) -> str:
    """Carry a mixed refund forward from wherever it stopped; every step is idempotent at its
    provider (the same out_refund_no everywhere), and recorded when done."""
    from hospital.payments import refunds

    now = utcnow()
    client = merchants.client(merchants.by_mchid(order.mchid), order.appid)
    if refund.cash_fen and refund.cash_done_at is None:
        answer = client.create_refund(out_trade_no=order.id, out_refund_no=refund.out_refund_no,
                                      reason=refund.reason, refund_fen=refund.cash_fen, total_fen=order.cash_fen,
                                      notify_url=notify_urls.v3())
        outcome = results.apply_refund(results.RefundResult(
            "refund_worker", refund.out_refund_no, answer.get("status", "PROCESSING"),
            answer.get("amount", {}).get("refund"), answer.get("refund_id")))
        if outcome not in (refunds.CASH_DONE, "duplicate"):
            return outcome  # WeChat is processing the cash part: its notification or a query goes on
    refund = _reload(refund.id)
    if refund.insurance_done_at is None:
        answer = platform.client().refund(order.ins_pay_ord_id, refund.out_refund_no, refund.reason,
                                          order.ins_fund_fen or 0, order.ins_account_fen or 0, order.ins_other_fen or 0)
        if answer.get("refund_status") != "SUCCESS":
            # Not a yes: never guessed. The message comes back and asks again (same number).
            raise UpstreamUnavailable(f"the insurance refund is {str(answer.get('refund_status'))[:20]}")
        with transaction() as conn:
            locked = orders.locked(conn, order.id)
            if conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id,
                                                             t.payment_refunds.c.insurance_done_at.is_(None))
                            .values(insurance_done_at=now, updated_at=now)).rowcount:
                for channel, fen in parts(order):
                    if channel != CASH:
                        refunds.book_part(conn, locked, refund, channel, fen, answer.get("refund_id"), now)
    refund = _reload(refund.id)
    if refund.notified_at is None:
        insurance = (order.ins_fund_fen or 0) + (order.ins_account_fen or 0) + (order.ins_other_fen or 0)
        client.notify_med_ins_refund(order.mix_trade_no, {
            "med_refund_total_fee": insurance, "med_refund_gov_fee": order.ins_fund_fen or 0,
            "med_refund_self_fee": order.ins_account_fen or 0, "med_refund_other_fee": order.ins_other_fen or 0,
            "refund_time": (refund.insurance_done_at or now).isoformat(timespec="seconds") + "Z",
            "out_refund_no": refund.out_refund_no})
        with transaction() as conn:
            conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund.id)
                         .values(notified_at=now, updated_at=now))
    return refunds.finish_mixed(refund.id)


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
    if kind == "refund.succeeded" and refund.insurance_done_at is None and refund.status not in ("succeeded", "closed"):
        # The worker asks 6203 again (same out_refund_no: no second refund), books the parts
        # and carries the refund on; the platform's word here is the reason to go on now.
        from hospital.unit_of_work import unit_of_work

        with unit_of_work() as uow:
            uow.publish(messages.RefundRequested(refund_id=refund.id))
    log.info("insurance callback", extra={"event": kind[:32], "order_id": order.id})
    return 200, {"infcode": 0}


def _reload(refund_id: str):
    with transaction() as conn:
        return conn.execute(sa.select(t.payment_refunds).where(t.payment_refunds.c.id == refund_id)).one()
