"""HIS simulator: the hospital information system's gateway (see hospital.adapters.his for the
wire format), holding bills that tests and `make run` create.

    POST /his/gateway                 FEE_QUERY, PAY_CONFIRM (signed with the shared key)
    POST /_sim/bills {"bill_no", "patient_id", "bill_type", "amount": "25.00", "title"}
    POST /_sim/bills/{bill_no}/cancel the bill is withdrawn (a later PAY_CONFIRM is refused)
    GET  /_sim/bills, /_sim/confirmations
Faults (down, slow) through the shared /_sim/faults with path /his/gateway.

Run alone: python -m infra.devenv his --port 7004
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from decimal import Decimal

from infra.simulators._http import Request, SimulatorServer


class HisSimulator(SimulatorServer):
    def __init__(self, api_key: str, host: str = "127.0.0.1", port: int = 0):
        super().__init__(host, port)
        self.api_key = api_key
        self.bills: dict[str, dict] = {}
        self.confirmations: list[dict] = []
        self.route("POST", "/his/gateway", self._gateway)
        self.route("POST", "/_sim/bills", self._ctl_add_bill)
        self.route("POST", "/_sim/bills/{bill_no}/cancel", self._ctl_cancel_bill)
        self.route("GET", "/_sim/bills", lambda req: (200, list(self.bills.values())))
        self.route("GET", "/_sim/confirmations", lambda req: (200, list(self.confirmations)))

    def add_bill(self, patient_id: str, amount: str, bill_type: str = "registration", title: str | None = None,
                 bill_no: str | None = None) -> dict:
        Decimal(amount)  # a yuan string, as the HIS keeps it
        bill = {"bill_no": bill_no or f"B{uuid.uuid4().hex[:12].upper()}", "patient_id": patient_id,
                "bill_type": bill_type,
                "title": title or {"registration": "挂号费", "outpatient": "门诊缴费"}[bill_type],
                "amount": amount, "status": "unpaid", "pay_order_no": None, "receipt_no": None}
        with self._lock:
            self.bills[bill["bill_no"]] = bill
        return bill

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
        handler = {"FEE_QUERY": self._fee_query, "PAY_CONFIRM": self._pay_confirm}.get(code)
        if handler is None:
            return 200, {"code": "E_TRADE_CODE", "message": f"unknown trade code {code}"}
        return 200, handler(data)

    def _fee_query(self, data: dict) -> dict:
        bill = self.bills.get(str(data.get("bill_no")))
        if bill is None:
            return {"code": "E_NO_BILL", "message": "no such bill"}
        fields = ("bill_no", "patient_id", "bill_type", "title", "amount", "status")
        return {"code": "0", "message": "ok", "data": {k: bill[k] for k in fields}}

    def _pay_confirm(self, data: dict) -> dict:
        with self._lock:
            bill = self.bills.get(str(data.get("bill_no")))
            if bill is None:
                return {"code": "E_NO_BILL", "message": "no such bill"}
            if bill["status"] == "paid":
                if bill["pay_order_no"] == data.get("pay_order_no"):
                    return {"code": "0", "message": "ok", "data": {"bill_no": bill["bill_no"],
                                                                   "receipt_no": bill["receipt_no"]}}
                return {"code": "E_PAID_BY_OTHER", "message": "the bill was paid by another order"}
            if bill["status"] == "cancelled":
                return {"code": "E_BILL_CANCELLED", "message": "the bill was cancelled"}
            if Decimal(str(data.get("amount"))) != Decimal(bill["amount"]):
                return {"code": "E_AMOUNT_MISMATCH", "message": "amount differs from the bill"}
            bill.update(status="paid", pay_order_no=data.get("pay_order_no"),
                        receipt_no=f"R{uuid.uuid4().hex[:10].upper()}")
            self.confirmations.append(dict(data))
            return {"code": "0", "message": "ok",
                    "data": {"bill_no": bill["bill_no"], "receipt_no": bill["receipt_no"]}}

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
