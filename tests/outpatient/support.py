"""Helpers for the outpatient tests: valid identity card numbers, a patient with a card bound
through the API, a doctor of their own with slots in the HIS simulator, calls to the outpatient
API, and the hospital's clock."""
from __future__ import annotations

import datetime as dt
import random
import uuid

import sqlalchemy as sa

from hospital.db import engine, tables
from tests.conftest import api_event, call, make_patient

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
HIS_KEY = "his-direct-test-key"  # of the HIS simulators the adapter tests start for themselves
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number() -> str:
    """A fresh, valid resident identity card number (checked character included)."""
    born = dt.date(1950, 1, 1) + dt.timedelta(days=random.randrange(365 * 50))
    body = f"110105{born:%Y%m%d}{random.randrange(1000):03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def mobile() -> str:
    return f"13{random.randrange(10**9):09d}"


def api(functions, method, path, token=None, body=None, resource=None, params=None, query=None):
    event = api_event(method, path, body=body, token=token, resource=resource, path_parameters=params)
    if query:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return call(functions, "OutpatientApiFunction", event)


def archive(platform, name: str = "张三") -> dict:
    """A patient on file at the HIS: {"patient_id", "card_no", "name", "id_no", "phone"}."""
    return platform.his.add_archive(name, id_number(), mobile())


def bind(functions, token, record: dict, **changes):
    body = {"name": record["name"], "id_no": record["id_no"], "phone": record["phone"], "consent": True, **changes}
    return api(functions, "POST", "/outpatient/cards", token, body)


def patient_with_card(platform, functions):
    """(principal, token, card view, HIS archive) of a new patient whose card is bound."""
    principal, token = make_patient(platform)
    record = archive(platform)
    status, card = bind(functions, token, record)
    assert status == 201, card
    return principal, token, card, record


def hospital_today() -> dt.date:
    return dt.datetime.now(SHANGHAI).date()


def doctor_with_slots(platform, day: dt.date, starts=("09:00", "09:30", "10:00"), fee: str = "25.00") -> dict:
    """A department and doctor of the test's own with slots on `day`: {"dept_code", "doctor_code",
    "slots": [slot ids in order]}."""
    tag = uuid.uuid4().hex[:6].upper()
    dept_code, doctor_code = f"T{tag}", f"DR{tag}"
    platform.his.add_department(dept_code, f"测试科{tag}")
    platform.his.add_doctor(doctor_code, f"李医生{tag}", dept_code, online_consult=True,
                            consult_url=f"https://consult.example/{doctor_code}")
    made = platform.his.add_slots(doctor_code, day, list(starts), 30, fee)
    return {"dept_code": dept_code, "doctor_code": doctor_code, "slots": [slot["slot_id"] for slot in made],
            "day": day}


def book(functions, token, card_id: str, doctor: dict, slot_index: int = 0):
    return api(functions, "POST", "/outpatient/registrations", token,
               {"card_id": card_id, "doctor_code": doctor["doctor_code"], "visit_date": doctor["day"].isoformat(),
                "slot_id": doctor["slots"][slot_index]})


def registration(functions, token, registration_id: str):
    return api(functions, "GET", f"/outpatient/registrations/{registration_id}", token,
               resource="/outpatient/registrations/{registration_id}", params={"registration_id": registration_id})


def cancel(functions, token, registration_id: str, reason: str | None = None):
    return api(functions, "POST", f"/outpatient/registrations/{registration_id}/cancel", token,
               {"reason": reason} if reason else {}, resource="/outpatient/registrations/{registration_id}/cancel",
               params={"registration_id": registration_id})


def registration_row(registration_id: str):
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.registrations).where(tables.registrations.c.id == registration_id)).one()


def steps(registration_id: str) -> list[str]:
    with engine().connect() as conn:
        return list(conn.execute(sa.select(tables.registration_steps.c.step).where(
            tables.registration_steps.c.registration_id == registration_id)
            .order_by(tables.registration_steps.c.id)).scalars())


def card_row(card_id: str):
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.patient_cards).where(tables.patient_cards.c.id == card_id)).one()
