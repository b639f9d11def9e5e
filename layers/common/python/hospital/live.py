"""Live pushes over the API Gateway WebSocket API (ER3, ER6).

Connections are rows (who, which channel, until when); a push posts to every connection of a
channel through the connection-management endpoint and forgets connections that are gone.
Every pushed fact can also be read over HTTP, so a missed push loses nothing.

A connection is a right that ends: it keeps the expiry of the session token it was opened
with (a client renews it with a fresh token), and it is closed when that right ends sooner:
the account disabled, a role removed, the session signed out (`close_for`). A push skips and
closes any connection whose time is up, so an ED console of someone who lost the right hears
nothing more.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import logging

import sqlalchemy as sa

from hospital import settings
from hospital.db import tables as t
from hospital.db import transaction
from hospital.timeutil import utcnow

log = logging.getLogger("hospital.live")
ED_CONSOLE = "ed_console"
# Who may hold an ED console open: the permission (hospital.auth.permissions.RESCUE_CONSOLE),
# named here because the auth package imports this module.
RESCUE_CONSOLE = "rescue.console"


def case_channel(case_id: str) -> str:
    return f"case:{case_id}"


@functools.lru_cache(maxsize=1)
def _management(endpoint: str):
    from hospital import aws

    # Not aws.client(): AWS_ENDPOINT_URL (moto, LocalStack) is not this API.
    return aws.new_client("apigatewaymanagementapi", endpoint_url=endpoint,
                          config={"connect_timeout": 1, "read_timeout": 2,
                                  "retries": {"max_attempts": 2, "mode": "standard"}})


def connect(connection_id: str, principal) -> None:
    channel = ED_CONSOLE if principal.may(RESCUE_CONSOLE) else None
    with transaction() as conn:
        conn.execute(t.live_connections.insert().values(
            connection_id=connection_id, user_id=principal.user_id, channel=channel, connected_at=utcnow(),
            expires_at=_expiry(principal), session_id=principal.session_id))


def renew(connection_id: str, principal) -> bool:
    """A fresh token of the same user extends the connection; False if it is not theirs (or
    gone). An ED console whose user no longer holds the console permission is closed instead."""
    with transaction() as conn:
        row = conn.execute(sa.select(t.live_connections.c.user_id, t.live_connections.c.channel)
                           .where(t.live_connections.c.connection_id == connection_id)).first()
        if row is None or row.user_id != principal.user_id:
            return False
        if row.channel != ED_CONSOLE or principal.may(RESCUE_CONSOLE):
            conn.execute(t.live_connections.update().where(t.live_connections.c.connection_id == connection_id)
                         .values(expires_at=_expiry(principal), session_id=principal.session_id))
            return True
    close_for_connection(connection_id)
    return False


def _expiry(principal):
    return None if principal.expires_at is None else principal.expires_at.astimezone(dt.UTC).replace(tzinfo=None)


def subscribe_to_case(connection_id: str, case_id: str, may_follow) -> bool:
    """The connection's user follows a case (ambulance positions); False if they may not.
    `may_follow(conn, case_id, user_id)` is the domain's rule (a patient's own case), asked
    in this transaction: the platform knows no domain's tables."""
    with transaction() as conn:
        row = conn.execute(sa.select(t.live_connections.c.user_id, t.live_connections.c.expires_at)
                           .where(t.live_connections.c.connection_id == connection_id)).first()
        if row is None or _expired(row.expires_at, utcnow()):
            return False
        if not may_follow(conn, case_id, row.user_id):
            return False
        conn.execute(t.live_connections.update().where(t.live_connections.c.connection_id == connection_id)
                     .values(channel=case_channel(case_id)))
    return True


def is_open(connection_id: str) -> bool:
    """Whether the connection still has the right to be open (its row exists and has not expired)."""
    with transaction() as conn:
        expires_at = conn.execute(sa.select(t.live_connections.c.expires_at)
                                  .where(t.live_connections.c.connection_id == connection_id)).first()
    return expires_at is not None and not _expired(expires_at[0], utcnow())


def disconnect(connection_id: str) -> None:
    with transaction() as conn:
        conn.execute(t.live_connections.delete().where(t.live_connections.c.connection_id == connection_id))


def _has_right(row, now) -> bool:
    return (not _expired(row.expires_at, now) and row.status == "active" and not row.session_revoked
            and (row.channel != ED_CONSOLE or bool(row.holds_ed_role)))


def _expired(expires_at, now) -> bool:
    # A row without an expiry predates expiring connections: it has no known right left.
    return expires_at is None or expires_at <= now


def send(connection_id: str, message: dict) -> bool:
    """One message to one connection; False if it is gone."""
    client = _management(settings.LIVE_API_ENDPOINT.get())
    try:
        client.post_to_connection(ConnectionId=connection_id, Data=json.dumps(message, ensure_ascii=False).encode())
        return True
    except client.exceptions.GoneException:
        disconnect(connection_id)
        return False


@dataclasses.dataclass
class Delivery:
    """What a push did. `counts()` is what a timeline may record; `recipients` (user ids) is
    for the audit log only."""

    delivered: int = 0
    gone: int = 0
    failed: int = 0
    expired: int = 0
    recipients: list[int] = dataclasses.field(default_factory=list)

    def counts(self) -> dict:
        return {"delivered": self.delivered, "gone": self.gone, "failed": self.failed, "expired": self.expired}


def push(channel: str, message: dict) -> Delivery:
    """Send `message` to every connection of `channel`."""
    return push_to([channel], message)


def push_to(channels: list[str], message: dict) -> Delivery:
    """Send `message` to every connection of any of `channels`, with one lookup."""
    with transaction() as conn:
        listening = listeners(conn, channels)
    return deliver(listening, message, channels)


def listeners(conn, channels: list[str]) -> list:
    """In the caller's transaction: the connections of any of `channels`, each with what
    `deliver` needs to tell whether its right still holds."""
    return list(conn.execute(_listeners_query(), {"channels": channels}).all())


@functools.cache
def _listeners_query():
    """Built once: every push runs it, and a statement costs more CPU to build than to run."""
    c = t.live_connections.c
    session_revoked = sa.exists().where(t.refresh_tokens.c.family_id == c.session_id,
                                        t.refresh_tokens.c.revoked_at.is_not(None))
    holds_ed_role = (sa.exists().select_from(t.user_roles.join(t.role_permissions,
                                                               t.role_permissions.c.role == t.user_roles.c.role))
                     .where(t.user_roles.c.user_id == c.user_id, t.role_permissions.c.permission == RESCUE_CONSOLE))
    return (sa.select(c.connection_id, c.user_id, c.channel, c.expires_at, t.users.c.status,
                      session_revoked.label("session_revoked"), holds_ed_role.label("holds_ed_role"))
            .select_from(t.live_connections.outerjoin(t.users, t.users.c.id == c.user_id))
            .where(c.channel.in_(sa.bindparam("channels", expanding=True))))


def deliver(rows: list, message: dict, channels: list[str]) -> Delivery:
    """Send `message` to these connections (from `listeners`), no transaction open. A connection
    whose right has ended is closed instead: its token ran out, its account is no longer
    active, its session was signed out, or (an ED console) its user no longer holds the console permission. Checked
    from the database itself, so a right taken away by any path stops the pushes."""
    now = utcnow()
    result = Delivery()
    ended = [r.connection_id for r in rows if not _has_right(r, now)]
    if ended:
        result.expired = _close(ended)
    current = [r for r in rows if _has_right(r, now)]
    if not current:
        return result
    client = _management(settings.LIVE_API_ENDPOINT.get())
    data = json.dumps(message, ensure_ascii=False).encode()
    for row in current:
        try:
            client.post_to_connection(ConnectionId=row.connection_id, Data=data)
            result.delivered += 1
            result.recipients.append(int(row.user_id))
        except client.exceptions.GoneException:
            disconnect(row.connection_id)
            result.gone += 1
        except Exception as exc:  # noqa: BLE001 - one bad connection must not stop the others
            log.warning("live push failed", extra={"channels": channels, "error": type(exc).__name__})
            result.failed += 1
    return result


def close_for(user_id: int, session_id: str | None = None) -> int:
    """End a user's connections (of one session, or all): no push reaches them from now on,
    and the sockets are closed where the management endpoint is configured. Returns how many."""
    query = sa.select(t.live_connections.c.connection_id).where(t.live_connections.c.user_id == user_id)
    if session_id is not None:
        query = query.where(t.live_connections.c.session_id == session_id)
    with transaction() as conn:
        ids = conn.execute(query).scalars().all()
    return _close(list(ids))


def close_for_connection(connection_id: str) -> None:
    _close([connection_id])


def _close(connection_ids: list[str]) -> int:
    """Forget the rows first (that alone stops every push), then close the sockets."""
    if not connection_ids:
        return 0
    with transaction() as conn:
        conn.execute(t.live_connections.delete().where(t.live_connections.c.connection_id.in_(connection_ids)))
    endpoint = settings.LIVE_API_ENDPOINT.get_optional()
    if endpoint:
        client = _management(endpoint)
        for connection_id in connection_ids:
            try:
                client.delete_connection(ConnectionId=connection_id)
            except Exception as exc:  # noqa: BLE001 - gone already, or unreachable: no push reaches it anyway
                log.info("live connection not closed at the endpoint",
                         extra={"connection_id": connection_id[:32], "error": type(exc).__name__})
    log.info("live connections closed", extra={"count": len(connection_ids)})
    return len(connection_ids)
