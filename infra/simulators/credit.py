"""Credit-care provider simulator (wire format in hospital.adapters.credit): enrolments with a
limit, charges against it (idempotent by charge_no), reversals (idempotent by reversal_no), and
signed callbacks to our /callbacks/credit when a debt is settled or falls overdue.

    POST /_sim/settle {"charge_no", "settled_by": "patient"|"provider"}   the debt is paid
    POST /_sim/overdue {"charge_no"}                                      the due date passed
    POST /_sim/options {"limit_fen", "decline": true, "callback_url", "statement_page_max"}
    GET  /_sim/charges, /_sim/reversals, /_sim/settlements, /_sim/callbacks
    /_sim/statement-edits (infra.simulators.statement_edits): a day's statement drops, changes or
        adds entries: {"kind": "charge" | "reversal" | "settlement", "entry_id", "charge_no",
        "charge_id", "reversal_no", "amount_fen", "status", "settled_by", "at" (epoch seconds)}
Faults through /_sim/faults (paths as registered, e.g. /credit/v1/charges,
/credit/v1/statements/{date}).

The daily statement (`GET /credit/v1/statements/{date}`, format in hospital.adapters.credit)
lists the approved charges, the reversals and the settlements of a Beijing day by when they
were made, a page at a time; a charge shows its status as of the statement's making.

Run alone: python -m infra.devenv credit --port 7005
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid

from infra.simulators import statement_edits
from infra.simulators._http import Request, SimulatorServer
from infra.simulators.statement_edits import StatementEdits

CST = dt.timezone(dt.timedelta(hours=8))


class CreditSimulator(SimulatorServer):
    def __init__(self, api_key: str, host: str = "127.0.0.1", port: int = 0, *, callback_url: str | None = None,
                 limit_fen: int = 500_000):
        super().__init__(host, port)
        self.api_key = api_key
        self.callback_url = callback_url
        self.limit_fen = limit_fen
        self.decline = False
        self.enrolments: dict[str, dict] = {}
        self.charges: dict[str, dict] = {}
        self.reversals: dict[str, dict] = {}
        self.settlements: list[dict] = []
        self.callbacks: list[dict] = []
        self.statement_page_max = 500   # entries per statement page at most, whatever the limit asked
        self.statement_edits = StatementEdits()
        statement_edits.add_routes(self, self.statement_edits)
        for method, path, handler in (
            ("POST", "/credit/v1/enrolments", self._enrol),
            ("GET", "/credit/v1/enrolments/{enrolment_id}", self._enrolment),
            ("DELETE", "/credit/v1/enrolments/{enrolment_id}", self._withdraw),
            ("POST", "/credit/v1/charges", self._charge),
            ("POST", "/credit/v1/charges/{charge_no}/reversals", self._reverse),
            ("GET", "/credit/v1/statements/{date}", self._statement),
            ("POST", "/_sim/settle", self._ctl_settle),
            ("POST", "/_sim/overdue", self._ctl_overdue),
            ("POST", "/_sim/options", self._ctl_options),
            ("GET", "/_sim/charges", lambda req: (200, list(self.charges.values()))),
            ("GET", "/_sim/reversals", lambda req: (200, list(self.reversals.values()))),
            ("GET", "/_sim/settlements", lambda req: (200, list(self.settlements))),
            ("GET", "/_sim/callbacks", lambda req: (200, list(self.callbacks))),
        ):
            self.route(method, path, handler)

    # ---- API ------------------------------------------------------------------------------
    def _checked(self, req: Request):
        timestamp = req.headers.get("X-Credit-Timestamp") or ""
        expected = hmac.new(self.api_key.encode(), timestamp.encode() + b"." + req.body, hashlib.sha256).hexdigest()
        if not timestamp.isdigit() or abs(self.now() - int(timestamp)) > 300 or \
                not hmac.compare_digest(expected, req.headers.get("X-Credit-Signature") or ""):
            return None
        try:
            return req.json() if req.body else {}
        except ValueError:
            return None

    def _enrol(self, req: Request):
        body = self._checked(req)
        if body is None:
            return 401, {"code": "E_AUTH", "message": "bad signature"}
        if self.decline:
            return 422, {"code": "E_DECLINED", "message": "credit assessment declined"}
        enrolment = {"enrolment_id": "CE" + uuid.uuid4().hex[:14], "member_ref": body.get("member_ref"),
                     "status": "active", "limit_fen": self.limit_fen}
        with self._lock:
            self.enrolments[enrolment["enrolment_id"]] = enrolment
        return 200, self._view(enrolment)

    def _view(self, enrolment: dict) -> dict:
        used = sum(c["amount_fen"] - c["reversed_fen"] for c in self.charges.values()
                   if c["enrolment_id"] == enrolment["enrolment_id"] and c["status"] in ("approved", "overdue"))
        overdue = sum(c["amount_fen"] - c["reversed_fen"] for c in self.charges.values()
                      if c["enrolment_id"] == enrolment["enrolment_id"] and c["status"] == "overdue")
        return {"enrolment_id": enrolment["enrolment_id"], "status": enrolment["status"],
                "limit_fen": enrolment["limit_fen"], "available_fen": max(0, enrolment["limit_fen"] - used),
                "overdue_fen": overdue}

    def _enrolment(self, req: Request):
        if self._checked(req) is None:
            return 401, {"code": "E_AUTH", "message": "bad signature"}
        enrolment = self.enrolments.get(req.params["enrolment_id"])
        if enrolment is None:
            return 404, {"code": "E_NO_ENROLMENT", "message": "no such enrolment"}
        return 200, self._view(enrolment)

    def _withdraw(self, req: Request):
        if self._checked(req) is None:
            return 401, {"code": "E_AUTH", "message": "bad signature"}
        with self._lock:
            enrolment = self.enrolments.get(req.params["enrolment_id"])
            if enrolment is None:
                return 404, {"code": "E_NO_ENROLMENT", "message": "no such enrolment"}
            if self._view(enrolment)["available_fen"] < enrolment["limit_fen"]:
                return 409, {"code": "E_OUTSTANDING_DEBT", "message": "settle the outstanding debt first"}
            enrolment["status"] = "withdrawn"
        return 200, {"status": "withdrawn"}

    def _charge(self, req: Request):
        body = self._checked(req)
        if body is None:
            return 401, {"code": "E_AUTH", "message": "bad signature"}
        amount = body.get("amount_fen")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 1:
            return 400, {"code": "E_PARAM", "message": "amount_fen must be a positive integer"}
        with self._lock:
            existing = self.charges.get(body.get("charge_no"))
            if existing is not None:
                return 200, existing  # the same charge asked again
            enrolment = self.enrolments.get(body.get("enrolment_id"))
            if enrolment is None or enrolment["status"] != "active":
                return 404, {"code": "E_NO_ENROLMENT", "message": "no active enrolment"}
            status = "approved" if amount <= self._view(enrolment)["available_fen"] and not self.decline else "declined"
            charge = {"charge_id": "CC" + uuid.uuid4().hex[:14], "charge_no": body["charge_no"],
                      "enrolment_id": enrolment["enrolment_id"], "amount_fen": amount, "reversed_fen": 0,
                      "status": status, "due_date": (dt.date.today() + dt.timedelta(days=30)).isoformat(),
                      "created_at": self.now()}
            self.charges[charge["charge_no"]] = charge
        return 200, charge

    def _reverse(self, req: Request):
        body = self._checked(req)
        if body is None:
            return 401, {"code": "E_AUTH", "message": "bad signature"}
        with self._lock:
            existing = self.reversals.get(body.get("reversal_no"))
            if existing is not None:
                return 200, existing
            charge = self.charges.get(req.params["charge_no"])
            amount = body.get("amount_fen")
            if charge is None or charge["status"] == "declined":
                return 404, {"code": "E_NO_CHARGE", "message": "no such charge"}
            if not isinstance(amount, int) or amount < 1 or charge["reversed_fen"] + amount > charge["amount_fen"]:
                return 400, {"code": "E_PARAM", "message": "reversal exceeds the charge"}
            charge["reversed_fen"] += amount
            reversal = {"reversal_id": "CR" + uuid.uuid4().hex[:14], "reversal_no": body["reversal_no"],
                        "charge_no": charge["charge_no"], "amount_fen": amount, "status": "succeeded",
                        "created_at": self.now()}
            self.reversals[reversal["reversal_no"]] = reversal
        return 200, reversal

    # ---- callbacks ------------------------------------------------------------------------
    def send_callback(self, event: str, charge_no: str, settled_by: str | None = None, *, tamper: bool = False,
                      age_seconds: int = 0) -> int | str:
        import requests

        charge = self.charges[charge_no]
        payload = {"event": event, "event_id": uuid.uuid4().hex, "charge_no": charge_no,
                   "settled_fen": charge["amount_fen"] - charge["reversed_fen"], "settled_by": settled_by,
                   "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        body = json.dumps(payload, ensure_ascii=False).encode()
        timestamp = int(self.now()) - age_seconds
        signature = hmac.new(self.api_key.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
        if tamper:
            body = body.replace(b'"charge.', b'"charge .')
        try:
            answer = requests.post(self.callback_url, data=body, timeout=5, headers={
                "Content-Type": "application/json", "X-Credit-Timestamp": str(timestamp),
                "X-Credit-Signature": signature})
            status: int | str = answer.status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        with self._lock:
            self.callbacks.append({"event": event, "charge_no": charge_no, "status": status})
        return status

    def settle(self, charge_no: str, settled_by: str = "patient", notify: bool = True) -> dict:
        """The debt is paid (by the patient, or by the provider on their behalf): the charge is
        settled, the settlement recorded (the statement's), and we are told unless `notify` is off."""
        if settled_by not in ("patient", "provider"):
            raise ValueError("settled_by is patient or provider")
        with self._lock:
            charge = self.charges[charge_no]
            charge["status"] = "settled"
            settlement = {"settlement_id": "CS" + uuid.uuid4().hex[:14], "charge_no": charge_no,
                          "charge_id": charge["charge_id"], "amount_fen": charge["amount_fen"] - charge["reversed_fen"],
                          "settled_by": settled_by, "status": "succeeded", "created_at": self.now()}
            self.settlements.append(settlement)
        if notify:
            settlement["callback_status"] = self.send_callback("charge.settled", charge_no, settled_by)
        return settlement

    def _ctl_settle(self, req: Request):
        body = req.json() or {}
        if body.get("charge_no") not in self.charges:
            return 404, {"error": "no such charge"}
        settlement = self.settle(body["charge_no"], body.get("settled_by", "patient"))
        return 200, {"callback_status": settlement["callback_status"]}

    def _ctl_overdue(self, req: Request):
        body = req.json() or {}
        charge = self.charges.get(body.get("charge_no"))
        if charge is None:
            return 404, {"error": "no such charge"}
        charge["status"] = "overdue"
        return 200, {"callback_status": self.send_callback("charge.overdue", charge["charge_no"])}

    def _ctl_options(self, req: Request):
        body = req.json() or {}
        for key in ("limit_fen", "decline", "callback_url", "statement_page_max"):
            if key in body:
                setattr(self, key, body[key])
        return 200, {"limit_fen": self.limit_fen, "decline": self.decline, "callback_url": self.callback_url,
                     "statement_page_max": self.statement_page_max}

    # ---- the daily statement --------------------------------------------------------------
    def statement_entries(self, day: dt.date | str) -> list[dict]:
        """The day's entries (Beijing), in order, its edits applied."""
        day = day if isinstance(day, str) else day.isoformat()
        with self._lock:
            entries = [_entry("charge", c["charge_id"], c, c["charge_id"]) for c in self.charges.values()
                       if c["status"] != "declined" and _day(c["created_at"]) == day]
            entries += [_entry("reversal", r["reversal_id"], r, self.charges[r["charge_no"]]["charge_id"],
                               reversal_no=r["reversal_no"])
                        for r in self.reversals.values() if _day(r["created_at"]) == day]
            entries += [_entry("settlement", s["settlement_id"], s, s["charge_id"], settled_by=s["settled_by"])
                        for s in self.settlements if _day(s["created_at"]) == day]
        edited = self.statement_edits.apply(day, entries, _blank_entry)
        return sorted(edited, key=lambda entry: (entry["at"], entry["entry_id"]))

    def _statement(self, req: Request):
        if self._checked(req) is None:
            return 401, {"code": "E_AUTH", "message": "bad signature"}
        try:
            day = dt.date.fromisoformat(req.params["date"]).isoformat()
            start = int(req.query.get("cursor") or 0)
            limit = int(req.query.get("limit") or 100)
        except ValueError:
            return 400, {"code": "E_PARAM", "message": "date is YYYY-MM-DD; cursor and limit are numbers"}
        entries = self.statement_entries(day)
        if not 0 <= start <= len(entries) or limit < 1:
            return 400, {"code": "E_PARAM", "message": "not a cursor of this statement, or limit below 1"}
        page = entries[start:start + min(limit, self.statement_page_max)]
        end = start + len(page)
        return 200, {"date": day, "entries": [_wire_entry(entry) for entry in page],
                     "next_cursor": str(end) if end < len(entries) else None,
                     "summary": {"count": len(entries), **{f"{kind}_fen": sum(e["amount_fen"] for e in entries
                                                                            if e["kind"] == kind)
                                                           for kind in ("charge", "reversal", "settlement")}}}


def _entry(kind: str, entry_id: str, record: dict, charge_id: str, reversal_no: str | None = None,
           settled_by: str | None = None) -> dict:
    return {"kind": kind, "entry_id": entry_id, "charge_no": record["charge_no"], "charge_id": charge_id,
            "reversal_no": reversal_no, "amount_fen": record["amount_fen"], "status": record["status"],
            "settled_by": settled_by, "at": record["created_at"]}


def _day(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, CST).date().isoformat()


def _wire_entry(entry: dict) -> dict:
    return {"entry_id": entry["entry_id"], "type": entry["kind"], "charge_no": entry["charge_no"],
            "charge_id": entry["charge_id"], "reversal_no": entry["reversal_no"], "amount_fen": entry["amount_fen"],
            "status": entry["status"], "settled_by": entry["settled_by"],
            "occurred_at": dt.datetime.fromtimestamp(entry["at"], CST).isoformat(timespec="seconds")}


def _blank_entry(kind: str, day: str) -> dict:
    """An entry nobody made here, at noon of `day` (statement_edits.add fills it in)."""
    if kind not in ("charge", "reversal", "settlement"):
        raise ValueError("a statement entry is a charge, a reversal or a settlement")
    charge_id = "CC" + uuid.uuid4().hex[:14]
    return {"kind": kind, "entry_id": charge_id if kind == "charge" else "CX" + uuid.uuid4().hex[:14],
            "charge_no": "STRAY" + uuid.uuid4().hex[:16].upper(), "charge_id": charge_id,
            "reversal_no": "RSTRAY" + uuid.uuid4().hex[:12].upper() if kind == "reversal" else None,
            "amount_fen": 1000, "status": {"charge": "approved"}.get(kind, "succeeded"),
            "settled_by": "patient" if kind == "settlement" else None,
            "at": dt.datetime.combine(dt.date.fromisoformat(day), dt.time(12), CST).timestamp()}
