"""ED triage system simulator: receives pre-hospital rescue cases pushed by the backend (ER7).

Speaks the wire format defined (and documented) in hospital.adapters.triage:
PUT /api/v1/prehospital-cases/{case_id}, JSON in and out, errors as {"error": {"code", "message"}}.
Behaviour, in the order a push is handled:
- a fault injected for the next pushes, if any (see below), as a failing server would;
- X-Api-Key must equal the shared key, else 401 invalid_api_key;
- X-Signature "t=<unix>,v1=<hex>" must be HMAC-SHA256(key, t + "." + raw body), else 401
  invalid_signature, and t within 300 s of the simulator's clock (advance_clock moves it),
  else 401 signature_expired;
- the body must be valid (see the adapter's docstring), else 400 invalid_body naming the field;
- the latest accepted version per case is kept: the first version of a case answers 201, a
  newer one 200 and replaces it; a repeated or older version answers 200 with the stored
  accepted_version and changes nothing.
Every delivery attempt is recorded (refused and faulted ones too): time, case_id, version,
HTTP status, result ("created" | "updated" | "duplicate" | "older" | "unauthorized" |
"invalid" | "http500" | "http503" | "timeout"), fault, error code, correlation id and body.

Control endpoints under /_sim/ (and the mirroring Python methods):
  GET    /_sim/cases[?case_id=]        -> {"cases": [...]}        cases(case_id=None)
  GET    /_sim/deliveries[?case_id=]   -> {"deliveries": [...]}   deliveries(case_id=None)
  DELETE /_sim/cases                   forget cases and deliveries clear_cases()
  POST   /_sim/faults {"mode", "count", "seconds"?}               inject_fault(mode, count, seconds)
  DELETE /_sim/faults                                             clear_faults()
and the shared GET /_sim/stats and POST /_sim/clock {"advance_seconds"}.
Fault modes, each for the next `count` pushes:
  http500, http503  answer that status; nothing is stored;
  timeout           stall `seconds` (default: fault_timeout_seconds, 10 s, longer than any sane
                    client read timeout), then close the connection without an answer; nothing
                    is stored;
  slow              wait `seconds` (default 1 s), then handle the push normally.

Standalone: python -m infra.simulators.triage --port 7002 --api-key KEY
"""
from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import hmac
import itertools
import json
from typing import Any
from urllib.parse import unquote

from infra.simulators._http import Reply, Request, SimulatorServer, serve_forever

CASES_PATH = "/api/v1/prehospital-cases"
CASE_ROUTE = CASES_PATH + "/{case_id}"
SIGNATURE_TOLERANCE_SECONDS = 300
TRIAGE_FAULT_MODES = ("http500", "http503", "timeout", "slow")
DEFAULT_SLOW_SECONDS = 1.0
# The statuses of a rescue case, as the backend's timeline names them.
STATUSES = frozenset({"received", "alerted", "accepted", "decided", "dispatched", "en_route", "on_scene",
                      "patient_contact", "left_scene", "at_hospital", "handed_over", "back_in_service",
                      "completed", "cancelled"})
GENDERS = frozenset({"male", "female", "unknown"})
MAX_CASE_ID_LENGTH = 128


def _error(code: str, message: str, field: str | None = None) -> dict:
    error = {"code": code, "message": message}
    if field:
        error["field"] = field
    return {"error": error}


class _Invalid(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


class TriageSimulator(SimulatorServer):
    def __init__(self, api_key: str, host: str = "127.0.0.1", port: int = 0, *,
                 fault_timeout_seconds: float = 10.0):
        super().__init__(host, port, fault_timeout_seconds=fault_timeout_seconds)
        self.api_key = api_key
        self._cases: dict[str, dict] = {}  # case_id -> latest accepted version and its bookkeeping
        self._deliveries: list[dict] = []
        self._refs = itertools.count(1)
        for method, path, handler in [
            ("GET", "/_sim/cases", self._ctl_cases),
            ("DELETE", "/_sim/cases", self._ctl_clear_cases),
            ("GET", "/_sim/deliveries", self._ctl_deliveries),
            ("POST", "/_sim/faults", self._ctl_add_triage_fault),  # replaces the shared per-path form
        ]:
            self.route(method, path, handler)

    # -- Python controls (mirrored by /_sim/ endpoints) --------------------
    def cases(self, case_id: str | None = None) -> list[dict]:
        """Latest accepted version of each case: {"case_id", "accepted_version", "triage_ref",
        "status", "case" (the body), "created_at", "updated_at", "correlation_id"}."""
        with self._lock:
            return [copy.deepcopy(c) for c in self._cases.values() if not case_id or c["case_id"] == case_id]

    def deliveries(self, case_id: str | None = None) -> list[dict]:
        """Every delivery attempt, accepted or not, oldest first."""
        with self._lock:
            return [copy.deepcopy(d) for d in self._deliveries if not case_id or d["case_id"] == case_id]

    def clear_cases(self) -> None:
        """Forget all cases and deliveries."""
        with self._lock:
            self._cases.clear()
            self._deliveries.clear()

    def inject_fault(self, mode: str, count: int = 1,  # type: ignore[override]
                     seconds: float | None = None) -> None:
        """Make the next `count` case pushes fail (or be slow) with `mode` (see TRIAGE_FAULT_MODES)."""
        if mode not in TRIAGE_FAULT_MODES:
            raise ValueError(f"mode must be one of {TRIAGE_FAULT_MODES}")
        if seconds is None:
            seconds = self.fault_timeout_seconds if mode == "timeout" else DEFAULT_SLOW_SECONDS
        seconds, count = float(seconds), int(count)
        if seconds < 0 or count < 0:
            raise ValueError("count and seconds must not be negative")
        with self._lock:
            self._faults.append({"path": CASE_ROUTE, "mode": mode, "count": count, "errcode": -1,
                                 "seconds": seconds})

    # -- dispatch ----------------------------------------------------------
    def _dispatch(self, req: Request) -> Reply | None:
        if not req.path.startswith(CASES_PATH + "/"):
            return super()._dispatch(req)  # control endpoints, 404s
        raw_id = req.path[len(CASES_PATH) + 1:]
        if not raw_id or "/" in raw_id:
            return 404, _error("not_found", "no such resource")
        if req.method != "PUT":
            return 405, _error("method_not_allowed", "use PUT")
        with self._lock:
            self._stats[CASE_ROUTE] = self._stats.get(CASE_ROUTE, 0) + 1
            fault = self._take_fault((CASE_ROUTE,))
        mode = fault["mode"] if fault else None
        if mode in ("http500", "http503", "timeout"):
            status = {"http500": 500, "http503": 503}.get(mode)
            self._record(req, unquote(raw_id), _loose_json(req.body), status, mode, fault=mode)
            if mode == "http500":
                return 500, _error("internal_error", "simulated internal error")
            if mode == "http503":
                return 503, _error("unavailable", "simulated: triage system unavailable")
            self._stopping.wait(fault["seconds"])
            return None  # close without an answer
        if mode == "slow" and self._stopping.wait(fault["seconds"]):
            return None
        with self._lock:
            return self._push(req, unquote(raw_id), fault=mode)

    def _push(self, req: Request, case_id: str, fault: str | None) -> Reply:
        body = _loose_json(req.body)
        refusal = self._check_auth(req)
        if refusal:
            self._record(req, case_id, body, 401, "unauthorized", fault, refusal["error"]["code"])
            return 401, refusal
        try:
            body = _parse(req.body)
            _validate(body, case_id)
        except _Invalid as exc:
            self._record(req, case_id, body, 400, "invalid", fault, "invalid_body")
            return 400, _error("invalid_body", exc.message, exc.field)

        now = self.now()
        stored = self._cases.get(case_id)
        if stored is None:
            stored = self._cases[case_id] = {"case_id": case_id, "triage_ref": f"ED-{next(self._refs):06d}",
                                             "created_at": now}
            status, result = 201, "created"
        elif body["version"] > stored["accepted_version"]:
            status, result = 200, "updated"
        else:
            status = 200
            result = "duplicate" if body["version"] == stored["accepted_version"] else "older"
        if result in ("created", "updated"):
            stored.update({"accepted_version": body["version"], "status": body["status"], "case": body,
                           "updated_at": now, "correlation_id": req.headers.get("X-Correlation-Id")})
        self._record(req, case_id, body, status, result, fault)
        return status, {"case_id": case_id, "accepted_version": stored["accepted_version"],
                        "triage_ref": stored["triage_ref"]}

    def _check_auth(self, req: Request) -> dict | None:
        """None if the key and signature are good, else the 401 body."""
        if not hmac.compare_digest((req.headers.get("X-Api-Key") or "").encode(), self.api_key.encode()):
            return _error("invalid_api_key", "missing or wrong X-Api-Key")
        parts: dict[str, list[str]] = {}
        for item in (req.headers.get("X-Signature") or "").split(","):
            key, _, value = item.strip().partition("=")
            parts.setdefault(key, []).append(value)
        timestamps = parts.get("t", [])
        if len(timestamps) != 1 or not timestamps[0].isdigit() or not parts.get("v1"):
            return _error("invalid_signature", "X-Signature must be t=<unix seconds>,v1=<hex>")
        expected = hmac.new(self.api_key.encode(), timestamps[0].encode() + b"." + req.body,
                            hashlib.sha256).hexdigest()
        if not any(hmac.compare_digest(expected, v.lower()) for v in parts["v1"]):
            return _error("invalid_signature", "signature does not match the body")
        if abs(self.now() - int(timestamps[0])) > SIGNATURE_TOLERANCE_SECONDS:
            return _error("signature_expired",
                          f"signature time more than {SIGNATURE_TOLERANCE_SECONDS} s off")
        return None

    def _record(self, req: Request, case_id: str, body: Any, status: int | None, result: str,
                fault: str | None, error: str | None = None) -> None:
        version = body.get("version") if isinstance(body, dict) else None
        with self._lock:
            self._deliveries.append({
                "time": self.now(), "case_id": case_id,
                "version": version if isinstance(version, int) and not isinstance(version, bool) else None,
                "status": status, "result": result, "fault": fault, "error": error,
                "correlation_id": req.headers.get("X-Correlation-Id"),
                "body": body if isinstance(body, dict) else None,
            })

    # -- control endpoints -------------------------------------------------
    def _ctl_cases(self, req: Request) -> Reply:
        return 200, {"cases": self.cases(req.query.get("case_id"))}

    def _ctl_deliveries(self, req: Request) -> Reply:
        return 200, {"deliveries": self.deliveries(req.query.get("case_id"))}

    def _ctl_clear_cases(self, req: Request) -> Reply:
        self.clear_cases()
        return 200, {"ok": True}

    def _ctl_add_triage_fault(self, req: Request) -> Reply:
        body = req.json()
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object")
        self.inject_fault(body.get("mode", ""), body.get("count", 1), body.get("seconds"))
        return 200, {"ok": True}


# -- body validation -------------------------------------------------------
def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _parse(raw: bytes) -> dict:
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant) if raw else None
    except ValueError:
        raise _Invalid("body", "body is not JSON") from None
    if not isinstance(body, dict):
        raise _Invalid("body", "body must be a JSON object")
    return body


def _loose_json(raw: bytes) -> Any:
    """The body as JSON if it is any, for the delivery log; None otherwise."""
    try:
        return _parse(raw)
    except _Invalid:
        return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _optional(obj: dict, key: str, check, field: str, message: str) -> None:
    if obj.get(key) is not None and not check(obj[key]):
        raise _Invalid(field, message)


def _is_utc_time(value: Any) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is not None and parsed.utcoffset() == dt.timedelta(0)


def _validate(body: dict, url_case_id: str) -> None:  # noqa: C901 - one check per field of the triage system's schema
    case_id = body.get("case_id")
    if not isinstance(case_id, str) or not case_id or len(case_id) > MAX_CASE_ID_LENGTH:
        raise _Invalid("case_id", f"case_id must be a non-empty string of at most {MAX_CASE_ID_LENGTH}")
    if case_id != url_case_id:
        raise _Invalid("case_id", "case_id differs from the URL's")
    if not _is_int(body.get("version")) or body["version"] < 1:
        raise _Invalid("version", "version must be an integer >= 1")
    if body.get("status") not in STATUSES:
        raise _Invalid("status", f"status must be one of {sorted(STATUSES)}")
    if not _is_utc_time(body.get("received_at")):
        raise _Invalid("received_at", "received_at must be an ISO-8601 time in UTC")
    for key in ("caller_phone", "complaint"):
        _optional(body, key, lambda v: isinstance(v, str), key, f"{key} must be a string")

    patient = body.get("patient")
    if patient is not None:
        if not isinstance(patient, dict):
            raise _Invalid("patient", "patient must be an object")
        _optional(patient, "name", lambda v: isinstance(v, str), "patient.name", "must be a string")
        _optional(patient, "gender", lambda v: v in GENDERS, "patient.gender",
                  f"must be one of {sorted(GENDERS)}")
        _optional(patient, "age", lambda v: _is_int(v) and 0 <= v <= 150, "patient.age",
                  "must be an integer 0..150")

    location = body.get("location")
    if not isinstance(location, dict):
        raise _Invalid("location", "location is required and must be an object")
    for key, limit in (("latitude", 90), ("longitude", 180)):
        if not _is_number(location.get(key)) or not -limit <= location[key] <= limit:
            raise _Invalid(f"location.{key}", f"{key} must be a number in -{limit}..{limit}")
    if location.get("coord_system") != "gcj02":
        raise _Invalid("location.coord_system", 'coord_system must be "gcj02"')
    _optional(location, "accuracy_m", lambda v: _is_number(v) and v >= 0, "location.accuracy_m",
              "must be a number >= 0")
    _optional(location, "address_text", lambda v: isinstance(v, str), "location.address_text",
              "must be a string")

    vehicle = body.get("vehicle")
    if vehicle is not None:
        if not isinstance(vehicle, dict):
            raise _Invalid("vehicle", "vehicle must be an object")
        for key in ("vehicle_id", "plate_number"):
            _optional(vehicle, key, lambda v: isinstance(v, str), f"vehicle.{key}", "must be a string")
        _optional(vehicle, "eta", _is_utc_time, "vehicle.eta", "must be an ISO-8601 time in UTC")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7002)
    parser.add_argument("--api-key", required=True, help="the shared key (X-Api-Key and HMAC key)")
    parser.add_argument("--fault-timeout", type=float, default=10.0, help="seconds a 'timeout' fault stalls")
    args = parser.parse_args(argv)
    serve_forever(TriageSimulator(args.api_key, args.host, args.port, fault_timeout_seconds=args.fault_timeout),
                  "ED triage simulator")


if __name__ == "__main__":
    main()
