"""The hospital information system (HIS), through one gateway endpoint with transaction codes,
as typical Chinese HIS interfaces are. This adapter is the only place that knows the wire
format; a hospital with another HIS replaces this module, not the business code.

Wire format: ``POST {HIS_API_BASE}/his/gateway`` with JSON
``{"trade_code": "...", "request_id": "<unique>", "data": {...}}`` and the headers
``X-His-Timestamp: <unix seconds>`` and ``X-His-Signature: hex(HMAC-SHA256(key, ts + "." + body))``.
Answers: ``{"code": "0", "message": "ok", "data": {...}}``, or a business refusal
``{"code": "E_...", "message": "..."}`` (HTTP 200). HIS amounts are yuan strings ("25.00"),
converted to fen with Decimal (hospital.money), never through float.

Trade codes used here:
- ``FEE_QUERY {"bill_no"}`` -> ``{"bill_no", "patient_id", "bill_type", "title", "amount", "status"}``
  (status: unpaid, paid, cancelled)
- ``PAY_CONFIRM {"bill_no", "pay_order_no", "transaction_id", "amount", "channel", "paid_at"}``
  -> ``{"bill_no", "receipt_no"}``; idempotent on pay_order_no. Refusals: E_BILL_CANCELLED,
  E_AMOUNT_MISMATCH, E_PAID_BY_OTHER, E_NO_BILL.

Errors: ``HisRefused`` (a business answer: do not retry), ``UpstreamUnavailable`` (down, slow,
5xx, garbled: retry later).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from hospital import config, money, settings
from hospital.adapters import signing
from hospital.errors import UpstreamUnavailable

GATEWAY_PATH = "/his/gateway"


class HisRefused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


@dataclass(frozen=True)
class Bill:
    bill_no: str
    patient_id: str
    bill_type: str
    title: str
    amount_fen: int
    status: str




class HisClient:
    def __init__(self, base_url: str, api_key: str, timeout: tuple[float, float] = (2, 5)):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"HisClient({self.base_url!r})"

    def bill(self, bill_no: str) -> Bill:
        data = self._call("FEE_QUERY", {"bill_no": bill_no}, query=True)
        try:
            return Bill(str(data["bill_no"]), str(data["patient_id"]), str(data["bill_type"]),
                        str(data.get("title") or data["bill_type"]), money.yuan_to_fen(data["amount"]),
                        str(data["status"]))
        except (KeyError, money.MoneyError) as exc:
            raise UpstreamUnavailable(f"the HIS answered a bill we cannot read ({type(exc).__name__})") from None

    def confirm_payment(self, *, bill_no: str, pay_order_no: str, transaction_id: str, amount_fen: int,
                        channel: str, paid_at: str) -> dict:
        return self._call("PAY_CONFIRM", {"bill_no": bill_no, "pay_order_no": pay_order_no,
                                          "transaction_id": transaction_id, "amount": money.fen_to_yuan(amount_fen),
                                          "channel": channel, "paid_at": paid_at})

    def _call(self, trade_code: str, data: dict, query: bool = False) -> dict:
        body = json.dumps({"trade_code": trade_code, "request_id": uuid.uuid4().hex, "data": data},
                          ensure_ascii=False, separators=(",", ":")).encode()

        def interpret(status: int, reply):
            if status != 200 or not isinstance(reply, dict) or "code" not in reply:
                raise UpstreamUnavailable(f"the HIS answered {status} in a form that is not its own")
            if str(reply["code"]) != "0":
                raise HisRefused(str(reply["code"]), str(reply.get("message") or ""))
            return reply.get("data") or {}

        return signing.call(system="his", name="the HIS", operation=trade_code, method="POST",
                            url=self.base_url + GATEWAY_PATH, body=body, key=self._api_key, prefix="X-His",
                            timeout=self.timeout, interpret=interpret, query=query)


def client() -> HisClient:
    return HisClient(settings.HIS_API_BASE.get(), config.secret_value(settings.HIS_SECRET_ARN, "api_key"))
