"""Asking the HIS from the outpatient services: its business refusals that mean something to
the caller become that error (a 404 or 409 naming the field); any other refusal means the HIS
could not serve us, a 503 the caller may retry."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from hospital.errors import AppError, UpstreamUnavailable

T = TypeVar("T")


def ask(call: Callable[[], T], what: str, refusals: Mapping[str, AppError] | None = None) -> T:
    """`call()`'s answer; a refusal whose code `refusals` names raises that error instead."""
    from hospital.adapters import his

    try:
        return call()
    except his.HisRefused as exc:
        error = (refusals or {}).get(exc.code)
        if error is not None:
            raise error from None
        raise UpstreamUnavailable(f"the HIS refused {what} ({exc.code})") from None
