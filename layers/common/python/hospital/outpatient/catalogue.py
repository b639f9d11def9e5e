"""What a patient browses before booking: departments, doctors (with their online
consultation link where they offer one), and a doctor's slots over a few days. The HIS owns
all of it; this module asks it and shapes the answers, marking the slots a suspension of ours
holds that the HIS has not heard of."""
from __future__ import annotations

import datetime as dt

from hospital.db import transaction
from hospital.errors import NotFound, ValidationFailed
from hospital.outpatient import his_answers, registrations
from hospital.outpatient import registration_rules as rules
from hospital.timeutil import utcnow

MAX_DAYS = 14  # the HIS answers at most two weeks of slots at once


def departments() -> list[dict]:
    from hospital.adapters import his

    found = his_answers.ask(lambda: his.client().departments(), "the department query")
    return [{"dept_code": d.dept_code, "name": d.name, "intro": d.intro} for d in found]


def doctors(dept_code: str) -> list[dict]:
    from hospital.adapters import his

    found = his_answers.ask(lambda: his.client().doctors(dept_code), "the doctor query",
                            {"E_NO_DEPT": NotFound("no such department", field="dept_code")})
    return [doctor_view(d) for d in found]


def slots(doctor_code: str, date_from: dt.date, date_to: dt.date) -> list[dict]:
    from hospital.adapters import his

    today = rules.hospital_day(utcnow())
    if date_from < today:
        raise ValidationFailed(f"date_from must be today ({today.isoformat()}) or later", field="date_from")
    if date_to < date_from or (date_to - date_from).days >= MAX_DAYS:
        raise ValidationFailed(f"date_to must be from date_from to {MAX_DAYS - 1} days after it", field="date_to")
    found = his_answers.ask(lambda: his.client().slots(doctor_code, date_from, date_to), "the slot query",
                            {"E_NO_DOCTOR": NotFound("no such doctor", field="doctor_code")})
    with transaction() as conn:  # suspended here before the HIS heard of it
        suspended = {slot_id for day in {s.visit_date for s in found}
                     for slot_id in registrations.suspended_slots(conn, doctor_code, day)}
    return [slot_view(s, suspended=s.slot_id in suspended) for s in found]


def doctor_view(doctor) -> dict:
    return {"doctor_code": doctor.doctor_code, "name": doctor.name, "title": doctor.title,
            "dept_code": doctor.dept_code, "intro": doctor.intro, "online_consult": doctor.online_consult,
            "consult_url": doctor.consult_url if doctor.online_consult else None}


def slot_view(slot, suspended: bool = False) -> dict:
    status = "suspended" if suspended else slot.status
    return {"slot_id": slot.slot_id, "doctor_code": slot.doctor_code, "dept_code": slot.dept_code,
            "visit_date": slot.visit_date.isoformat(), "start": slot.start, "end": slot.end,
            "fee_fen": slot.fee_fen, "status": status, "available": status == "free"}
