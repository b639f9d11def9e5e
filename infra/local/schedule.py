"""EventBridge schedules: rate()/cron() parsing, next fire time (UTC), and a runner thread.

AWS cron has six fields: minutes hours day-of-month month day-of-week year. Day-of-week
is 1-7 = SUN-SAT, and exactly one of day-of-month / day-of-week must be `?`. We support
`*`, `?`, numbers, names (JAN-DEC, SUN-SAT), ranges a-b, lists and steps (*/n, a/n,
a-b/n); L, W and # are rejected with a clear error rather than guessed at.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .functions import FunctionHost, Invocation
from .template import ScheduleEvent

UTC = dt.UTC


class ScheduleError(ValueError):
    pass


# ---------------------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RateSchedule:
    seconds: int

    def next_after(self, previous: dt.datetime) -> dt.datetime:
        # EventBridge fires rate rules one period after creation, then every period.
        return previous + dt.timedelta(seconds=self.seconds)


_RATE = re.compile(r"^rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}

_MONTHS = {m: i + 1 for i, m in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                            "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])}
_DAYS = {d: i + 1 for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
# (name, low, high, names)
_FIELDS = [
    ("minutes", 0, 59, {}),
    ("hours", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 1, 7, _DAYS),
    ("year", 1970, 2199, {}),
]


@dataclass(frozen=True)
class CronSchedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None   # None = "?"
    months: frozenset[int]
    days_of_week: frozenset[int] | None    # AWS numbering 1=SUN .. 7=SAT; None = "?"
    years: frozenset[int]

    def matches(self, t: dt.datetime) -> bool:
        return (t.minute in self.minutes and t.hour in self.hours and self._day_matches(t.date()))

    def _day_matches(self, d: dt.date) -> bool:
        if d.year not in self.years or d.month not in self.months:
            return False
        if self.days_of_month is not None:
            return d.day in self.days_of_month
        return _aws_weekday(d) in self.days_of_week  # type: ignore[operator]

    def next_after(self, after: dt.datetime) -> dt.datetime | None:
        """First matching minute strictly after `after`; None when the years run out."""
        start = (after.astimezone(UTC) + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
        day = start.date()
        last_year = max(self.years)
        hours, minutes = sorted(self.hours), sorted(self.minutes)
        while day.year <= last_year:
            if self._day_matches(day):
                for h in hours:
                    for m in minutes:
                        candidate = dt.datetime(day.year, day.month, day.day, h, m, tzinfo=UTC)
                        if candidate >= start:
                            return candidate
            day += dt.timedelta(days=1)
        return None


def _aws_weekday(d: dt.date) -> int:
    # Python: Monday=0 .. Sunday=6  ->  AWS: Sunday=1 .. Saturday=7
    return (d.weekday() + 1) % 7 + 1


def _parse_field(text: str, name: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    def value(token: str) -> int:
        token = token.upper()
        if token in names:
            return names[token]
        if not token.isdigit():
            raise ScheduleError(f"cron {name}: {token!r} is not a number or name")
        v = int(token)
        if not low <= v <= high:
            raise ScheduleError(f"cron {name}: {v} is outside {low}-{high}")
        return v

    if any(c in text.upper() for c in "LW#") and not all(part.upper() in names for part in re.split(r"[-,/]", text)):
        raise ScheduleError(f"cron {name}: L, W and # are not supported by the local runtime ({text!r})")
    out: set[int] = set()
    for part in text.split(","):
        rng, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"cron {name}: bad step {step_text!r}")
            step = int(step_text)
        if rng == "*":
            a, b = low, high
        elif "-" in rng:
            a_text, b_text = rng.split("-", 1)
            a, b = value(a_text), value(b_text)
            if a > b:
                raise ScheduleError(f"cron {name}: range {rng!r} goes backwards")
        else:
            a = value(rng)
            b = high if step_text else a   # "a/n" means from a to the end, every n
        out.update(range(a, b + 1, step))
    return frozenset(out)


def parse_schedule(expression: str) -> RateSchedule | CronSchedule:
    expr = expression.strip()
    m = _RATE.match(expr)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        singular = unit.rstrip("s")
        if n <= 0:
            raise ScheduleError(f"{expr}: the rate must be positive")
        # EventBridge rejects "rate(1 minutes)" and "rate(5 minute)"; so do we.
        if (n == 1) != (unit == singular):
            raise ScheduleError(f"{expr}: EventBridge wants '{singular}' for 1 and '{singular}s' otherwise")
        return RateSchedule(n * _UNIT_SECONDS[singular])
    if expr.startswith("rate("):
        raise ScheduleError(f"bad rate expression {expr!r} (want rate(N minute|minutes|hour|hours|day|days))")
    if not (expr.startswith("cron(") and expr.endswith(")")):
        raise ScheduleError(f"schedule {expr!r} is neither rate(...) nor cron(...)")
    parts = expr[5:-1].split()
    if len(parts) != 6:
        raise ScheduleError(f"{expr}: AWS cron needs 6 fields (minutes hours day-of-month month day-of-week year)")
    dom_q, dow_q = parts[2] == "?", parts[4] == "?"
    if dom_q == dow_q:
        raise ScheduleError(f"{expr}: exactly one of day-of-month and day-of-week must be '?'")
    for i in (0, 1, 3, 5):
        if parts[i] == "?":
            raise ScheduleError(f"{expr}: '?' is only allowed in day-of-month or day-of-week")
    fields = [None if p == "?" else _parse_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
    return CronSchedule(*fields)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# events and the runner
# ---------------------------------------------------------------------------------------

def scheduled_event(source: ScheduleEvent, region: str, account: str, when: dt.datetime | None = None) -> Any:
    """The payload EventBridge sends: the rule's Input if set, else a Scheduled Event."""
    if source.input is not None:
        return json.loads(source.input) if isinstance(source.input, str) else source.input
    when = (when or dt.datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/{source.rule_name}"],
        "detail": {},
    }


class ScheduleRunner:
    """One thread per Schedule event: wait for the next fire time, invoke, repeat.

    Invocations of one schedule never overlap; a fire time missed while the previous
    invocation ran is skipped (EventBridge would have started a concurrent one).
    """

    def __init__(self, host: FunctionHost, function: str, source: ScheduleEvent, region: str, account: str,
                 stop: threading.Event, schedule: Any = None,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC)) -> None:
        self.host, self.function, self.source = host, function, source
        self.region, self.account = region, account
        self.schedule = schedule or parse_schedule(source.expression)
        self.stop_event = stop
        self.clock = clock
        self.thread = threading.Thread(target=self._run, name=f"local-schedule-{function}-{source.name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float = 10) -> None:
        self.thread.join(timeout)

    def fire(self, when: dt.datetime | None = None) -> Invocation:
        event = scheduled_event(self.source, self.region, self.account, when)
        return self.host.invoke(self.function, event, trigger="schedule")

    def _run(self) -> None:
        previous = self.clock()
        while not self.stop_event.is_set():
            due = self.schedule.next_after(previous)
            if due is None:
                return
            now = self.clock()
            while due <= now - dt.timedelta(seconds=1) and isinstance(self.schedule, RateSchedule):
                due = self.schedule.next_after(due)   # skip rate ticks missed while busy
            if isinstance(self.schedule, CronSchedule) and due < now - dt.timedelta(seconds=1):
                due = self.schedule.next_after(now) or due
            if self.stop_event.wait(max(0.0, (due - self.clock()).total_seconds())):
                return
            self.fire(due)
            previous = due
