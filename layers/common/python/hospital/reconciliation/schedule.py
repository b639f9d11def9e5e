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
    for day in runs.due(now):
        try:
            outcomes[day.isoformat()] = reconcile.run(day, "schedule", now=now)["status"]
        except AppError as exc:  # running elsewhere, or no longer downloadable
            log.warning("scheduled reconciliation skipped a day", extra={"bill_date": day.isoformat(),
                                                                         "reason": exc.message})
            outcomes[day.isoformat()] = exc.code
    return {"days": outcomes}
