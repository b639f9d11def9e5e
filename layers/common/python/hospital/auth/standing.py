"""The caller as things stand now, not only as their token says (NF1).

An access token is checked without a database read and lives for 15 minutes. That must not
mean 15 minutes of access after the account is disabled or merged into another profile, a
role is removed or the session is signed out: every authenticated call compares its token
with the user's current record. A write (and a WebSocket connect) reads it afresh; a read may
use what the container read in the last few seconds (STANDING_CACHE_SECONDS), and the
container that made a change forgets it at once.
"""
from __future__ import annotations

import dataclasses
import functools
import threading
import time

from hospital import settings
from hospital.auth import admin_activity
from hospital.errors import Unauthenticated


@dataclasses.dataclass(frozen=True)
class Standing:
    """What the database says of a user and of the session a token belongs to."""

    status: str | None            # active, disabled, merged; None if there is no such user
    roles: frozenset[str]
    session_revoked: bool = False
    grants: tuple = ()            # hospital.auth.permissions.Grant, one per (role, permission)


def refuse_inactive(status: str | None, session_revoked: bool = False) -> None:
    """Unauthenticated when the user (or the session) may no longer act at all."""
    if status == "merged":
        # The identity now belongs to the profile it joined, which has sessions of its own.
        raise Unauthenticated("this account was joined to another profile; sign in again", code="account_merged")
    if status != "active":
        raise Unauthenticated("this account is disabled", code="account_disabled")
    if session_revoked:
        raise Unauthenticated("this session was signed out; sign in again", code="session_revoked")


def resolve(principal, standing: Standing):
    """The principal a request acts as: the roles the user holds now, with their permissions,
    whatever the token carried (a grant or a revocation counts from the next request); the
    back-office ones withheld from a session without a second factor (BACK_OFFICE_SIGN_IN)."""
    from hospital.auth.permissions import usable

    refuse_inactive(standing.status, standing.session_revoked)
    held = frozenset(grant.permission for grant in standing.grants)
    permissions = usable(held, principal.auth_method, settings.BACK_OFFICE_SIGN_IN.get())
    return dataclasses.replace(principal, roles=standing.roles, permissions=permissions,
                               grants=tuple(g for g in standing.grants if g.permission in permissions),
                               withheld=held - permissions)


_cache: dict[tuple[int, str | None], tuple[float, Standing]] = {}
_lock = threading.Lock()


_CACHE_LIMIT = 4096  # users per container; older entries go first when it is full


def current(principal, *, fresh: bool = False, activity: bool = True):
    """`principal` (from a verified token) checked against the user's current standing;
    `fresh` reads it from the database whatever is cached (for rare, long-lived grants).
    `activity`: the call is the user's doing (a back-office session's idle clock restarts);
    a live connection renewing itself on a timer is not."""
    key = (principal.user_id, principal.session_id)
    now = time.monotonic()
    ttl = settings.STANDING_CACHE_SECONDS.get()
    with _lock:
        cached = _cache.get(key)
    if fresh or cached is None or now - cached[0] >= ttl:
        from hospital.db import transaction

        with transaction() as conn:
            cached = (now, _read(conn, principal.user_id, principal.session_id))
        with _lock:
            if len(_cache) >= _CACHE_LIMIT:
                expired = [k for k, (at, _) in _cache.items() if now - at >= ttl]
                for stale in expired or list(_cache)[:_CACHE_LIMIT // 2]:
                    del _cache[stale]
            _cache[key] = cached
    caller = resolve(principal, cached[1])
    if caller.app_id == admin_activity.BACK_OFFICE:
        admin_activity.touch(caller, record=activity)  # a back-office session ends when idle
    return caller


def forget(user_id: int) -> None:
    """Drop what this container cached of a user (after changing their roles or sessions)."""
    with _lock:
        for key in [k for k in _cache if k[0] == user_id]:
            del _cache[key]


def forget_all() -> None:
    """After a role's permissions changed: every holder's view here is stale."""
    with _lock:
        _cache.clear()


def _read(conn, user_id: int, session_id: str | None) -> Standing:
    """The user's standing, read in the caller's transaction."""
    from hospital.auth.permissions import Grant

    rows = conn.execute(_standing_query(bool(session_id)), {"user_id": user_id, "session_id": session_id}).all()
    if not rows:
        return Standing(status=None, roles=frozenset())
    return Standing(status=rows[0].status, roles=frozenset(r.role for r in rows if r.role),
                    session_revoked=bool(rows[0].revoked),
                    grants=tuple(sorted({Grant(r.role, r.permission, r.department) for r in rows if r.permission})))


@functools.cache
def _standing_query(with_session: bool):
    """Built once: every authenticated call runs it, and a statement costs more CPU to build
    than to run (its cache key is computed anew for each new object)."""
    import sqlalchemy as sa

    from hospital.db import tables as t

    revoked: sa.ColumnElement[int] = sa.literal(0)
    if with_session:
        revoked = (sa.select(sa.func.count()).select_from(t.refresh_tokens)
                   .where(t.refresh_tokens.c.family_id == sa.bindparam("session_id"),
                          t.refresh_tokens.c.revoked_at.is_not(None))
                   .scalar_subquery())
    # One round trip: the user's status, each role (or none) with its scope and each of its
    # permissions, and whether the session is revoked.
    return (sa.select(t.users.c.status, t.user_roles.c.role, t.user_roles.c.department,
                      t.role_permissions.c.permission, revoked.label("revoked"))
            .select_from(t.users.outerjoin(t.user_roles, t.user_roles.c.user_id == t.users.c.id)
                         .outerjoin(t.role_permissions, t.role_permissions.c.role == t.user_roles.c.role))
            .where(t.users.c.id == sa.bindparam("user_id")))
