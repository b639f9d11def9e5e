"""Live pushes over the API Gateway WebSocket API (ER3, ER6).

Connections are rows (who, which channel); a push posts to every connection of a channel
through the connection-management endpoint and forgets connections that are gone. Every
pushed fact can also be read over HTTP, so a missed push loses nothing.
"""
from __future__ import annotations

import functools
import json
import logging

import sqlalchemy as sa

from hospital import config
from hospital.db import tables as t
from hospital.db import transaction
from hospital.timeutil import utcnow

log = logging.getLogger("hospital.live")
ED_CONSOLE = "ed_console"
ED_ROLES = {"ed_nurse", "dispatcher"}


def case_channel(case_id: str) -> str:
    return f"case:{case_id}"


@functools.lru_cache(maxsize=1)
def _management(endpoint: str):
    import boto3
    from botocore.config import Config

    # Not hospital.aws.client(): AWS_ENDPOINT_URL (moto, LocalStack) is not this API.
    return boto3.session.Session().client(
        "apigatewaymanagementapi", endpoint_url=endpoint,
        config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 2, "mode": "standard"}))


def connect(connection_id: str, principal) -> None:
    channel = ED_CONSOLE if principal.has_any(ED_ROLES) else None
    with transaction() as conn:
        conn.execute(t.live_connections.insert().values(
            connection_id=connection_id, user_id=principal.user_id, channel=channel, connected_at=utcnow()))


def subscribe_to_case(connection_id: str, case_id: str) -> bool:
    """A patient follows their own case (ambulance positions); False if it is not theirs."""
    with transaction() as conn:
        row = conn.execute(sa.select(t.live_connections.c.user_id)
                           .where(t.live_connections.c.connection_id == connection_id)).first()
        owned = row is not None and conn.execute(sa.select(t.rescue_cases.c.id).where(
            t.rescue_cases.c.id == case_id, t.rescue_cases.c.patient_user_id == row.user_id)).first()
        if not owned:
            return False
        conn.execute(t.live_connections.update().where(t.live_connections.c.connection_id == connection_id)
                     .values(channel=case_channel(case_id)))
    return True


def disconnect(connection_id: str) -> None:
    with transaction() as conn:
        conn.execute(t.live_connections.delete().where(t.live_connections.c.connection_id == connection_id))


def send(connection_id: str, message: dict) -> bool:
    """One message to one connection; False if it is gone."""
    client = _management(config.env("LIVE_API_ENDPOINT"))
    try:
        client.post_to_connection(ConnectionId=connection_id, Data=json.dumps(message, ensure_ascii=False).encode())
        return True
    except client.exceptions.GoneException:
        disconnect(connection_id)
        return False


def push(channel: str, message: dict) -> dict:
    """Send `message` to every connection of `channel`; returns {"delivered", "gone", "failed"}."""
    return push_to([channel], message)


def push_to(channels: list[str], message: dict) -> dict:
    """Send `message` to every connection of any of `channels`, with one lookup."""
    with transaction() as conn:
        ids = conn.execute(sa.select(t.live_connections.c.connection_id)
                           .where(t.live_connections.c.channel.in_(channels))).scalars().all()
    result = {"delivered": 0, "gone": 0, "failed": 0}
    if not ids:
        return result
    client = _management(config.env("LIVE_API_ENDPOINT"))
    data = json.dumps(message, ensure_ascii=False).encode()
    for connection_id in ids:
        try:
            client.post_to_connection(ConnectionId=connection_id, Data=data)
            result["delivered"] += 1
        except client.exceptions.GoneException:
            disconnect(connection_id)
            result["gone"] += 1
        except Exception as exc:  # noqa: BLE001 - one bad connection must not stop the others
            log.warning("live push failed", extra={"channels": channels, "error": type(exc).__name__})
            result["failed"] += 1
    return result
