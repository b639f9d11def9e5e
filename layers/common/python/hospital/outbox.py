"""Transactional outbox: messages are rows written in the business transaction, and
relayed to SQS after it commits. A relay that fails or a container that dies after the
commit leaves the row unsent; the sweeper (a scheduled function) sends it later. So a
message is never lost, and may be sent twice: every consumer is idempotent on the
envelope's `message_id` (the outbox row id), which stays the same across resends.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
from typing import Any

import sqlalchemy as sa

from hospital import settings
from hospital.db import tables as t
from hospital.db import transaction
from hospital.observability import CORRELATION_ATTRIBUTE, current_correlation_id
from hospital.timeutil import iso_utc, utcnow

log = logging.getLogger("hospital.outbox")

# Logical destination -> environment variable holding the queue URL (set by template.yaml).
DESTINATIONS = {
    "rescue-events": settings.RESCUE_EVENTS_QUEUE_URL,
    "triage": settings.TRIAGE_QUEUE_URL,
    "notifications": settings.NOTIFICATIONS_QUEUE_URL,
    "payment-events": settings.PAYMENT_EVENTS_QUEUE_URL,
    "refunds": settings.REFUNDS_QUEUE_URL,
}
CLAIM = dt.timedelta(seconds=30)


@dataclasses.dataclass(frozen=True)
class Message:
    id: int
    destination: str
    message_type: str
    payload: str
    correlation_id: str | None
    created_at: dt.datetime


def add(conn, destination: str, message_type: str, data: dict) -> Message:
    """Write a message in the caller's transaction."""
    if destination not in DESTINATIONS:
        raise ValueError(f"unknown outbox destination {destination!r}")
    row: dict[str, Any] = dict(destination=destination, message_type=message_type,
               payload=json.dumps(data, ensure_ascii=False, separators=(",", ":")),
               correlation_id=current_correlation_id(), created_at=utcnow())
    result = conn.execute(t.outbox.insert().values(**row))
    return Message(id=int(result.inserted_primary_key[0]), **row)


def relay_committed(messages: list[Message]) -> int:
    """Send messages the caller has just committed, from memory. Never raises: what cannot
    be sent stays in the outbox for the sweeper. One fast attempt (a few seconds at worst)
    keeps the caller's answer inside its timeout and well inside the sweeper's grace, so
    the two do not both send a row."""
    sent = 0
    for message in messages:
        try:
            _send(message, profile="fast")
            with transaction() as conn:
                conn.execute(t.outbox.update()
                             .where(t.outbox.c.id == message.id, t.outbox.c.sent_at.is_(None))
                             .values(sent_at=utcnow(), attempts=t.outbox.c.attempts + 1))
            sent += 1
        except Exception as exc:  # noqa: BLE001 - anything here is retried by the sweeper
            log.warning("outbox relay failed", extra={"outbox_id": message.id, "error": repr(exc)[:300]})
            _release(message.id, repr(exc))
    return sent


def relay(ids: list[int]) -> int:
    """Claim and send stored messages that are still unsent (the sweeper's path); returns
    how many were sent. Never raises."""
    sent = 0
    for message_id in ids:
        try:
            sent += _relay_one(message_id)
        except Exception as exc:  # noqa: BLE001 - anything here is retried by the sweeper
            log.warning("outbox relay failed", extra={"outbox_id": message_id, "error": repr(exc)[:300]})
            _release(message_id, repr(exc))
    return sent


def sweep(grace: dt.timedelta = dt.timedelta(seconds=30), limit: int = 200) -> int:
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
        # The claim stops two sweeper runs sending the row at once.
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


def _send(row, profile: str = "default") -> None:
    from hospital.aws import client

    attributes = {"message_type": {"DataType": "String", "StringValue": row.message_type}}
    if row.correlation_id:
        attributes[CORRELATION_ATTRIBUTE] = {"DataType": "String", "StringValue": row.correlation_id}
    client("sqs", profile).send_message(
        QueueUrl=DESTINATIONS[row.destination].get(),
        MessageBody=json.dumps(envelope(row), ensure_ascii=False),
        MessageAttributes=attributes,
    )


def _release(message_id: int, error: str) -> None:
    """Note the error and drop any claim, so the sweeper retries the row."""
    try:
        with transaction() as conn:
            conn.execute(t.outbox.update().where(t.outbox.c.id == message_id, t.outbox.c.sent_at.is_(None))
                         .values(claimed_until=None, last_error=error[:500]))
    except Exception:  # the claim expires by itself
        log.exception("could not release outbox claim", extra={"outbox_id": message_id})
