"""Field types the request models of every domain share: free text without hidden
characters, an explicit yes, a plausible instant. Each refusal is a pydantic error, so the
400 names the field (hospital.web.validate)."""
from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, StrictBool, StringConstraints
from pydantic_core import PydanticCustomError

from hospital import text, timeutil


def _refuse_hidden(multiline: bool):
    def check(value: str) -> str:
        found = text.hidden_character(value, multiline=multiline)
        if found is not None:
            allowed = " (tab and new line are allowed)" if multiline else ""
            raise PydanticCustomError(
                "hidden_character",
                "must not contain control or format characters{allowed}; found {code_point}",
                {"code_point": text.code_point(found), "allowed": allowed})
        return value

    return AfterValidator(check)


_SINGLE_LINE = _refuse_hidden(multiline=False)
_MULTILINE = _refuse_hidden(multiline=True)


# Factories rather than one fixed type: the length limits must be applied to the string
# before the character check runs, or pydantic reports a too-long string in list terms.
def single_line_text(max_length: int):
    """A name or an address: trimmed, not empty, no control or format character at all."""
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length),
                     _SINGLE_LINE]


def multiline_text(max_length: int, *, min_length: int = 1, strip: bool = True):
    """A note, a complaint, a resolution: like single_line_text, but tab, LF and CR LF are allowed."""
    constraints = StringConstraints(strip_whitespace=strip, min_length=min_length, max_length=max_length)
    return Annotated[str, constraints, _MULTILINE]


def _must_be_true(value: bool) -> bool:
    if value is not True:
        raise PydanticCustomError("consent_required", "must be true: nothing happens without an explicit yes")
    return value


# JSON true and nothing else. Literal[True] is not enough: pydantic matches 1 and 1.0 to it
# (1 == True in Python), even in strict mode.
ExplicitYes = Annotated[StrictBool, AfterValidator(_must_be_true)]


def _plausible(value: dt.datetime) -> dt.datetime:
    if not timeutil.is_plausible_instant(value):
        raise PydanticCustomError(
            "time_out_of_range", "must be a time from {earliest} to {latest}",
            {"earliest": f"{timeutil.EARLIEST_INSTANT:%Y-%m-%dT%H:%M:%SZ}",
             "latest": f"{timeutil.LATEST_INSTANT:%Y-%m-%dT%H:%M:%SZ}"})
    return value


# A time a client sends, with its offset, that can be converted to UTC and stored.
PlausibleInstant = Annotated[AwareDatetime, AfterValidator(_plausible)]
