"""The credit-care provider (信用就医: pay after treatment). No single public product serves
hospitals, so this module defines the wire format a bank credit line, a city credit platform
or a payment provider's credit product is adapted to; a hospital's provider plugs in by
replacing this module.

Requests: JSON over HTTPS to ``CREDIT_API_BASE``, with ``X-Credit-Timestamp: <unix seconds>``
and ``X-Credit-Signature: hex(HMAC-SHA256(key, ts + "." + body))``. Amounts are integer fen.

- ``POST /credit/v1/enrolments {"member_ref", "consent_version", "consented_at"}``
  -> ``{"enrolment_id", "status": "active", "limit_fen", "available_fen"}`` (or 422 declined)
- ``GET /credit/v1/enrolments/{id}`` -> ``{"enrolment_id", "status", "limit_fen", "available_fen", "overdue_fen"}``
- ``DELETE /credit/v1/enrolments/{id}`` -> ``{"status": "withdrawn"}``; 409 ``E_OUTSTANDING_DEBT``
- ``POST /credit/v1/charges {"enrolment_id", "charge_no", "amount_fen", "description"}``
  -> ``{"charge_id", "status": "approved" | "declined", "due_date"}``; idempotent on charge_no
- ``POST /credit/v1/charges/{charge_no}/reversals {"reversal_no", "amount_fen"}``
  -> ``{"reversal_id", "status": "succeeded"}``; idempotent on reversal_no

Callbacks to us (``POST /callbacks/credit``), signed the same way with the same key:
``{"event": "charge.settled" | "charge.overdue", "event_id", "charge_no", "settled_fen",
"settled_by": "patient" | "provider", "at"}``; answered ``{"code": "SUCCESS"}``, or 401
``{"code": "FAIL", "message"}`` when the signature or its time (5 minutes) fails.

Errors: ``CreditRefused`` (4xx with a code: declined, outstanding debt ...), ``UpstreamUnavailable``.
A charge and a reversal answer become results (hospital.adapters.payment_results) at the end.
"""
from __future__ import annotations

import datetime as dt
import json

from hospital import config, settings
from hospital.adapters import signing
from hospital.adapters.payment_results import PaymentResult, RefundResult
from hospital.errors import UpstreamUnavailable


class CreditRefused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message




def verify_callback(headers: dict, body: bytes, key: str, now: float | None = None) -> None:
    """Raises ValueError (reason) unless the callback is signed with our key, in time."""
    signing.verify_timestamped(headers, body, key, "X-Credit", now)

class CreditClient:
    def __init__(self, base_url: str, key: str, timeout: tuple[float, float] = (2, 5)):
        self.base_url = base_url.rstrip("/")
        self._key = key
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"CreditClient({self.base_url!r})"

    def enrol(self, member_ref: str, consent_version: str, consented_at: str) -> dict:
        return self._call("POST", "/credit/v1/enrolments", {"member_ref": member_ref,
                                                            "consent_version": consent_version,
                                                            "consented_at": consented_at})

    def enrolment(self, enrolment_id: str) -> dict:
        return self._call("GET", f"/credit/v1/enrolments/{enrolment_id}")

    def withdraw(self, enrolment_id: str) -> dict:
        return self._call("DELETE", f"/credit/v1/enrolments/{enrolment_id}")

    def charge(self, enrolment_id: str, charge_no: str, amount_fen: int, description: str) -> dict:
        return self._call("POST", "/credit/v1/charges", {"enrolment_id": enrolment_id, "charge_no": charge_no,
                                                         "amount_fen": amount_fen, "description": description})

    def reverse(self, charge_no: str, reversal_no: str, amount_fen: int) -> dict:
        return self._call("POST", f"/credit/v1/charges/{charge_no}/reversals",
                          {"reversal_no": reversal_no, "amount_fen": amount_fen})

    def _call(self, method: str, path: str, payload: dict | None = None) -> dict:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode() if payload is not None else None

        def interpret(status: int, data):
            if not isinstance(data, dict):
                raise UpstreamUnavailable("the credit provider answered something that is not an object")
            if status >= 400:
                raise CreditRefused(status, str(data.get("code") or "UNKNOWN"), str(data.get("message") or ""))
            return data

        return signing.call(system="credit", name="the credit provider", operation=f"{method} {path.split('/')[3]}",
                            method=method, url=self.base_url + path, body=body, key=self._key, prefix="X-Credit",
                            timeout=self.timeout, interpret=interpret)


def client() -> CreditClient:
    return CreditClient(settings.CREDIT_API_BASE.get(), config.secret_value(settings.CREDIT_SECRET_ARN, "api_key"))


def charge_result(charge: dict, charge_no: str, amount_fen: int, at: dt.datetime, channel: str) -> PaymentResult | None:
    """An approved charge as the payment of order `charge_no` (the charge number is the order
    id); None when it was not approved."""
    if charge.get("status") != "approved":
        return None
    return PaymentResult(source="credit", mchid="", appid="", out_trade_no=charge_no,
                         transaction_id=charge["charge_id"], trade_state="SUCCESS", total_fen=amount_fen, paid_at=at,
                         channel=channel)


def reversal_result(answer: dict, reversal_no: str, amount_fen: int) -> RefundResult:
    """The answer of a reversal: SUCCESS once the provider says succeeded, else PROCESSING."""
    return RefundResult("credit", reversal_no, "SUCCESS" if answer.get("status") == "succeeded" else "PROCESSING",
                        int(answer.get("amount_fen", amount_fen)), answer.get("reversal_id"))
