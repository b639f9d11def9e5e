"""WeChat Pay, whichever API the order's merchant speaks (wechatpay_v3, wechatpay_v2 supply
the calls and read the answers; hospital.adapters does the wire format).

Paying: the prepay is asked for outside any transaction (a slow WeChat must not hold a row
lock), then recorded with a guarded move created -> paying. Two taps at once both reach WeChat
with the same out_trade_no (WeChat keeps one order) and one of them records it; asking again
later re-signs the stored prepay, so a patient can never open a second payment for one order.
"""
from __future__ import annotations

import abc
import datetime as dt

import sqlalchemy as sa

from hospital.adapters.payment_results import PaymentResult, RefundResult
from hospital.adapters.wechatpay_v3 import WeChatPayError
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, UpstreamUnavailable, ValidationFailed
from hospital.payments import merchants, orders, payers, payment_news
from hospital.payments.channels.base import PaymentChannel, PayRequest, RefundRefused
from hospital.timeutil import SHANGHAI

# Error codes of either API, as WeChat spells them in each.
ALREADY_PAID = ("ORDERPAID", "ORDER_PAID")
ALREADY_CLOSED = ("ORDERCLOSED", "ORDER_CLOSED")
NO_SUCH_ORDER = ("ORDER_NOT_EXIST", "ORDERNOTEXIST")


class WeChatPay(PaymentChannel):
    name = "wechat"

    # ---- what each API does its own way ------------------------------------------------------
    @abc.abstractmethod
    def prepay(self, client, order, *, appid: str, openid: str, expire: dt.datetime, client_ip: str) -> str:
        """Open the order at WeChat; its prepay_id."""

    @abc.abstractmethod
    def payment_params(self, merchant, appid: str, prepay_id: str) -> dict:
        """The signed parameters the page hands to wx.requestPayment."""

    @abc.abstractmethod
    def paid(self, answer: dict, order) -> PaymentResult | None:
        """The order query's answer as a payment; None unless it was paid."""

    @abc.abstractmethod
    def ask_refund(self, client, order, refund) -> RefundResult:
        """Request the refund; its answer as a result."""

    @abc.abstractmethod
    def refund_state(self, answer: dict, refund) -> RefundResult:
        """The refund query's answer as a result."""

    # ---- the channel ---------------------------------------------------------------------------
    def pay(self, principal, order, request: PayRequest) -> dict:
        merchant = merchants.for_order(order)
        appid = principal.app_id
        if appid not in merchant.appids:
            raise ValidationFailed("this app cannot pay with the hospital's merchant account", field="app")
        if order.status == orders.PAYING and order.channel != self.name:
            raise Conflict("a payment of this order by another channel is open", code="payment_in_progress")
        if order.status == orders.PAYING and order.prepay_id and order.appid == appid:
            return self._answer(merchant, appid, order)
        with transaction() as conn:
            openid = payers.openid(conn, principal.user_id, appid)
        client = merchants.client(merchant, appid)
        expire = order.expires_at.replace(tzinfo=dt.UTC).astimezone(SHANGHAI)
        try:
            prepay_id = self.prepay(client, order, appid=appid, openid=openid, expire=expire,
                                    client_ip=request.client_ip)
        except WeChatPayError as exc:
            if exc.code in ALREADY_PAID:
                raise Conflict("this order is already paid", code="already_paid") from None
            if exc.code in ALREADY_CLOSED:
                raise Conflict("this order was closed; start a new one", code="order_closed") from None
            raise UpstreamUnavailable(f"WeChat Pay refused the order ({exc.code})") from None
        with transaction() as conn:
            # Another tap or a payment may have won meanwhile: the re-read below says which.
            orders.try_move(conn, order.id, orders.PAYING, prepay_id=prepay_id, mchid=merchant.mchid, appid=appid,
                            api_version=self.api, channel=self.name)
            current = conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.id == order.id)).one()
        if current.status != orders.PAYING or current.prepay_id is None:
            orders.ensure_payable(current, principal)  # raises: it was paid or closed meanwhile
        return self._answer(merchant, appid, current)

    def _answer(self, merchant, appid: str, row) -> dict:
        return {"order": orders.view(row), "request_payment": self.payment_params(merchant, appid, row.prepay_id)}

    def query(self, order) -> bool:
        client = merchants.client(merchants.by_mchid(order.mchid), order.appid)
        try:
            answer = client.query_order(order.id)
        except WeChatPayError as exc:
            if exc.code not in NO_SUCH_ORDER:
                raise
            answer = {}
        result = self.paid(answer, order)
        if result is None:
            return False
        payment_news.apply_payment(result)
        return True

    def close(self, order, paid_after_all) -> bool:
        client = merchants.client(merchants.by_mchid(order.mchid), order.appid)
        try:
            client.close_order(order.id)
        except WeChatPayError as exc:
            # Closing failed for a business reason (most likely: it was paid). Ask what it is.
            if paid_after_all():
                return True
            if exc.code not in NO_SUCH_ORDER + ALREADY_CLOSED:
                raise  # unpaid but not closable yet: try again next run
        return False

    def refund(self, order, refund) -> RefundResult:
        client = merchants.client(merchants.by_mchid(order.mchid), order.appid)
        try:
            return self.ask_refund(client, order, refund)
        except WeChatPayError as exc:
            raise RefundRefused(f"{exc.code}: {exc.message}") from None

    def follow_up(self, order, refund) -> RefundResult:
        client = merchants.client(merchants.by_mchid(order.mchid), order.appid)
        return self.refund_state(client.query_refund(refund.out_refund_no), refund)
