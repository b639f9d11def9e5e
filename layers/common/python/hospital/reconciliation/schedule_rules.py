"""When a day can be reconciled, and when to try again: pure rules.

WeChat Pay makes the bill of day D from about 10:00 (Beijing) on D+1 and keeps bills for three
months; the other statements follow the same day. The scheduled run reconciles yesterday from
READY_AT on, and the day before yesterday too if it was never run (the schedule was down).
"""
from __future__ import annotations

import datetime as dt

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
READY_AT = dt.time(10, 0)
KEPT_MONTHS = 3
MAX_ATTEMPTS = 12
WAIT_AGAIN = dt.timedelta(minutes=30)        # a statement still being made
FIRST_RETRY = dt.timedelta(minutes=15)       # a failure: 15 min, 30, 1 h ... at most 6 h
LONGEST_RETRY = dt.timedelta(hours=6)
MIDNIGHT_SLACK = dt.timedelta(minutes=10)    # as matching_rules.CARRY_WINDOW


def beijing_now(now: dt.datetime) -> dt.datetime:
    """`now` (naive UTC) in Beijing."""
    return now.replace(tzinfo=dt.UTC).astimezone(BEIJING)


def first_due(now: dt.datetime) -> list[dt.date]:
    """The days whose statements are ready at `now` (naive UTC) and which the schedule owes."""
    local = beijing_now(now)
    today = local.date()
    days = [today - dt.timedelta(days=2)]
    if local.time() >= READY_AT:
        days.append(today - dt.timedelta(days=1))
    return days


def retry_after(status: str, attempts: int) -> dt.timedelta:
    if status == "waiting":
        return WAIT_AGAIN
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_RETRY)


def oldest_downloadable(today: dt.date) -> dt.date:
    """The first day whose bill can still be downloaded: the same day KEPT_MONTHS months back
    (the month's last day where that month is shorter)."""
    month = today.month - KEPT_MONTHS
    year = today.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    for day in range(today.day, 0, -1):
        try:
            return dt.date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def date_refusal(day: dt.date, now: dt.datetime, *, with_file: bool) -> str | None:
    """Why `day` cannot be reconciled at `now` (naive UTC), or None. A bill file given by hand
    may be of any past day; a download only of the days the provider still keeps."""
    local = beijing_now(now)
    today = local.date()
    if day >= today or (day == today - dt.timedelta(days=1) and local.time() < READY_AT and not with_file):
        return f"the statements of {day.isoformat()} are ready from 10:00 Beijing time the next day"
    if not with_file and day < oldest_downloadable(today):
        return (f"bills older than {KEPT_MONTHS} months cannot be downloaded; give the bill file of "
                f"{day.isoformat()} instead")
    return None


def of_the_day(trade_time: dt.datetime, day: dt.date) -> bool:
    """Whether a bill row's trade time (Beijing, naive) can be on `day`'s bill: the day itself,
    or the few minutes either side of its midnights a provider's clock may differ by."""
    start = dt.datetime.combine(day, dt.time())
    return start - MIDNIGHT_SLACK <= trade_time < start + dt.timedelta(days=1) + MIDNIGHT_SLACK
