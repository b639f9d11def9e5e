"""Money is integer fen everywhere. Yuan strings (bills, some provider fields) are converted
at the edge with Decimal, never through float: 0.1 + 0.2 is not 0.3 in binary, and a fen
lost that way is a reconciliation difference nobody can explain."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# The largest single order we take: 1,000,000.00 yuan. WeChat Pay's per-order ceiling is set
# per merchant, well below the int range; ours makes a mistyped HIS amount fail loudly.
MAX_ORDER_FEN = 100_000_000
_YUAN = re.compile(r"^-?\d{1,12}(\.\d{1,2})?$")


class MoneyError(ValueError):
    """A value that is not an exact amount of money."""


def yuan_to_fen(text: str) -> int:
    """'12.30' -> 1230. Refuses floats, more than two decimals, exponents and blanks."""
    if not isinstance(text, str) or not _YUAN.match(text.strip()):
        raise MoneyError(f"not an amount in yuan with at most two decimals: {text!r}")
    try:
        fen = Decimal(text.strip()) * 100
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only decimals
        raise MoneyError(f"not an amount: {text!r}") from exc
    return int(fen)


def fen_to_yuan(fen: int) -> str:
    """1230 -> '12.30' (for display and for providers that want yuan)."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise MoneyError(f"fen must be an integer, not {type(fen).__name__}")
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), 100)
    return f"{sign}{whole}.{part:02d}"


def check_order_amount(fen: int) -> int:
    """An amount a patient can be charged: a whole number of fen from 1 to MAX_ORDER_FEN."""
    if isinstance(fen, bool) or not isinstance(fen, int) or not 1 <= fen <= MAX_ORDER_FEN:
        raise MoneyError(f"an order amount must be 1 to {MAX_ORDER_FEN} fen, not {fen!r}")
    return fen
