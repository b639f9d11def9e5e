"""The hospital's physical-exam system (体检系统): a member's appointments and reports, once the
patient has authorised us to read them. No product standard exists, so this module defines the
wire format the exam system's vendor implements (or a gateway in front of it adapts).

Requests: JSON over HTTPS to the exam system's base URL, with ``X-Exam-Timestamp: <unix seconds>``
and ``X-Exam-Signature: hex(HMAC-SHA256(key, ts + "." + body))`` (the body is empty on GET and
DELETE); the exam system refuses a signature more than 5 minutes off its clock. Dates are
``YYYY-MM-DD``; times ISO 8601 with their offset.

Who a patient is: we never send an ID number or a phone number in clear. Both sides hold the
same salt (a random secret exchanged out of band, never sent in a request) and compute
``identity_hash(value, kind, salt)``: lowercase hex HMAC-SHA256(key=salt, msg=kind + ":" +
value), value NFKC-normalised and trimmed, an ID number upper-cased (its check letter X), kind
``id_number`` or ``mobile``. The exam system keeps these keyed hashes of its members and looks
a member up by them; both must match.

- ``POST /exam/v1/authorisations {"id_number_hash", "mobile_hash", "consented_at", "consent_version"}``
  -> ``{"member_id", "status": "authorised"}``; 404 ``E_NO_MEMBER`` when no member has both
  hashes. Authorising again answers the same member_id (the consent's time and version are
  replaced).
- ``DELETE /exam/v1/authorisations/{member_id}`` -> ``{"member_id", "status": "withdrawn"}``;
  again: the same answer; 404 ``E_NO_MEMBER`` for a member id it does not know.
- ``GET /exam/v1/members/{member_id}/appointments`` -> ``[{"appointment_id", "package_name",
  "exam_date", "status": "booked" | "checked_in" | "completed" | "cancelled", "centre"}]``
- ``GET /exam/v1/members/{member_id}/reports`` -> ``[{"report_id", "appointment_id", "exam_date",
  "status": "pending" | "final", "summary", "published_at"}]`` (published_at null while pending)
- ``GET /exam/v1/reports/{report_id}`` -> ``{"report_id", "member_id", "appointment_id",
  "exam_date", "status", "summary", "published_at", "sections": [{"name", "items": [{"name",
  "value", "unit", "reference_range", "flag": null | "H" | "L"}]}], "conclusion", "advice"}``
  (value a string, "5.6" or "阴性"; unit and reference_range strings or null); 404 ``E_NO_REPORT``.
  Appointments, reports and a report are answered only for a member whose authorisation stands:
  403 ``E_NOT_AUTHORISED`` otherwise (never authorised, or withdrawn); 404 ``E_NO_MEMBER`` for
  an unknown member.
- ``GET /exam/v1/report-pdf?token=<link token>&report=<report_id>``: the report as a PDF, for
  the patient's browser, so not signed: the link token (format v1, platform name ``exam``, sub
  the member id, res the report id; see `pdf_url`) is the only credential. 200
  ``application/pdf``; 403 ``{"code": "E_LINK_REFUSED", "reason", "message"}`` with reason
  ``unknown_key``, ``tampered`` (not a v1 token, or any altered byte), ``wrong_audience``,
  ``not_yet_valid`` (issued more than 30 s ahead of the exam system's clock), ``expired``,
  ``wrong_report`` (res is not the report asked for) or ``not_this_members`` (the report is
  another member's), checked in that order; 404 ``E_NO_REPORT``; 409 ``E_REPORT_PENDING``.

Errors answer ``{"code", "message"}``: 401 ``E_AUTH`` (signature), 400 ``E_PARAM``, the above.

Errors raised here: ``ExamMemberNotFound`` (the exam centre knows no such person, or no such
member id), ``ExamReportNotFound``, ``ExamNotAuthorised``, ``ExamSignatureRejected`` (our key or
clock is wrong: not the patient's doing), ``ExamRefused`` (any other 4xx; the base of these),
``UpstreamUnavailable`` (down, timed out, 5xx) and ``ExamAnswerMalformed`` (an
UpstreamUnavailable: not JSON, or not the shape above; `field` names where, never a value).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import unicodedata
import urllib.parse
from dataclasses import dataclass
from typing import Any

from hospital import external_calls
from hospital.adapters import signing
from hospital.errors import UpstreamUnavailable
from hospital.timeutil import SHANGHAI

PLATFORM = "exam"   # the link token's audience
PREFIX = "X-Exam"
APPOINTMENT_STATUSES = ("booked", "checked_in", "completed", "cancelled")
REPORT_STATUSES = ("pending", "final")
FLAGS = (None, "H", "L")
IDENTITY_KINDS = ("id_number", "mobile")


class ExamRefused(UpstreamUnavailable):
    """A 4xx from the exam system: the request will not succeed as it is. Unmapped by the
    caller, the patient gets 503 (the exam system's refusal is not theirs to fix)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"the exam system refused ({status} {code})")
        # upstream_status, not status: AppError.status is what our caller is answered (503).
        self.upstream_status, self.exam_code, self.exam_message = status, code, message


class ExamMemberNotFound(ExamRefused):
    """The exam centre has no member with these hashes (or this member id)."""


class ExamReportNotFound(ExamRefused):
    pass


class ExamNotAuthorised(ExamRefused):
    """The member's authorisation is withdrawn or was never given."""


class ExamSignatureRejected(ExamRefused):
    """The exam system refused our signature: the shared key or our clock is wrong."""


class ExamAnswerMalformed(UpstreamUnavailable):
    """An answer that is not JSON, or not shaped as the wire format says."""

    code = "exam_answer_malformed"

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(f"{message} (field {field})" if field else message, field=field)


_REFUSALS: dict[tuple[int, str], type[ExamRefused]] = {
    (404, "E_NO_MEMBER"): ExamMemberNotFound, (404, "E_NO_REPORT"): ExamReportNotFound,
    (403, "E_NOT_AUTHORISED"): ExamNotAuthorised, (401, "E_AUTH"): ExamSignatureRejected}


@dataclass(frozen=True, slots=True)
class Authorisation:
    member_id: str
    status: str                # "authorised" or "withdrawn"


@dataclass(frozen=True, slots=True)
class Appointment:
    appointment_id: str
    package_name: str
    exam_date: dt.date
    status: str                # one of APPOINTMENT_STATUSES
    centre: str


@dataclass(frozen=True, slots=True)
class ReportSummary:
    report_id: str
    appointment_id: str
    exam_date: dt.date
    status: str                # "pending" or "final"
    summary: str
    published_at: dt.datetime | None   # Beijing time; None while pending


@dataclass(frozen=True, slots=True)
class ReportItem:
    name: str
    value: str
    unit: str | None
    reference_range: str | None
    flag: str | None           # None, "H" (above the range) or "L" (below)


@dataclass(frozen=True, slots=True)
class ReportSection:
    name: str
    items: tuple[ReportItem, ...]


@dataclass(frozen=True, slots=True)
class Report:
    report_id: str
    member_id: str
    appointment_id: str
    exam_date: dt.date
    status: str
    summary: str
    published_at: dt.datetime | None
    sections: tuple[ReportSection, ...]
    conclusion: str
    advice: str


def identity_hash(value: str, kind: str, salt: str) -> str:
    """The keyed hash the exam system looks a member up by (see the module's docstring)."""
    if kind not in IDENTITY_KINDS:
        raise ValueError(f"kind is one of {IDENTITY_KINDS}")
    normalised = unicodedata.normalize("NFKC", value).strip()
    if kind == "id_number":
        normalised = normalised.upper()
    return hmac.new(salt.encode("utf-8"), f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()


class ExamClient:
    def __init__(self, base_url: str, api_key: str, timeout: tuple[float, float] = (2, 5)):
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.timeout = timeout

    def __repr__(self) -> str:  # never show the key
        return f"ExamClient({self.base_url!r})"

    def authorise(self, id_number_hash: str, mobile_hash: str, consented_at: dt.datetime,
                  consent_version: str) -> Authorisation:
        """Link the patient to their exam-centre member; ExamMemberNotFound when the centre
        knows no such person. Safe to repeat."""
        if consented_at.tzinfo is None:
            raise ValueError("consented_at needs its offset")
        data = self._call("POST authorisations", "POST", "/exam/v1/authorisations", {
            "id_number_hash": id_number_hash, "mobile_hash": mobile_hash,
            "consented_at": consented_at.isoformat(timespec="seconds"), "consent_version": consent_version})
        return _authorisation(data, "authorised")

    def withdraw(self, member_id: str) -> Authorisation:
        """Withdraw the authorisation; safe to repeat."""
        data = self._call("DELETE authorisations", "DELETE", f"/exam/v1/authorisations/{_segment(member_id)}")
        return _authorisation(data, "withdrawn")

    def appointments(self, member_id: str) -> tuple[Appointment, ...]:
        data = self._call("GET appointments", "GET", f"/exam/v1/members/{_segment(member_id)}/appointments")
        return tuple(_appointment(_Reader(item, f"[{index}]")) for index, item in enumerate(_list(data)))

    def reports(self, member_id: str) -> tuple[ReportSummary, ...]:
        data = self._call("GET reports", "GET", f"/exam/v1/members/{_segment(member_id)}/reports")
        return tuple(_report_summary(_Reader(item, f"[{index}]")) for index, item in enumerate(_list(data)))

    def report(self, report_id: str) -> Report:
        """One report in full. The caller checks `member_id` is its patient's member."""
        return _report(_Reader(self._call("GET report", "GET", f"/exam/v1/reports/{_segment(report_id)}"), ""))

    def pdf_url(self, token: str, report_id: str) -> str:
        """Where the patient's browser fetches the report's PDF with a link token (made for
        platform PLATFORM, sub the member id, res `report_id`)."""
        return f"{self.base_url}/exam/v1/report-pdf?" + urllib.parse.urlencode({"token": token, "report": report_id})

    def _call(self, operation: str, method: str, path: str, payload: dict | None = None) -> Any:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() if payload is not None else None
        # Named operations: the record keeps no member or report id from the path.
        with external_calls.as_operation(operation), signing.stream(
                system="exam", name="the physical-exam system", operation=operation, method=method,
                url=self.base_url + path, body=body, key=self._key, prefix=PREFIX, timeout=self.timeout) as answer:
            try:
                data = answer.json()
            except ValueError:
                external_calls.failed("garbled")
                raise ExamAnswerMalformed("the physical-exam system answered something that is not JSON") from None
            if answer.status_code < 400:
                return data
            code = str(data.get("code") or "UNKNOWN") if isinstance(data, dict) else "UNKNOWN"
            message = str(data.get("message") or "") if isinstance(data, dict) else ""
            external_calls.refused(code)
            raise _REFUSALS.get((answer.status_code, code), ExamRefused)(answer.status_code, code, message)


def _segment(value: str) -> str:
    if not value:
        raise ValueError("an id is not empty")
    return urllib.parse.quote(value, safe="")


class _Reader:
    """An answer's object, read field by field; ExamAnswerMalformed names the field at fault."""

    def __init__(self, data: Any, where: str):
        if not isinstance(data, dict):
            raise ExamAnswerMalformed("an answer that is not an object", field=where or "body")
        self.data, self.where = data, where

    def field(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def text(self, key: str, *, empty: bool = False) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not (empty or value.strip()):
            raise ExamAnswerMalformed("a required text is missing", field=self.field(key))
        return value

    def optional_text(self, key: str) -> str | None:
        return None if self.data.get(key) is None else self.text(key, empty=True)

    def one_of(self, key: str, allowed: tuple) -> Any:
        value = self.data.get(key)
        if value not in allowed:
            raise ExamAnswerMalformed("a value the format does not know", field=self.field(key))
        return value

    def date(self, key: str) -> dt.date:
        try:
            return dt.date.fromisoformat(self.text(key))
        except ValueError:
            raise ExamAnswerMalformed("not a date YYYY-MM-DD", field=self.field(key)) from None

    def time(self, key: str) -> dt.datetime | None:
        if self.data.get(key) is None:
            return None
        try:
            at = dt.datetime.fromisoformat(self.text(key))
        except ValueError:
            at = None
        if at is None or at.tzinfo is None:  # a time without its offset would be guessed, not read
            raise ExamAnswerMalformed("not a time with its offset", field=self.field(key))
        return at.astimezone(SHANGHAI)

    def items(self, key: str) -> list:
        value = self.data.get(key)
        if not isinstance(value, list):
            raise ExamAnswerMalformed("not a list", field=self.field(key))
        return value


def _list(data: Any) -> list:
    if not isinstance(data, list):
        raise ExamAnswerMalformed("an answer that is not a list", field="body")
    return data


def _authorisation(data: Any, status: str) -> Authorisation:
    reader = _Reader(data, "")
    return Authorisation(reader.text("member_id"), reader.one_of("status", (status,)))


def _appointment(reader: _Reader) -> Appointment:
    return Appointment(reader.text("appointment_id"), reader.text("package_name"), reader.date("exam_date"),
                       reader.one_of("status", APPOINTMENT_STATUSES), reader.text("centre"))


def _report_summary(reader: _Reader) -> ReportSummary:
    status = reader.one_of("status", REPORT_STATUSES)
    published_at = reader.time("published_at")
    if status == "final" and published_at is None:
        raise ExamAnswerMalformed("a final report without its publication time", field=reader.field("published_at"))
    return ReportSummary(reader.text("report_id"), reader.text("appointment_id"), reader.date("exam_date"), status,
                         reader.text("summary", empty=True), published_at)


def _report(reader: _Reader) -> Report:
    head = _report_summary(reader)
    sections = []
    for index, raw in enumerate(reader.items("sections")):
        section = _Reader(raw, reader.field(f"sections[{index}]"))
        items = tuple(_item(_Reader(item, section.field(f"items[{number}]")))
                      for number, item in enumerate(section.items("items")))
        sections.append(ReportSection(section.text("name"), items))
    return Report(head.report_id, reader.text("member_id"), head.appointment_id, head.exam_date, head.status,
                  head.summary, head.published_at, tuple(sections), reader.text("conclusion", empty=True),
                  reader.text("advice", empty=True))


def _item(reader: _Reader) -> ReportItem:
    return ReportItem(reader.text("name"), reader.text("value", empty=True), reader.optional_text("unit"),
                      reader.optional_text("reference_range"), reader.one_of("flag", FLAGS))


def client() -> ExamClient:
    """The platform this deployment reaches (settings.EXAM_API_BASE, its key in settings.EXAM_SECRET_ARN)."""
    from hospital import config, settings

    return ExamClient(settings.EXAM_API_BASE.get(), config.secret_value(settings.EXAM_SECRET_ARN, "api_key"))
