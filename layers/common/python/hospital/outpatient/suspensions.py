"""A doctor's clinic suspended for one or more slots of a day (停诊, OS1-OS3), from the back
office or the HIS's suspension feed:

    suspend / from_feed ──SuspensionFound──> find ──RegistrationSuspended (one per registration)──> handle
      (one row per suspension,                (exactly the booked                 (cancel at the HIS and refund:
       by its dedupe key)                      registrations in its slots)         hospital.outpatient.cancellation;
                                                                                   then the patient's one notice)

Asking again (the same slots from the back office, the feed delivering an entry twice, a
message delivered twice) finds the suspension and its items already there and changes
nothing twice: a suspension is one row per dedupe key, an item one row per registration, the
cancellation and refund are resumable and numbered, and a notice is claimed by one delivery
before it is sent (`notices`). Progress is counted from the items and the orders (`progress`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid

import sqlalchemy as sa

from hospital import audit
from hospital.auth.permissions import OUTPATIENT_SCHEDULE as SCHEDULE
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, NotFound
from hospital.outpatient import his_answers, messages, notices, registrations
from hospital.outpatient import registration_rules as rules
from hospital.timeutil import iso_utc, utcnow
from hospital.unit_of_work import unit_of_work

log = logging.getLogger("hospital.outpatient")

BACK_OFFICE, HIS_FEED = "back_office", "his_feed"
FEED = "suspensions"
# An item neither settled nor told this long after it was last handed out is handed out again.
HANDED_OUT_AGAIN = dt.timedelta(minutes=5)
FOLLOW_UP_BATCH = 200


# ---- entries ------------------------------------------------------------------------------

def suspend(principal, doctor_code: str, visit_date: dt.date, slot_ids: list[str], reason: str) -> tuple[dict, bool]:
    """The back office suspends `slot_ids` of the doctor's `visit_date` (all of that day's when
    none are named). Returns (suspension, created); the same slots again return the first."""
    from hospital.adapters import his

    slots = his_answers.ask(lambda: his.client().slots(doctor_code, visit_date, visit_date), "the slot query",
                            {"E_NO_DOCTOR": NotFound("no such doctor", field="doctor_code")})
    reach = principal.departments(SCHEDULE)
    if reach is not None:
        # As if the others did not exist: a scheduler of one department learns nothing of another's.
        slots = [slot for slot in slots if slot.dept_code in reach]
        if not slots:
            raise NotFound("no such doctor in your departments", field="doctor_code")
    day = {slot.slot_id for slot in slots}
    unknown = sorted(set(slot_ids) - day)
    if unknown:
        raise NotFound(f"the doctor has no slot {unknown[0]} on {visit_date.isoformat()}", field="slot_ids")
    chosen = sorted(set(slot_ids) or day)
    if not chosen:
        raise Conflict("the doctor has no slots that day", field="visit_date", code="nothing_to_suspend")
    # A doctor's day may span departments (a clinic here, a ward round there): named when it is one.
    departments = {slot.dept_code for slot in slots if slot.slot_id in chosen}
    dept_code = departments.pop() if len(departments) == 1 else None
    digest = hashlib.sha256(f"{doctor_code}|{visit_date.isoformat()}|{','.join(chosen)}".encode()).hexdigest()
    return _record(principal, f"back_office:{digest[:40]}", BACK_OFFICE, None, doctor_code, visit_date, chosen,
                   reason, dept_code)


def read_feed() -> int:
    """Entry (the sweeper): the HIS's suspension feed since where it was last read; each entry
    becomes a suspension (an entry seen before finds its own). Returns the entries read."""
    from hospital.adapters import his

    with transaction() as conn:
        cursor = conn.execute(sa.select(t.his_feed_cursors.c.cursor).where(t.his_feed_cursors.c.feed == FEED)
                              ).scalar_one_or_none() or ""
    page = his.client().suspensions(cursor)
    for entry in page.suspensions:
        _record(None, f"his:{entry.suspension_id}", HIS_FEED, entry.suspension_id, entry.doctor_code,
                entry.visit_date, sorted(entry.slot_ids), entry.reason[:100])
    with transaction() as conn:
        if conn.execute(t.his_feed_cursors.update().where(t.his_feed_cursors.c.feed == FEED).values(
                cursor=page.cursor, updated_at=utcnow())).rowcount == 0:
            conn.execute(t.his_feed_cursors.insert().values(feed=FEED, cursor=page.cursor, updated_at=utcnow()))
    return len(page.suspensions)


def find(suspension_id: str) -> int:
    """Entry (the consumer): exactly the paid registrations inside the suspension's slots, an
    item and a message each, once. Returns how many the suspension holds."""
    with unit_of_work() as uow:
        conn = uow.conn
        suspension = conn.execute(sa.select(t.suspensions).where(t.suspensions.c.id == suspension_id)
                                  .with_for_update()).first()
        if suspension is None:
            return 0
        # Paid ones the HIS has yet to confirm too: money taken is money to give back.
        booked = [row.id for row in conn.execute(registrations.with_order().where(
            t.registrations.c.doctor_code == suspension.doctor_code,
            t.registrations.c.visit_date == suspension.visit_date,
            t.registrations.c.slot_id.in_(suspension.slot_ids),
            t.registrations.c.status == rules.HELD, t.payment_orders.c.status.in_(("paid", "confirmed")),
            # one suspension per registration: another covering the same slot found it already
            ~sa.exists().where(t.suspension_items.c.registration_id == t.registrations.c.id,
                               t.suspension_items.c.suspension_id != suspension_id)))]
        known = set(conn.execute(sa.select(t.suspension_items.c.registration_id).where(
            t.suspension_items.c.suspension_id == suspension_id)).scalars())
        now = utcnow()
        for registration_id in booked:
            if registration_id in known:
                continue
            conn.execute(t.suspension_items.insert().values(
                suspension_id=suspension_id, registration_id=registration_id, outcome="found", updated_at=now))
            uow.publish(messages.RegistrationSuspended(suspension_id=suspension_id, registration_id=registration_id))
        found = len(known | set(booked))
        conn.execute(t.suspensions.update().where(t.suspensions.c.id == suspension_id).values(found=found))
    log.info("suspension looked into", extra={"suspension_id": suspension_id, "found": found})
    return found


def handle(suspension_id: str, registration_id: str, receive_count: int | None = None) -> str:
    """Entry (the consumer): cancel the registration at the HIS and refund it, then tell the
    patient once. Raises when the HIS or WeChat is unreachable, so the queue brings it back
    (`receive_count`: its delivery count); what waits on the HIS's confirmation of the payment,
    the sweeper hands out again."""
    from hospital.outpatient import cancellation

    with transaction() as conn:
        item = conn.execute(sa.select(t.suspension_items).where(
            t.suspension_items.c.suspension_id == suspension_id,
            t.suspension_items.c.registration_id == registration_id)).first()
        suspension = conn.execute(sa.select(t.suspensions).where(t.suspensions.c.id == suspension_id)).first()
        if item is None or suspension is None:
            return "unknown"
        order_status = conn.execute(sa.select(t.payment_orders.c.status).select_from(
            t.registrations.join(t.payment_orders, t.payment_orders.c.id == t.registrations.c.order_id))
            .where(t.registrations.c.id == registration_id)).scalar_one()
    if item.outcome == "found" and order_status == "paid":
        # Paid, and the HIS has yet to answer: cancelled once it confirms, or refunded by the
        # payments if it refuses (a slot the HIS knows suspended). The sweeper brings it back.
        return "waiting"
    if item.outcome == "found" and order_status in ("his_failed", "refunded"):
        _outcome(suspension_id, registration_id, "cancelled", "the HIS did not take it; refunded by the payment")
        return notices.tell_suspended(suspension_id, registration_id, receive_count)
    if item.outcome == "found":  # a settled item (cancelled, or the HIS refused) is not taken up again
        with transaction() as conn:
            moved = conn.execute(t.registrations.update().where(
                t.registrations.c.id == registration_id, t.registrations.c.status == rules.HELD).values(
                status=rules.CANCEL_PENDING, cancel_source="suspension", cancel_reason=suspension.reason,
                updated_at=utcnow()))
            if moved.rowcount == 1:
                registrations.step(conn, registration_id, "suspended", suspension_id=suspension_id,
                                   reason=suspension.reason)
        try:
            status = cancellation.carry_on(registration_id)
        except Conflict as exc:  # the HIS would not let it go (seen meanwhile, charges attached)
            _outcome(suspension_id, registration_id, "failed", exc.message)
        else:
            _outcome(suspension_id, registration_id, "cancelled" if status == rules.CANCELLED else "failed",
                     None if status == rules.CANCELLED else f"left {status}")
    return notices.tell_suspended(suspension_id, registration_id, receive_count)


def follow_up(now: dt.datetime) -> dict:
    """Entry (the sweeper): look again into the suspensions of days still to come (a payment the
    HIS confirmed since, a booking that raced the suspension), and hand out again every item
    neither settled nor told for a while (a message that waited on the HIS, or died in the
    dead-letter queue). Returns what it did."""
    today = rules.hospital_day(now)
    with transaction() as conn:
        active = conn.execute(sa.select(t.suspensions.c.id).where(t.suspensions.c.visit_date >= today)
                              .order_by(t.suspensions.c.created_at).limit(FOLLOW_UP_BATCH)).scalars().all()
    for suspension_id in active:
        find(suspension_id)
    items = t.suspension_items.c
    with unit_of_work() as uow:
        unsettled = uow.conn.execute(sa.select(items.suspension_id, items.registration_id).where(
            sa.or_(items.outcome == "found", items.notice.is_(None), items.notice == "sending"),
            items.updated_at < now - HANDED_OUT_AGAIN).limit(FOLLOW_UP_BATCH).with_for_update()).all()
        for row in unsettled:
            uow.conn.execute(t.suspension_items.update().where(
                items.suspension_id == row.suspension_id, items.registration_id == row.registration_id)
                .values(updated_at=now))
            uow.publish(messages.RegistrationSuspended(suspension_id=row.suspension_id,
                                                       registration_id=row.registration_id))
    return {"suspensions_looked_into": len(active), "items_handed_out_again": len(unsettled)}


def progress(principal, suspension_id: str) -> dict:
    """Found, notified, cancelled, refunded and failed, and whom to call."""
    with transaction() as conn:
        suspension = conn.execute(sa.select(t.suspensions).where(t.suspensions.c.id == suspension_id)).first()
        reach = principal.departments(SCHEDULE)
        if suspension is None or (reach is not None and suspension.dept_code not in reach):
            raise NotFound("no such suspension", field="suspension_id")
        items = conn.execute(
            sa.select(t.suspension_items, t.payment_orders.c.status.label("order_status"),
                      t.registrations.c.card_id, t.registrations.c.start_time, t.registrations.c.doctor_name)
            .select_from(t.suspension_items.join(t.registrations,
                                                 t.registrations.c.id == t.suspension_items.c.registration_id)
                         .join(t.payment_orders, t.payment_orders.c.id == t.registrations.c.order_id))
            .where(t.suspension_items.c.suspension_id == suspension_id)
            .order_by(t.registrations.c.start_time, t.registrations.c.id)).all()
        to_call = [item for item in items if item.notice in ("refused", "failed")]
        contacts = notices.contacts(conn, [item.card_id for item in to_call])
        if to_call:
            audit.add(conn, principal, "outpatient.suspension_call_list_viewed", "suspension", suspension_id, "ok",
                      {"fields": ["name", "phone"], "registrations": [item.registration_id for item in to_call]})
    return {
        **view(suspension),
        "found": suspension.found,
        "notified": sum(1 for item in items if item.notice == "sent"),
        "notice_failed": len(to_call),
        "cancelled": sum(1 for item in items if item.outcome == "cancelled"),
        "refunded": sum(1 for item in items if item.order_status == "refunded"),
        "failed": sum(1 for item in items if item.outcome == "failed"),
        "to_call": [{"registration_id": item.registration_id, "start": item.start_time, "notice": item.notice,
                     **contacts.get(item.card_id, {"name": None, "phone": None})} for item in to_call],
        "failures": [{"registration_id": item.registration_id, "error": item.error}
                     for item in items if item.outcome == "failed"],
    }


def list_recent(principal, limit: int) -> list[dict]:
    """The newest suspensions the caller may see: of their departments when their scheduling
    role is limited to some (a suspension from the HIS's feed names none: hospital-wide only)."""
    query = sa.select(t.suspensions).order_by(t.suspensions.c.created_at.desc()).limit(limit)
    reach = principal.departments(SCHEDULE)
    if reach is not None:
        query = query.where(t.suspensions.c.dept_code.in_(sorted(reach)))
    with transaction() as conn:
        rows = conn.execute(query).all()
    return [{**view(row), "found": row.found} for row in rows]


def view(row) -> dict:
    return {"suspension_id": row.id, "source": row.source, "his_suspension_id": row.his_suspension_id,
            "doctor_code": row.doctor_code, "dept_code": row.dept_code, "visit_date": row.visit_date.isoformat(),
            "slot_ids": row.slot_ids, "reason": row.reason, "created_at": iso_utc(row.created_at)}


# ---- steps --------------------------------------------------------------------------------

def _record(principal, dedupe_key: str, source: str, his_suspension_id: str | None, doctor_code: str,
            visit_date: dt.date, slot_ids: list[str], reason: str, dept_code: str | None = None) -> tuple[dict, bool]:
    suspension_id = uuid.uuid4().hex
    try:
        with unit_of_work() as uow:
            uow.conn.execute(t.suspensions.insert().values(
                id=suspension_id, dedupe_key=dedupe_key, source=source, his_suspension_id=his_suspension_id,
                doctor_code=doctor_code, dept_code=dept_code, visit_date=visit_date, slot_ids=slot_ids,
                reason=reason,
                created_by=getattr(principal, "user_id", None), created_at=utcnow()))
            if principal is not None:
                audit.add(uow.conn, principal, "outpatient.suspend", "suspension", suspension_id, "ok",
                          {"doctor_code": doctor_code, "visit_date": visit_date.isoformat(), "slot_ids": slot_ids,
                           "reason": reason})
            uow.publish(messages.SuspensionFound(suspension_id=suspension_id))
        created = True
    except sa.exc.IntegrityError:
        created = False
    with transaction() as conn:
        row = conn.execute(sa.select(t.suspensions).where(t.suspensions.c.dedupe_key == dedupe_key)).one()
        if not created and principal is not None:
            audit.add(conn, principal, "outpatient.suspend", "suspension", row.id, "repeated", {})
    return view(row), created


def _outcome(suspension_id: str, registration_id: str, outcome: str, error: str | None) -> None:
    with transaction() as conn:
        conn.execute(t.suspension_items.update().where(
            t.suspension_items.c.suspension_id == suspension_id,
            t.suspension_items.c.registration_id == registration_id,
            t.suspension_items.c.outcome == "found").values(outcome=outcome, error=error, updated_at=utcnow()))
