"""The HIS simulator's schedule: departments, doctors, their slots and the suspension feed
(DEPT_QUERY, DOCTOR_QUERY, SLOT_QUERY, SUSPENSION_QUERY). A mixin of HisSimulator: state is
behind its `_lock`, dates on its clock (`now()`)."""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from infra.simulators.his.common import Refusal, Unknown, a_date, local_day, need

MAX_SLOT_DAYS = 14   # a SLOT_QUERY covers at most this many days, both ends included
FEED_PAGE = 50       # suspensions per SUSPENSION_QUERY answer
MORNING = ("08:00", "08:30", "09:00", "09:30", "10:00", "10:30", "11:00", "11:30")
AFTERNOON = ("14:00", "14:30", "15:00", "15:30", "16:00", "16:30")
CONSULT_URL = "https://consult.hospital.example/doctors/{}"

# The seeded hospital: codes are fixed so the README and tests can name them.
DEPARTMENTS = (("D001", "内科", "Internal medicine: fever, cough, blood pressure, diabetes."),
               ("D002", "儿科", "Paediatrics: children up to 14."),
               ("D003", "骨科", "Orthopaedics: fractures, joints, spine."))
# (code, name, title, department, online consultation, fee)
DOCTORS = (("DOC001", "张伟", "主任医师", "D001", True, "50.00"),
           ("DOC002", "李娜", "主治医师", "D001", False, "25.00"),
           ("DOC003", "王芳", "副主任医师", "D002", True, "35.00"),
           ("DOC004", "刘洋", "主治医师", "D002", False, "25.00"),
           ("DOC005", "陈静", "主任医师", "D003", True, "50.00"),
           ("DOC006", "杨帆", "主治医师", "D003", False, "25.00"))


class ScheduleDesk:
    _lock: Any

    now: Callable[[], float]   # the simulator's movable clock

    def _init_schedule(self) -> None:
        self.departments: dict[str, dict] = {}
        self.doctors: dict[str, dict] = {}
        self.slots: dict[str, dict] = {}   # with hold_id, reg_no and suspended besides the wire fields
        self.suspensions: dict[str, dict] = {}
        self._feed: list[str] = []          # suspension ids in delivery order; a cursor is a position

    # -- test controls ---------------------------------------------------------------------------
    def seed_outpatient(self, days: int = 7, today: dt.date | str | None = None) -> dict:
        """DEPARTMENTS and DOCTORS with 30-minute slots 08:00-12:00 and 14:00-17:00 from `today`
        (the hospital's date on the simulator's clock) for `days` days. Seeding again adds what is
        missing and leaves what is there (held, booked, suspended) as it is."""
        with self._lock:
            first = a_date(today) if today is not None else local_day(self.now())
            for code, name, intro in DEPARTMENTS:
                self.departments.setdefault(code, {"dept_code": code, "name": name, "intro": intro})
            for code, name, title, dept_code, online, fee in DOCTORS:
                if code not in self.doctors:
                    self.add_doctor(code, name, dept_code, title, online, CONSULT_URL.format(code) if online else None,
                                    f"{title}, {self.departments[dept_code]['name']}")
                for offset in range(days):
                    self.add_slots(code, first + dt.timedelta(days=offset), MORNING + AFTERNOON, 30, fee)
            return {"departments": len(self.departments), "doctors": len(self.doctors), "slots": len(self.slots),
                    "from": first.isoformat(), "days": days}

    def add_department(self, dept_code: str, name: str, intro: str = "") -> dict:
        with self._lock:
            self.departments[dept_code] = {"dept_code": dept_code, "name": name, "intro": intro}
            return dict(self.departments[dept_code])

    def add_doctor(self, doctor_code: str, name: str, dept_code: str, title: str = "主治医师",
                   online_consult: bool = False, consult_url: str | None = None, intro: str = "") -> dict:
        with self._lock:
            if dept_code not in self.departments:
                raise Unknown(f"no department {dept_code}")
            self.doctors[doctor_code] = {"doctor_code": doctor_code, "name": name, "title": title,
                                         "dept_code": dept_code, "online_consult": bool(online_consult),
                                         "consult_url": consult_url if online_consult else None, "intro": intro}
            return dict(self.doctors[doctor_code])

    def add_slots(self, doctor_code: str, visit_date: dt.date | str, starts: tuple[str, ...] | list[str],
                  minutes: int = 30, fee: str = "25.00") -> list[dict]:
        """Slots of `minutes` from each start ("HH:MM"); ids are DOCTOR-YYYYMMDD-HHMM."""
        if not re.fullmatch(r"\d{1,6}\.\d{2}", fee):
            raise ValueError("fee is a yuan string such as 25.00")
        day = a_date(visit_date)
        with self._lock:
            doctor = self.doctors.get(doctor_code)
            if doctor is None:
                raise Unknown(f"no doctor {doctor_code}")
            made = []
            for start in starts:
                begins = dt.datetime.combine(day, dt.time.fromisoformat(start))
                slot_id = f"{doctor_code}-{day:%Y%m%d}-{begins:%H%M}"
                slot = self.slots.setdefault(slot_id, {
                    "slot_id": slot_id, "doctor_code": doctor_code, "dept_code": doctor["dept_code"],
                    "visit_date": day.isoformat(), "start": f"{begins:%H:%M}",
                    "end": f"{begins + dt.timedelta(minutes=minutes):%H:%M}", "fee": fee,
                    "hold_id": None, "reg_no": None, "suspended": False})
                made.append(slot_view(slot))
            return made

    def suspend(self, doctor_code: str, visit_date: dt.date | str, slot_ids: list[str] | tuple[str, ...] = (),
                reason: str = "停诊", suspension_id: str | None = None) -> dict:
        """The doctor's slots that day (all of them when none are named) take no more patients;
        an entry joins the feed. Booked registrations stay booked: telling those patients is the
        feed reader's job."""
        day = a_date(visit_date).isoformat()
        with self._lock:
            if doctor_code not in self.doctors:
                raise Unknown(f"no doctor {doctor_code}")
            named = list(slot_ids) or sorted(slot_id for slot_id, slot in self.slots.items()
                                             if slot["doctor_code"] == doctor_code and slot["visit_date"] == day)
            for slot_id in named:
                slot = self.slots.get(slot_id)
                if slot is None or slot["doctor_code"] != doctor_code or slot["visit_date"] != day:
                    raise ValueError(f"{slot_id} is not a slot of {doctor_code} on {day}")
            for slot_id in named:
                self.slots[slot_id]["suspended"] = True
            entry = {"suspension_id": suspension_id or f"SU{len(self.suspensions) + 1:06d}", "doctor_code": doctor_code,
                     "visit_date": day, "slot_ids": named, "reason": reason}
            if entry["suspension_id"] in self.suspensions:
                raise ValueError(f"suspension {entry['suspension_id']} exists (repeat it instead)")
            self.suspensions[entry["suspension_id"]] = entry
            self._feed.append(entry["suspension_id"])
            return dict(entry)

    def repeat_suspension(self, suspension_id: str) -> dict:
        """The same entry once more in the feed, as a feed that delivers at least once does."""
        with self._lock:
            if suspension_id not in self.suspensions:
                raise Unknown(f"no suspension {suspension_id}")
            self._feed.append(suspension_id)
            return dict(self.suspensions[suspension_id])

    def catalogue(self) -> dict:
        with self._lock:
            return {"departments": [dict(d) for d in self.departments.values()],
                    "doctors": [dict(d) for d in self.doctors.values()]}

    def slot_list(self, doctor_code: str | None = None, visit_date: str | None = None) -> list[dict]:
        with self._lock:
            return [slot_view(slot) for slot in sorted(self.slots.values(), key=_slot_order)
                    if (not doctor_code or slot["doctor_code"] == doctor_code)
                    and (not visit_date or slot["visit_date"] == visit_date)]

    # -- trades ------------------------------------------------------------------------------------
    def _dept_query(self, data: dict) -> dict:
        return {"departments": [dict(dept) for dept in self.departments.values()]}

    def _doctor_query(self, data: dict) -> dict:
        dept_code = need(data, "dept_code")
        if dept_code not in self.departments:
            raise Refusal("E_NO_DEPT", "no such department")
        return {"doctors": [dict(doctor) for doctor in self.doctors.values() if doctor["dept_code"] == dept_code]}

    def _slot_query(self, data: dict) -> dict:
        doctor_code = need(data, "doctor_code")
        try:
            first, last = dt.date.fromisoformat(need(data, "date_from")), dt.date.fromisoformat(need(data, "date_to"))
        except ValueError:
            raise Refusal("E_FORMAT", "dates are YYYY-MM-DD") from None
        if not 0 <= (last - first).days < MAX_SLOT_DAYS:
            raise Refusal("E_RANGE", f"date_from to date_to: at most {MAX_SLOT_DAYS} days, in order")
        if doctor_code not in self.doctors:
            raise Refusal("E_NO_DOCTOR", "no such doctor")
        return {"slots": [slot_view(slot) for slot in sorted(self.slots.values(), key=_slot_order)
                          if slot["doctor_code"] == doctor_code
                          and first.isoformat() <= slot["visit_date"] <= last.isoformat()]}

    def _suspension_query(self, data: dict) -> dict:
        since = data.get("since") or ""
        if not isinstance(since, str) or not (since == "" or (since.isdigit() and int(since) <= len(self._feed))):
            raise Refusal("E_FORMAT", "not a cursor of this feed")
        start = int(since or 0)
        page = self._feed[start:start + FEED_PAGE]
        return {"suspensions": [dict(self.suspensions[suspension_id]) for suspension_id in page],
                "cursor": str(start + len(page))}


def slot_status(slot: dict) -> str:
    if slot["suspended"]:
        return "suspended"
    return "booked" if slot["reg_no"] else "held" if slot["hold_id"] else "free"


def slot_view(slot: dict) -> dict:
    """A slot as SLOT_QUERY answers it."""
    fields = ("slot_id", "doctor_code", "dept_code", "visit_date", "start", "end", "fee")
    return {**{key: slot[key] for key in fields}, "status": slot_status(slot)}


def _slot_order(slot: dict) -> tuple[str, str, str]:
    return slot["visit_date"], slot["start"], slot["doctor_code"]

