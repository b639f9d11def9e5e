"""Time in one place: stored as naive UTC, shown in Asia/Shanghai."""
from __future__ import annotations

import datetime as dt
from typing import overload

SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")  # no DST in China


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@overload
def iso_utc(value: dt.datetime) -> str: ...
@overload
def iso_utc(value: None) -> None: ...
def iso_utc(value: dt.datetime | None) -> str | None:
    """A stored naive-UTC time as ISO 8601 with an explicit Z, for API answers."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Instants and dates a client may send: wide enough for any real device clock or report,
# narrow enough that converting one (to UTC, to a Shanghai day boundary) cannot overflow.
EARLIEST_INSTANT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST_INSTANT = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
EARLIEST_DATE = dt.date(2000, 1, 1)
LATEST_DATE = dt.date(2099, 12, 31)


def is_plausible_instant(value: dt.datetime) -> bool:
    """An aware time from EARLIEST_INSTANT to LATEST_INSTANT (inclusive), once in UTC."""
    try:
        utc = value.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+14:00 is in year 0 in UTC
        return False
    return EARLIEST_INSTANT <= utc <= LATEST_INSTANT


def is_plausible_date(value: dt.date) -> bool:
    return EARLIEST_DATE <= value <= LATEST_DATE
