"""The scheduled reconciliation: every day that is due, one after another."""
from __future__ import annotations

import datetime as dt
import logging

from hospital.errors import AppError
from hospital.reconciliation import reconcile, runs
from hospital.timeutil import utcnow

log = logging.getLogger("hospital.reconciliation")


def run_due(now: dt.datetime | None = None) -> dict:
    """Entry: reconcile the due days; a day another run holds is left to it."""
    now = now or utcnow()
    outcomes: dict[str, str] = {}
    for day in runs.due(now):  # oldest first: a day after one that did not finish waits for it
        previous = outcomes.get((day - dt.timedelta(days=1)).isoformat())
        if previous is not None and previous != "done":
            outcomes[day.isoformat()] = "after_previous_day"
            continue
        try:
            outcomes[day.isoformat()] = reconcile.run(day, "schedule", now=now)["status"]
        except AppError as exc:  # running elsewhere, or no longer downloadable
            log.warning("scheduled reconciliation skipped a day", extra={"bill_date": day.isoformat(),
                                                                         "reason": exc.message})
            outcomes[day.isoformat()] = exc.code
        except runs.LeaseLost:
            log.warning("a scheduled run lost its day to another", extra={"bill_date": day.isoformat()})
            outcomes[day.isoformat()] = "lease_lost"
    return {"days": outcomes}
