"""WeChat Pay API v3 (JSON, RSA-signed): the WeChat Pay channel for merchants on v3."""
from __future__ import annotations

from hospital.adapters import wechatpay_v3
from hospital.payments import notify_urls
from hospital.payments.channels.wechatpay import WeChatPay


class WeChatPayV3(WeChatPay):
    api = "v3"

    def prepay(self, client, order, *, appid, openid, expire, client_ip) -> str:
        return client.jsapi_prepay(appid=appid, description=order.description, out_trade_no=order.id,
                                   amount_fen=order.amount_fen, openid=openid, notify_url=notify_urls.v3(),
                                   time_expire=expire.isoformat(timespec="seconds"), attach=order.kind)

    def payment_params(self, merchant, appid, prepay_id) -> dict:
        return wechatpay_v3.jsapi_payment_params(merchant, appid, prepay_id)

    def paid(self, answer, order):
        return wechatpay_v3.queried_payment(answer, order.id, order.mchid)

    def ask_refund(self, client, order, refund):
        answer = client.create_refund(out_trade_no=order.id, out_refund_no=refund.out_refund_no, reason=refund.reason,
                                      refund_fen=refund.amount_fen, total_fen=order.paid_fen,
                                      notify_url=notify_urls.v3())
        return wechatpay_v3.refund_result(answer, refund.out_refund_no, "refund_worker")

    def refund_state(self, answer, refund):
        return wechatpay_v3.refund_result(answer, refund.out_refund_no, "query_v3")
