"""Paying an order with WeChat Pay: the prepay at the order's merchant (v3 or v2, as
configured) and the signed parameters the page hands to wx.requestPayment.

The prepay is asked for outside any transaction (a slow WeChat must not hold a row lock),
then recorded with a guarded move created -> paying. Two taps at once both reach WeChat with
the same out_trade_no (WeChat keeps one order) and one of them records it; asking again later
re-signs the stored prepay, so a patient can never open a second payment for one order.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from hospital.adapters import wechatpay_v2, wechatpay_v3
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, UpstreamUnavailable, ValidationFailed
from hospital.payments import merchants, notify_urls, orders
from hospital.timeutil import SHANGHAI


def pay_with_wechat(principal, order_id: str, client_ip: str) -> dict:
    row = orders.own(principal, order_id)
    orders.ensure_payable(row, principal)
    appid = principal.app_id
    merchant = merchants.by_mchid(row.mchid) if row.mchid else merchants.for_new_orders()
    if appid not in merchant.appids:
        raise ValidationFailed("this app cannot pay with the hospital's merchant account", field="app")
    if row.status == orders.PAYING and row.channel != "wechat":
        raise Conflict("a payment of this order by another channel is open", code="payment_in_progress")
    if row.status == orders.PAYING and row.prepay_id and row.appid == appid:
        return _answer(merchant, appid, row)
    openid = _openid(principal.user_id, appid)
    version = merchants.api_version(merchant)
    client = merchants.client(merchant, appid)
    expire = row.expires_at.replace(tzinfo=dt.timezone.utc).astimezone(SHANGHAI)
    try:
        if version == "v3":
            prepay_id = client.jsapi_prepay(appid=appid, description=row.description, out_trade_no=row.id,
                                            amount_fen=row.amount_fen, openid=openid, notify_url=notify_urls.v3(),
                                            time_expire=expire.isoformat(timespec="seconds"), attach=row.kind)
        else:
            prepay_id = client.unified_order(description=row.description, out_trade_no=row.id,
                                             amount_fen=row.amount_fen, openid=openid,
                                             notify_url=notify_urls.v2_payment(), time_expire=expire.replace(tzinfo=None),
                                             client_ip=client_ip, attach=row.kind)
    except wechatpay_v3.WeChatPayError as exc:
        if exc.code in ("ORDERPAID", "ORDER_PAID"):
            raise Conflict("this order is already paid", code="already_paid") from None
        if exc.code in ("ORDERCLOSED", "ORDER_CLOSED"):
            raise Conflict("this order was closed; start a new one", code="order_closed") from None
        raise UpstreamUnavailable(f"WeChat Pay refused the order ({exc.code})") from None
    with transaction() as conn:
        # Another tap or a payment may have won meanwhile: the re-read below says which.
        orders.try_move(conn, row.id, orders.PAYING, prepay_id=prepay_id, mchid=merchant.mchid, appid=appid,
                        api_version=version, channel="wechat")
        current = conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.id == row.id)).one()
    if current.status != orders.PAYING or current.prepay_id is None:
        orders.ensure_payable(current, principal)  # raises: it was paid or closed meanwhile
    return _answer(merchant, appid, current)


def _answer(merchant, appid: str, row) -> dict:
    if isinstance(merchant, wechatpay_v2.MerchantV2):
        params = wechatpay_v2.jsapi_payment_params(merchant, appid, row.prepay_id)
    else:
        params = wechatpay_v3.jsapi_payment_params(merchant, appid, row.prepay_id)
    return {"order": orders.view(row), "request_payment": params}


def _openid(user_id: int, appid: str) -> str:
    with transaction() as conn:
        openid = conn.execute(sa.select(t.wechat_identities.c.openid).where(
            t.wechat_identities.c.user_id == user_id, t.wechat_identities.c.app_id == appid)).scalar_one_or_none()
    if openid is None:
        raise ValidationFailed("sign in with WeChat in this app to pay", field="app")
    return openid
