"""Medical-insurance personal-account payment (OP1-OP3), the mixed order: the patient
authorises in the insurance mini-program; we exchange the code for a single-use pay_auth_no,
upload the fees and pre-settle at the insurance platform (the split: pooled fund, personal
account, other, and the self-paid cash), and open the mixed order at WeChat Pay (v3 only).
The result comes by the MEDICAL_INSURANCE.SUCCESS notification or by polling.

A refund is whole and goes back part by part, each step idempotent at its provider (the same
out_refund_no everywhere) and recorded when done, so a crash resumes at the next step and
never repeats one: the cash through WeChat's refund API (`refund`; its answer booked by the
domain), then the insurance parts through the platform (6203) and the notice to WeChat
(`finish_refund`). The books are hospital.payments.medical_insurance.

`pay` and `finish_refund` are entries: each reads and records in short transactions of its
own, none open while the insurance platform or WeChat is asked.
"""
from __future__ import annotations

import sqlalchemy as sa

from hospital.adapters import medical_insurance as platform
from hospital.adapters import wechatpay_v3
from hospital.adapters.wechatpay_v3 import WeChatPayError
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, UpstreamUnavailable, ValidationFailed
from hospital.payments import medical_insurance, merchants, notify_urls, orders, payers, refund_records, refund_rules
from hospital.payments.channels.base import PaymentChannel, PayRequest, RefundRefusedMidway
from hospital.timeutil import utcnow
from hospital.unit_of_work import unit_of_work


class MedicalInsurance(PaymentChannel):
    name = medical_insurance.CHANNEL

    def check(self, request: PayRequest) -> None:
        _auth_code(request)

    def pay(self, principal, order, request: PayRequest) -> dict:
        if order.status == orders.PAYING:
            raise Conflict("a payment of this order is already open; finish it or let it expire",
                           code="payment_in_progress")
        merchant = merchants.for_order(order)
        if merchants.api_version(merchant) != "v3":  # the mixed order exists in WeChat Pay API v3 only
            raise Conflict("medical-insurance payment needs a WeChat Pay v3 merchant", code="channel_unavailable",
                           field="channel")
        appid = principal.app_id
        if appid not in merchant.appids:
            raise ValidationFailed("this app cannot pay with the hospital's merchant account", field="app")
        with transaction() as conn:
            openid = payers.openid(conn, principal.user_id, appid)
        ins = platform.client()
        try:
            pay_auth_no = ins.pay_auth_no(_auth_code(request))
        except platform.InsuranceRefused:
            raise ValidationFailed("the insurance authorisation is invalid or was used; authorise again",
                                   field="auth_code") from None
        try:
            pay_ord_id = ins.upload_fees(pay_auth_no, order.id, order.description, order.amount_fen)
            split = ins.pre_settle(pay_auth_no, pay_ord_id)
        except platform.InsuranceRefused as exc:
            raise Conflict(f"the insurance platform refused the settlement ({exc.code})",
                           code="insurance_refused") from None
        if split.total_fen != order.amount_fen:
            raise Conflict("the insurance platform settled another amount than the bill",
                           code="insurance_amount_mismatch")
        client = merchants.client(merchant, appid)
        try:
            answer = client.create_med_ins_order({
                "mix_pay_type": "CASH_AND_INSURANCE" if split.cash_fen else "INSURANCE_ONLY",
                "order_type": "REG_PAY" if order.kind == "registration" else "DIAG_PAY", "appid": appid,
                "openid": openid, "pay_order_id": split.pay_ord_id, "pay_auth_no": pay_auth_no,
                "out_trade_no": order.id, "total_fee": split.total_fen, "med_ins_gov_fee": split.fund_fen,
                "med_ins_self_fee": split.account_fen, "med_ins_other_fee": split.other_fen,
                "med_ins_cash_fee": split.cash_fen, "wechat_pay_cash_fee": split.cash_fen,
                "notify_url": notify_urls.v3(), "attach": order.kind})
        except WeChatPayError as exc:
            raise UpstreamUnavailable(f"WeChat Pay refused the mixed order ({exc.code})") from None
        with transaction() as conn:
            # Another payment may have started meanwhile: the re-read below says which.
            orders.try_move(conn, order.id, orders.PAYING, channel=self.name, mchid=merchant.mchid, appid=appid,
                            api_version="v3", mix_trade_no=answer["mix_trade_no"], ins_pay_ord_id=split.pay_ord_id,
                            ins_fund_fen=split.fund_fen, ins_account_fen=split.account_fen,
                            ins_other_fen=split.other_fen, cash_fen=split.cash_fen)
            current = conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.id == order.id)).one()
        if current.mix_trade_no != answer["mix_trade_no"]:
            orders.ensure_payable(current, principal)
            raise Conflict("another payment of this order started at the same moment", code="payment_in_progress")
        return {"order": orders.view(current), "mix_trade_no": current.mix_trade_no,
                "split": medical_insurance.split_view(current)}

    def query(self, order) -> bool:
        """A mixed order has no close call, and its callback is not retried long: it is polled."""
        answer = _client(order).query_med_ins_order(order.mix_trade_no)
        outcome = medical_insurance.apply_mixed("query_med_ins", wechatpay_v3.mixed_order(answer), order.mchid)
        return outcome in ("paid", "duplicate")

    # A mixed order has no close call (the default): if WeChat says it was paid, it is paid;
    # else it is closed here, and a payment that still arrives is taken and flagged.

    def refund(self, order, refund):
        client = _client(order)
        if not refund.cash_fen or refund.cash_done_at is not None:
            return None
        try:
            answer = client.create_refund(out_trade_no=order.id, out_refund_no=refund.out_refund_no,
                                          reason=refund.reason, refund_fen=refund.cash_fen, total_fen=order.cash_fen,
                                          notify_url=notify_urls.v3())
        except WeChatPayError as exc:
            raise RefundRefusedMidway(f"{exc.code}: {exc.message}") from None
        return wechatpay_v3.refund_result(answer, refund.out_refund_no, "refund_worker")

    def follow_up(self, order, refund):
        return None  # every step is idempotent at its provider: carried on from where it stopped

    def finish_refund(self, order, refund, outcome: str | None) -> str:
        if outcome not in (None, refund_records.CASH_DONE, "duplicate"):
            return outcome  # WeChat is processing the cash part: its notification or a query goes on
        # Each step is its own unit of work, and no lock is held while a provider is asked.
        now = utcnow()
        client = _client(order)
        try:
            with transaction() as conn:
                refund = refund_records.refund_row(conn, refund.id)
            if refund.insurance_done_at is None:
                answer = platform.client().refund(order.ins_pay_ord_id, refund.out_refund_no, refund.reason,
                                                  order.ins_fund_fen or 0, order.ins_account_fen or 0,
                                                  order.ins_other_fen or 0)
                if answer.get("refund_status") != "SUCCESS":
                    # Not a yes: never guessed. The message comes back and asks again (same number).
                    raise UpstreamUnavailable(f"the insurance refund is {str(answer.get('refund_status'))[:20]}")
                with unit_of_work() as uow:
                    medical_insurance.insurance_part_back(uow, order, refund, answer.get("refund_id"), now)
            with transaction() as conn:
                refund = refund_records.refund_row(conn, refund.id)
            if refund.notified_at is None:
                client.notify_med_ins_refund(order.mix_trade_no, {
                    "med_refund_total_fee": medical_insurance.insurance_fen(order),
                    "med_refund_gov_fee": order.ins_fund_fen or 0, "med_refund_self_fee": order.ins_account_fen or 0,
                    "med_refund_other_fee": order.ins_other_fen or 0,
                    "refund_time": (refund.insurance_done_at or now).isoformat(timespec="seconds") + "Z",
                    "out_refund_no": refund.out_refund_no})
                with unit_of_work() as uow:
                    medical_insurance.wechat_told(uow, refund, now)
        except (WeChatPayError, platform.InsuranceRefused) as exc:
            raise RefundRefusedMidway(f"{exc.code}: {exc.message}") from None
        with unit_of_work() as uow:
            return medical_insurance.finish_refund(uow, refund.id)

    # ---- the books --------------------------------------------------------------------------
    def refund_parts(self, order, amount_fen: int) -> dict:
        # Each part goes back where it came from, whole: the insurance platform refunds an
        # order's insurance parts as they were settled, so a mixed payment is refunded in full.
        refused = refund_rules.full_only_refusal(order.paid_fen, amount_fen)
        if refused is not None:
            raise Conflict(refused.message, code=refused.code, field=refused.field)
        return refund_rules.mixed_parts(order.paid_fen, order.cash_fen)

    def refunded_by_provider(self, refund) -> int:
        return refund.cash_fen  # WeChat refunds the cash; the platform the insurance parts

    def refund_succeeded(self, conn, order, refund, provider_ref, at, now) -> str:
        return medical_insurance.cash_part_back(conn, order, refund, provider_ref, at, now)


def _auth_code(request: PayRequest) -> str:
    if not request.auth_code:
        raise ValidationFailed("paying with medical insurance needs the insurance auth_code", field="auth_code")
    return request.auth_code


def _client(order):
    return merchants.client(merchants.by_mchid(order.mchid), order.appid)
