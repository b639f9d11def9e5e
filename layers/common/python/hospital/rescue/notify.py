"""Alerts to on-duty staff through WeChat subscribe messages (ER3, ES1).

A new case puts one "notifications" message per on-duty staff member on its own queue; its
consumer sends the subscribe message and records the result as an `alerted` node of the
channel `wechat:<user id>`: sent, refused (the user declined subscriptions) or failed, so
a message that did not reach someone is visible on the timeline, not silent.

The entries are `set_on_duty` and the consumer's `send_staff_alert`, which reads before and
records after the call to WeChat, each in a short transaction: none is open during the call.
"""
from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa

from hospital import config, settings, wechat_tokens
from hospital.auth.permissions import STAFF_DUTY
from hospital.db import tables as t
from hospital.db import transaction
from hospital.rescue import alerts, case_store, messages, visibility
from hospital.timeutil import SHANGHAI, iso_utc, utcnow

log = logging.getLogger("hospital.notify")

KIND = "staff_alert"  # the NotificationOutcomes metric's kind
MAX_RECEIVES = 5  # the NotificationsQueue's maxReceiveCount: a failure of the last try dead-letters


def set_on_duty(principal, on: bool) -> dict:
    with transaction() as conn:
        put_on_duty(conn, principal.user_id, on, utcnow())
    return {"user_id": principal.user_id, "on_duty": on}


def put_on_duty(conn, user_id: int, on: bool, now) -> None:
    conn.execute(t.on_duty.delete().where(t.on_duty.c.user_id == user_id))
    if on:
        conn.execute(t.on_duty.insert().values(user_id=user_id, since=now))


# Built once: a statement object costs more CPU to build than to run (its cache key is computed
# anew for each new object).
_ON_DUTY_STAFF = (sa.select(t.on_duty.c.user_id).distinct()
                  .join(t.users, t.users.c.id == t.on_duty.c.user_id)
                  .join(t.user_roles, t.user_roles.c.user_id == t.on_duty.c.user_id)
                  .join(t.role_permissions, t.role_permissions.c.role == t.user_roles.c.role)
                  .where(t.users.c.status == "active", t.role_permissions.c.permission == STAFF_DUTY)
                  .order_by(t.on_duty.c.user_id))


def fan_out(uow, case_id: str) -> int:
    """In the caller's unit of work: one message per on-duty staff member (an active user who
    still holds a staff role: duty does not outlast the right to it)."""
    staff = uow.conn.execute(_ON_DUTY_STAFF).scalars().all()
    for user_id in staff:
        uow.publish(messages.StaffAlert(case_id=case_id, user_id=int(user_id)))
    return len(staff)


def _channel(user_id: int) -> str:
    return f"wechat:{user_id}"


def send_staff_alert(case_id: str, user_id: int, receive_count: int | None = None) -> str:
    """Send one staff member the subscribe message of a new case; returns the result recorded.
    Raises when WeChat is unreachable, so the queue retries (`receive_count`: the queue's
    delivery count of the message, which tells a retry from the last try)."""
    from hospital import metrics
    from hospital.adapters.wechat import WeChatApi, WeChatError, WeChatUnavailable

    channel = _channel(user_id)
    app_id = settings.WECHAT_MINI_PROGRAM_APP_ID.get()
    with transaction() as conn:
        if alerts.was_alerted(conn, case_id, channel):
            return "duplicate"
        openid = _openid(conn, user_id, app_id)
        if openid is not None:
            brief = case_store.alert_brief(conn, case_id)
    if openid is None:
        with transaction() as conn:
            alerts.record_alerted(conn, case_id, channel,
                                  {"result": "failed", "reason": "no WeChat identity in the app"})
        metrics.notification(KIND, "failed", "no_identity")
        return "failed"
    address = brief.address_text()
    api = WeChatApi(settings.WECHAT_API_BASE.get())
    secret = config.secret_value(settings.WECHAT_SECRET_ARN, app_id)
    data = {"thing1": "新的急救呼叫", "time2": _local_time(iso_utc(brief.created_at)),
            "thing3": (address or "见小程序定位")[:20]}
    token = wechat_tokens.access_token(app_id, secret, api)
    try:
        try:
            msgid = api.send_subscribe_message(token, openid, settings.WECHAT_ALERT_TEMPLATE_ID.get(), data,
                                               page=f"pages/case/index?case_id={case_id}")
        except WeChatError as exc:
            if not exc.token_invalid:
                raise
            token = wechat_tokens.invalidate(app_id, token, secret, api)  # once, shared by containers
            msgid = api.send_subscribe_message(token, openid, settings.WECHAT_ALERT_TEMPLATE_ID.get(), data,
                                               page=f"pages/case/index?case_id={case_id}")
    except WeChatUnavailable as exc:
        metrics.notification(KIND, metrics.outcome_of_a_failed_try(receive_count, MAX_RECEIVES), exc.errcode_class)
        raise
    except WeChatError as exc:
        result = "refused" if exc.user_refused else "failed"
        with transaction() as conn:
            alerts.record_alerted(conn, case_id, channel, {"result": result, "errcode": exc.errcode})
        metrics.notification(KIND, result, exc.errcode_class)
        log.warning("staff alert not delivered", extra={"case_id": case_id, "user_id": user_id, "errcode": exc.errcode})
        return result
    with transaction() as conn:
        alerts.record_alerted(conn, case_id, channel, {"result": "sent", "msgid": msgid},
                              visibility.pushed({"address_text": data["thing3"]} if address else {},
                                                visibility.ON_DUTY_ROLES, [user_id]))
    metrics.notification(KIND, "sent")
    return "sent"


def _openid(conn, user_id: int, app_id: str) -> str | None:
    return conn.execute(sa.select(t.wechat_identities.c.openid).where(
        t.wechat_identities.c.user_id == user_id, t.wechat_identities.c.app_id == app_id)).scalar_one_or_none()


def _local_time(iso: str) -> str:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
