"""Voice, video and phone guidance given to the caller while help is on the way (ER9, ES3):
who started and ended it, when, how long, and where the recording is kept. Each session is
two timeline nodes, guidance_started and guidance_ended."""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from hospital.db import tables as t
from hospital.errors import Conflict, NotFound
from hospital.rescue import case_store
from hospital.timeutil import iso_utc, utcnow
from hospital.unit_of_work import unit_of_work

SOURCE = "dispatch_console"


# ---- entries: each opens one unit of work ---------------------------------------------------

def start(actor, role: str, case_id: str, mode: str) -> dict:
    session_id = uuid.uuid4().hex
    now = utcnow()
    with unit_of_work() as uow:
        start_session(uow, actor, role, case_id, mode, session_id, now)
    return {"session_id": session_id, "case_id": case_id, "mode": mode, "started_at": iso_utc(now)}


def end(actor, role: str, case_id: str, session_id: str, recording_ref: str | None) -> dict:
    with unit_of_work() as uow:
        return end_session(uow, actor, role, case_id, session_id, recording_ref, utcnow())


# ---- services: each takes the caller's unit of work and opens nothing ------------------------

def start_session(uow, actor, role: str, case_id: str, mode: str, session_id: str, now) -> None:
    case_store.append_node(uow.conn, case_id, "guidance_started", source=SOURCE, actor_user_id=actor.user_id,
                           actor_role=role, at=now, details={"session_id": session_id, "mode": mode})
    uow.conn.execute(t.guidance_sessions.insert().values(
        id=session_id, case_id=case_id, mode=mode, started_by=actor.user_id, started_at=now))


def end_session(uow, actor, role: str, case_id: str, session_id: str, recording_ref: str | None, now) -> dict:
    conn = uow.conn
    session = conn.execute(sa.select(t.guidance_sessions).where(
        t.guidance_sessions.c.id == session_id, t.guidance_sessions.c.case_id == case_id)).first()
    if session is None:
        raise NotFound("no such guidance session on this case", field="session_id")
    ended = conn.execute(t.guidance_sessions.update()
                         .where(t.guidance_sessions.c.id == session_id, t.guidance_sessions.c.ended_at.is_(None))
                         .values(ended_by=actor.user_id, ended_at=now, recording_ref=recording_ref)).rowcount
    if not ended:
        raise Conflict("this guidance session has already ended", code="already_ended")
    duration = round((now - session.started_at).total_seconds(), 1)
    # Appended even to a case closed meanwhile: the session happened and must be on record.
    case_store.append_informative_node(
        conn, case_id, "guidance_ended", source=SOURCE, actor_user_id=actor.user_id, actor_role=role, at=now,
        details={"session_id": session_id, "mode": session.mode, "duration_s": duration,
                 "recording_ref": recording_ref})
    return {"session_id": session_id, "case_id": case_id, "mode": session.mode, "duration_s": duration,
            "recording_ref": recording_ref}
