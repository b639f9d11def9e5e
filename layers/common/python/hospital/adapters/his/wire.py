"""Reading the gateway's answer data into hospital.adapters.his.model, and writing dates for it.
Pure: no I/O. Anything that is not what the wire format says (a missing field, a float amount,
an unknown status, a naive time) raises UpstreamUnavailable naming the field, never its value,
because answers carry personal data (names, ID numbers, phones)."""
from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

from hospital import money
from hospital.adapters.his.model import (
    CANCEL_BLOCKERS,
    REGISTRATION_STATUSES,
    SLOT_STATUSES,
    Archive,
    Bill,
    CancelCheck,
    Department,
    Doctor,
    Hold,
    LedgerEntry,
    LedgerPage,
    PaymentConfirmation,
    Registration,
    Slot,
    Suspension,
    SuspensionPage,
)
from hospital.errors import UpstreamUnavailable

_LEDGER_TYPES = {"pay": "payment", "refund": "refund"}  # the wire's entry_type -> our kind

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class Unreadable(ValueError):
    """A field of an answer that is not as the wire format says; the message is the field's name."""


@contextlib.contextmanager
def reading(what: str, error: type[UpstreamUnavailable] = UpstreamUnavailable) -> Iterator[None]:
    """Turns any failure to read `what` into UpstreamUnavailable (or its subclass `error`): a
    bad answer is the HIS's fault."""
    try:
        yield
    except Unreadable as exc:
        raise error(f"the HIS answered {what} we cannot read (field {exc})") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise error(f"the HIS answered {what} we cannot read ({type(exc).__name__})") from None


# -- fields ---------------------------------------------------------------------------------------------
def _get(data: Any, key: str) -> Any:
    if not isinstance(data, dict) or key not in data:
        raise Unreadable(key)
    return data[key]


def text(data: Any, key: str, *, blank: bool = False) -> str:
    """A string field; codes may come as JSON numbers, as some HIS send them."""
    value = _get(data, key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or (not blank and not value.strip()):
        raise Unreadable(key)
    return value


def optional_text(data: Any, key: str) -> str | None:
    """A string field that may be absent, null or empty (None then)."""
    if not isinstance(data, dict) or data.get(key) in (None, ""):
        return None
    return text(data, key)


def flag(data: Any, key: str) -> bool:
    value = _get(data, key)
    if not isinstance(value, bool):
        raise Unreadable(key)
    return value


def whole(data: Any, key: str) -> int:
    """A positive whole number (not a bool, not a float)."""
    value = _get(data, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise Unreadable(key)
    return value


def fen(data: Any, key: str) -> int:
    """A yuan string ("25.00") as fen, through Decimal; never negative."""
    try:
        amount = money.yuan_to_fen(_get(data, key))
    except money.MoneyError:
        raise Unreadable(key) from None
    if amount < 0:
        raise Unreadable(key)
    return amount


def day(data: Any, key: str) -> dt.date:
    value = _get(data, key)
    if not isinstance(value, str) or not _DAY.match(value):
        raise Unreadable(key)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise Unreadable(key) from None


def clock(data: Any, key: str) -> str:
    """A local clock time "HH:MM", kept as the string."""
    value = _get(data, key)
    if not isinstance(value, str) or not _CLOCK.match(value):
        raise Unreadable(key)
    return value


def instant(data: Any, key: str) -> dt.datetime:
    """An ISO 8601 time with its offset ("2026-12-01T10:00:00Z"), as an aware UTC datetime."""
    value = _get(data, key)
    if not isinstance(value, str) or "T" not in value:
        raise Unreadable(key)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise Unreadable(key) from None
    if parsed.tzinfo is None:  # a naive time could be either UTC or Beijing time: refuse to guess
        raise Unreadable(key)
    return parsed.astimezone(dt.UTC)


def choice(data: Any, key: str, allowed: tuple[str, ...]) -> str:
    value = text(data, key)
    if value not in allowed:
        raise Unreadable(key)
    return value


def items(data: Any, key: str) -> list[Any]:
    value = _get(data, key)
    if not isinstance(value, list):
        raise Unreadable(key)
    return value


def day_text(value: dt.date) -> str:
    """A date as the gateway wants it: YYYY-MM-DD."""
    return value.isoformat()


# -- answers ----------------------------------------------------------------------------------------------
def bill(data: Any) -> Bill:
    return Bill(text(data, "bill_no"), text(data, "patient_id"), text(data, "bill_type"),
                optional_text(data, "title") or text(data, "bill_type"), fen(data, "amount"), text(data, "status"))


def confirmation(data: Any) -> PaymentConfirmation:
    reg_no = optional_text(data, "reg_no")
    visit_no = whole(data, "visit_no") if reg_no is not None else None  # a registration comes with its number
    return PaymentConfirmation(text(data, "bill_no"), text(data, "receipt_no"), reg_no, visit_no)


def department(item: Any) -> Department:
    return Department(text(item, "dept_code"), text(item, "name"), text(item, "intro", blank=True))


def doctor(item: Any) -> Doctor:
    online = flag(item, "online_consult")
    url = optional_text(item, "consult_url")
    if online and url is None:  # the patient would be sent nowhere
        raise Unreadable("consult_url")
    return Doctor(text(item, "doctor_code"), text(item, "name"), text(item, "title", blank=True),
                  text(item, "dept_code"), online, url if online else None, text(item, "intro", blank=True))


def slot(item: Any) -> Slot:
    start, end = clock(item, "start"), clock(item, "end")
    if end <= start:  # "HH:MM" strings order as times do
        raise Unreadable("end")
    return Slot(text(item, "slot_id"), text(item, "doctor_code"), text(item, "dept_code"), day(item, "visit_date"),
                start, end, fen(item, "fee"), choice(item, "status", SLOT_STATUSES))


def archive(data: Any) -> Archive:
    return Archive(text(data, "patient_id"), text(data, "card_no"), text(data, "name"), text(data, "id_no"),
                   text(data, "phone"))


def hold(data: Any) -> Hold:
    return Hold(text(data, "hold_id"), text(data, "slot_id"), text(data, "bill_no"), fen(data, "fee"),
                instant(data, "expires_at"))


def registration(data: Any) -> Registration:
    return Registration(text(data, "reg_no"), text(data, "patient_id"), text(data, "slot_id"),
                        text(data, "doctor_code"), day(data, "visit_date"), clock(data, "start"), clock(data, "end"),
                        choice(data, "status", REGISTRATION_STATUSES))


def cancel_check(data: Any) -> CancelCheck:
    cancellable = flag(data, "cancellable")
    reason = None if data.get("reason") in (None, "") else choice(data, "reason", CANCEL_BLOCKERS)
    if cancellable != (reason is None):  # cancellable with a reason, or refused without one
        raise Unreadable("reason")
    return CancelCheck(text(data, "reg_no"), cancellable, reason)


def suspension(item: Any) -> Suspension:
    slot_ids = items(item, "slot_ids")
    if not all(isinstance(slot_id, str) and slot_id for slot_id in slot_ids):
        raise Unreadable("slot_ids")
    return Suspension(text(item, "suspension_id"), text(item, "doctor_code"), day(item, "visit_date"),
                      tuple(slot_ids), text(item, "reason", blank=True))


def suspension_page(data: Any) -> SuspensionPage:
    return SuspensionPage(tuple(suspension(item) for item in items(data, "suspensions")),
                          text(data, "cursor", blank=True))


def ledger_entry(item: Any) -> LedgerEntry:
    kind = _LEDGER_TYPES.get(text(item, "entry_type"))
    if kind is None:
        raise Unreadable("entry_type")
    pay_order_no = optional_text(item, "pay_order_no")
    receipt_no = optional_text(item, "receipt_no")
    if kind == "payment" and (pay_order_no is None or receipt_no is None):  # a confirmation has both
        raise Unreadable("pay_order_no" if pay_order_no is None else "receipt_no")
    refund_ref = optional_text(item, "refund_ref")
    if kind == "payment" and refund_ref is not None:
        raise Unreadable("refund_ref")
    amount = fen(item, "amount")
    if amount == 0:
        raise Unreadable("amount")
    return LedgerEntry(kind, text(item, "bill_no"), pay_order_no, optional_text(item, "transaction_id"), amount,
                       receipt_no, optional_text(item, "channel"), optional_text(item, "reg_no"), refund_ref,
                       instant(item, "booked_at"))


def ledger_page(data: Any) -> LedgerPage:
    page_no, page_count = whole(data, "page_no"), _count(data, "page_count")
    if page_no > max(page_count, 1):
        raise Unreadable("page_no")
    return LedgerPage(tuple(ledger_entry(item) for item in items(data, "entries")), page_no, page_count,
                      _count(data, "total_count"), fen(data, "pay_total"), fen(data, "refund_total"))


def _count(data: Any, key: str) -> int:
    """A whole number that may be 0."""
    value = _get(data, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Unreadable(key)
    return value


def answered(data: Any, key: str, expected: str) -> None:
    """The answer states what we asked for (a status, the id we sent)."""
    if text(data, key) != expected:
        raise Unreadable(key)
