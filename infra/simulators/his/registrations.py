"""The HIS simulator's registrations: holds (a slot kept while its fee's bill is paid), the
registration that paying the bill completes, and cancelling one (SLOT_HOLD, SLOT_RELEASE,
REG_QUERY, REG_CANCEL_CHECK, REG_CANCEL; PAY_CONFIRM calls `_pay_hold`). A mixin of
HisSimulator: state is behind its `_lock`, times on its clock (`now()`); a hold past its time
expires when the simulator is next asked anything."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.simulators.his.common import Refusal, Unknown, iso_z, need, starts_at

HOLD_FIELDS = ("hold_id", "slot_id", "bill_no", "fee")
REG_FIELDS = ("reg_no", "patient_id", "slot_id", "doctor_code", "visit_date", "start", "end", "status")


class RegistrationDesk:
    _lock: Any
    slots: dict[str, dict]
    doctors: dict[str, dict]
    departments: dict[str, dict]
    archives: dict[str, dict]
    bills: dict[str, dict]

    now: Callable[[], float]   # the simulator's movable clock

    add_bill: Callable[..., dict]

    def _init_registrations(self, hold_minutes: float) -> None:
        self.hold_seconds = hold_minutes * 60
        self.holds: dict[str, dict] = {}
        self.registrations: dict[str, dict] = {}
        self.forgotten: dict[str, dict] = {}   # registrations the HIS no longer knows (forget_registration)
        self.cancellations: list[dict] = []     # each REG_CANCEL that cancelled something
        self._hold_by_ref: dict[str, str] = {}
        self._hold_by_bill: dict[str, str] = {}
        self._queue: dict[tuple[str, str], int] = {}  # (doctor, date) -> last visit number given
        self._serials: dict[str, int] = {}    # per id prefix: H000001, REG000001

    # -- test controls ---------------------------------------------------------------------------
    def mark_seen(self, reg_no: str) -> dict:
        """The doctor saw the patient: the registration can no longer be cancelled."""
        with self._lock:
            registration = self._registration(reg_no)
            if registration["status"] == "cancelled":
                raise ValueError("the registration was cancelled")
            registration["status"] = "seen"
            return dict(registration)

    def attach_charges(self, reg_no: str) -> dict:
        """Tests or drugs were ordered on the visit: it can no longer be cancelled."""
        with self._lock:
            registration = self._registration(reg_no)
            registration["charges"] = True
            return dict(registration)

    def forget_registration(self, reg_no: str) -> dict:
        """The inconsistent HIS: a registration it confirmed is unknown from now on (E_NO_REG)."""
        with self._lock:
            registration = self._registration(reg_no)
            self.forgotten[reg_no] = self.registrations.pop(reg_no)
            return dict(registration)

    def hold_list(self) -> list[dict]:
        with self._lock:
            self._expire_holds()
            return [{**hold, "expires_at": iso_z(hold["expires_at"])} for hold in self.holds.values()]

    def registration_list(self) -> list[dict]:
        with self._lock:
            return ([{**reg, "forgotten": False} for reg in self.registrations.values()]
                    + [{**reg, "forgotten": True} for reg in self.forgotten.values()])

    def _registration(self, reg_no: str) -> dict:
        registration = self.registrations.get(reg_no)
        if registration is None:
            raise Unknown(f"no registration {reg_no}")
        return registration

    # -- trades ------------------------------------------------------------------------------------
    def _slot_hold(self, data: dict) -> dict:
        slot_id, patient_id, hold_ref = need(data, "slot_id"), need(data, "patient_id"), need(data, "hold_ref")
        if hold_ref in self._hold_by_ref:
            hold = self.holds[self._hold_by_ref[hold_ref]]
            if (hold["slot_id"], hold["patient_id"]) != (slot_id, patient_id):
                raise Refusal("E_HOLD_REF", "this hold_ref was used for another slot or patient")
            return _hold_answer(hold)
        slot = self.slots.get(slot_id)
        if patient_id not in self.archives:
            raise Refusal("E_NO_ARCHIVE", "no such patient")
        if slot is None:
            raise Refusal("E_NO_SLOT", "no such slot")
        if slot["suspended"]:
            raise Refusal("E_SLOT_SUSPENDED", "the doctor's sitting is suspended")
        if starts_at(slot["visit_date"], slot["start"]) <= self.now():
            raise Refusal("E_SLOT_PAST", "the slot has begun or is over")
        if self._has_that_day(patient_id, slot):
            raise Refusal("E_DUPLICATE", "one registration per patient, doctor and day")
        if slot["hold_id"] or slot["reg_no"]:
            raise Refusal("E_SLOT_TAKEN", "the slot is held or booked")
        doctor = self.doctors[slot["doctor_code"]]
        title = (f"挂号费 {self.departments[doctor['dept_code']]['name']} {doctor['name']} "
                 f"{slot['visit_date']} {slot['start']}")
        bill = self.add_bill(patient_id, slot["fee"], "registration", title)
        hold = {"hold_id": self._next("H"), "hold_ref": hold_ref, "slot_id": slot_id, "patient_id": patient_id,
                "bill_no": bill["bill_no"], "fee": slot["fee"], "expires_at": self.now() + self.hold_seconds,
                "status": "held", "reg_no": None, "visit_no": None}
        self.holds[hold["hold_id"]] = hold
        self._hold_by_ref[hold_ref] = self._hold_by_bill[bill["bill_no"]] = hold["hold_id"]
        slot["hold_id"] = hold["hold_id"]
        return _hold_answer(hold)

    def _slot_release(self, data: dict) -> dict:
        hold = self.holds.get(need(data, "hold_id"))
        if hold is None:
            raise Refusal("E_NO_HOLD", "no such hold")
        if hold["status"] == "confirmed":
            raise Refusal("E_HOLD_CONFIRMED", "the hold became a registration")
        if hold["status"] == "held":
            self._end_hold(hold, "released")
        return {"hold_id": hold["hold_id"], "status": "released"}

    def _reg_query(self, data: dict) -> dict:
        registration = self._known(data)
        return {key: registration[key] for key in REG_FIELDS}

    def _reg_cancel_check(self, data: dict) -> dict:
        registration = self._known(data)
        reason = _blocker(registration)
        return {"reg_no": registration["reg_no"], "cancellable": reason is None, "reason": reason}

    def _reg_cancel(self, data: dict) -> dict:
        registration, cancel_ref = self._known(data), need(data, "cancel_ref")
        reason = _blocker(registration)
        if reason == "seen":
            raise Refusal("E_SEEN", "the patient has been seen")
        if reason == "charges":
            raise Refusal("E_CHARGES", "the visit has charges")
        if reason is None:
            registration["status"] = "cancelled"
            slot = self.slots[registration["slot_id"]]
            if slot["reg_no"] == registration["reg_no"]:
                slot["reg_no"] = None
            self.cancellations.append({"reg_no": registration["reg_no"], "cancel_ref": cancel_ref,
                                       "bill_no": registration["bill_no"], "at": iso_z(self.now()),
                                       "booked_at": self.now()})
        return {"reg_no": registration["reg_no"], "status": "cancelled"}

    def _known(self, data: dict) -> dict:
        registration = self.registrations.get(need(data, "reg_no"))
        if registration is None:
            raise Refusal("E_NO_REG", "no such registration")
        return registration

    # -- the fee's payment ---------------------------------------------------------------------------
    def _hold_of_bill(self, bill_no: str) -> dict | None:
        hold_id = self._hold_by_bill.get(bill_no)
        return self.holds[hold_id] if hold_id else None

    def _check_payable(self, hold: dict) -> None:
        """Before a hold's bill is paid: is the slot still the patient's? If not, the bill goes."""
        if hold["status"] == "held" and self.slots[hold["slot_id"]]["suspended"]:
            self._end_hold(hold, "released")
            raise Refusal("E_SLOT_SUSPENDED", "the doctor's sitting is suspended")
        if hold["status"] != "held":
            raise Refusal("E_HOLD_EXPIRED", "the hold expired or was released")

    def _pay_hold(self, hold: dict) -> None:
        """The fee is paid: the hold becomes a registration with the next queue number."""
        slot = self.slots[hold["slot_id"]]
        queue = (slot["doctor_code"], slot["visit_date"])
        self._queue[queue] = self._queue.get(queue, 0) + 1
        registration = {"reg_no": self._next("REG"), "patient_id": hold["patient_id"], "slot_id": slot["slot_id"],
                        "doctor_code": slot["doctor_code"], "visit_date": slot["visit_date"], "start": slot["start"],
                        "end": slot["end"], "status": "booked", "visit_no": self._queue[queue],
                        "bill_no": hold["bill_no"], "hold_id": hold["hold_id"], "charges": False}
        self.registrations[registration["reg_no"]] = registration
        hold.update(status="confirmed", reg_no=registration["reg_no"], visit_no=registration["visit_no"])
        slot.update(hold_id=None, reg_no=registration["reg_no"])

    def _expire_holds(self) -> None:
        now = self.now()
        for hold in self.holds.values():
            if hold["status"] == "held" and hold["expires_at"] <= now:
                self._end_hold(hold, "expired")

    def _end_hold(self, hold: dict, status: str) -> None:
        """The slot is no longer kept for the patient, and the unpaid fee's bill is withdrawn."""
        hold["status"] = status
        slot = self.slots[hold["slot_id"]]
        if slot["hold_id"] == hold["hold_id"]:
            slot["hold_id"] = None
        bill = self.bills[hold["bill_no"]]
        if bill["status"] == "unpaid":
            bill["status"] = "cancelled"

    def _has_that_day(self, patient_id: str, slot: dict) -> bool:
        """A live hold or a registration (not cancelled) of the patient with this doctor that day."""
        def same_day(other_slot_id: str) -> bool:
            other = self.slots[other_slot_id]
            return (other["doctor_code"], other["visit_date"]) == (slot["doctor_code"], slot["visit_date"])

        return any(hold["patient_id"] == patient_id and hold["status"] == "held" and same_day(hold["slot_id"])
                   for hold in self.holds.values()) or any(
            reg["patient_id"] == patient_id and reg["status"] != "cancelled" and same_day(reg["slot_id"])
            for reg in self.registrations.values())

    def _next(self, prefix: str) -> str:
        self._serials[prefix] = self._serials.get(prefix, 0) + 1
        return f"{prefix}{self._serials[prefix]:06d}"


def _hold_answer(hold: dict) -> dict:
    return {**{key: hold[key] for key in HOLD_FIELDS}, "expires_at": iso_z(hold["expires_at"])}


def _blocker(registration: dict) -> str | None:
    """Why the registration cannot be cancelled, or None."""
    if registration["status"] in ("cancelled", "seen"):
        return registration["status"]
    return "charges" if registration["charges"] else None
