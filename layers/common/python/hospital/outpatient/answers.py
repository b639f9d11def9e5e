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
    visit_no: str | None
    failure: str | None
    refunded_fen: int
    cancel_reason: str | None
    cancel_source: str | None
    created_at: str
