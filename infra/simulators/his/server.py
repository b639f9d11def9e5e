"""HisSimulator: the gateway endpoint, its signature, its bills (FEE_QUERY, PAY_CONFIRM) and
per-trade-code faults; the outpatient trades come from the desks it is made of."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

from infra.simulators._http import Request, SimulatorServer
from infra.simulators.his import controls
from infra.simulators.his.common import Refusal, amount_text, yuan
from infra.simulators.his.ledger import LedgerDesk
from infra.simulators.his.patients import PatientDesk
from infra.simulators.his.registrations import RegistrationDesk
from infra.simulators.his.schedule import ScheduleDesk

GATEWAY_PATH = "/his/gateway"
BILL_FIELDS = ("bill_no", "patient_id", "bill_type", "title", "amount", "status")
# Trade code -> the method answering it (its data, or a Refusal).
TRADES = {"FEE_QUERY": "_fee_query", "PAY_CONFIRM": "_pay_confirm", "DEPT_QUERY": "_dept_query",
          "DOCTOR_QUERY": "_doctor_query", "SLOT_QUERY": "_slot_query", "SUSPENSION_QUERY": "_suspension_query",
          "ARCHIVE_QUERY": "_archive_query", "CARD_BIND": "_card_bind", "CARD_UNBIND": "_card_unbind",
          "SLOT_HOLD": "_slot_hold", "SLOT_RELEASE": "_slot_release", "REG_QUERY": "_reg_query",
          "REG_CANCEL_CHECK": "_reg_cancel_check", "REG_CANCEL": "_reg_cancel", "DAILY_LEDGER": "_daily_ledger"}


def trade_key(trade_code: str) -> str:
    """The fault and stats key of one trade code (the gateway path keeps counting all of them)."""
    return f"{GATEWAY_PATH}#{trade_code}"


class HisSimulator(RegistrationDesk, PatientDesk, ScheduleDesk, LedgerDesk, SimulatorServer):
    def __init__(self, api_key: str, host: str = "127.0.0.1", port: int = 0, *, hold_minutes: float = 15,
                 fault_timeout_seconds: float = 10.0):
        super().__init__(host, port, fault_timeout_seconds=fault_timeout_seconds)
        self.api_key = api_key
        self.bills: dict[str, dict] = {}
        self.confirmations: list[dict] = []
        self._init_schedule()
        self._init_patients()
        self._init_registrations(hold_minutes)
        self._init_ledger()
        self.route("POST", GATEWAY_PATH, self._gateway)
        self.route("POST", "/_sim/bills", self._ctl_add_bill)
        self.route("POST", "/_sim/bills/{bill_no}/cancel", self._ctl_cancel_bill)
        self.route("GET", "/_sim/bills", lambda req: (200, list(self.bills.values())))
        self.route("GET", "/_sim/confirmations", lambda req: (200, list(self.confirmations)))
        controls.add_routes(self)

    def add_bill(self, patient_id: str, amount: str, bill_type: str = "registration", title: str | None = None,
                 bill_no: str | None = None) -> dict:
        amount_text(amount)  # a yuan string, as the HIS keeps it
        bill = {"bill_no": bill_no or f"B{uuid.uuid4().hex[:12].upper()}", "patient_id": patient_id,
                "bill_type": bill_type,
                "title": title or {"registration": "挂号费", "outpatient": "门诊缴费"}[bill_type],
                "amount": amount, "status": "unpaid", "pay_order_no": None, "receipt_no": None}
        with self._lock:
            self.bills[bill["bill_no"]] = bill
        return bill

    def inject_trade_fault(self, trade_code: str, mode: str, count: int = 1, seconds: float | None = None,
                           errcode: int = -1) -> None:
        """Make the next `count` calls of one trade code fail with `mode` (the base's FAULT_MODES);
        the other trade codes keep working."""
        if trade_code not in TRADES:
            raise ValueError(f"trade_code must be one of {', '.join(TRADES)}")
        self.inject_fault(trade_key(trade_code), mode, count, errcode, seconds)

    def call_keys(self, req: Request, route_path: str) -> tuple[str, ...]:
        if route_path != GATEWAY_PATH:
            return (route_path,)
        try:
            code = json.loads(req.body).get("trade_code")
        except (ValueError, AttributeError):
            code = None
        return (trade_key(code), route_path) if isinstance(code, str) else (route_path,)

    def fault_body(self, errcode: int) -> dict:
        return {"code": "E_SYSTEM", "message": f"system busy ({errcode})"}

    # -- the gateway ----------------------------------------------------------------------------------
    def _gateway(self, req: Request):
        timestamp = req.headers.get("X-His-Timestamp") or ""
        expected = hmac.new(self.api_key.encode(), timestamp.encode() + b"." + req.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, req.headers.get("X-His-Signature") or "") or \
                not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 300:
            return 401, {"code": "E_AUTH", "message": "bad signature"}
        try:
            call = json.loads(req.body)
            code, data = call["trade_code"], call["data"]
        except (ValueError, KeyError, TypeError):
            return 400, {"code": "E_FORMAT", "message": "not a gateway call"}
        if not isinstance(data, dict):
            return 400, {"code": "E_FORMAT", "message": "data must be an object"}
        method = TRADES.get(code) if isinstance(code, str) else None
        if method is None:
            return 200, {"code": "E_TRADE_CODE", "message": f"unknown trade code {code}"}
        with self._lock:
            self._expire_holds()
            try:
                return 200, {"code": "0", "message": "ok", "data": getattr(self, method)(data)}
            except Refusal as refusal:
                return 200, {"code": refusal.code, "message": refusal.message}

    def _fee_query(self, data: dict) -> dict:
        bill = self.bills.get(str(data.get("bill_no")))
        if bill is None:
            raise Refusal("E_NO_BILL", "no such bill")
        return {k: bill[k] for k in BILL_FIELDS}

    def _pay_confirm(self, data: dict) -> dict:
        bill = self.bills.get(str(data.get("bill_no")))
        if bill is None:
            raise Refusal("E_NO_BILL", "no such bill")
        hold = self._hold_of_bill(bill["bill_no"])
        if bill["status"] == "paid":
            if bill["pay_order_no"] == data.get("pay_order_no"):
                return self._receipt(bill)
            raise Refusal("E_PAID_BY_OTHER", "the bill was paid by another order")
        if hold is not None:
            self._check_payable(hold)
        if bill["status"] == "cancelled":
            raise Refusal("E_BILL_CANCELLED", "the bill was cancelled")
        if yuan(data.get("amount")) != yuan(bill["amount"]):
            raise Refusal("E_AMOUNT_MISMATCH", "amount differs from the bill")
        bill.update(status="paid", pay_order_no=data.get("pay_order_no"),
                    receipt_no=f"R{uuid.uuid4().hex[:10].upper()}", transaction_id=data.get("transaction_id"),
                    channel=data.get("channel"))
        if hold is not None:
            self._pay_hold(hold)
        receipt = self._receipt(bill)
        self.confirmations.append({**data, **receipt, "booked_at": self.now()})
        return receipt

    def _receipt(self, bill: dict) -> dict:
        answer = {"bill_no": bill["bill_no"], "receipt_no": bill["receipt_no"]}
        hold = self._hold_of_bill(bill["bill_no"])
        if hold is not None and hold["reg_no"]:
            answer.update(reg_no=hold["reg_no"], visit_no=hold["visit_no"])
        return answer

    # -- bill controls --------------------------------------------------------------------------------
    def _ctl_add_bill(self, req: Request):
        body = req.json() or {}
        return 200, self.add_bill(str(body["patient_id"]), str(body["amount"]), body.get("bill_type", "registration"),
                                  body.get("title"), body.get("bill_no"))

    def _ctl_cancel_bill(self, req: Request):
        with self._lock:
            bill = self.bills.get(req.params["bill_no"])
            if bill is None:
                return 404, {"error": "no such bill"}
            if bill["status"] == "unpaid":
                bill["status"] = "cancelled"
        return 200, bill
