"""Time-based one-time codes (RFC 6238) as the back office uses them: 6 digits, 30-second steps,
a code of the step before or after accepted for clock drift, and no step accepted twice.

Plain data in, a decision out; the codes themselves are computed by hospital.auth.totp.
"""
from __future__ import annotations

import re

DIGITS = 6
PERIOD = 30
WINDOW = 1  # steps either side of the current one
_CODE = re.compile(rf"[0-9]{{{DIGITS}}}")


def step_at(unix_seconds: float, period: int = PERIOD) -> int:
    """The time step (RFC 6238's T) of a moment."""
    return int(unix_seconds // period)


def candidate_steps(now_step: int, window: int = WINDOW) -> list[int]:
    """The steps whose code is accepted now, latest first."""
    return [now_step + offset for offset in range(window, -window - 1, -1)]


def is_code_shaped(code: str) -> bool:
    return bool(_CODE.fullmatch(code))


def accepted_step(matching_steps: list[int], last_used_step: int | None) -> int | None:
    """Of the candidate steps whose code matched, the one to accept, or None: a step at or
    before the last one used is refused, so a code seen once (or an older one) cannot be replayed."""
    usable = [step for step in matching_steps if last_used_step is None or step > last_used_step]
    return max(usable) if usable else None
