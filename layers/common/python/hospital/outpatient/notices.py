"""The one notice a patient gets when their registration falls in a suspension (OS2): a WeChat
subscribe message naming the doctor, the time, the reason and what happens to the money, and
its result recorded on the suspension's item: sent, refused (the patient declined such
messages) or failed (no WeChat identity, another error). Refused and failed ones are listed
for a phone call (hospital.outpatient.suspensions.progress).

A notice is claimed before it is sent (`notice` NULL -> sending, by one guarded UPDATE), so of
two deliveries of the same message one sends and the other finds it taken; a claim left by a
delivery that died before recording is taken over after CLAIM_EXPIRES. WeChat unreachable
releases the claim and raises, so the queue brings the message back.
"""
from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa

from hospital import config, crypto, external_calls, settings, wechat_tokens
from hospital.db import tables as t
from hospital.db import transaction
from hospital.timeutil import utcnow

log = logging.getLogger("hospital.outpatient")

CLAIM_EXPIRES = dt.timedelta(minutes=5)
KIND = "suspension_notice"  # the NotificationOutcomes metric's kind
MAX_RECEIVES = 10  # the OutpatientEventsQueue's maxReceiveCount: a failure of the last try dead-letters


def tell_suspended(suspension_id: str, registration_id: str, receive_count: int | None = None) -> str:
    """Entry: send the patient of a suspended registration their notice, once. Returns the
    notice's result, or "duplicate" when another delivery has it. `receive_count`: the queue's
    delivery count of the message (a retry or the last try, when WeChat is unreachable)."""
    from hospital import metrics
    from hospital.adapters.wechat import WeChatApi, WeChatError, WeChatUnavailable

    app_id = settings.WECHAT_MINI_PROGRAM_APP_ID.get()
    with transaction() as conn:
        if not _claim(conn, suspension_id, registration_id):
            return "duplicate"
        facts = conn.execute(
            sa.select(t.registrations.c.user_id, t.registrations.c.doctor_name, t.registrations.c.dept_name,
                      t.registrations.c.visit_date, t.registrations.c.start_time, t.suspensions.c.reason,
                      t.suspension_items.c.outcome)
            .select_from(t.suspension_items
                         .join(t.registrations, t.registrations.c.id == t.suspension_items.c.registration_id)
                         .join(t.suspensions, t.suspensions.c.id == t.suspension_items.c.suspension_id))
            .where(t.suspension_items.c.suspension_id == suspension_id,
                   t.suspension_items.c.registration_id == registration_id)).one()
        openid = conn.execute(sa.select(t.wechat_identities.c.openid).where(
            t.wechat_identities.c.user_id == facts.user_id, t.wechat_identities.c.app_id == app_id)
        ).scalar_one_or_none()
    if openid is None:
        metrics.notification(KIND, "failed", "no_identity")
        return _record(suspension_id, registration_id, "failed", {"reason": "no WeChat identity in the app"})
    money = "挂号费将原路退回" if facts.outcome == "cancelled" else "请联系医院处理挂号费"
    data = {"thing1": f"{facts.dept_name} {facts.doctor_name}"[:20],
            "time2": f"{facts.visit_date.isoformat()} {facts.start_time}",
            "thing3": facts.reason[:20], "thing4": money}
    api = WeChatApi(settings.WECHAT_API_BASE.get())
    secret = config.secret_value(settings.WECHAT_SECRET_ARN, app_id)
    template = settings.WECHAT_SUSPENSION_TEMPLATE_ID.get()
    page = f"pages/registration/index?registration_id={registration_id}"
    try:
        with external_calls.concerning(user_id=facts.user_id):
            token = wechat_tokens.access_token(app_id, secret, api)
            try:
                msgid = api.send_subscribe_message(token, openid, template, data, page=page)
            except WeChatError as exc:
                if not exc.token_invalid:
                    raise
                token = wechat_tokens.invalidate(app_id, token, secret, api)  # once, shared by containers
                msgid = api.send_subscribe_message(token, openid, template, data, page=page)
    except WeChatUnavailable as exc:
        _release(suspension_id, registration_id)
        metrics.notification(KIND, metrics.outcome_of_a_failed_try(receive_count, MAX_RECEIVES), exc.errcode_class)
        raise
    except WeChatError as exc:
        result = "refused" if exc.user_refused else "failed"
        log.warning("suspension notice not delivered", extra={"registration_id": registration_id,
                                                              "errcode": exc.errcode})
        recorded = _record(suspension_id, registration_id, result, {"errcode": exc.errcode})
        metrics.notification(KIND, result, exc.errcode_class)
        return recorded
    recorded = _record(suspension_id, registration_id, "sent", {"msgid": msgid})
    metrics.notification(KIND, "sent")
    return recorded


def contacts(conn, card_ids: list[str]) -> dict[str, dict]:
    """In the caller's transaction: the name and phone the patients gave when binding these
    cards, for staff who must call them (the caller records that they were shown)."""
    if not card_ids:
        return {}
    rows = conn.execute(sa.select(t.patient_cards.c.id, t.patient_cards.c.name_enc, t.patient_cards.c.phone_enc)
                        .where(t.patient_cards.c.id.in_(set(card_ids)))).all()
    return {row.id: {"name": _opened(row.name_enc, f"patient_cards.name:{row.id}"),
                     "phone": _opened(row.phone_enc, f"patient_cards.phone:{row.id}")} for row in rows}


def _opened(sealed: bytes | None, context: str) -> str | None:
    return crypto.decrypt_text(sealed, context) if sealed else None


def _claim(conn, suspension_id: str, registration_id: str) -> bool:
    now = utcnow()
    items = t.suspension_items.c
    return conn.execute(t.suspension_items.update().where(
        items.suspension_id == suspension_id, items.registration_id == registration_id,
        sa.or_(items.notice.is_(None),
              sa.and_(items.notice == "sending", items.notice_claimed_at < now - CLAIM_EXPIRES)))
        .values(notice="sending", notice_claimed_at=now, updated_at=now)).rowcount == 1


def _release(suspension_id: str, registration_id: str) -> None:
    with transaction() as conn:
        conn.execute(t.suspension_items.update().where(
            t.suspension_items.c.suspension_id == suspension_id,
            t.suspension_items.c.registration_id == registration_id,
            t.suspension_items.c.notice == "sending").values(notice=None, notice_claimed_at=None))


def _record(suspension_id: str, registration_id: str, result: str, detail: dict) -> str:
    with transaction() as conn:
        conn.execute(t.suspension_items.update().where(
            t.suspension_items.c.suspension_id == suspension_id,
            t.suspension_items.c.registration_id == registration_id).values(
            notice=result, notice_detail=detail, updated_at=utcnow()))
    return result
