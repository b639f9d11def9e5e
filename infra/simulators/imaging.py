"""Cloud imaging platform simulator (wire format in hospital.adapters.imaging): studies per
PatientID answered through DICOMweb QIDO-RS in the DICOM JSON model, the platform's report API,
and its web viewer, which opens our link tokens (v1) with the keys it shares with us. The
viewer's side of the token format is written here again from the format alone, not from our
issuing code: the two meet only in the tests.

    GET /dicom-web/studies?PatientID=&StudyDate=&ModalitiesInStudy=&StudyDescription=&AccessionNumber=
        &limit=&offset=&includefield=          Authorization: Bearer <api key>
    GET /reports/{study_uid}                   Authorization: Bearer <api key>
    GET /viewer?token=&study=                  the patient's browser: 200 {"study_uid", "patient_id"}
                                               or 403 {"error": "expired" | "tampered" | "unknown_key"
                                               | "wrong_audience" | "wrong_study" | "not_this_patients"}
Controls:
    POST /_sim/studies {"patient_id", "study_date": "YYYY-MM-DD", "modalities": [...], "description",
        "accession_number", "study_uid", "series", "instances", "patient_name"}   a study (all but patient_id optional)
    POST /_sim/seed {"patient_id", "n"}        n studies of that patient, most with a report
    POST /_sim/reports {"study_uid", "status", "findings", "impression", "radiologist", "reported_at"}
    POST /_sim/link-keys {"kid", "key_hex"}    a link key the viewer accepts (rotation: several)
    POST /_sim/answer-next {"path", "status", "body", "count"}   the next calls of an API path get
        this answer instead (a malformed dataset, a 400 ...): path as registered, e.g. /dicom-web/studies
    GET  /_sim/studies, /_sim/viewer-requests
Faults through /_sim/faults (paths as registered: /dicom-web/studies, /reports/{study_uid}, /viewer).

Decisions where the standard leaves room: PatientID is required (the platform lists one
patient's studies, never everyone's); an unknown query parameter is refused with 400 (so a
client's typo is not a silent "no filter"); StudyDescription is in the answer only when
includefield names it (00081030, StudyDescription or all), as QIDO's default study attributes
leave it out; matches come newest first. A token whose associated data names another platform
fails to decrypt, so it is "tampered"; "wrong_audience" is a token that authenticates but whose
aud names another platform. A token not valid yet (iat more than 30 s ahead) is "expired"
with the expired ones: outside its time. A study that does not exist is "not_this_patients".
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import itertools
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from infra.simulators._http import Request, SimulatorServer

PLATFORM = "imaging"
DICOM_JSON = {"Content-Type": "application/dicom+json"}
UID_ROOT = "1.2.826.0.1.3680043.10.999"   # the simulator's own UIDs
CLOCK_SKEW_SECONDS = 30
QUERY_KEYS = {"PatientID": "00100020", "StudyDate": "00080020", "ModalitiesInStudy": "00080061",
              "StudyDescription": "00081030", "AccessionNumber": "00080050", "StudyInstanceUID": "0020000D"}
CONTROL_KEYS = ("limit", "offset", "includefield", "fuzzymatching")
_DA = re.compile(r"[0-9]{8}")
_KID = re.compile(r"[A-Za-z0-9_-]{1,16}")
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
SEED_KINDS = (  # (modalities, description, series, instances)
    (("CT",), "CT Chest without contrast", 3, 412),
    (("MR",), "MRI Brain with and without contrast", 6, 980),
    (("DX",), "XR Chest PA and lateral", 1, 2),
    (("US",), "US Abdomen complete", 1, 48),
    (("CT", "PT"), "PET-CT Whole body", 5, 1220),
    (("MG",), "Mammography screening bilateral", 2, 4),
)


class ImagingSimulator(SimulatorServer):
    def __init__(self, api_key: str, link_keys: dict[str, bytes] | None = None, host: str = "127.0.0.1",
                 port: int = 0, *, fault_timeout_seconds: float = 10.0, platform: str = PLATFORM):
        super().__init__(host, port, fault_timeout_seconds=fault_timeout_seconds)
        self.api_key = api_key
        self.platform = platform
        self.link_keys: dict[str, bytes] = {}
        for kid, key in (link_keys or {}).items():
            self.add_link_key(kid, key)
        self.studies: dict[str, dict] = {}     # study_uid -> study
        self.reports: dict[str, dict] = {}     # study_uid -> the report answer
        self.viewer_requests: list[dict] = []  # every viewer request as it came: {"target", "query", "referer", ...}
        self.api_requests: list[dict] = []     # every API request: {"path", "target", "authorization"}
        self._canned: list[dict] = []
        self._serial = itertools.count(1)
        for method, path, handler in (
            ("GET", "/dicom-web/studies", self._search),
            ("GET", "/reports/{study_uid}", self._report),
            ("GET", "/viewer", self._viewer),
            ("POST", "/_sim/studies", self._ctl_add_study),
            ("GET", "/_sim/studies", lambda req: (200, list(self.studies.values()))),
            ("POST", "/_sim/seed", self._ctl_seed),
            ("POST", "/_sim/reports", self._ctl_add_report),
            ("POST", "/_sim/link-keys", self._ctl_link_key),
            ("POST", "/_sim/answer-next", self._ctl_answer_next),
            ("GET", "/_sim/viewer-requests", lambda req: (200, list(self.viewer_requests))),
        ):
            self.route(method, path, handler)

    # ---- test controls ----------------------------------------------------------------------
    def add_link_key(self, kid: str, key: bytes) -> None:
        if not _KID.fullmatch(kid) or len(key) != 32:
            raise ValueError("a link key is 32 bytes under a kid of 1-16 characters [A-Za-z0-9_-]")
        with self._lock:
            self.link_keys[kid] = bytes(key)

    def add_study(self, patient_id: str, *, study_date: dt.date | str | None = None, study_time: str = "093000",
                  modalities: tuple[str, ...] | list[str] = ("CT",), description: str | None = "CT Chest",
                  accession_number: str | None = None, study_uid: str | None = None, series: int = 1,
                  instances: int = 100, patient_name: str | None = "Test^Patient") -> dict:
        """A study of `patient_id` (today's unless `study_date`); returns it (its study_uid)."""
        serial = next(self._serial)
        day = study_date if isinstance(study_date, dt.date) else \
            dt.date.fromisoformat(study_date) if study_date else dt.date.fromtimestamp(self.now())
        if not patient_id or not all(isinstance(m, str) and re.fullmatch(r"[A-Z]{2,4}", m) for m in modalities):
            raise ValueError("a study needs a patient_id and modality codes of 2-4 capital letters")
        uid = study_uid or f"{UID_ROOT}.{int(self.now())}.{serial}"
        study = {"study_uid": uid, "patient_id": patient_id,
                 "patient_name": patient_name, "study_date": day.isoformat(), "study_time": study_time,
                 "modalities": list(modalities), "description": description,
                 "accession_number": accession_number or f"ACC{serial:08d}", "series": series, "instances": instances}
        with self._lock:
            self.studies[uid] = study
        return study

    def add_report(self, study_uid: str, *, status: str = "final", findings: str = "No acute abnormality.",
                   impression: str = "Normal study.", radiologist: str = "Dr. Li Wei",
                   reported_at: str | None = None) -> dict:
        study = self.studies.get(study_uid)
        if study is None or status not in ("final", "preliminary"):
            raise ValueError("a report needs a known study and a status of final or preliminary")
        at = reported_at or dt.datetime.fromtimestamp(self.now(), dt.timezone(dt.timedelta(hours=8))).isoformat(
            timespec="seconds")
        report = {"study_uid": study_uid, "accession_number": study["accession_number"], "status": status,
                  "findings": findings, "impression": impression, "radiologist": radiologist, "reported_at": at}
        with self._lock:
            self.reports[study_uid] = report
        return report

    def seed(self, patient_id: str, n: int) -> list[dict]:
        """`n` studies of the patient, a few weeks apart back from today, of varied kinds; each
        but the newest has a final report, the newest a preliminary one when there are several."""
        today = dt.date.fromtimestamp(self.now())
        made = []
        for i in range(n):
            modalities, description, series, instances = SEED_KINDS[i % len(SEED_KINDS)]
            study = self.add_study(patient_id, study_date=today - dt.timedelta(days=23 * i),
                                   study_time=f"{8 + i % 9:02d}{(7 * i) % 60:02d}00", modalities=modalities,
                                   description=description, series=series, instances=instances)
            if i > 0 or n > 1:
                self.add_report(study["study_uid"], status="preliminary" if i == 0 else "final")
            made.append(study)
        return made

    def answer_next(self, path: str, status: int, body: Any = None, count: int = 1) -> None:
        """The next `count` calls of API `path` (as registered) get this answer instead: a dict
        or list is sent as DICOM JSON, bytes or text as they are."""
        with self._lock:
            self._canned.append({"path": path, "status": int(status), "body": body, "count": int(count)})

    def _ctl_add_study(self, req: Request):
        body = req.json() or {}
        if not isinstance(body, dict):
            raise ValueError("a JSON object")
        allowed = {"study_date", "study_time", "modalities", "description", "accession_number", "study_uid",
                   "series", "instances", "patient_name"}
        study = self.add_study(str(body.get("patient_id") or ""),
                               **{key: value for key, value in body.items() if key in allowed})
        return 200, study

    def _ctl_seed(self, req: Request):
        body = req.json() or {}
        return 200, self.seed(str(body.get("patient_id") or ""), int(body.get("n", 3)))

    def _ctl_add_report(self, req: Request):
        body = dict(req.json() or {})
        return 200, self.add_report(str(body.pop("study_uid", "")), **body)

    def _ctl_link_key(self, req: Request):
        body = req.json() or {}
        try:
            key = bytes.fromhex(str(body.get("key_hex", "")))
        except ValueError:
            raise ValueError("key_hex is 64 hex digits") from None
        self.add_link_key(str(body.get("kid", "")), key)
        return 200, {"kids": sorted(self.link_keys)}

    def _ctl_answer_next(self, req: Request):
        body = req.json() or {}
        self.answer_next(str(body.get("path", "")), int(body.get("status", 200)), body.get("body"),
                         int(body.get("count", 1)))
        return 200, {"ok": True}

    # ---- the API ----------------------------------------------------------------------------
    def _api(self, req: Request, path: str):
        """None when the call may go on; else its answer (a canned one, or 401)."""
        with self._lock:
            self.api_requests.append({"path": req.path, "target": req.target,
                                      "authorization": req.headers.get("Authorization")})
            for canned in self._canned:
                if canned["path"] == path and canned["count"] > 0:
                    canned["count"] -= 1
                    body = canned["body"]
                    return canned["status"], b"" if body is None else body, DICOM_JSON if isinstance(
                        body, (dict, list)) else {}
        if req.headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {"error": "unauthorized", "message": "a valid bearer API key is required"}, {
                "WWW-Authenticate": 'Bearer realm="imaging"'}
        return None

    def _search(self, req: Request):
        refused = self._api(req, "/dicom-web/studies")
        if refused is not None:
            return refused
        accept = req.headers.get("Accept") or "*/*"
        if not any(kind in accept for kind in ("application/dicom+json", "application/json", "*/*")):
            return 406, {"error": "not_acceptable", "message": "this platform answers application/dicom+json"}
        params = parse_qsl(urlsplit(req.target).query, keep_blank_values=True)
        filters: dict[str, str] = {}
        includes: set[str] = set()
        limit, offset = 100, 0
        for key, value in params:
            name = next((word for word, tag in QUERY_KEYS.items() if key in (word, tag)), None)
            if name is not None:
                if name in filters:
                    return 400, {"error": "bad_query", "message": f"{name} given twice"}
                filters[name] = value
            elif key == "includefield":
                includes.update(part.strip() for part in value.split(","))
            elif key in ("limit", "offset"):
                if not value.isascii() or not value.isdigit() or (key == "limit" and int(value) < 1):
                    return 400, {"error": "bad_query", "message": f"{key} is a whole number"}
                limit, offset = (int(value), offset) if key == "limit" else (limit, int(value))
            elif key != "fuzzymatching":
                return 400, {"error": "bad_query", "message": f"unsupported query parameter {key}"}
        if not filters.get("PatientID"):
            return 400, {"error": "bad_query", "message": "PatientID is required"}
        try:
            matches = [study for study in self.studies.values() if _matches(study, filters)]
        except ValueError as exc:
            return 400, {"error": "bad_query", "message": str(exc)}
        matches.sort(key=lambda study: (study["study_date"], study["study_time"], study["study_uid"]), reverse=True)
        page = matches[offset:offset + min(limit, 1000)]
        if not page:
            return 204, b""
        description = bool(includes & {"00081030", "StudyDescription", "all"})
        return 200, [_dataset(study, description) for study in page], DICOM_JSON

    def _report(self, req: Request):
        refused = self._api(req, "/reports/{study_uid}")
        if refused is not None:
            return refused
        report = self.reports.get(req.params["study_uid"])
        if report is None:
            return 404, {"error": "not_found", "message": "no report for this study yet"}
        return 200, report

    # ---- the viewer -------------------------------------------------------------------------
    def _viewer(self, req: Request):
        with self._lock:
            self.viewer_requests.append({"target": req.target, "query": dict(req.query),
                                         "referer": req.headers.get("Referer"), "cookie": req.headers.get("Cookie")})
            canned = next((c for c in self._canned if c["path"] == "/viewer" and c["count"] > 0), None)
            if canned is not None:
                canned["count"] -= 1
                return canned["status"], canned["body"] if canned["body"] is not None else b""
        claims, reason = self.open_token(req.query.get("token") or "")
        if claims is None:
            return 403, {"error": reason}
        if claims["res"] != req.query.get("study"):
            return 403, {"error": "wrong_study"}
        study = self.studies.get(claims["res"])
        if study is None or study["patient_id"] != claims["sub"]:
            return 403, {"error": "not_this_patients"}
        return 200, {"study_uid": study["study_uid"], "patient_id": study["patient_id"]}

    def open_token(self, token: str) -> tuple[dict | None, str]:
        """(claims, "") for a token this platform accepts as to key, integrity, audience and
        time; else (None, the reason). The study it is for is checked by the caller."""
        return open_link_token(self.link_keys, self.platform, token, self.now())


def open_link_token(keys: dict[str, bytes], platform: str, token: str, now: float) -> tuple[dict | None, str]:
    """The platform's side of the link token (v1), from its documented format alone: (claims,
    "") when the key, integrity, audience and time hold, else (None, the reason)."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != "v1" or not _KID.fullmatch(parts[1]) or not _B64URL.fullmatch(parts[2]):
        return None, "tampered"
    key = keys.get(parts[1])
    if key is None:
        return None, "unknown_key"
    try:
        sealed = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
    except (binascii.Error, ValueError):
        return None, "tampered"
    if len(sealed) < 12 + 16:
        return None, "tampered"
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        plain = AESGCM(key).decrypt(sealed[:12], sealed[12:], f"hospital-link/v1/{platform}".encode("ascii"))
        claims = json.loads(plain.decode("utf-8"))
    except (InvalidTag, ValueError):
        return None, "tampered"
    if not isinstance(claims, dict) or claims.get("v") != 1 or not all(
            isinstance(claims.get(name), str) and claims[name] for name in ("aud", "sub", "res", "jti")) or not all(
            isinstance(claims.get(name), int) and not isinstance(claims[name], bool) for name in ("iat", "exp")):
        return None, "tampered"  # it authenticates, but it is not a token of this format
    if claims["aud"] != platform:
        return None, "wrong_audience"
    if claims["iat"] > now + CLOCK_SKEW_SECONDS or not now < claims["exp"]:
        return None, "expired"
    return claims, ""


def _matches(study: dict, filters: dict[str, str]) -> bool:
    """QIDO-RS matching of one study (ValueError: a filter that is not well formed)."""
    if study["patient_id"] != filters["PatientID"]:
        return False
    if "StudyInstanceUID" in filters and study["study_uid"] not in filters["StudyInstanceUID"].split(","):
        return False
    if "AccessionNumber" in filters and study["accession_number"] != filters["AccessionNumber"]:
        return False
    if "ModalitiesInStudy" in filters:
        wanted = {code.strip() for code in filters["ModalitiesInStudy"].split(",")}
        if not wanted & set(study["modalities"]):
            return False
    if "StudyDescription" in filters:
        pattern = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch)
                          for ch in filters["StudyDescription"])
        if not re.fullmatch(pattern, study["description"] or "", re.IGNORECASE | re.DOTALL):
            return False
    if "StudyDate" in filters:
        day = study["study_date"].replace("-", "")
        low, high = _date_range(filters["StudyDate"])
        if (low and day < low) or (high and day > high):
            return False
    return True


def _date_range(value: str) -> tuple[str, str]:
    """"A-B", "A-", "-B" or "A" as (low, high), "" where open."""
    low, dash, high = value.partition("-")
    if not dash:
        high = low
    for part in (low, high):
        if part:
            if not _DA.fullmatch(part):
                raise ValueError("StudyDate is YYYYMMDD, or a range of them")
            dt.date(int(part[:4]), int(part[4:6]), int(part[6:]))
    if not (low or high) or (low and high and low > high):
        raise ValueError("StudyDate's range is empty")
    return low, high


def _dataset(study: dict, description: bool) -> dict:
    """The study in the DICOM JSON model, the default study attributes of QIDO-RS."""
    def element(vr: str, *values) -> dict:
        kept = [value for value in values if value is not None]
        return {"vr": vr, "Value": kept} if kept else {"vr": vr}

    dataset = {
        "00080020": element("DA", study["study_date"].replace("-", "")),
        "00080030": element("TM", study["study_time"]),
        "00080050": element("SH", study["accession_number"]),
        "00080056": element("CS", "ONLINE"),
        "00080061": element("CS", *study["modalities"]),
        "00080090": element("PN"),
        "00100010": element("PN", {"Alphabetic": study["patient_name"]} if study["patient_name"] else None),
        "00100020": element("LO", study["patient_id"]),
        "0020000D": element("UI", study["study_uid"]),
        "00200010": element("SH", str(study["series"])),
        "00201206": element("IS", study["series"]),
        "00201208": element("IS", study["instances"]),
    }
    if description:
        dataset["00081030"] = element("LO", study["description"])
    return dataset
