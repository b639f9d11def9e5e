"""The watchdog of alerts (ER3, NF2): a case still not alerted a while after intake gets its
event again, since its first message may have gone to the DLQ."""
from __future__ import annotations

import datetime as dt
import logging

from hospital.db import transaction
from hospital.rescue import case_store, messages
from hospital.timeutil import utcnow
from hospital.unit_of_work import unit_of_work

log = logging.getLogger("hospital.rescue")


def republish_unalerted(older_than: dt.timedelta = dt.timedelta(minutes=2),
                        window: dt.timedelta = dt.timedelta(hours=24), limit: int = 100) -> list[str]:
    """Republish the event of each case created between `window` and `older_than` ago that
    is still only received. Safe to repeat: alerting is deduplicated."""
    now = utcnow()
    with transaction() as conn:
        stuck = case_store.cases_still_received(conn, now - window, now - older_than, limit)
    for case_id in stuck:
        with unit_of_work() as uow:
            uow.publish(messages.CaseCreated(case_id=case_id, republished=True))
        log.warning("rescue case not alerted in time: event republished", extra={"case_id": case_id})
    return stuck
