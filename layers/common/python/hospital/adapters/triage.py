"""Thin client for the emergency department's triage system (requirement ER7), or the local simulator.

The rescue backend pushes every new rescue case, and later each location or status change,
so the ED can prepare. There is no public standard; this module defines the wire format.

Wire format (JSON over HTTPS, UTF-8)
------------------------------------
``PUT /api/v1/prehospital-cases/{case_id}`` (case_id URL-encoded), body::

    {
      "case_id": "3f2a...",            # required, non-empty string, equal to the URL's {case_id}
      "version": 3,                    # required int >= 1, monotonic per case
      "status": "dispatched",          # required, one of STATUSES
      "received_at": "2024-05-01T08:30:00.000Z",  # required, ISO-8601 in UTC (Z or +00:00)
      "caller_phone": "138...",        # optional string
      "patient": {                     # optional object
        "name": "...",                 #   optional string
        "gender": "female",            #   optional: "male" | "female" | "unknown"
        "age": 72                      #   optional int, 0..150
      },
      "complaint": "...",              # optional string
      "location": {                    # required object
        "latitude": 31.2304,           #   required number, -90..90
        "longitude": 121.4737,         #   required number, -180..180
        "coord_system": "gcj02",       #   required, always "gcj02"
        "accuracy_m": 30,              #   optional number >= 0
        "address_text": "..."          #   optional string
      },
      "vehicle": {                     # optional object (once an ambulance is dispatched)
        "vehicle_id": "...",           #   optional string
        "plate_number": "...",         #   optional string
        "eta": "2024-05-01T08:52:00Z"  #   optional, ISO-8601 in UTC
      }
    }

Every push carries the whole current picture of the case (not a diff). Optional fields may be
omitted or null; unknown fields are ignored, so the format can grow.

Answers:

- ``201 {"case_id", "accepted_version", "triage_ref"}``: the first version of a new case.
- ``200 {"case_id", "accepted_version", "triage_ref"}``: a newer version, applied; or a repeated or
  older version, which changes nothing and answers with the version already stored
  (``accepted_version`` > the pushed version means the push was superseded). Idempotent on
  (case_id, version): a push can be retried safely. ``triage_ref`` is the ED's own reference,
  stable per case.
- ``400 {"error": {"code": "invalid_body", "message", "field"}}``: not a JSON object, a missing
  ``case_id``/``version``/``status``/``received_at``/``location``, a wrong type or value, or a
  ``case_id`` differing from the URL's.
- ``401 {"error": {"code": "invalid_api_key" | "invalid_signature" | "signature_expired", "message"}}``.
- ``5xx``: the ED system is in trouble; retry later.

Authentication: two headers on every request.

- ``X-Api-Key: <shared key>``, provisioned by the ED for this backend.
- ``X-Signature: t=<unix seconds>,v1=<hex>`` where hex is
  ``HMAC-SHA256(key=<shared key, UTF-8>, msg=<t> + "." + <raw request body bytes>)``, lowercase.
  The receiver recomputes it over the bytes it received (so the signature binds the exact body
  and the time) and refuses it with 401 when ``t`` is more than 300 s away from its clock (a
  replayed or stale request) or when the hex does not match.

Also sent: ``X-Correlation-Id`` (the backend's correlation id, for joint troubleshooting).

Errors raised here: ``TriageError`` for a refusal (4xx: fix the data or the configuration, do
not retry; ``.status``, ``.body``); ``TriageUnavailable`` (a TriageError with ``retryable =
True``) for timeouts, connection errors, 5xx, 408/429 and garbled success answers: retry later,
with the same version. Logs carry the case id, version and status only, never the name, phone,
complaint, address or coordinates. `requests` is imported on first call, not at module import,
to keep Lambda cold starts short.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import quote

from hospital import external_calls
from hospital.adapters.signing import timestamped_hmac
from hospital.observability import CORRELATION_HEADER, current_correlation_id

log = logging.getLogger("hospital.external")

CASES_PATH = "/api/v1/prehospital-cases"
API_KEY_HEADER = "X-Api-Key"
SIGNATURE_HEADER = "X-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300
STATUSES = ("received", "alerted", "accepted", "decided", "dispatched", "en_route", "on_scene",
            "patient_contact", "left_scene", "at_hospital", "handed_over", "back_in_service",
            "completed", "cancelled")
RETRYABLE_CLIENT_STATUSES = frozenset({408, 429})  # request timeout, too many requests


def sign(api_key: str, timestamp: int, body: bytes) -> str:
    """The X-Signature header value for these exact body bytes at this unix time."""
    digest = timestamped_hmac(api_key, timestamp, body)
    return f"t={timestamp},v1={digest}"


class TriageError(Exception):
    """The triage system refused the push (4xx): permanent, don't retry."""

    retryable = False

    def __init__(self, message: str, status: int | None = None, body: Any = None, operation: str = ""):
        super().__init__(f"triage {operation}: {message}")
        self.status, self.body, self.operation = status, body, operation

    @property
    def code(self) -> str | None:
        """The error code of a JSON error answer ({"error": {"code": ...}}), if any."""
        return _error_code(self.body)


class TriageUnavailable(TriageError):
    """Timeout, connection error, 5xx (or 408/429, or a garbled answer): retry later."""

    retryable = True


class TriageApi:
    def __init__(self, base_url: str, api_key: str, timeout: tuple[float, float] = (2, 5)):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout  # (connect, read) seconds

    def __repr__(self) -> str:  # never show the key
        return f"TriageApi({self.base_url!r})"

    def push_case(self, payload: dict) -> dict:
        """PUT one version of a case; returns {"case_id", "accepted_version", "triage_ref"}.

        Safe to repeat with the same version. ``accepted_version`` above the pushed version means
        the triage system already holds a newer one and ignored this push.
        """
        case_id = payload.get("case_id") if isinstance(payload, dict) else None
        if not isinstance(case_id, str) or not case_id:
            raise ValueError("payload needs a non-empty string case_id")
        return self._call("push_case", "PUT", f"{CASES_PATH}/{quote(case_id, safe='')}", payload,
                          log_fields={"case_id": case_id, "version": payload.get("version"),
                                      "case_status": payload.get("status")})

    # -- transport -----------------------------------------------------------
    def _call(self, operation: str, method: str, path: str, payload: dict,
              log_fields: dict | None = None) -> dict:
        import requests

        from hospital.adapters import http_sessions

        # These exact bytes are signed and sent. allow_nan=False: NaN is not JSON.
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            API_KEY_HEADER: self._api_key,
            SIGNATURE_HEADER: sign(self._api_key, int(time.time()), data),
        }
        correlation_id = current_correlation_id()
        if correlation_id:
            headers[CORRELATION_HEADER] = correlation_id

        status = error = accepted_version = error_code = None
        started = time.monotonic()
        try:
            try:
                # No redirects: they would carry the API key to wherever they point.
                # One session per container: pushes reuse the connection (PUTs are not retried).
                response = http_sessions.session("triage").request(
                    method, self.base_url + path, data=data, headers=headers, timeout=self.timeout,
                    allow_redirects=False)
            except requests.RequestException as exc:
                error = type(exc).__name__
                # "from None": the requests exception drags along the request and its headers.
                raise TriageUnavailable(error, operation=operation) from None
            status = response.status_code
            body = _body(response)
            if 200 <= status < 300:
                if not isinstance(body, dict) or not isinstance(body.get("accepted_version"), int):
                    error = "garbled answer"
                    external_calls.failed("garbled")
                    raise TriageUnavailable(f"HTTP {status} {error}", status, body, operation)
                accepted_version = body["accepted_version"]
                return body
            error_code = _error_code(body)
            error = f"HTTP {status}"
            if status >= 500 or status in RETRYABLE_CLIENT_STATUSES:
                external_calls.failed(error_code)
                raise TriageUnavailable(error, status, body, operation)
            external_calls.refused(error_code)
            raise TriageError(f"{error} {error_code or ''}".strip(), status, body, operation)
        finally:
            fields = {"system": "triage", "operation": operation, "status": status,
                      "duration_ms": round((time.monotonic() - started) * 1000, 1), **(log_fields or {})}
            if accepted_version is not None:
                fields["accepted_version"] = accepted_version
            if error:
                fields["error"] = error
            if error_code:
                fields["error_code"] = error_code
            ok = status is not None and 200 <= status < 300 and not error
            level = logging.INFO if ok else logging.WARNING
            log.log(level, "triage %s", operation, extra={"external": fields})


def _body(response) -> Any:
    """Parsed JSON body, else the first 1000 characters of the text (None if empty)."""
    try:
        return response.json()
    except ValueError:
        return response.text[:1000] or None


def _error_code(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None
