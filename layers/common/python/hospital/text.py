"""Rules for what clients type: free text without hidden characters, whole numbers in ASCII.

Pure stdlib, cheap to import: the query-string helpers of every function use it.
"""
from __future__ import annotations

import unicodedata

# Control (Cc) and format (Cf) characters: a right-to-left override (U+202E) makes staff read
# a name or an address backwards, zero-width characters hide text, bells and escapes reach
# terminals and logs. None belongs in something a person typed into a form.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf"})
# A note or a complaint may run over several lines or carry a tab.
_NOTE_ALLOWED = frozenset({"\t", "\n"})

_ASCII_DIGITS = frozenset("0123456789")
# The largest id a BIGINT column (and SQLite's INTEGER) holds. A larger number is no id of
# ours, and the SQLite driver fails on it (OverflowError) instead of finding nothing.
MAX_ID = 2**63 - 1


def hidden_character(value: str, *, multiline: bool) -> str | None:
    """The first control or format character of `value`, or None if there is none.

    With `multiline`, tab and line feed are allowed, and carriage return only as part of
    CR LF (what some keyboards and Windows clients send for a new line); a lone CR is
    refused, since it makes a terminal or log viewer overwrite the line it is on.
    """
    for i, ch in enumerate(value):
        if unicodedata.category(ch) not in _HIDDEN_CATEGORIES:
            continue
        if multiline and (ch in _NOTE_ALLOWED or (ch == "\r" and value[i + 1:i + 2] == "\n")):
            continue
        return ch
    return None


def code_point(ch: str) -> str:
    """U+202E, as a message names a character it cannot show."""
    return f"U+{ord(ch):04X}"


def whole_number(raw: str, *, low: int, high: int) -> int | None:
    """The number `raw` spells in ASCII digits, if it is from `low` to `high`; else None.

    str.isdigit() and int() accept far more than 0-9: "²" passes isdigit() but int() fails
    on it, and int() reads Arabic-Indic "١٢" or full-width "１２" as 12. A client's number is
    spelt in ASCII or refused. Length is checked before int(), which refuses (with an
    error, not None) strings of more than 4300 digits.
    """
    if not raw or not set(raw) <= _ASCII_DIGITS:
        return None
    if len(raw.lstrip("0")) > len(str(high)):
        return None
    value = int(raw)
    return value if low <= value <= high else None
