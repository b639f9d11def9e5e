"""Helpers for the reconciliation tests: orders paid through the real flows (WeChat Pay
simulator, our callbacks and consumers, the HIS simulator's confirmation), then moved, on every
side at once, to a day of their own, as if they had been paid then. Each test reconciles a day
nobody else uses, so what it finds is exactly what it put there."""
from __future__ import annotations

import datetime as dt
import itertools

import sqlalchemy as sa

from hospital.db import engine, tables
from hospital.reconciliation import schedule_rules
from tests.payments.support import (
    create_order,
    deliver_queued,
    order_row,
    patient_pays,
    patient_with_bill,
    pay,
)

BEIJING = schedule_rules.BEIJING
_days = itertools.count(20)


def a_day() -> dt.date:
    """A past day of its own, within the three months WeChat Pay keeps bills."""
    return dt.datetime.now(BEIJING).date() - dt.timedelta(days=next(_days))


def the_next_noon(day: dt.date) -> dt.datetime:
    """Noon of the day after `day` in Beijing, as naive UTC: its statements are ready."""
    return beijing_utc(day + dt.timedelta(days=1), dt.time(12))


def beijing_utc(day: dt.date, at: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, at, BEIJING).astimezone(dt.UTC).replace(tzinfo=None)


def paid_order(platform, functions, amount: str = "25.00") -> str:
    """An order paid with WeChat Pay (v3) and confirmed by the HIS, through the real flow."""
    _, token, bill = patient_with_bill(platform, amount)
    status, order = create_order(functions, token, bill)
    assert status == 201, order
    order_id = order["order_id"]
    status, paying = pay(functions, token, order_id)
    assert status == 200, paying
    patient_pays(platform, order_id)
    deliver_queued(platform, functions, "PaymentEventsQueue", until=lambda: order_row(order_id).status == "confirmed")
    return order_id


def refund(platform, functions, order_id: str, amount_fen: int, token) -> str:
    """Finance refunds part of an order; the worker has WeChat Pay refund it."""
    from tests.payments.support import api

    status, refunded = api(functions, "PaymentsAdminFunction", "POST", f"/admin/payments/orders/{order_id}/refunds",
                           token, {"amount_fen": amount_fen, "reason": "patient_request"}, {"order_id": order_id},
                           "/admin/payments/orders/{order_id}/refunds")
    assert status == 202, refunded
    deliver_queued(platform, functions, "RefundsQueue", until=lambda: _refund_status(order_id) != "requested")
    return refunded["out_refund_no"]


def finance_token(platform) -> str:
    import uuid

    from hospital.auth import sessions

    openid = f"o-recon-fin-{uuid.uuid4().hex[:10]}"
    user = sessions.sign_in_identity(platform.mini_program_app_id, openid)
    sessions.grant_role(user["user"]["id"], "finance")
    return sessions.sign_in_identity(platform.mini_program_app_id, openid)["access_token"]


def admin_call(functions, method: str, path: str, token: str, *, query: dict | None = None, body=None,
               resource: str | None = None, path_parameters: dict | None = None, headers: dict | None = None):
    """(status, headers, body text) of a reconciliation back-office call."""
    from tests.conftest import api_event

    event = api_event(method, path, body=body, token=token, resource=resource, path_parameters=path_parameters,
                      headers=headers)
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    invocation = functions.invoke("ReconciliationAdminFunction", event)
    assert invocation.ok, invocation.error_payload
    result = invocation.result
    return result["statusCode"], result.get("headers") or {}, result.get("body") or ""


def _refund_status(order_id: str) -> str | None:
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.payment_refunds.c.status)
                            .where(tables.payment_refunds.c.order_id == order_id)).scalars().first()


def move_to(platform, order_id: str, day: dt.date, at: dt.time = dt.time(12)) -> None:
    """As if the order had been paid, confirmed (and refunded) at `at` on `day`, Beijing time:
    our rows, the WeChat Pay simulator's trade and refunds, the HIS simulator's booking."""
    when = beijing_utc(day, at)
    o, r = tables.payment_orders.c, tables.payment_refunds.c
    with engine().begin() as conn:
        conn.execute(tables.payment_orders.update().where(o.id == order_id).values(
            paid_at=when, his_confirmed_at=sa.case((o.his_confirmed_at.is_(None), None), else_=when)))
        conn.execute(tables.payment_refunds.update().where(r.order_id == order_id).values(created_at=when))
    rfc3339 = dt.datetime.combine(day, at, BEIJING).isoformat(timespec="seconds")
    wechat = platform.wechatpay
    with wechat._lock:
        for order in wechat.orders.values():
            if order["out_trade_no"] == order_id and order.get("success_time"):
                order["success_time"] = rfc3339
        for refund_record in wechat.refunds.values():
            if refund_record["out_trade_no"] == order_id:
                refund_record["create_time"] = rfc3339
    epoch = dt.datetime.combine(day, at, BEIJING).timestamp()
    insurance = platform.insurance
    with insurance._lock:
        for order in insurance.orders.values():
            if order.get("med_org_ord") == order_id and order.get("setl_time") is not None:
                order["setl_time"] = epoch
                for refund_record in insurance.refunds.values():
                    if refund_record["pay_ord_id"] == order["pay_ord_id"]:
                        refund_record["created"] = epoch
    credit = platform.credit
    with credit._lock:
        if order_id in credit.charges:
            credit.charges[order_id]["created_at"] = epoch
        for reversal in credit.reversals.values():
            if reversal["charge_no"] == order_id:
                reversal["created_at"] = epoch
    his = platform.his
    with his._lock:
        bills = {no for no, bill in his.bills.items() if bill.get("pay_order_no") == order_id}
        for confirmation in his.confirmations:
            if confirmation["bill_no"] in bills:
                confirmation["booked_at"] = epoch
