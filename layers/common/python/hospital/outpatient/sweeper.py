"""The outpatient schedule: read the HIS's suspension feed, carry on cancellations a crash or
an unreachable HIS left under way (a registration in cancel_pending for a while), give up holds
whose answer never came back (a registration `holding` past the HIS's own hold time: whatever
the HIS held has run out by then, and the patient sees it expired), and follow the suspensions
up (hospital.outpatient.suspensions.follow_up)."""
from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa

from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import AppError
from hospital.outpatient import registration_rules as rules
from hospital.timeutil import utcnow

log = logging.getLogger("hospital.outpatient")

# A cancellation under way for this long is not still running in the request that began it.
STALLED = dt.timedelta(minutes=2)
# Longer than any hold the HIS gives (15 minutes by default).
HOLD_GIVEN_UP = dt.timedelta(minutes=30)
BATCH = 100


def run(now: dt.datetime | None = None) -> dict:
    """Entry: one pass of the schedule. Each item on its own: one failing leaves the rest."""
    from hospital.outpatient import cancellation, suspensions

    now = now or utcnow()
    done = {"feed_entries": 0, "cancellations_resumed": 0, "holds_given_up": 0, "errors": 0}
    try:
        done["feed_entries"] = suspensions.read_feed()
    except AppError as exc:
        done["errors"] += 1
        log.warning("the HIS suspension feed was not read", extra={"error": exc.message})
    with transaction() as conn:
        stalled = conn.execute(sa.select(t.registrations.c.id).where(
            t.registrations.c.status == rules.CANCEL_PENDING, t.registrations.c.updated_at < now - STALLED,
            # a refund finance must settle by hand (hospital.outpatient.cancellation) is not retried
            ~sa.exists().where(t.registration_steps.c.registration_id == t.registrations.c.id,
                               t.registration_steps.c.step == "refund_refused"))
            .order_by(t.registrations.c.updated_at).limit(BATCH)).scalars().all()
    done["holds_given_up"] = _give_up_holds(now)
    try:
        done.update(suspensions.follow_up(now))
    except AppError as exc:
        done["errors"] += 1
        log.warning("the suspensions were not followed up", extra={"error": exc.message})
    for registration_id in stalled:
        try:
            cancellation.carry_on(registration_id)
            done["cancellations_resumed"] += 1
        except AppError as exc:
            done["errors"] += 1
            log.warning("a stalled cancellation was not finished", extra={"registration_id": registration_id,
                                                                         "error": exc.message})
    return done


def _give_up_holds(now: dt.datetime) -> int:
    from hospital.outpatient import registrations

    with transaction() as conn:
        lost = conn.execute(sa.select(t.registrations.c.id).where(
            t.registrations.c.status == rules.HOLDING, t.registrations.c.updated_at < now - HOLD_GIVEN_UP)
            .limit(BATCH)).scalars().all()
        for registration_id in lost:
            moved = conn.execute(t.registrations.update().where(
                t.registrations.c.id == registration_id, t.registrations.c.status == rules.HOLDING).values(
                status=rules.ABANDONED, failure="the HIS's answer to the hold never came back", updated_at=now))
            if moved.rowcount == 1:
                registrations.step(conn, registration_id, "hold_given_up")
    return len(lost)
