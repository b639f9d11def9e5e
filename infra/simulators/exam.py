"""Physical-exam system simulator (wire format in hospital.adapters.exam): members known by the
keyed hashes of their ID and mobile numbers, their authorisations, appointments and reports,
and the report PDF behind a link token (v1, platform "exam"), checked as the exam system must.

Seeding (Python, or the /_sim/ endpoints with the same fields as JSON):
    add_member(id_number_hash, mobile_hash, member_id=None)          POST /_sim/members
    add_appointment(member_id, **fields)                             POST /_sim/appointments
    add_report(member_id, **fields)                                  POST /_sim/reports
    set_link_key(kid, key) / remove_link_key(kid)  (key: 32 bytes; over HTTP
        POST /_sim/link-keys {"kid", "key_hex"} and DELETE /_sim/link-keys/{kid})
Records: `authorisations` (member_id -> its latest), `pdf_requests` (every PDF asked for:
{"at", "report", "kid", "jti", "member_id", "status", "reason"}; GET /_sim/pdf-requests),
GET /_sim/authorisations. A signed call with a bad signature answers 401 E_AUTH; `now()` (the
shared movable clock) is what timestamps and token expiry are checked against. Faults through
/_sim/faults, by path as registered (e.g. /exam/v1/members/{member_id}/reports); an `errcode`
fault answers 200 {"code": "E_SYSTEM", ...}, a body the adapter cannot read.

Run alone: python -m infra.simulators.exam --port 7007 --api-key KEY --link-key kid=<64 hex>
"""
from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import itertools
import json
import re
from collections.abc import Mapping
from typing import Any

from infra.simulators._http import Reply, Request, SimulatorServer, serve_forever

PLATFORM = "exam"
ASSOCIATED_DATA = b"hospital-link/v1/" + PLATFORM.encode()
CLOCK_SKEW_SECONDS = 30    # a token issued this far ahead of our clock is still taken
SIGNATURE_WINDOW_SECONDS = 300
KID = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
CST = dt.timezone(dt.timedelta(hours=8))


def _error(code: str, message: str) -> dict:
    return {"code": code, "message": message}


class ExamSimulator(SimulatorServer):
    def __init__(self, api_key: str, link_keys: Mapping[str, bytes] | None = None, host: str = "127.0.0.1",
                 port: int = 0, *, fault_timeout_seconds: float = 10.0):
        super().__init__(host, port, fault_timeout_seconds=fault_timeout_seconds)
        self.api_key = api_key
        self.link_keys: dict[str, bytes] = {}
        for kid, key in (link_keys or {}).items():
            self.set_link_key(kid, key)
        self.members: dict[str, dict] = {}          # member_id -> {"id_number_hash", "mobile_hash"}
        self.authorisations: dict[str, dict] = {}   # member_id -> its latest authorisation
        self.appointments: dict[str, dict] = {}     # appointment_id -> appointment (with member_id)
        self.reports: dict[str, dict] = {}          # report_id -> report detail
        self.pdf_requests: list[dict] = []
        self._numbers = itertools.count(1)
        for method, path, handler in (
            ("POST", "/exam/v1/authorisations", self._authorise),
            ("DELETE", "/exam/v1/authorisations/{member_id}", self._withdraw),
            ("GET", "/exam/v1/members/{member_id}/appointments", self._appointments),
            ("GET", "/exam/v1/members/{member_id}/reports", self._reports),
            ("GET", "/exam/v1/reports/{report_id}", self._report),
            ("GET", "/exam/v1/report-pdf", self._report_pdf),
            ("POST", "/_sim/members", self._ctl_member),
            ("POST", "/_sim/appointments", self._ctl_appointment),
            ("POST", "/_sim/reports", self._ctl_report),
            ("POST", "/_sim/link-keys", self._ctl_link_key),
            ("DELETE", "/_sim/link-keys/{kid}", self._ctl_remove_link_key),
            ("GET", "/_sim/authorisations", lambda req: (200, self.authorisations)),
            ("GET", "/_sim/pdf-requests", lambda req: (200, self.pdf_requests)),
        ):
            self.route(method, path, handler)

    def fault_body(self, errcode: int) -> Any:
        return {"code": "E_SYSTEM", "message": f"system error {errcode}"}

    # ---- seeding ------------------------------------------------------------------------
    def add_member(self, id_number_hash: str, mobile_hash: str, member_id: str | None = None) -> str:
        member_id = member_id or f"M{next(self._numbers):08d}"
        with self._lock:
            self.members[member_id] = {"id_number_hash": id_number_hash, "mobile_hash": mobile_hash}
        return member_id

    def add_appointment(self, member_id: str, *, appointment_id: str | None = None,
                        package_name: str = "入职体检套餐", exam_date: str = "2026-12-10", status: str = "booked",
                        centre: str = "门诊楼三层体检中心") -> dict:
        if member_id not in self.members:
            raise ValueError("no such member")
        appointment = {"appointment_id": appointment_id or f"A{next(self._numbers):08d}",
                       "package_name": package_name, "exam_date": exam_date, "status": status, "centre": centre}
        with self._lock:
            self.appointments[appointment["appointment_id"]] = {**appointment, "member_id": member_id}
        return appointment

    def add_report(self, member_id: str, *, report_id: str | None = None, appointment_id: str | None = None,
                   exam_date: str = "2026-11-20", status: str = "final", summary: str = "血压偏高，余未见明显异常",
                   published_at: str | None = None, sections: list | None = None,
                   conclusion: str = "血压偏高", advice: str = "低盐饮食，三个月后复查血压") -> dict:
        if member_id not in self.members:
            raise ValueError("no such member")
        if status not in ("pending", "final"):
            raise ValueError("a report is pending or final")
        if published_at is None and status == "final":
            published_at = dt.datetime.fromtimestamp(self.now(), CST).isoformat(timespec="seconds")
        report = {"report_id": report_id or f"R{next(self._numbers):08d}", "member_id": member_id,
                  "appointment_id": appointment_id or f"A{next(self._numbers):08d}", "exam_date": exam_date,
                  "status": status, "summary": summary, "published_at": published_at,
                  "sections": sections if sections is not None else _sample_sections(),
                  "conclusion": conclusion, "advice": advice}
        with self._lock:
            self.reports[report["report_id"]] = report
        return report

    def set_link_key(self, kid: str, key: bytes) -> None:
        if not KID.match(kid) or len(key) != 32:
            raise ValueError("a link key is 32 bytes under a kid of 1-16 [A-Za-z0-9_-]")
        with self._lock:
            self.link_keys[kid] = bytes(key)

    def remove_link_key(self, kid: str) -> None:
        with self._lock:
            self.link_keys.pop(kid, None)

    # ---- the signed API -------------------------------------------------------------------
    def _signed(self, req: Request) -> bool:
        timestamp = req.headers.get("X-Exam-Timestamp") or ""
        expected = hmac.new(self.api_key.encode(), timestamp.encode() + b"." + req.body, hashlib.sha256).hexdigest()
        return timestamp.isascii() and timestamp.isdigit() and \
            abs(self.now() - int(timestamp)) <= SIGNATURE_WINDOW_SECONDS and \
            hmac.compare_digest(expected.encode(), (req.headers.get("X-Exam-Signature") or "").encode())

    def _authorise(self, req: Request) -> Reply:
        if not self._signed(req):
            return 401, _error("E_AUTH", "bad signature")
        try:
            body = req.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not all(isinstance(body.get(key), str) and body[key] for key in (
                "id_number_hash", "mobile_hash", "consented_at", "consent_version")):
            return 400, _error("E_PARAM", "id_number_hash, mobile_hash, consented_at and consent_version are required")
        with self._lock:
            member_id = next((member_id for member_id, member in self.members.items()
                              if _same(member["id_number_hash"], body["id_number_hash"])
                              and _same(member["mobile_hash"], body["mobile_hash"])), None)
            if member_id is None:
                return 404, _error("E_NO_MEMBER", "no member with these hashes")
            self.authorisations[member_id] = {"member_id": member_id, "status": "authorised",
                                              "consented_at": body["consented_at"],
                                              "consent_version": body["consent_version"], "at": self.now()}
        return 200, {"member_id": member_id, "status": "authorised"}

    def _withdraw(self, req: Request) -> Reply:
        if not self._signed(req):
            return 401, _error("E_AUTH", "bad signature")
        member_id = req.params["member_id"]
        with self._lock:
            if member_id not in self.members:
                return 404, _error("E_NO_MEMBER", "no such member")
            held = self.authorisations.get(member_id)
            if held is not None and held["status"] == "authorised":
                self.authorisations[member_id] = {**held, "status": "withdrawn", "at": self.now()}
        return 200, {"member_id": member_id, "status": "withdrawn"}

    def _authorised(self, req: Request, member_id: str) -> Reply | None:
        """The refusal for a call about `member_id`, or None when it may be answered."""
        if not self._signed(req):
            return 401, _error("E_AUTH", "bad signature")
        if member_id not in self.members:
            return 404, _error("E_NO_MEMBER", "no such member")
        if self.authorisations.get(member_id, {}).get("status") != "authorised":
            return 403, _error("E_NOT_AUTHORISED", "the member has not authorised this hospital")
        return None

    def _appointments(self, req: Request) -> Reply:
        member_id = req.params["member_id"]
        refusal = self._authorised(req, member_id)
        if refusal:
            return refusal
        with self._lock:
            return 200, [{key: value for key, value in appointment.items() if key != "member_id"}
                         for appointment in self.appointments.values() if appointment["member_id"] == member_id]

    def _reports(self, req: Request) -> Reply:
        member_id = req.params["member_id"]
        refusal = self._authorised(req, member_id)
        if refusal:
            return refusal
        keys = ("report_id", "appointment_id", "exam_date", "status", "summary", "published_at")
        with self._lock:
            return 200, [{key: report[key] for key in keys}
                         for report in self.reports.values() if report["member_id"] == member_id]

    def _report(self, req: Request) -> Reply:
        if not self._signed(req):
            return 401, _error("E_AUTH", "bad signature")
        report = self.reports.get(req.params["report_id"])
        if report is None:
            return 404, _error("E_NO_REPORT", "no such report")
        refusal = self._authorised(req, report["member_id"])
        return refusal or (200, report)

    # ---- the report PDF, behind a link token ------------------------------------------------
    def _report_pdf(self, req: Request) -> Reply:
        report_id = req.query.get("report") or ""
        claims, kid, reason = self.check_token(req.query.get("token") or "", report_id)
        report = self.reports.get(report_id)
        if reason is None and claims is not None and report is not None and report["member_id"] != claims["sub"]:
            reason = "not_this_members"
        answer: Reply
        if reason is not None:
            answer = 403, {**_error("E_LINK_REFUSED", f"link refused: {reason}"), "reason": reason}
        elif report is None:  # the token is good and names this report: it is gone
            answer = 404, _error("E_NO_REPORT", "no such report")
        elif report["status"] != "final":
            answer = 409, _error("E_REPORT_PENDING", "the report is not final yet")
        else:
            answer = 200, _tiny_pdf(f"Report {report_id}"), {"Content-Type": "application/pdf"}
        with self._lock:
            self.pdf_requests.append({"at": self.now(), "report": report_id, "kid": kid,
                                      "jti": claims.get("jti") if claims else None,
                                      "member_id": claims.get("sub") if claims else None,
                                      "status": answer[0], "reason": reason})
        return answer

    def check_token(self, token: str, report_id: str) -> tuple[dict | None, str | None, str | None]:
        """(claims, kid, refusal reason or None) for a link token asked with `report_id`, as the
        link token format says the platform decides."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        version, _, rest = token.partition(".")
        kid, _, sealed_text = rest.partition(".")
        if version != "v1" or not KID.match(kid) or not sealed_text:
            return None, None, "tampered"
        key = self.link_keys.get(kid)
        if key is None:
            return None, kid, "unknown_key"
        try:
            if "=" in sealed_text:
                raise ValueError("padded")  # the format is unpadded: an added "=" is an altered byte
            sealed = base64.urlsafe_b64decode(sealed_text + "=" * (-len(sealed_text) % 4))
            if base64.urlsafe_b64encode(sealed).rstrip(b"=").decode() != sealed_text:
                raise ValueError("not canonical")  # stray bits in the last character
            plain = AESGCM(key).decrypt(sealed[:12], sealed[12:], ASSOCIATED_DATA)
            claims = json.loads(plain.decode("utf-8"))
        except (ValueError, binascii.Error, InvalidTag):
            return None, kid, "tampered"
        if not isinstance(claims, dict) or claims.get("v") != 1 or not all(
                _whole(claims.get(name)) for name in ("iat", "exp")) or not isinstance(claims.get("sub"), str):
            return None, kid, "tampered"
        now = self.now()
        if claims.get("aud") != PLATFORM:
            return claims, kid, "wrong_audience"
        if claims["iat"] > now + CLOCK_SKEW_SECONDS:
            return claims, kid, "not_yet_valid"
        if now >= claims["exp"]:
            return claims, kid, "expired"
        if claims.get("res") != report_id:
            return claims, kid, "wrong_report"
        return claims, kid, None

    # ---- controls -------------------------------------------------------------------------
    def _ctl_member(self, req: Request) -> Reply:
        body = _object(req)
        return 200, {"member_id": self.add_member(str(body["id_number_hash"]), str(body["mobile_hash"]),
                                                  body.get("member_id"))}

    def _ctl_appointment(self, req: Request) -> Reply:
        body = _object(req)
        return 200, _seeded(self.add_appointment, body)

    def _ctl_report(self, req: Request) -> Reply:
        body = _object(req)
        return 200, _seeded(self.add_report, body)

    def _ctl_link_key(self, req: Request) -> Reply:
        body = _object(req)
        self.set_link_key(str(body.get("kid", "")), bytes.fromhex(str(body.get("key_hex", ""))))
        return 200, {"kids": sorted(self.link_keys)}

    def _ctl_remove_link_key(self, req: Request) -> Reply:
        self.remove_link_key(req.params["kid"])
        return 200, {"kids": sorted(self.link_keys)}


def _object(req: Request) -> dict:
    body = req.json()
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body


def _same(held: str, sent: str) -> bool:
    # As bytes: compare_digest refuses str that is not ASCII, and a request may send any.
    return hmac.compare_digest(held.encode(), sent.encode())


def _seeded(add, body: dict) -> dict:
    member_id = str(body.pop("member_id", ""))
    try:
        return add(member_id, **body)
    except TypeError:
        raise ValueError(f"unknown fields: {sorted(body)}") from None


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _sample_sections() -> list:
    return [
        {"name": "一般检查", "items": [
            {"name": "收缩压", "value": "145", "unit": "mmHg", "reference_range": "90-139", "flag": "H"},
            {"name": "舒张压", "value": "85", "unit": "mmHg", "reference_range": "60-89", "flag": None}]},
        {"name": "血常规", "items": [
            {"name": "血红蛋白", "value": "112", "unit": "g/L", "reference_range": "115-150", "flag": "L"},
            {"name": "乙肝表面抗原", "value": "阴性", "unit": None, "reference_range": None, "flag": None}]},
    ]


def _tiny_pdf(text: str) -> bytes:
    """A one-page PDF showing `text` (ASCII), its cross-reference table counted exactly."""
    shown = text.encode("ascii", "replace").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    stream = b"BT /F1 18 Tf 72 720 Td (" + shown + b") Tj ET"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
                b"/Resources << /Font << /F1 5 0 R >> >> >>"),
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7007)
    parser.add_argument("--api-key", required=True, help="the shared HMAC key of the signed API")
    parser.add_argument("--link-key", action="append", default=[], metavar="KID=HEX",
                        help="a link-token key: its kid and 32 bytes in hex (repeat for several)")
    args = parser.parse_args(argv)
    keys = dict(item.split("=", 1) for item in args.link_key)
    serve_forever(ExamSimulator(args.api_key, {kid: bytes.fromhex(key) for kid, key in keys.items()},
                                args.host, args.port), "Physical-exam system simulator")


if __name__ == "__main__":
    main()
