"""The medical-insurance platform (医保移动支付, hospital side), in the style of the national
insurance platform's interfaces: one endpoint per transaction number, amounts as yuan strings
(converted to fen with Decimal, hospital.money), every call signed.

Wire format: ``POST {MED_INS_API_BASE}/fsi/api/{infno}`` with
``{"infno", "msgid": "<unique>", "input": {...}}`` and the headers ``X-Ins-Timestamp`` and
``X-Ins-Signature: hex(HMAC-SHA256(key, ts + "." + body))``. Answers
``{"infcode": 0, "output": {...}}``; any other infcode is a refusal with ``err_msg``.

- ``AUTH {"auth_code"}`` -> ``{"pay_auth_no", "psn_no"}``: the code from the insurance
  mini-program for a single-use payment authorisation.
- ``6201 {"pay_auth_no", "med_org_ord", "fee_details": [{"item", "amount"}], "total"}`` -> ``{"pay_ord_id"}``
- ``6202 {"pay_auth_no", "pay_ord_id"}`` -> ``{"pay_ord_id", "total", "fund_pay", "psn_acct_pay",
  "oth_pay", "own_pay"}`` (pre-settlement: the split; total = fund + account + other + own)
- ``6203 {"pay_ord_id", "ref_reason", "out_refund_no", "fund_pay", "psn_acct_pay", "oth_pay"}``
  -> ``{"refund_status": "SUCCESS"}``; idempotent on out_refund_no.
- ``6301 {"pay_ord_id"}`` -> ``{"ord_stas": "PAID" | "UNPAID" | "REFUNDED"}``

Callbacks to us (``POST /callbacks/medical-insurance``), signed the same way with the same key:
``{"event": "refund.succeeded", "event_id", "pay_ord_id", "out_refund_no"}`` (a 6203 refund that
was still processing has finished) or ``{"event": "settlement.succeeded", "event_id", "pay_ord_id"}``;
answered ``{"infcode": 0}``, or 401 ``{"infcode": -1, "err_msg"}`` when the signature or its time
(5 minutes) fails.

Errors: ``InsuranceRefused`` (infcode != 0), ``UpstreamUnavailable`` (down, 5xx, garbled).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from hospital import config, money, settings
from hospital.adapters import signing
from hospital.errors import UpstreamUnavailable


class InsuranceRefused(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


@dataclass(frozen=True)
class Settlement:
    pay_ord_id: str
    total_fen: int
    fund_fen: int          # pooled fund (统筹)
    account_fen: int       # personal account (个账)
    other_fen: int
    cash_fen: int          # self-paid, through WeChat Pay




class InsuranceClient:
    def __init__(self, base_url: str, key: str, timeout: tuple[float, float] = (2, 8)):
        self.base_url = base_url.rstrip("/")
        self._key = key
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"InsuranceClient({self.base_url!r})"

    def pay_auth_no(self, auth_code: str) -> str:
        return str(self._call("AUTH", {"auth_code": auth_code})["pay_auth_no"])

    def upload_fees(self, pay_auth_no: str, order_id: str, title: str, total_fen: int) -> str:
        amount = money.fen_to_yuan(total_fen)
        answer = self._call("6201", {"pay_auth_no": pay_auth_no, "med_org_ord": order_id,
                                     "fee_details": [{"item": title, "amount": amount}], "total": amount})
        return str(answer["pay_ord_id"])

    def pre_settle(self, pay_auth_no: str, pay_ord_id: str) -> Settlement:
        out = self._call("6202", {"pay_auth_no": pay_auth_no, "pay_ord_id": pay_ord_id})
        try:
            parts = [money.yuan_to_fen(str(out[k]))
                     for k in ("total", "fund_pay", "psn_acct_pay", "oth_pay", "own_pay")]
        except (KeyError, money.MoneyError):
            raise UpstreamUnavailable("the insurance platform answered a split we cannot read") from None
        total, fund, account, other, cash = parts
        if min(parts) < 0 or fund + account + other + cash != total:
            raise UpstreamUnavailable("the insurance platform's split does not add up")
        return Settlement(str(out.get("pay_ord_id") or pay_ord_id), total, fund, account, other, cash)

    def refund(self, pay_ord_id: str, out_refund_no: str, reason: str, fund_fen: int, account_fen: int,
               other_fen: int) -> dict:
        return self._call("6203", {"pay_ord_id": pay_ord_id, "out_refund_no": out_refund_no, "ref_reason": reason,
                                   "fund_pay": money.fen_to_yuan(fund_fen),
                                   "psn_acct_pay": money.fen_to_yuan(account_fen),
                                   "oth_pay": money.fen_to_yuan(other_fen)})

    def _call(self, infno: str, data: dict) -> dict:
        body = json.dumps({"infno": infno, "msgid": uuid.uuid4().hex, "input": data}, ensure_ascii=False,
                          separators=(",", ":")).encode()

        def interpret(status: int, reply):
            if status != 200 or not isinstance(reply, dict) or "infcode" not in reply:
                raise UpstreamUnavailable(f"the insurance platform answered {status} in a form that is not its own")
            if reply["infcode"] != 0:
                raise InsuranceRefused(str(reply["infcode"]), str(reply.get("err_msg") or ""))
            return reply.get("output") or {}

        return signing.call(system="medical_insurance", name="the insurance platform", operation=infno,
                            method="POST", url=f"{self.base_url}/fsi/api/{infno}", body=body, key=self._key,
                            prefix="X-Ins", timeout=self.timeout, interpret=interpret)


def verify_callback(headers: dict, body: bytes, key: str, now: float | None = None) -> None:
    """Raises ValueError (reason) unless the callback is signed with our key, in time."""
    signing.verify_timestamped(headers, body, key, "X-Ins", now)


def client() -> InsuranceClient:
    return InsuranceClient(settings.MED_INS_API_BASE.get(), config.secret_value(settings.MED_INS_SECRET_ARN, "api_key"))
