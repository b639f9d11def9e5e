"""The external_calls table: the only code that knows it. `write` is the entry the end of an
invocation calls (hospital.external_calls.recorded): its records in one transaction of their
own; the rest reads and deletes in the caller's transaction (hospital.external_calls.lookup)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from hospital.db import tables as t
from hospital.db import transaction


def write(calls: Sequence) -> None:
    """Entry: the records (hospital.external_calls.Call) of one invocation, in one statement."""
    with transaction() as conn:
        conn.execute(t.external_calls.insert(), [call.row() for call in calls])


def select(conn, *, order_id: str | None, case_id: str | None, user_id: int | None, system: str | None,
           outcome: str | None, since: dt.datetime | None, until: dt.datetime | None, limit: int) -> list:
    """The records that match every filter given, newest first (times naive UTC; `until` excluded)."""
    c = t.external_calls.c
    wanted = [column == value for column, value in ((c.order_id, order_id), (c.case_id, case_id),
                                                     (c.user_id, user_id), (c.system, system), (c.outcome, outcome))
              if value is not None]
    if since is not None:
        wanted.append(c.at >= since)
    if until is not None:
        wanted.append(c.at < until)
    return conn.execute(sa.select(t.external_calls).where(*wanted)
                        .order_by(c.at.desc(), c.id.desc()).limit(limit)).all()


def delete_older(conn, cutoff: dt.datetime, batch: int) -> int:
    """At most `batch` of the records begun before `cutoff`, oldest first; how many went."""
    c = t.external_calls.c
    ids = conn.execute(sa.select(c.id).where(c.at < cutoff).order_by(c.at).limit(batch)).scalars().all()
    if not ids:
        return 0
    return conn.execute(t.external_calls.delete().where(c.id.in_(ids))).rowcount
