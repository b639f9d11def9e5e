"""WeChat Pay API v2 (XML, MD5 or HMAC-SHA256 signed, through wechatpy): the WeChat Pay
channel for merchants still on v2."""
from __future__ import annotations

from hospital.adapters import wechatpay_v2
from hospital.payments import notify_urls
from hospital.payments.channels.wechatpay import WeChatPay


class WeChatPayV2(WeChatPay):
    api = "v2"

    def prepay(self, client, order, *, appid, openid, expire, client_ip) -> str:
        return client.unified_order(description=order.description, out_trade_no=order.id, amount_fen=order.amount_fen,
                                    openid=openid, notify_url=notify_urls.v2_payment(),
                                    time_expire=expire.replace(tzinfo=None), client_ip=client_ip, attach=order.kind)

    def payment_params(self, merchant, appid, prepay_id) -> dict:
        return wechatpay_v2.jsapi_payment_params(merchant, appid, prepay_id)

    def paid(self, answer, order):
        return wechatpay_v2.queried_payment(answer, order.id, order.mchid)

    def ask_refund(self, client, order, refund):
        answer = client.create_refund(out_trade_no=order.id, out_refund_no=refund.out_refund_no,
                                      refund_fen=refund.amount_fen, total_fee=order.paid_fen, reason=refund.reason,
                                      notify_url=notify_urls.v2_refund())
        return wechatpay_v2.refund_result(answer, refund.out_refund_no)

    def refund_state(self, answer, refund):
        return wechatpay_v2.queried_refund(answer, refund.out_refund_no)
