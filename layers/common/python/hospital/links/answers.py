"""What the links routes answer with (hospital.api_contract): the home grid, consents, online
consultation, cloud imaging, the insurance e-voucher and physical exams. Our times are ISO-8601
UTC; a linked system's own times keep the offset it gave."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from hospital.answer_base import Answer

Service = Literal["cloud_imaging", "physical_exam", "insurance_voucher"]  # consents.SERVICES


class GridEntry(Answer):
    entry: str
    state: Literal["ready", "needs_consent", "unavailable"]
    reason: Literal["no_card", "not_connected"] | None = Field(None, description="why an entry is unavailable")
    cards_consented: list[str] | None = Field(
        None, description="per-card entries (cloud imaging, physical exam): the cards whose consent holds")


class Grid(Answer):
    entries: list[GridEntry] = Field(description="in the order the grid shows them")


class Consent(Answer):
    consent_id: str
    service: Service
    card_id: str | None = Field(description="the hospital card whose person the consent covers (per-card services)")
    granted_at: str


class Consents(Answer):
    consents: list[Consent]


class Withdrawal(Answer):
    withdrawn: bool = Field(description="false when no consent held")


class Link(Answer):
    url: str
    expires_at: str


# ---- online consultation ----------------------------------------------------------------------

class ConsultationEntry(Answer):
    state: Literal["ready", "unavailable"]
    reason: Literal["not_connected"] | None = None
    url: str | None = Field(description="where the internet hospital opens")


class ConsultationLink(Link):
    doctor_code: str


# ---- cloud imaging ------------------------------------------------------------------------------

class Study(Answer):
    study_uid: str
    study_date: str | None
    modalities: list[str]
    description: str | None
    accession_number: str | None
    series: int | None
    instances: int | None


class Studies(Answer):
    card_id: str
    studies: list[Study]


class ImagingReport(Answer):
    status: str = Field(description="final or preliminary")
    findings: str
    impression: str
    radiologist: str
    reported_at: str


class StudyDetail(Study):
    report: ImagingReport | None = Field(description="null until there is one")


class ViewerLink(Link):
    study_uid: str


# ---- insurance e-voucher ------------------------------------------------------------------------

class InsuranceVoucherEntry(Answer):
    state: Literal["ready", "needs_consent"]
    authorised_at: str | None
    authorise_url: str = Field(description="where the patient authorises us at the insurance platform")


class Insurance(Answer):
    type: str
    person_type: str
    balance_fen: int
    region: str
    status: str


class InsuranceCard(Answer):
    name: str = Field(description="masked")
    id_number: str = Field(description="masked")
    ecard_no: str = Field(description="masked")
    ecard_status: str
    gender: str
    insurances: list[Insurance]


# ---- physical exam ------------------------------------------------------------------------------

class Appointment(Answer):
    appointment_id: str
    package_name: str
    exam_date: str
    status: str
    centre: str


class Appointments(Answer):
    card_id: str
    appointments: list[Appointment]


class ReportSummary(Answer):
    report_id: str
    appointment_id: str
    exam_date: str
    status: str = Field(description="pending or final")
    summary: str
    published_at: str | None


class Reports(Answer):
    card_id: str
    reports: list[ReportSummary]


class ReportItem(Answer):
    name: str
    value: str
    unit: str | None
    reference_range: str | None
    flag: str | None = Field(description="H above the range, L below it, null within")


class ReportSection(Answer):
    name: str
    items: list[ReportItem]


class Report(ReportSummary):
    conclusion: str
    advice: str
    sections: list[ReportSection]


class PdfLink(Link):
    report_id: str
