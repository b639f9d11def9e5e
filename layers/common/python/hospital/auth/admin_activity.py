"""Back-office sessions end after a while without activity (等保 level 3: session timeout).

Each back-office session (a refresh-token family opened with app id "back_office") has a row
with its last call. Every authenticated call of such a session passes here after the standing
check (`touch`): a session idle longer than ADMIN_IDLE_MINUTES is revoked and refused with 401
`session_idle`; otherwise the call is recorded, at most once a minute per session and
container (a container that recorded a session's call in the last minute knows it is not
idle, and asks nothing). A refresh checks the same (`end_if_idle`) but is not activity: a page
that refreshes its token on a timer does not keep an unattended session open.
"""
from __future__ import annotations

import datetime as dt
import threading
import time

from hospital import settings
from hospital.errors import Unauthenticated

BACK_OFFICE = "back_office"  # the app id of sessions opened by a back-office sign-in
RECORD_EVERY = dt.timedelta(minutes=1)
_CACHE_LIMIT = 4096

_seen: dict[str, float] = {}  # session family -> when this container last found it active (monotonic)
_lock = threading.Lock()


def idle_limit() -> dt.timedelta:
    return dt.timedelta(minutes=settings.ADMIN_IDLE_MINUTES.get())


def touch(principal, *, record: bool = True) -> None:
    """Entry: the call of a back-office session, recorded (unless `record` is False: a live
    connection renewing itself is not the user's activity); 401 `session_idle` if the session
    had been idle too long (it is revoked in the same transaction)."""
    family = principal.session_id
    if family is None:
        return
    started = time.monotonic()
    with _lock:
        seen = _seen.get(family)
    if record and seen is not None and started - seen < RECORD_EVERY.total_seconds():
        return
    from hospital.db import transaction
    from hospital.timeutil import utcnow

    now = utcnow()
    with transaction() as conn:
        idle = end_if_idle(conn, family, principal.user_id, now)
        if not idle and record:
            _record(conn, family, now)
    with _lock:
        if idle:
            _seen.pop(family, None)
        elif record:
            if len(_seen) >= _CACHE_LIMIT:
                _seen.clear()
            _seen[family] = started
    if idle:
        raise idle_refusal()


def idle_refusal() -> Unauthenticated:
    minutes = settings.ADMIN_IDLE_MINUTES.get()
    return Unauthenticated(f"signed out after {minutes} minutes without activity; sign in again",
                           code="session_idle")


def start(conn, family_id: str, user_id: int, now: dt.datetime) -> None:
    """A new back-office session, active now, in the caller's transaction."""
    from hospital.db import tables as t

    conn.execute(t.admin_session_activity.insert().values(
        family_id=family_id, user_id=user_id, started_at=now, last_seen_at=now))


def end_if_idle(conn, family_id: str, user_id: int, now: dt.datetime) -> bool:
    """True if the session has been idle too long (or has no activity row): its refresh tokens
    are then revoked and the timeout audited, in the caller's transaction."""
    import sqlalchemy as sa

    from hospital import audit
    from hospital.db import tables as t

    seen = conn.execute(sa.select(t.admin_session_activity.c.last_seen_at)
                        .where(t.admin_session_activity.c.family_id == family_id)).scalar_one_or_none()
    if seen is not None and now - seen <= idle_limit():
        return False
    revoked = conn.execute(t.refresh_tokens.update().where(
        t.refresh_tokens.c.family_id == family_id, t.refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)).rowcount
    if revoked:
        audit.add(conn, None, "auth.session_idle", "user", str(user_id), "ok",
                  {"idle_minutes": settings.ADMIN_IDLE_MINUTES.get()})
    return True


def _record(conn, family_id: str, now: dt.datetime) -> None:
    from hospital.db import tables as t

    # Written once a minute at most, whichever container served the calls in between.
    conn.execute(t.admin_session_activity.update().where(
        t.admin_session_activity.c.family_id == family_id,
        t.admin_session_activity.c.last_seen_at < now - RECORD_EVERY).values(last_seen_at=now))


def forget_all() -> None:
    with _lock:
        _seen.clear()
