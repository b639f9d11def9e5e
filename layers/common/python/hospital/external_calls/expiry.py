"""The records of external calls expire: `expire` (a schedule's entry) deletes those older than
EXTERNAL_CALL_RETENTION_DAYS, a batch per transaction, so a long backlog never holds one big
lock nor outlasts the function; what a run leaves, the next takes."""
from __future__ import annotations

import datetime as dt
import logging
import time

from hospital import settings
from hospital.db import transaction
from hospital.external_calls import journal
from hospital.timeutil import iso_utc, utcnow

log = logging.getLogger("hospital.external_calls")

BATCH = 1000
RUN_SECONDS = 20.0  # no batch is begun after this (the function has 60 s)


def expire(now: dt.datetime | None = None) -> dict:
    """Entry (a schedule): delete the records older than the retention, a batch at a time."""
    days = settings.EXTERNAL_CALL_RETENTION_DAYS.get()
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    deleted, deadline = 0, time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        with transaction() as conn:
            gone = journal.delete_older(conn, cutoff, BATCH)
        deleted += gone
        if gone < BATCH:
            break
    log.info("external call records expired", extra={"deleted": deleted, "retention_days": days})
    return {"deleted": deleted, "before": iso_utc(cutoff), "retention_days": days}
