"""What the HIS simulator's desks share: refusals, field checks, ids and the hospital's clock."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

CST = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")  # the hospital's dates and clock times


class Refusal(Exception):
    """A gateway answer other than "0": the trade handler stops and the gateway answers it."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class Unknown(LookupError):
    """A control call naming something the simulator does not hold (a 404 over HTTP)."""


def need(data: dict, key: str) -> str:
    """A required text field of a trade's data."""
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Refusal("E_FORMAT", f"{key} is required")
    return value.strip()


def yuan(value: Any, key: str = "amount") -> Decimal:
    """A yuan string as the HIS keeps it ("25.00")."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise Refusal("E_FORMAT", f"{key} is not an amount") from None
    if not amount.is_finite():
        raise Refusal("E_FORMAT", f"{key} is not an amount")
    return amount


def amount_text(value: str) -> str:
    """A yuan string for a control call (a bill's amount): ValueError otherwise."""
    try:
        if Decimal(value).is_finite():
            return value
    except (InvalidOperation, TypeError):
        pass
    raise ValueError(f"not an amount in yuan: {value!r}")


def a_date(value: dt.date | str) -> dt.date:
    """A date given as a date or as YYYY-MM-DD (control calls take either)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def local_day(epoch: float) -> dt.date:
    return dt.datetime.fromtimestamp(epoch, CST).date()


def starts_at(visit_date: str, start: str) -> float:
    """The epoch second a slot begins (its date and clock time are the hospital's)."""
    return dt.datetime.combine(dt.date.fromisoformat(visit_date), dt.time.fromisoformat(start), CST).timestamp()


def iso_z(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
