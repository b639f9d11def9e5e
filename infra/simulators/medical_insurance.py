"""Medical-insurance platform simulator (wire format in hospital.adapters.medical_insurance):
auth codes to single-use pay_auth_no, fee upload (6201), pre-settlement with a configurable
split (6202), refunds of the insurance part (6203, idempotent by out_refund_no).

    POST /_sim/auth-code {"psn_no", "name"?, "certno"?} -> {"auth_code"} (the patient authorised)
    add_person(psn_no, ...)                          the person 1101 answers for
    POST /_sim/split {"fund_ratio": 0.6, "account_ratio": 0.3}   the share of each part
    POST /_sim/refund-mode {"mode": "immediate" | "processing"}  6203 answers SUCCESS, or PROCESSING
    POST /_sim/refunds/{out_refund_no}/finish   a processing refund succeeds; the callback follows
    GET  /_sim/orders, /_sim/refunds, /_sim/callbacks
    /_sim/statement-edits (infra.simulators.statement_edits): a day's statement drops, changes or
        adds entries: {"kind": "payment" | "refund", "setl_id", "refd_id", "medins_ord",
        "out_refund_no", "total", "fund", "account", "other", "cash" (yuan strings, positive),
        "status", "at" (epoch seconds)}
Faults through /_sim/faults (paths /fsi/api/6202 ...).

The daily statement (3202, then 9102 for its file; format in hospital.adapters.medical_insurance)
lists the settlements (6202) and refunds (6203) of a Beijing day by when they were made; a
refund reverses its settlement whole. `record_settlement` books a settlement without the
calls before it (tests that need many).

Run alone: python -m infra.devenv medical_insurance --port 7006
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid
from decimal import ROUND_DOWN, Decimal

from infra.simulators import statement_edits
from infra.simulators._http import Request, SimulatorServer
from infra.simulators.statement_edits import StatementEdits

CST = dt.timezone(dt.timedelta(hours=8))
STATEMENT_COLUMNS = ("setl_type", "setl_id", "refd_id", "medins_ord", "out_refund_no", "medfee_sumamt",
                     "fund_pay_sumamt", "acct_pay", "oth_pay", "psn_cash_pay", "stas", "setl_time")
_PARTS = ("total", "fund", "account", "other", "cash")


class InsuranceSimulator(SimulatorServer):
    def __init__(self, api_key: str, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self.api_key = api_key
        self.fund_ratio, self.account_ratio = Decimal("0.6"), Decimal("0.3")
        self.auth_codes: dict[str, str] = {}     # auth_code -> psn_no
        self.persons: dict[str, dict] = {}       # psn_no -> its 1101 answer
        self.pay_auths: dict[str, dict] = {}     # pay_auth_no -> {psn_no, used}
        self.orders: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.refund_mode = "immediate"
        self.callback_url: str | None = None
        self.callbacks: list[dict] = []
        self.statement_files: dict[str, str] = {}   # file_qury_no -> the statement made at 3202
        self.statement_edits = StatementEdits()
        statement_edits.add_routes(self, self.statement_edits)
        self.route("POST", "/fsi/api/{infno}", self._api)
        self.route("POST", "/_sim/refund-mode", self._ctl_refund_mode)
        self.route("POST", "/_sim/refunds/{out_refund_no}/finish", self._ctl_finish_refund)
        self.route("GET", "/_sim/callbacks", lambda req: (200, list(self.callbacks)))
        self.route("POST", "/_sim/auth-code", self._ctl_auth_code)
        # The patient's authorisation page (the insurance mini-program's, stood in for): the
        # patient named by psn_no says yes at once, and the page gives the auth code.
        self.route("GET", "/ecv/authorise", lambda req: (200, {"auth_code": self.mint_auth_code(
            req.query.get("psn_no") or "PSN" + uuid.uuid4().hex[:8])}))
        self.route("POST", "/_sim/split", self._ctl_split)
        self.route("GET", "/_sim/orders", lambda req: (200, list(self.orders.values())))
        self.route("GET", "/_sim/refunds", lambda req: (200, list(self.refunds.values())))

    def call_keys(self, req: Request, route_path: str) -> tuple[str, ...]:
        """Each transaction number has its own fault key (/fsi/api/9102), besides the route's."""
        return (req.path, route_path) if req.path != route_path else (route_path,)

    def mint_auth_code(self, psn_no: str) -> str:
        code = "AC" + uuid.uuid4().hex[:16]
        with self._lock:
            self.auth_codes[code] = psn_no
        return code

    def add_person(self, psn_no: str, name: str = "张三", certno: str = "110101199003074514",
                   balance: str = "1234.56", ecard_no: str | None = None) -> dict:
        """A person as 1101 answers (an employee insured in Beijing, an active e-card)."""
        person = {"baseinfo": {"psn_no": psn_no, "psn_name": name, "gend": "1", "brdy": certno[6:14],
                               "certno": certno, "psn_cert_type": "01"},
                  "insuinfo": [{"insutype": "310", "psn_type": "11", "balc": balance, "insuplc_admdvs": "110100",
                                "psn_insu_stas": "1"}],
                  "ecard": {"ecard_no": ecard_no or f"EC{psn_no}{uuid.uuid4().hex[:8]}", "status": "active"}}
        with self._lock:
            self.persons[psn_no] = person
        return person

    def _api(self, req: Request):
        timestamp = req.headers.get("X-Ins-Timestamp") or ""
        expected = hmac.new(self.api_key.encode(), timestamp.encode() + b"." + req.body, hashlib.sha256).hexdigest()
        if not timestamp.isdigit() or abs(self.now() - int(timestamp)) > 300 or \
                not hmac.compare_digest(expected, req.headers.get("X-Ins-Signature") or ""):
            return 200, {"infcode": -1, "err_msg": "signature verification failed"}
        try:
            call = json.loads(req.body)
            data = call["input"]
        except (ValueError, KeyError):
            return 200, {"infcode": -1, "err_msg": "malformed request"}
        if req.params["infno"] == "9102":
            return self._download(data)
        handler = {"AUTH": self._auth, "1101": self._person, "6201": self._upload, "6202": self._pre_settle,
                   "6203": self._refund,
                   "3202": self._make_statement}.get(req.params["infno"])
        if handler is None:
            return 200, {"infcode": -1, "err_msg": f"unknown infno {req.params['infno']}"}
        with self._lock:
            return 200, handler(data)

    def _auth(self, data: dict) -> dict:
        psn_no = self.auth_codes.pop(str(data.get("auth_code")), None)  # a code is good once
        if psn_no is None:
            return {"infcode": 1001, "err_msg": "auth code invalid or used"}
        pay_auth_no = "PA" + uuid.uuid4().hex[:20]
        self.pay_auths[pay_auth_no] = {"psn_no": psn_no, "used": False}
        return {"infcode": 0, "output": {"pay_auth_no": pay_auth_no, "psn_no": psn_no}}

    def _person(self, data: dict) -> dict:
        person = self.persons.get(str(data.get("psn_no")))
        if person is None:
            return {"infcode": 2001, "err_msg": "no such insured person"}
        return {"infcode": 0, "output": person}

    def _upload(self, data: dict) -> dict:
        auth = self.pay_auths.get(str(data.get("pay_auth_no")))
        if auth is None or auth["used"]:
            return {"infcode": 1002, "err_msg": "pay_auth_no invalid or already used"}
        pay_ord_id = "PO" + uuid.uuid4().hex[:20]
        self.orders[pay_ord_id] = {"pay_ord_id": pay_ord_id, "med_org_ord": data.get("med_org_ord"),
                                   "total": str(data.get("total")), "status": "UNPAID",
                                   "pay_auth_no": data.get("pay_auth_no")}
        return {"infcode": 0, "output": {"pay_ord_id": pay_ord_id}}

    def _pre_settle(self, data: dict) -> dict:
        order = self.orders.get(str(data.get("pay_ord_id")))
        auth = self.pay_auths.get(str(data.get("pay_auth_no")))
        if order is None or auth is None or auth["used"] or order["pay_auth_no"] != data.get("pay_auth_no"):
            return {"infcode": 1003, "err_msg": "no such order for this authorisation"}
        auth["used"] = True  # single use
        total = Decimal(order["total"])
        fund = (total * self.fund_ratio).quantize(Decimal("0.01"), ROUND_DOWN)
        account = (total * self.account_ratio).quantize(Decimal("0.01"), ROUND_DOWN)
        own = total - fund - account
        order.update(status="PAID", fund_pay=str(fund), psn_acct_pay=str(account), oth_pay="0.00", own_pay=str(own),
                     setl_time=self.now())
        return {"infcode": 0, "output": {"pay_ord_id": order["pay_ord_id"], "total": str(total), "fund_pay": str(fund),
                                         "psn_acct_pay": str(account), "oth_pay": "0.00", "own_pay": str(own)}}

    def _refund(self, data: dict) -> dict:
        existing = self.refunds.get(str(data.get("out_refund_no")))
        if existing is not None:
            return {"infcode": 0, "output": {"refund_status": existing["status"], "refund_id": existing["refund_id"]}}
        order = self.orders.get(str(data.get("pay_ord_id")))
        if order is None or order["status"] != "PAID":
            return {"infcode": 1004, "err_msg": "order not refundable"}
        if (Decimal(str(data.get("fund_pay"))), Decimal(str(data.get("psn_acct_pay")))) != \
                (Decimal(order["fund_pay"]), Decimal(order["psn_acct_pay"])):
            return {"infcode": 1005, "err_msg": "refund must return each part as paid"}
        order["status"] = "REFUNDED"
        refund = {"refund_id": "IR" + uuid.uuid4().hex[:16], "out_refund_no": data.get("out_refund_no"),
                  "pay_ord_id": order["pay_ord_id"], "fund_pay": data.get("fund_pay"),
                  "psn_acct_pay": data.get("psn_acct_pay"),
                  "status": "SUCCESS" if self.refund_mode == "immediate" else "PROCESSING", "created": self.now()}
        self.refunds[refund["out_refund_no"]] = refund
        return {"infcode": 0, "output": {"refund_status": refund["status"], "refund_id": refund["refund_id"]}}

    # ---- the daily statement -----------------------------------------------------------------
    def record_settlement(self, med_org_ord: str, total: str = "10.00", at: float | None = None) -> dict:
        """A settlement booked as 6201 and 6202 would (split by the current ratios), at `at`
        (epoch seconds; now by default)."""
        amount = Decimal(total)
        fund = (amount * self.fund_ratio).quantize(Decimal("0.01"), ROUND_DOWN)
        account = (amount * self.account_ratio).quantize(Decimal("0.01"), ROUND_DOWN)
        order = {"pay_ord_id": "PO" + uuid.uuid4().hex[:20], "med_org_ord": med_org_ord, "total": str(amount),
                 "status": "PAID", "pay_auth_no": None, "fund_pay": str(fund), "psn_acct_pay": str(account),
                 "oth_pay": "0.00", "own_pay": str(amount - fund - account),
                 "setl_time": self.now() if at is None else at}
        with self._lock:
            self.orders[order["pay_ord_id"]] = order
        return dict(order)

    def statement(self, day: dt.date | str) -> str:
        """The file 9102 would give for `day` (YYYY-MM-DD, Beijing), its edits applied."""
        return self._statement(day if isinstance(day, str) else day.isoformat())[0]

    def _statement(self, day: str) -> tuple[str, int]:
        with self._lock:
            entries = [self._statement_entry(order, None) for order in self.orders.values()
                       if order.get("setl_time") is not None and _cst_day(order["setl_time"]) == day]
            entries += [self._statement_entry(self.orders[refund["pay_ord_id"]], refund)
                        for refund in self.refunds.values() if _cst_day(refund["created"]) == day]
        entries = sorted(self.statement_edits.apply(day, entries, _blank_entry), key=lambda entry: entry["at"])
        lines = ["\t".join(STATEMENT_COLUMNS)]
        sums = dict.fromkeys(_PARTS, Decimal(0))
        for entry in entries:
            sign = 1 if entry["kind"] == "payment" else -1
            amounts = {part: Decimal(str(entry[part])) * sign for part in _PARTS}
            for part, amount in amounts.items():
                sums[part] += amount
            lines.append("\t".join((
                "PAY" if entry["kind"] == "payment" else "REFD", entry["setl_id"], entry["refd_id"],
                entry["medins_ord"], entry["out_refund_no"], *(_yuan(amounts[part]) for part in _PARTS),
                entry["status"],
                dt.datetime.fromtimestamp(entry["at"], CST).strftime("%Y-%m-%d %H:%M:%S"))))
        lines.append("\t".join(("TOTAL", str(len(entries)), *(_yuan(sums[part]) for part in _PARTS))))
        return "\r\n".join(lines) + "\r\n", len(entries)

    @staticmethod
    def _statement_entry(order: dict, refund: dict | None) -> dict:
        return {"kind": "refund" if refund else "payment", "setl_id": order["pay_ord_id"],
                "refd_id": refund["refund_id"] if refund else "", "medins_ord": order["med_org_ord"],
                "out_refund_no": refund["out_refund_no"] if refund else "", "total": order["total"],
                "fund": order["fund_pay"], "account": order["psn_acct_pay"], "other": order["oth_pay"],
                "cash": order["own_pay"], "status": refund["status"] if refund else "SUCCESS",
                "at": refund["created"] if refund else order["setl_time"]}

    def _make_statement(self, data: dict) -> dict:
        try:
            day = dt.date.fromisoformat(str(data.get("stmt_date"))).isoformat()
        except ValueError:
            return {"infcode": -1, "err_msg": "stmt_date must be YYYY-MM-DD"}
        text, count = self._statement(day)
        file_qury_no = "FQ" + uuid.uuid4().hex[:20]
        self.statement_files[file_qury_no] = text
        return {"infcode": 0, "output": {"file_qury_no": file_qury_no, "filename": f"3202-{day}.txt",
                                         "rec_cnt": count}}

    def _download(self, data: dict):
        text = self.statement_files.get(str(data.get("file_qury_no")))
        if text is None:
            return 200, {"infcode": -1, "err_msg": "file_qury_no unknown or expired"}
        return 200, text.encode("utf-8"), {"Content-Type": "text/plain; charset=utf-8"}

    def send_callback(self, payload: dict, *, tamper: bool = False) -> int | str:
        import time as _time

        import requests

        body = json.dumps({"event_id": uuid.uuid4().hex, **payload}, ensure_ascii=False).encode()
        timestamp = int(_time.time())
        signature = hmac.new(self.api_key.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
        try:
            answer = requests.post(self.callback_url, data=body + (b" " if tamper else b""), timeout=5, headers={
                "Content-Type": "application/json", "X-Ins-Timestamp": str(timestamp), "X-Ins-Signature": signature})
            status: int | str = answer.status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        with self._lock:
            self.callbacks.append({**payload, "status": status})
        return status

    def _ctl_refund_mode(self, req: Request):
        mode = (req.json() or {}).get("mode")
        if mode not in ("immediate", "processing"):
            raise ValueError("mode must be immediate or processing")
        self.refund_mode = mode
        return 200, {"mode": mode}

    def _ctl_finish_refund(self, req: Request):
        with self._lock:
            refund = self.refunds.get(req.params["out_refund_no"])
            if refund is None:
                return 404, {"error": "no such refund"}
            refund["status"] = "SUCCESS"
        news = {"event": "refund.succeeded", "pay_ord_id": refund["pay_ord_id"],
                "out_refund_no": refund["out_refund_no"]}
        return 200, {"callback_status": self.send_callback(news)}

    def _ctl_auth_code(self, req: Request):
        """The patient authorised in the insurance mini-program; a person not yet known is made
        (with the name and ID number given, if any) so 1101 answers for them."""
        body = req.json() or {}
        psn_no = str(body.get("psn_no") or "PSN" + uuid.uuid4().hex[:8])
        if psn_no not in self.persons:
            self.add_person(psn_no, **{k: str(body[k]) for k in ("name", "certno") if body.get(k)})
        return 200, {"auth_code": self.mint_auth_code(psn_no)}

    def _ctl_split(self, req: Request):
        body = req.json() or {}
        self.fund_ratio = Decimal(str(body.get("fund_ratio", self.fund_ratio)))
        self.account_ratio = Decimal(str(body.get("account_ratio", self.account_ratio)))
        return 200, {"fund_ratio": str(self.fund_ratio), "account_ratio": str(self.account_ratio)}


def _cst_day(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, CST).date().isoformat()


def _yuan(amount: Decimal) -> str:
    return f"{amount:.2f}" if amount else "0.00"   # never "-0.00"


def _blank_entry(kind: str, day: str) -> dict:
    """An entry nobody made here, at noon of `day` (statement_edits.add fills it in)."""
    if kind not in ("payment", "refund"):
        raise ValueError("a statement entry is a payment or a refund")
    noon = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(12), CST).timestamp()
    refund = kind == "refund"
    return {"kind": kind, "setl_id": "PO" + uuid.uuid4().hex[:20], "refd_id": "IR" + uuid.uuid4().hex[:16] if refund
            else "", "medins_ord": "STRAY" + uuid.uuid4().hex[:16].upper(),
            "out_refund_no": "RSTRAY" + uuid.uuid4().hex[:12].upper() if refund else "", "total": "10.00",
            "fund": "6.00", "account": "3.00", "other": "0.00", "cash": "1.00", "status": "SUCCESS", "at": noon}
