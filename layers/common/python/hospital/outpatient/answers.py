"""What the outpatient routes answer with (hospital.api_contract): the published shapes of
cards, the catalogue and registrations. Times are ISO-8601 UTC, money integer fen."""
from __future__ import annotations

from pydantic import Field

from hospital.answer_base import Answer


class Card(Answer):
    card_id: str
    card_no: str = Field(description="the hospital card number, all but its last four characters masked")
    name: str | None = Field(description="the holder's name, all but its first character masked")
    bound_at: str


class Department(Answer):
    dept_code: str
    name: str
    intro: str | None


class Doctor(Answer):
    doctor_code: str
    name: str
    title: str | None
    dept_code: str
    intro: str | None
    online_consult: bool
    consult_url: str | None = Field(description="the internet hospital's page, when the doctor consults online")


class Slot(Answer):
    slot_id: str
    doctor_code: str
    dept_code: str
    visit_date: str
    start: str
    end: str
    fee_fen: int
    status: str = Field(description="free, taken, closed or suspended (the HIS's word, or ours when suspended)")
    available: bool


class Registration(Answer):
    registration_id: str
    status: str = Field(description="holding, awaiting_payment, booked, failed, expired, cancelling, cancelled, ...")
    card_id: str
    dept_code: str
    dept_name: str | None
    doctor_code: str
    doctor_name: str | None
    visit_date: str
    start: str
    end: str
    fee_fen: int
    order_id: str | None
    pay_by: str | None = Field(description="when an unpaid registration lapses (awaiting_payment only)")
    reg_no: str | None
    visit_no: int | None = Field(description="the HIS's visit (queue) number")
    failure: str | None
    refunded_fen: int
    cancel_reason: str | None
    cancel_source: str | None
    created_at: str


class Suspension(Answer):
    suspension_id: str
    source: str = Field(description="back_office or his_feed")
    his_suspension_id: str | None
    doctor_code: str
    dept_code: str | None = Field(description="the department, when the suspended slots are of one")
    visit_date: str
    slot_ids: list[str]
    reason: str
    created_at: str


class SuspensionListed(Suspension):
    found: int | None = Field(description="the registrations found on the slots; null until looked for")


class PatientToCall(Answer):
    registration_id: str
    start: str = Field(description="the slot's start, HH:MM Beijing time")
    notice: str | None = Field(description="refused or failed: why the patient must be called")
    name: str | None
    phone: str | None


class SuspensionFailure(Answer):
    registration_id: str
    error: str | None


class SuspensionProgress(SuspensionListed):
    notified: int
    notice_failed: int
    cancelled: int
    refunded: int
    failed: int
    to_call: list[PatientToCall] = Field(description="patients whose notice did not reach them (shown is audited)")
    failures: list[SuspensionFailure]
