"""Suspension by time slot (OS1-OS3): from the back office or the HIS's feed, exactly the booked
registrations inside the suspended slots are found; each patient gets one notice (a refused one
is listed for a phone call); each registration is cancelled at the HIS and refunded once;
progress is visible; the same suspension again, or its messages twice, changes nothing."""
import datetime as dt
import json
import uuid

import requests
import sqlalchemy as sa

from hospital.auth import sessions
from hospital.db import engine, tables
from tests.conftest import api_event, call, make_patient
from tests.outpatient.support import (
    api,
    archive,
    bind,
    book,
    doctor_with_slots,
    hospital_today,
    registration,
)
from tests.payments.support import deliver_queued, order_row, patient_pays, pay, wait_status

TEMPLATE = "local-suspension-notice-template"


def admin(platform):
    user, _ = make_patient(platform)
    sessions.grant_role(user.user_id, "super_admin")
    from hospital.auth.tokens import Principal, issue_access_token

    return issue_access_token(Principal(user_id=user.user_id, roles=frozenset({"super_admin"})))


def back_office(functions, token, method, path, body=None, resource=None, params=None):
    return call(functions, "OutpatientAdminFunction", api_event(method, path, body=body, token=token,
                                                                resource=resource, path_parameters=params))


def suspend(functions, token, doctor, day, slot_ids, reason="停诊"):
    """The back office suspends `slot_ids` of the doctor's `day`: (status, answer)."""
    return back_office(functions, token, "POST", "/admin/outpatient/suspensions",
                       {"doctor_code": doctor["doctor_code"], "visit_date": day.isoformat(), "slot_ids": slot_ids,
                        "reason": reason})


def progress(functions, token, suspension_id):
    return back_office(functions, token, "GET", f"/admin/outpatient/suspensions/{suspension_id}",
                       resource="/admin/outpatient/suspensions/{suspension_id}",
                       params={"suspension_id": suspension_id})


def patient_booked(platform, functions, doctor, slot_index, paid=True):
    """(openid, token, registration) of a new patient booked into the doctor's slot."""
    openid = f"o-sus-{uuid.uuid4().hex[:12]}"
    platform.wechat.mint_login_code(platform.mini_program_app_id, openid=openid)  # known to WeChat
    _, token = make_patient(platform, openid=openid)
    status, card = bind(functions, token, archive(platform))
    assert status == 201, card
    status, held = book(functions, token, card["card_id"], doctor, slot_index)
    assert status == 201, held
    if paid:
        assert pay(functions, token, held["order_id"])[0] == 200
        patient_pays(platform, held["order_id"])
        wait_status(held["order_id"], "paid")
        deliver_queued(platform, functions, "PaymentEventsQueue",
                       until=lambda: order_row(held["order_id"]).status == "confirmed")
    return openid, token, held


def notices_to(platform, openid):
    return [m for m in platform.wechat.messages(touser=openid, template_id=TEMPLATE)]


def his_cancellations(platform, reg_nos):
    return [c for c in requests.get(f"{platform.his.url}/_sim/cancellations", timeout=5).json()
            if c["reg_no"] in reg_nos]


def run_through(platform, functions, token, suspension_id):
    """Deliver the suspension's messages until every registration found is settled, then the
    refunds until the payment platform has given the money back."""
    def seen():
        return progress(functions, token, suspension_id)[1]

    deliver_queued(platform, functions, "OutpatientEventsQueue",
                   until=lambda: (s := seen())["found"] is not None and s["cancelled"] + s["failed"] == s["found"]
                   and s["notified"] + s["notice_failed"] == s["found"], timeout=30)
    deliver_queued(platform, functions, "RefundsQueue", until=lambda: seen()["refunded"] == seen()["cancelled"],
                   timeout=30)


def test_exactly_the_booked_registrations_in_the_slots_are_told_cancelled_and_refunded_once(
        db, platform, functions):
    day = hospital_today() + dt.timedelta(days=2)
    doctor = doctor_with_slots(platform, day, starts=("09:00", "09:30", "10:00", "10:30"))
    inside = [patient_booked(platform, functions, doctor, i) for i in (0, 1)]
    outside = patient_booked(platform, functions, doctor, 2)
    unpaid = patient_booked(platform, functions, doctor, 3, paid=False)
    token = admin(platform)
    suspended = [*doctor["slots"][:2], doctor["slots"][3]]

    status, suspension = suspend(functions, token, doctor, day, suspended, "医生外出会诊")
    assert status == 201, suspension
    run_through(platform, functions, token, suspension["suspension_id"])

    status, seen = progress(functions, token, suspension["suspension_id"])
    assert status == 200
    assert {k: seen[k] for k in ("found", "notified", "notice_failed", "cancelled", "refunded", "failed")} == {
        "found": 2, "notified": 2, "notice_failed": 0, "cancelled": 2, "refunded": 2, "failed": 0}
    reg_nos = []
    for openid, patient_token, held in inside:
        view = registration(functions, patient_token, held["registration_id"])[1]
        assert view["status"] == "cancelled" and view["cancel_source"] == "suspension"
        assert view["cancel_reason"] == "医生外出会诊" and view["refunded_fen"] == 2500
        reg_nos.append(view["reg_no"])
        (notice,) = notices_to(platform, openid)
        assert notice["accepted"]
        data = {k: v["value"] for k, v in notice["body"]["data"].items()}
        assert data["thing3"] == "医生外出会诊" and data["thing4"] == "挂号费将原路退回"
        assert data["time2"].startswith(day.isoformat()) and doctor["doctor_code"][2:] in data["thing1"]
    assert len(his_cancellations(platform, reg_nos)) == 2
    assert registration(functions, outside[1], outside[2]["registration_id"])[1]["status"] == "booked"
    assert notices_to(platform, outside[0]) == [] and notices_to(platform, unpaid[0]) == []

    # The same suspension again, and every message of it twice: nothing happens twice.
    status, again = suspend(functions, token, doctor, day, list(reversed(suspended)), "医生外出会诊")
    assert status == 200 and again["suspension_id"] == suspension["suspension_id"]
    from hospital.outpatient import suspensions

    assert suspensions.find(suspension["suspension_id"]) == 2
    for _, _, held in inside:
        assert suspensions.handle(suspension["suspension_id"], held["registration_id"]) == "duplicate"
    deliver_queued(platform, functions, "OutpatientEventsQueue")
    deliver_queued(platform, functions, "RefundsQueue")
    assert len(his_cancellations(platform, reg_nos)) == 2
    assert all(len(notices_to(platform, openid)) == 1 for openid, _, _ in inside)
    with engine().connect() as conn:
        refunds = conn.execute(sa.select(tables.payment_refunds.c.order_id).where(
            tables.payment_refunds.c.order_id.in_([held["order_id"] for _, _, held in inside]))).all()
        audits = conn.execute(sa.select(tables.audit_log.c.result).where(
            tables.audit_log.c.action == "outpatient.suspend",
            tables.audit_log.c.target_id == suspension["suspension_id"])).scalars().all()
    assert len(refunds) == 2
    assert sorted(audits) == ["ok", "repeated"]


def test_a_refused_notice_is_recorded_and_listed_for_a_phone_call(db, platform, functions, capsys):
    day = hospital_today() + dt.timedelta(days=2)
    doctor = doctor_with_slots(platform, day)
    openid, _, held = patient_booked(platform, functions, doctor, 0)
    platform.wechat.refuse(openid)
    token = admin(platform)

    _, suspension = suspend(functions, token, doctor, day, [doctor["slots"][0]])
    run_through(platform, functions, token, suspension["suspension_id"])

    _, seen = progress(functions, token, suspension["suspension_id"])
    assert seen["notified"] == 0 and seen["notice_failed"] == 1 and seen["cancelled"] == 1
    # The operators' NotificationOutcomes metric counted it (the queue is shared: others may be there too).
    outcomes = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"NotificationOutcomes"' in line]
    assert ("suspension_notice", "refused", "user_refused") in {
        (m["kind"], m["outcome"], m["errcode_class"]) for m in outcomes}
    (call_entry,) = seen["to_call"]
    assert call_entry["registration_id"] == held["registration_id"] and call_entry["notice"] == "refused"
    assert call_entry["name"] == "张三" and call_entry["phone"].startswith("13")
    with engine().connect() as conn:
        shown = conn.execute(sa.select(tables.audit_log.c.details).where(
            tables.audit_log.c.action == "outpatient.suspension_call_list_viewed",
            tables.audit_log.c.target_id == suspension["suspension_id"])).scalars().all()
    assert shown and shown[-1]["fields"] == ["name", "phone"]


def test_the_his_feed_suspends_once_even_when_it_delivers_twice(db, platform, functions):
    from hospital.outpatient import sweeper

    day = hospital_today() + dt.timedelta(days=3)
    doctor = doctor_with_slots(platform, day)
    openid, patient_token, held = patient_booked(platform, functions, doctor, 1)
    entry = platform.his.suspend(doctor["doctor_code"], day, [doctor["slots"][1]], "设备检修",
                                 suspension_id=f"SU{uuid.uuid4().hex[:8]}")
    platform.his.repeat_suspension(entry["suspension_id"])

    sweeper.run()
    sweeper.run()

    with engine().connect() as conn:
        rows = conn.execute(sa.select(tables.suspensions).where(
            tables.suspensions.c.his_suspension_id == entry["suspension_id"])).all()
    assert len(rows) == 1 and rows[0].source == "his_feed" and rows[0].slot_ids == [doctor["slots"][1]]
    token = admin(platform)
    run_through(platform, functions, token, rows[0].id)
    assert registration(functions, patient_token, held["registration_id"])[1]["status"] == "cancelled"
    assert len(notices_to(platform, openid)) == 1


def test_a_slot_suspended_in_the_back_office_cannot_be_booked(db, platform, functions):
    day = hospital_today() + dt.timedelta(days=2)
    doctor = doctor_with_slots(platform, day)
    token = admin(platform)
    status, _ = suspend(functions, token, doctor, day, [doctor["slots"][0]])
    assert status == 201
    _, patient_token = make_patient(platform)
    _, card = bind(functions, patient_token, archive(platform))

    status, body = book(functions, patient_token, card["card_id"], doctor, 0)

    assert status == 409 and body["error"]["code"] == "slot_suspended"
    _, slots = api(functions, "GET", f"/outpatient/doctors/{doctor['doctor_code']}/slots", patient_token,
                   resource="/outpatient/doctors/{doctor_code}/slots", params={"doctor_code": doctor["doctor_code"]},
                   query={"date_from": day.isoformat(), "date_to": day.isoformat()})
    assert [(s["status"], s["available"]) for s in slots][:2] == [("suspended", False), ("free", True)]
    assert book(functions, patient_token, card["card_id"], doctor, 1)[0] == 201


def test_suspending_what_does_not_exist_names_the_field_and_records_nothing(db, platform, functions):
    day = hospital_today() + dt.timedelta(days=2)
    doctor = doctor_with_slots(platform, day)
    token = admin(platform)
    for body, status, field in [
        ({"doctor_code": doctor["doctor_code"], "visit_date": day.isoformat(), "slot_ids": ["NOPE"],
          "reason": "停诊"}, 404, "slot_ids"),
        ({"doctor_code": "NOPE", "visit_date": day.isoformat(), "reason": "停诊"}, 404, "doctor_code"),
        ({"doctor_code": doctor["doctor_code"], "visit_date": "2026-02-30", "reason": "停诊"}, 400, "visit_date"),
        ({"doctor_code": doctor["doctor_code"], "visit_date": day.isoformat()}, 400, "reason"),
    ]:
        got, answer = back_office(functions, token, "POST", "/admin/outpatient/suspensions", body)
        assert got == status and answer["error"]["field"] == field, (body, answer)
    with engine().connect() as conn:
        assert conn.execute(sa.select(tables.suspensions).where(
            tables.suspensions.c.doctor_code == doctor["doctor_code"])).first() is None


def test_a_registration_paid_but_not_yet_confirmed_is_cancelled_once_the_his_confirms(db, platform, functions):
    from hospital.outpatient import suspensions, sweeper
    from hospital.timeutil import utcnow

    day = hospital_today() + dt.timedelta(days=2)
    doctor = doctor_with_slots(platform, day)
    openid, patient_token, held = patient_booked(platform, functions, doctor, 0, paid=False)
    assert pay(functions, patient_token, held["order_id"])[0] == 200
    patient_pays(platform, held["order_id"])
    wait_status(held["order_id"], "paid")  # the HIS is not yet told: its confirmation is still queued
    token = admin(platform)
    _, suspension = suspend(functions, token, doctor, day, [doctor["slots"][0]])

    assert suspensions.find(suspension["suspension_id"]) == 1
    assert suspensions.handle(suspension["suspension_id"], held["registration_id"]) == "waiting"
    deliver_queued(platform, functions, "OutpatientEventsQueue")  # its message: waits too, and is gone
    assert notices_to(platform, openid) == []
    deliver_queued(platform, functions, "PaymentEventsQueue",
                   until=lambda: order_row(held["order_id"]).status == "confirmed")
    sweeper.run(now=utcnow() + dt.timedelta(minutes=6))  # hands the unsettled item out again
    run_through(platform, functions, token, suspension["suspension_id"])

    assert registration(functions, patient_token, held["registration_id"])[1]["status"] == "cancelled"
    assert len(notices_to(platform, openid)) == 1



def test_a_payment_confirmed_after_the_suspension_was_looked_into_is_found_by_the_sweeper(db, platform, functions):
    from hospital.outpatient import sweeper

    day = hospital_today() + dt.timedelta(days=2)
    doctor = doctor_with_slots(platform, day)
    openid, patient_token, held = patient_booked(platform, functions, doctor, 0, paid=False)  # held, unpaid
    token = admin(platform)
    _, suspension = suspend(functions, token, doctor, day, [doctor["slots"][0]])
    deliver_queued(platform, functions, "OutpatientEventsQueue")
    assert progress(functions, token, suspension["suspension_id"])[1]["found"] == 0
    # The patient pays within the hold; the HIS, which never heard of our suspension, confirms.
    assert pay(functions, patient_token, held["order_id"])[0] == 200
    patient_pays(platform, held["order_id"])
    wait_status(held["order_id"], "paid")
    deliver_queued(platform, functions, "PaymentEventsQueue",
                   until=lambda: order_row(held["order_id"]).status == "confirmed")

    sweeper.run()
    run_through(platform, functions, token, suspension["suspension_id"])

    assert progress(functions, token, suspension["suspension_id"])[1]["found"] == 1
    assert registration(functions, patient_token, held["registration_id"])[1]["status"] == "cancelled"
    assert len(notices_to(platform, openid)) == 1


def test_two_suspensions_of_one_slot_tell_its_patient_once(db, platform, functions):
    from hospital.outpatient import sweeper

    day = hospital_today() + dt.timedelta(days=2)
    doctor = doctor_with_slots(platform, day)
    openid, patient_token, held = patient_booked(platform, functions, doctor, 0)
    token = admin(platform)
    _, first = suspend(functions, token, doctor, day, [doctor["slots"][0]])
    platform.his.suspend(doctor["doctor_code"], day, [doctor["slots"][0], doctor["slots"][1]], "停诊",
                         suspension_id=f"SU{uuid.uuid4().hex[:8]}")
    sweeper.run()  # the HIS's own suspension of the same slot arrives by the feed
    run_through(platform, functions, token, first["suspension_id"])
    deliver_queued(platform, functions, "OutpatientEventsQueue")

    assert len(notices_to(platform, openid)) == 1
    assert registration(functions, patient_token, held["registration_id"])[1]["status"] == "cancelled"
    with engine().connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.suspension_items).where(
            tables.suspension_items.c.registration_id == held["registration_id"])).scalar_one() == 1


def test_a_registration_the_his_would_not_let_go_is_not_taken_up_again(db, platform, functions):
    from hospital.outpatient import suspensions

    day = hospital_today() + dt.timedelta(days=2)
    doctor = doctor_with_slots(platform, day)
    openid, patient_token, held = patient_booked(platform, functions, doctor, 0)
    reg_no = registration(functions, patient_token, held["registration_id"])[1]["reg_no"]
    platform.his.attach_charges(reg_no)
    token = admin(platform)
    _, suspension = suspend(functions, token, doctor, day, [doctor["slots"][0]])
    run_through(platform, functions, token, suspension["suspension_id"])
    seen = progress(functions, token, suspension["suspension_id"])[1]
    assert seen["failed"] == 1 and seen["failures"][0]["registration_id"] == held["registration_id"]

    suspensions.handle(suspension["suspension_id"], held["registration_id"])  # delivered once more

    assert registration(functions, patient_token, held["registration_id"])[1]["status"] == "booked"
    (notice,) = notices_to(platform, openid)
    assert notice["body"]["data"]["thing4"]["value"] == "请联系医院处理挂号费"


def test_a_scheduler_of_one_department_suspends_and_sees_only_that_department_s_clinics_NF1_AD2(
        db, platform, functions):
    """A role holding outpatient.schedule given for one department reaches that department's
    doctors only: another's doctor is as unknown as a doctor who does not exist."""
    from hospital.auth import access
    from hospital.auth.tokens import Principal, issue_access_token

    day = hospital_today() + dt.timedelta(days=2)
    mine, theirs = doctor_with_slots(platform, day), doctor_with_slots(platform, day)
    role = f"sched_{uuid.uuid4().hex[:8]}"
    access.create_role(None, role, "门诊排班", ["session.self", "outpatient.schedule"])
    user, _ = make_patient(platform)
    access.assign(None, user.user_id, role, mine["dept_code"])
    scheduler = issue_access_token(Principal(user_id=user.user_id, roles=frozenset({role})))

    status, refused = suspend(functions, scheduler, theirs, day, [theirs["slots"][0]])
    assert status == 404 and refused["error"]["field"] == "doctor_code"
    with engine().connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(tables.suspensions).where(
            tables.suspensions.c.doctor_code == theirs["doctor_code"])).scalar() == 0
    status, own = suspend(functions, scheduler, mine, day, [mine["slots"][0]])
    assert status == 201 and own["dept_code"] == mine["dept_code"]
    status, other = suspend(functions, admin(platform), theirs, day, [theirs["slots"][0]])
    assert status == 201

    status, listed = back_office(functions, scheduler, "GET", "/admin/outpatient/suspensions")
    assert status == 200 and {s["dept_code"] for s in listed} == {mine["dept_code"]}
    assert own["suspension_id"] in {s["suspension_id"] for s in listed}
    assert progress(functions, scheduler, other["suspension_id"])[0] == 404
    assert progress(functions, scheduler, own["suspension_id"])[0] == 200
