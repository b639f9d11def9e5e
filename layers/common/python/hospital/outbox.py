"""Transactional outbox: messages are rows written in the business transaction, and
relayed to SQS after it commits. A relay that fails or a container that dies after the
commit leaves the row unsent; the sweeper (a scheduled function) sends it later. So a
message is never lost, and may be sent twice: every consumer is idempotent on the
envelope's `message_id` (the outbox row id), which stays the same across resends.
"""
from __future__ import annotations

import datetime as dt
import json
import logging

import sqlalchemy as sa

from hospital import config
from hospital.db import tables as t
from hospital.db import transaction
from hospital.observability import CORRELATION_ATTRIBUTE, current_correlation_id
from hospital.timeutil import iso_utc, utcnow

log = logging.getLogger("hospital.outbox")

# Logical destination -> environment variable holding the queue URL (set by template.yaml).
DESTINATIONS = {
    "rescue-events": "RESCUE_EVENTS_QUEUE_URL",
}
CLAIM = dt.timedelta(seconds=30)


def add(conn, destination: str, message_type: str, data: dict) -> int:
    """Write a message in the caller's transaction; returns its id."""
    if destination not in DESTINATIONS:
        raise ValueError(f"unknown outbox destination {destination!r}")
    now = utcnow()
    result = conn.execute(t.outbox.insert().values(
        destination=destination, message_type=message_type,
        payload=json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        correlation_id=current_correlation_id(), created_at=now,
    ))
    return int(result.inserted_primary_key[0])


def relay(ids: list[int]) -> int:
    """Send the given messages if still unsent; returns how many were sent. Never raises:
    what it cannot send stays in the outbox for the sweeper."""
    sent = 0
    for message_id in ids:
        try:
            sent += _relay_one(message_id)
        except Exception as exc:  # noqa: BLE001 - anything here is retried by the sweeper
            log.warning("outbox relay failed", extra={"outbox_id": message_id, "error": repr(exc)[:300]})
            _release(message_id, repr(exc))
    return sent


def sweep(grace: dt.timedelta = dt.timedelta(seconds=10), limit: int = 200) -> int:
    """Relay messages that have waited longer than `grace` (their own relay did not happen)."""
    cutoff = utcnow() - grace
    with transaction() as conn:
        ids = conn.execute(
            sa.select(t.outbox.c.id)
            .where(t.outbox.c.sent_at.is_(None), t.outbox.c.created_at <= cutoff)
            .order_by(t.outbox.c.id).limit(limit)
        ).scalars().all()
    return relay(list(ids))


def _relay_one(message_id: int) -> int:
    now = utcnow()
    with transaction() as conn:
        # The claim stops the request's own relay and the sweeper sending the row at once.
        claimed = conn.execute(
            t.outbox.update()
            .where(t.outbox.c.id == message_id, t.outbox.c.sent_at.is_(None),
                   sa.or_(t.outbox.c.claimed_until.is_(None), t.outbox.c.claimed_until < now))
            .values(claimed_until=now + CLAIM, attempts=t.outbox.c.attempts + 1)
        ).rowcount
        if not claimed:
            return 0
        row = conn.execute(sa.select(t.outbox).where(t.outbox.c.id == message_id)).one()
    _send(row)
    with transaction() as conn:
        conn.execute(t.outbox.update().where(t.outbox.c.id == message_id)
                     .values(sent_at=utcnow(), claimed_until=None, last_error=None))
    return 1


def envelope(row) -> dict:
    return {
        "message_id": str(row.id),
        "type": row.message_type,
        "created_at": iso_utc(row.created_at),
        "data": json.loads(row.payload),
    }


def _send(row) -> None:
    from hospital.aws import client

    attributes = {"message_type": {"DataType": "String", "StringValue": row.message_type}}
    if row.correlation_id:
        attributes[CORRELATION_ATTRIBUTE] = {"DataType": "String", "StringValue": row.correlation_id}
    client("sqs").send_message(
        QueueUrl=config.env(DESTINATIONS[row.destination]),
        MessageBody=json.dumps(envelope(row), ensure_ascii=False),
        MessageAttributes=attributes,
    )


def _release(message_id: int, error: str) -> None:
    try:
        with transaction() as conn:
            conn.execute(t.outbox.update().where(t.outbox.c.id == message_id, t.outbox.c.sent_at.is_(None))
                         .values(claimed_until=None, last_error=error[:500]))
    except Exception:  # noqa: BLE001 - the claim expires by itself
        log.exception("could not release outbox claim", extra={"outbox_id": message_id})
