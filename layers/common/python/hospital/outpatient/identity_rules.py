"""The resident identity card number (公民身份号码, GB 11643-1999): 17 digits and a check
character (ISO 7064 MOD 11-2), the birth date in digits 7 to 14. Pure rules."""
from __future__ import annotations

import datetime as dt
import re

_SHAPE = re.compile(r"^\d{17}[\dX]$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def normalise(id_no: str) -> str:
    """The number as the HIS and the lookup hash keep it: no spaces, a capital X."""
    return id_no.strip().upper()


def problem(id_no: str, today: dt.date) -> str | None:
    """Why `id_no` (normalised) is not a plausible identity card number, or None."""
    if not _SHAPE.match(id_no):
        return "an identity card number is 17 digits and a digit or X"
    if _CHECK[sum(int(d) * w for d, w in zip(id_no[:17], _WEIGHTS, strict=True)) % 11] != id_no[17]:
        return "the identity card number's check character does not match"
    try:
        born = dt.date(int(id_no[6:10]), int(id_no[10:12]), int(id_no[12:14]))
    except ValueError:
        return "the identity card number holds no valid birth date"
    if not dt.date(1900, 1, 1) <= born <= today:
        return "the identity card number holds no plausible birth date"
    return None
