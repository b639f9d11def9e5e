"""Time in one place: stored as naive UTC, shown in Asia/Shanghai."""
from __future__ import annotations

import datetime as dt

SHANGHAI = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")  # no DST in China


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def iso_utc(value: dt.datetime | None) -> str | None:
    """A stored naive-UTC time as ISO 8601 with an explicit Z, for API answers."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
