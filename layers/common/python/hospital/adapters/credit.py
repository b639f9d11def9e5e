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

- ``GET /credit/v1/statements/{YYYY-MM-DD}?cursor=&limit=`` -> the day's statement (Beijing), a
  page at a time: ``{"date", "entries": [...], "next_cursor": "..." | null, "summary": {"count",
  "charge_fen", "reversal_fen", "settlement_fen"}}``. Ask again with next_cursor until it is
  null (limit: entries per page, the provider may give fewer). Each entry: ``{"entry_id", "type":
  "charge" | "reversal" | "settlement", "charge_no", "charge_id", "reversal_no" (a reversal's,
  else null), "amount_fen" (positive), "status", "settled_by": "patient" | "provider" (a
  settlement's, else null), "occurred_at"}`` (ISO 8601 with its offset). The approved charges
  (status as of the statement: approved, overdue, settled), reversals (succeeded) and
  settlements (succeeded) of the day, by when they were made; a declined charge moved no money
  and is not listed. The summary (every page carries the day's) is checked against the entries
  once the last page is read.

Callbacks to us (``POST /callbacks/credit``), signed the same way with the same key:
``{"event": "charge.settled" | "charge.overdue", "event_id", "charge_no", "settled_fen",
"settled_by": "patient" | "provider", "at"}``; answered ``{"code": "SUCCESS"}``, or 401
``{"code": "FAIL", "message"}`` when the signature or its time (5 minutes) fails.

Errors: ``CreditRefused`` (4xx with a code: declined, outstanding debt ...), ``UpstreamUnavailable``,
``StatementUnreadable`` (hospital.adapters.statements: a malformed statement, or one that does
not add up to its summary).
A charge and a reversal answer become results (hospital.adapters.payment_results) at the end.
"""
from __future__ import annotations

import datetime as dt
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from hospital import config, settings
from hospital.adapters import signing
from hospital.adapters.payment_results import PaymentResult, RefundResult
from hospital.adapters.statements import StatementUnreadable
from hospital.errors import UpstreamUnavailable
from hospital.timeutil import SHANGHAI

STATEMENT_KINDS = ("charge", "reversal", "settlement")
STATEMENT_PAGE = 200   # entries asked for per page


class CreditRefused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True, slots=True)
class StatementEntry:
    """One entry of the provider's daily statement."""

    kind: str                  # "charge", "reversal" or "settlement"
    order_id: str              # charge_no: our order id, the number we charged under
    charge_id: str             # the provider's id of that charge
    out_refund_no: str | None  # reversal_no: our refund's number, on a reversal; else None
    entry_id: str              # the provider's id of this entry (a charge's is its charge_id)
    amount_fen: int            # positive: charged, reversed or settled
    status: str                # charge: approved, overdue or settled (as of the statement); else succeeded
    settled_by: str | None     # a settlement's: patient or provider; else None
    at: dt.datetime            # when it was made: aware, Beijing time


@dataclass(frozen=True)
class StatementPage:
    entries: tuple[StatementEntry, ...]
    next_cursor: str | None    # None: the last page
    summary: dict[str, int]    # count, charge_fen, reversal_fen, settlement_fen: the whole day's


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

    def statement(self, day: dt.date, page_size: int = STATEMENT_PAGE) -> Iterator[StatementEntry]:
        """The provider's statement of `day` (Beijing), entry by entry, a page at a time; once
        the last page is read, its summary is checked against the entries. A day without
        entries yields nothing. Errors come while iterating."""
        cursor, summary = "", None
        seen: dict[str, int] = dict.fromkeys(("count", *(f"{kind}_fen" for kind in STATEMENT_KINDS)), 0)
        while True:
            query = urllib.parse.urlencode({"cursor": cursor, "limit": page_size})
            page = statement_page(self._call("GET", f"/credit/v1/statements/{day.isoformat()}?{query}"))
            if summary is not None and page.summary != summary:
                raise StatementUnreadable("the credit statement changed while it was read", field="summary")
            summary = page.summary
            for entry in page.entries:
                seen["count"] += 1
                seen[f"{entry.kind}_fen"] += entry.amount_fen
                yield entry
            if page.next_cursor is None:
                break
            if page.next_cursor == cursor or not page.entries:
                raise StatementUnreadable("the credit statement's next page is the same page", field="next_cursor")
            cursor = page.next_cursor
        for name, value in seen.items():
            if summary[name] != value:
                raise StatementUnreadable("the credit statement's summary disagrees with its entries",
                                          field=f"summary.{name}")

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


def statement_page(data: Any) -> StatementPage:
    """One page of the statement, read and checked field by field (StatementUnreadable names
    the field at fault)."""
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise StatementUnreadable("the credit statement page has no entries list", field="entries")
    next_cursor = data.get("next_cursor")
    if next_cursor is not None and (not isinstance(next_cursor, str) or not next_cursor):
        raise StatementUnreadable("the credit statement's cursor is not a string", field="next_cursor")
    summary = data.get("summary")
    names = ("count", *(f"{kind}_fen" for kind in STATEMENT_KINDS))
    if not isinstance(summary, dict) or not all(_whole(summary.get(name), zero=True) for name in names):
        raise StatementUnreadable("the credit statement's summary is not whole numbers", field="summary")
    entries = tuple(_statement_entry(item, index) for index, item in enumerate(data["entries"]))
    return StatementPage(entries, next_cursor, {name: summary[name] for name in names})


def _statement_entry(item: Any, index: int) -> StatementEntry:
    def required(key: str) -> str:
        value = item.get(key)
        if not isinstance(value, str) or not value.strip():
            raise StatementUnreadable("a required text field is missing", field=f"entries[{index}].{key}")
        return value

    def only_on(key: str, kinds: tuple[str, ...]) -> str | None:
        """A field that entries of `kinds` carry and the others hold null."""
        if kind in kinds:
            return required(key)
        if item.get(key) is not None:
            raise StatementUnreadable("a field of another kind of entry", field=f"entries[{index}].{key}")
        return None

    if not isinstance(item, dict):
        raise StatementUnreadable("an entry that is not an object", field=f"entries[{index}]")
    kind = item.get("type")
    if kind not in STATEMENT_KINDS:
        raise StatementUnreadable("an entry of no known type", field=f"entries[{index}].type")
    if not _whole(item.get("amount_fen")):
        raise StatementUnreadable("an amount that is not a positive whole fen", field=f"entries[{index}].amount_fen")
    settled_by = only_on("settled_by", ("settlement",))
    if settled_by not in (None, "patient", "provider"):
        raise StatementUnreadable("settled by neither the patient nor the provider",
                                  field=f"entries[{index}].settled_by")
    try:
        at = dt.datetime.fromisoformat(required("occurred_at"))
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:  # a time without its offset would be guessed, not read
        raise StatementUnreadable("not a time with its offset", field=f"entries[{index}].occurred_at")
    return StatementEntry(kind, required("charge_no"), required("charge_id"), only_on("reversal_no", ("reversal",)),
                          required("entry_id"), item["amount_fen"], required("status"), settled_by,
                          at.astimezone(SHANGHAI))


def _whole(value: Any, zero: bool = False) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= (0 if zero else 1)


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
