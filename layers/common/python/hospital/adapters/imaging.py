"""The cloud imaging platform (the regional PACS in the cloud that holds the hospital's CT, MR,
X-ray and ultrasound studies): studies are found through DICOMweb QIDO-RS (DICOM PS3.18,
"Search Transaction"), their reports through the platform's own report API, and a patient
looks at a study in the platform's web viewer, reached with a link token (the v1 link token
format; the token is the only thing in the link that points at the patient).

Authentication: every API request carries ``Authorization: Bearer <api key>`` (the key the
platform provisioned for this backend; over HTTPS only). No redirects are followed: they
would carry the key to wherever they point. A 401 (or 403) answer means the key is wrong or
revoked.

Search (QIDO-RS, study level)::

    GET {base}/dicom-web/studies?PatientID=<id>&StudyDate=YYYYMMDD-YYYYMMDD&ModalitiesInStudy=CT,MR
        &StudyDescription=<text, * and ? wildcards>&AccessionNumber=<exact>&limit=<n>&offset=<n>
        &includefield=00081030
    Accept: application/dicom+json

- PatientID: always sent, matched exactly (no wildcard: one patient's studies, never a pattern).
- StudyDate: ``A-B`` (inclusive), ``A-`` (from A on), ``-B`` (up to B) or a single date.
- ModalitiesInStudy: a comma-separated list; a study matches when any of its modalities is listed.
- StudyDescription: ``*`` any run of characters, ``?`` one character, case-insensitive.
- AccessionNumber: exact. limit/offset: a page of the matches (offset counts from 0).
- includefield=00081030: StudyDescription is not among QIDO's default study attributes.

Answers: ``200`` with a JSON array of datasets in the DICOM JSON model (PS3.18 Annex F): each an
object keyed by 8-hex-digit tags, each element ``{"vr": "<VR>", "Value": [...]}`` (``Value``
absent when the attribute is empty). Read here: StudyInstanceUID 0020000D (UI), StudyDate
00080020 (DA, YYYYMMDD), StudyTime 00080030 (TM, HHMMSS.FFFFFF with trailing parts optional),
ModalitiesInStudy 00080061 (CS, multi-valued), StudyDescription 00081030 (LO),
AccessionNumber 00080050 (SH), PatientID 00100020 (LO), NumberOfStudyRelatedSeries 00201206
and NumberOfStudyRelatedInstances 00201208 (IS: a JSON number or a string of digits). Other
attributes (the patient's name among them) are ignored and never kept. ``204 No Content``:
nothing matched (an empty list). ``400``: a query the platform refuses.

Reports (the platform's API, not DICOMweb)::

    GET {base}/reports/{StudyInstanceUID}
    Accept: application/json

``200 {"study_uid", "accession_number" (or null), "status": "final" | "preliminary", "findings",
"impression", "radiologist", "reported_at" (ISO 8601 with its offset)}``; ``404``: no report for
that study yet (or no such study).

The viewer (for the patient's browser, not called from here)::

    GET {base}/viewer?token=<link token>&study=<StudyInstanceUID>

The platform opens the token with the link key it shares with us (by its kid), checks that it
is for "imaging", in time and for that study, and shows the study when it belongs to the
token's subject (the patient's PatientID at the platform); else 403.

Errors: ``hospital.errors.ValidationFailed`` (field named) for input refused before anything
is sent; ``UpstreamUnavailable`` for no answer, a timeout, a 5xx or an answer that is not JSON;
``ImagingAuthRefused`` (401/403: our key), ``ImagingRefused`` (another 4xx) and
``ImagingAnswerUnreadable`` (JSON that is not the DICOM JSON model or the report's shape;
``field`` says where, e.g. ``[2].0020000D``, never a value) are UpstreamUnavailable too, so a
patient sees "try again later" while the log and the call record tell them apart. A study in
the answer that belongs to another PatientID than the one asked for fails the whole answer:
it is never shown. Logs and call records never carry a query string, a body or the key.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from hospital import external_calls
from hospital.errors import UpstreamUnavailable, ValidationFailed
from hospital.text import hidden_character

log = logging.getLogger("hospital.external")

SYSTEM = "imaging"
STUDIES_PATH = "/dicom-web/studies"
REPORTS_PATH = "/reports"
VIEWER_PATH = "/viewer"
DICOM_JSON = "application/dicom+json"

STUDY_INSTANCE_UID = "0020000D"
STUDY_DATE = "00080020"
STUDY_TIME = "00080030"
MODALITIES_IN_STUDY = "00080061"
STUDY_DESCRIPTION = "00081030"
ACCESSION_NUMBER = "00080050"
PATIENT_ID = "00100020"
SERIES_COUNT = "00201206"
INSTANCE_COUNT = "00201208"

REPORT_STATUSES = ("final", "preliminary")
MAX_LIMIT = 1000
# Study dates a search may name: old studies stay on the platform for decades.
EARLIEST_DATE, LATEST_DATE = dt.date(1900, 1, 1), dt.date(2099, 12, 31)
# DICOM value lengths: LO 64 characters, SH 16, UI 64.
_LO, _SH, _UI = 64, 16, 64
_MODALITY = re.compile(r"[A-Z]{2,4}")
_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
_TAG = re.compile(r"[0-9A-F]{8}")
_TM = re.compile(r"([0-9]{2})(?:([0-9]{2})(?:([0-9]{2})(?:\.([0-9]{1,6}))?)?)?")
# Characters with a meaning in a DICOM match: backslash separates values, * and ? are wildcards.
_SPECIAL = frozenset("\\*?")


class ImagingRefused(UpstreamUnavailable):
    """The platform refused a request (a 4xx other than 404 where 404 means "none"): a query it
    does not take. Not worth retrying as it is; `upstream_status` is the platform's HTTP status
    (the caller's answer stays UpstreamUnavailable's 503: the refusal is not the patient's to fix)."""

    code = "imaging_refused"

    def __init__(self, message: str, *, status: int):
        super().__init__(message)
        self.upstream_status = status


class ImagingAuthRefused(ImagingRefused):
    """401 or 403: the platform does not take our API key (wrong, revoked or expired)."""

    code = "imaging_auth_refused"


class ImagingAnswerUnreadable(UpstreamUnavailable):
    """An answer in JSON that is not what the format says: `field` names where (a dataset's
    index and tag, or a report's key), never the value."""

    code = "imaging_answer_unreadable"

    def __init__(self, message: str, *, field: str):
        super().__init__(f"{message} (field {field})", field=field)


@dataclass(frozen=True, slots=True)
class Study:
    """One study as QIDO-RS describes it."""

    study_uid: str
    patient_id: str
    study_date: dt.date | None
    study_time: dt.time | None
    modalities: tuple[str, ...]
    description: str | None
    accession_number: str | None
    series_count: int | None
    instance_count: int | None


@dataclass(frozen=True, slots=True)
class Report:
    """The radiologist's report of a study."""

    study_uid: str
    accession_number: str | None
    status: str              # "final" or "preliminary"
    findings: str
    impression: str
    radiologist: str
    reported_at: dt.datetime  # aware, with the offset the platform gave


class ImagingClient:
    def __init__(self, base_url: str, api_key: str, timeout: tuple[float, float] = (2, 5)):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout  # (connect, read) seconds

    def __repr__(self) -> str:  # never show the key
        return f"ImagingClient({self.base_url!r})"

    def search_studies(self, patient_id: str, *, date_from: dt.date | str | None = None,
                       date_to: dt.date | str | None = None, modalities: Iterable[str] = (),
                       description: str | None = None, accession_number: str | None = None,
                       study_uid: str | None = None, limit: int = 100, offset: int = 0) -> list[Study]:
        """One page of the studies of `patient_id` (the patient's PatientID at the platform)
        that match every filter given: from `date_from` to `date_to` (inclusive; either may be
        left open; a date or "YYYY-MM-DD"), of any of `modalities`, whose description matches
        `description` (* and ? wildcards, case-insensitive), with that accession number.
        `limit` and `offset` choose the page; the next page is at offset + limit. An empty list
        when nothing matches."""
        query = study_query(patient_id, date_from=date_from, date_to=date_to, modalities=modalities,
                            description=description, accession_number=accession_number, study_uid=study_uid,
                            limit=limit, offset=offset)
        status, data = self._get("search_studies", STUDIES_PATH + "?" + urllib.parse.urlencode(query), DICOM_JSON)
        if status == 204:
            return []
        if status != 200:
            raise self._refused(status, "search_studies")
        with _unreadable_recorded():
            return studies_of(data, expected_patient_id=patient_id)

    def report(self, study_uid: str) -> Report | None:
        """The report of the study, or None while there is none."""
        _check_uid(study_uid, "study_uid")
        status, data = self._get("report", f"{REPORTS_PATH}/{study_uid}", "application/json")
        if status == 404:
            return None
        if status != 200:
            raise self._refused(status, "report")
        with _unreadable_recorded():
            return report_of(data, expected_study_uid=study_uid)

    def viewer_url(self, study_uid: str, token: str) -> str:
        """The viewer's link for the patient's browser: the study and the link token, nothing
        else (no PatientID, no name)."""
        _check_uid(study_uid, "study_uid")
        return f"{self.base_url}{VIEWER_PATH}?" + urllib.parse.urlencode({"token": token, "study": study_uid})

    # -- transport -----------------------------------------------------------
    def _refused(self, status: int, operation: str) -> ImagingRefused:
        if status in (401, 403):
            external_calls.refused("E_AUTH")
            return ImagingAuthRefused(f"the imaging platform refused our API key ({status})", status=status)
        external_calls.refused(f"HTTP{status}")
        return ImagingRefused(f"the imaging platform refused {operation} ({status})", status=status)

    def _get(self, operation: str, path_and_query: str, accept: str) -> tuple[int, Any]:
        """(status, parsed JSON or None for an empty body) of a GET below 500. GETs are retried
        by the session on a 5xx or a dropped connection, never after a timeout."""
        import requests

        from hospital.adapters import http_sessions

        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": accept}
        started, outcome, status = time.monotonic(), "ok", None
        try:
            try:
                answer = http_sessions.session(SYSTEM).request("GET", self.base_url + path_and_query, headers=headers,
                                                               timeout=self.timeout, allow_redirects=False)
            except requests.RequestException as exc:
                outcome = type(exc).__name__
                # "from None": the requests exception drags along the URL with its query.
                raise UpstreamUnavailable("the imaging platform did not answer") from None
            status = answer.status_code
            if status >= 500:
                outcome = f"HTTP {status}"
                raise UpstreamUnavailable(f"the imaging platform answered {status}")
            if status == 204 or not answer.content:
                return status, None
            try:
                return status, json.loads(answer.content)
            except ValueError:
                if status >= 400:  # an error page instead of JSON: the status says enough
                    return status, None
                outcome = "garbled"
                external_calls.failed("garbled")
                raise UpstreamUnavailable("the imaging platform answered something that is not JSON") from None
        finally:
            log.info("imaging %s", operation, extra={"external": {
                "system": SYSTEM, "operation": operation, "status": status, "outcome": outcome,
                "duration_ms": round((time.monotonic() - started) * 1000, 1)}})


@contextlib.contextmanager
def _unreadable_recorded() -> Iterator[None]:
    """The call's record says its answer was of no use when it could not be read."""
    try:
        yield
    except ImagingAnswerUnreadable:
        external_calls.failed("unreadable")
        raise


# -- the query -------------------------------------------------------------------------------

def study_query(patient_id: str, *, date_from: dt.date | str | None = None, date_to: dt.date | str | None = None,
                modalities: Iterable[str] = (), description: str | None = None,
                accession_number: str | None = None, study_uid: str | None = None, limit: int = 100,
                offset: int = 0) -> list[tuple[str, str]]:
    """The QIDO-RS query parameters, in order, each input checked (ValidationFailed names it)."""
    _check_text(patient_id, "patient_id", _LO, wildcards=False)
    query = [("PatientID", patient_id)]
    start, end = _date(date_from, "date_from"), _date(date_to, "date_to")
    if start and end and start > end:
        raise ValidationFailed("date_from is after date_to", field="date_from")
    if start or end:
        query.append(("StudyDate", f"{_da(start)}-{_da(end)}" if start != end else _da(start)))
    if isinstance(modalities, str):  # "CT" would be read as C and T
        modalities = (modalities,)
    wanted: list[str] = []
    for modality in modalities:
        if not isinstance(modality, str) or not _MODALITY.fullmatch(modality):
            raise ValidationFailed("a modality is a code of 2 to 4 capital letters (CT, MR, DX, US)",
                                   field="modalities")
        if modality not in wanted:
            wanted.append(modality)
    if len(wanted) > 16:
        raise ValidationFailed("at most 16 modalities", field="modalities")
    if wanted:
        query.append(("ModalitiesInStudy", ",".join(wanted)))
    if description is not None:
        _check_text(description, "description", _LO, wildcards=True)
        query.append(("StudyDescription", description))
    if accession_number is not None:
        _check_text(accession_number, "accession_number", _SH, wildcards=False)
        query.append(("AccessionNumber", accession_number))
    if study_uid is not None:
        _check_uid(study_uid, "study_uid")
        query.append(("StudyInstanceUID", study_uid))
    for name, value, low, high in (("limit", limit, 1, MAX_LIMIT), ("offset", offset, 0, 10**9)):
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValidationFailed(f"{name} is a whole number from {low} to {high}", field=name)
    query += [("limit", str(limit)), ("offset", str(offset)), ("includefield", STUDY_DESCRIPTION)]
    return query


def _check_text(value: Any, field: str, length: int, *, wildcards: bool) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(f"{field} is a non-empty text", field=field)
    if len(value) > length:
        raise ValidationFailed(f"{field} is at most {length} characters", field=field)
    if hidden_character(value, multiline=False) is not None:
        raise ValidationFailed(f"{field} holds a control character", field=field)
    special = set(value) & _SPECIAL
    if special - ({"*", "?"} if wildcards else set()):
        raise ValidationFailed(f"{field} may not hold {''.join(sorted(special))}", field=field)


def _check_uid(value: Any, field: str) -> None:
    if not isinstance(value, str) or len(value) > _UI or not _UID.fullmatch(value):
        raise ValidationFailed(f"{field} is a DICOM UID (digits and dots, at most 64)", field=field)


def _date(value: dt.date | str | None, field: str) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value) if len(value) == 10 else None
        except ValueError:
            value = None
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise ValidationFailed(f"{field} is a date, YYYY-MM-DD", field=field)
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValidationFailed(f"{field} is from {EARLIEST_DATE} to {LATEST_DATE}", field=field)
    return value


def _da(value: dt.date | None) -> str:
    return value.strftime("%Y%m%d") if value else ""


# -- reading the answers -----------------------------------------------------------------------

def studies_of(data: Any, *, expected_patient_id: str | None = None) -> list[Study]:
    """The studies of a QIDO-RS answer in the DICOM JSON model, each checked
    (ImagingAnswerUnreadable names the dataset and tag at fault)."""
    if not isinstance(data, list):
        raise ImagingAnswerUnreadable("a QIDO-RS answer is a JSON array of datasets", field="$")
    studies = []
    for index, dataset in enumerate(data):
        study = _study(_Dataset(dataset, f"[{index}]"))
        if expected_patient_id is not None and study.patient_id != expected_patient_id:
            raise ImagingAnswerUnreadable("a study of another patient than the one asked for",
                                          field=f"[{index}].{PATIENT_ID}")
        studies.append(study)
    return studies


def _study(ds: _Dataset) -> Study:
    uid = ds.required_text(STUDY_INSTANCE_UID)
    if len(uid) > _UI or not _UID.fullmatch(uid):
        raise ImagingAnswerUnreadable("not a DICOM UID", field=ds.where(STUDY_INSTANCE_UID))
    patient_id = ds.required_text(PATIENT_ID)
    modalities = tuple(ds.texts(MODALITIES_IN_STUDY))
    if not all(_MODALITY.fullmatch(modality) for modality in modalities):
        raise ImagingAnswerUnreadable("not a modality code", field=ds.where(MODALITIES_IN_STUDY))
    return Study(study_uid=uid, patient_id=patient_id, study_date=ds.date(STUDY_DATE), study_time=ds.time(STUDY_TIME),
                 modalities=modalities, description=ds.text(STUDY_DESCRIPTION),
                 accession_number=ds.text(ACCESSION_NUMBER), series_count=ds.count(SERIES_COUNT),
                 instance_count=ds.count(INSTANCE_COUNT))


class _Dataset:
    """One dataset of the DICOM JSON model, read element by element."""

    def __init__(self, data: Any, where: str):
        if not isinstance(data, dict):
            raise ImagingAnswerUnreadable("a dataset is a JSON object", field=where)
        for tag in data:
            if not isinstance(tag, str) or not _TAG.fullmatch(tag.upper()):
                raise ImagingAnswerUnreadable("a key that is not a tag of 8 hex digits", field=where)
        self._data = {tag.upper(): element for tag, element in data.items()}
        self._where = where

    def where(self, tag: str) -> str:
        return f"{self._where}.{tag}"

    def values(self, tag: str) -> list:
        element = self._data.get(tag)
        if element is None:
            return []
        if not isinstance(element, dict) or not isinstance(element.get("vr"), str):
            raise ImagingAnswerUnreadable("an element is an object with its vr", field=self.where(tag))
        value = element.get("Value", [])
        if not isinstance(value, list):
            raise ImagingAnswerUnreadable("an element's Value is an array", field=self.where(tag))
        return [item for item in value if item is not None]  # null: an empty value among several

    def texts(self, tag: str) -> list[str]:
        values = self.values(tag)
        if not all(isinstance(item, str) for item in values):
            raise ImagingAnswerUnreadable("a text element holds something else", field=self.where(tag))
        return [item.strip() for item in values if item.strip()]

    def text(self, tag: str) -> str | None:
        values = self.texts(tag)
        if len(values) > 1:
            raise ImagingAnswerUnreadable("one value expected", field=self.where(tag))
        return values[0] if values else None

    def required_text(self, tag: str) -> str:
        value = self.text(tag)
        if value is None:
            raise ImagingAnswerUnreadable("a required element is missing or empty", field=self.where(tag))
        return value

    def date(self, tag: str) -> dt.date | None:
        value = self.text(tag)
        if value is None:
            return None
        try:
            if len(value) != 8 or not value.isascii() or not value.isdigit():
                raise ValueError(value)
            return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
        except ValueError:
            raise ImagingAnswerUnreadable("not a DICOM date (YYYYMMDD)", field=self.where(tag)) from None

    def time(self, tag: str) -> dt.time | None:
        value = self.text(tag)
        if value is None:
            return None
        match = _TM.fullmatch(value)
        try:
            if match is None:
                raise ValueError(value)
            hour, minute, second, fraction = match.groups()
            return dt.time(int(hour), int(minute or 0), min(int(second or 0), 59),  # 60: a leap second
                           int((fraction or "0").ljust(6, "0")))
        except ValueError:
            raise ImagingAnswerUnreadable("not a DICOM time (HHMMSS.FFFFFF)", field=self.where(tag)) from None

    def count(self, tag: str) -> int | None:
        values = self.values(tag)
        if not values:
            return None
        value = values[0]
        if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
            value = int(value.strip())
        if len(values) > 1 or not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ImagingAnswerUnreadable("not a count", field=self.where(tag))
        return value


def report_of(data: Any, *, expected_study_uid: str | None = None) -> Report:
    """The report answer, checked key by key (ImagingAnswerUnreadable names the key)."""
    if not isinstance(data, dict):
        raise ImagingAnswerUnreadable("a report is a JSON object", field="$")

    def text(key: str, *, empty: bool = True) -> str:
        value = data.get(key)
        if not isinstance(value, str) or (not empty and not value.strip()):
            raise ImagingAnswerUnreadable("a required text is missing", field=key)
        return value

    study_uid = text("study_uid", empty=False)
    if expected_study_uid is not None and study_uid != expected_study_uid:
        raise ImagingAnswerUnreadable("the report of another study than the one asked for", field="study_uid")
    accession = data.get("accession_number")
    if accession is not None and not isinstance(accession, str):
        raise ImagingAnswerUnreadable("not a text or null", field="accession_number")
    status = data.get("status")
    if status not in REPORT_STATUSES:
        raise ImagingAnswerUnreadable("a status that is neither final nor preliminary", field="status")
    try:
        reported_at = dt.datetime.fromisoformat(text("reported_at", empty=False))
    except ValueError:
        reported_at = None
    if reported_at is None or reported_at.tzinfo is None:  # a time without its offset would be guessed
        raise ImagingAnswerUnreadable("not a time with its offset", field="reported_at")
    return Report(study_uid=study_uid, accession_number=accession or None, status=status, findings=text("findings"),
                  impression=text("impression"), radiologist=text("radiologist", empty=False), reported_at=reported_at)


def client() -> ImagingClient:
    """The platform this deployment reaches (settings.IMAGING_API_BASE, its key in settings.IMAGING_SECRET_ARN)."""
    from hospital import config, settings

    return ImagingClient(settings.IMAGING_API_BASE.get(), config.secret_value(settings.IMAGING_SECRET_ARN, "api_key"))
