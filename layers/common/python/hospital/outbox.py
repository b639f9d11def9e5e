"""Transactional outbox: a message is a row written in the business transaction, sent to SQS
by the request itself straight after the commit (one fast attempt: an emergency does not
wait for a schedule), and recorded as sent by the container's next unit of work, as one more
UPDATE before that unit's own commit: a request that publishes commits once, not twice.
A message may be sent twice (every copy carries the row id as `message_id`, and each
consumer's effect is guarded by the state it leaves, so a copy changes nothing twice); it
may not be lost or stuck.

A message's steps, and what a crash (or a failure) between two of them leaves:

  1 commit   the business transaction writes the row, unsent
  2 send     after the commit, the request sends it
  3 owe      the container notes the mark it owes, with the send's time (hospital.outbox_marks)
  4 write    its next unit of work sets `sent_at` before its own commit (so does the sweeper's
             read, and past OWED_LIMIT a transaction of their own)
  5 settle   that commit succeeded: the mark is no longer owed

  - before 1: the row rolls back with the business; there was nothing to send.
  - 1-2: unsent, and nobody owes its mark: the sweeper sends it once it is older than GRACE.
  - 2 fails: the row is released with its error (the only write on that path); as 1-2.
  - 2-3, 3-4 (the container dies, or idles): unsent in the database, so the sweeper sends it
    again: a duplicate. A container that wakes later still writes its mark, which then
    changes nothing: a mark only touches a row still unsent.
  - 4-5 (that unit of work rolls back, or its commit fails): the mark rolls back with it and
    is owed again, to the next one; if the container dies, as 3-4.
  - after 5: done; the mark is in the database. Written twice, it changes nothing.
  - the sweeper dies between its send and its mark: its claim expires and it sends again.

So a row stays unsent until a commit records a send that happened, and the sweeper sends
every row unsent for longer than GRACE: nothing is lost, nothing is stuck.

A queue consumer's batch sends what its records published together, when the batch ends or
before a record begins once they were held HOLD_SECONDS (hospital.unit_of_work.relayed_together):
that only makes 1-2 last longer. A record slower than GRACE can let the sweeper send a held
row first: a duplicate, like those below.

The price is a duplicate of each row whose mark is still owed when the sweeper looks: a
container's last sends before Lambda freezes it between invocations, or before it dies. Such a
row is sent once more, GRACE to GRACE + one sweeper period (1 min) after the first copy, and
marked by the sweeper. GRACE stays 30 s: a longer one would save duplicates, which cost only
work, but it is also how long an alert whose send never happened waits; and 30 s is far above
the relay's own worst case (one attempt, 1 s to connect, 2 s to read), so the sweeper does not
race a relay still sending.

Locks: a transaction writes its marks last, by primary key, in id order; a mark is reserved
for one transaction at a time, so two never update the same rows; the sweeper's claim locks
its one row. No lock cycle.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import json
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa

from hospital import settings
from hospital.db import engine, transaction
from hospital.db import tables as t
from hospital.observability import CORRELATION_ATTRIBUTE, current_correlation_id
from hospital.outbox_marks import OwedMarks
from hospital.timeutil import iso_utc, utcnow

log = logging.getLogger("hospital.outbox")

# Logical destination -> environment variable holding the queue URL (set by template.yaml).
DESTINATIONS = {
    "rescue-events": settings.RESCUE_EVENTS_QUEUE_URL,
    "triage": settings.TRIAGE_QUEUE_URL,
    "notifications": settings.NOTIFICATIONS_QUEUE_URL,
    "payment-events": settings.PAYMENT_EVENTS_QUEUE_URL,
    "refunds": settings.REFUNDS_QUEUE_URL,
    "outpatient-events": settings.OUTPATIENT_EVENTS_QUEUE_URL,
}
GRACE = dt.timedelta(seconds=30)
CLAIM = dt.timedelta(seconds=30)
# Past this many owed marks (a fan-out with no unit of work after it, a run of rollbacks) the
# relay writes them in a transaction of their own: memory stays bounded, and a request
# publishing a message or a few never gets near it.
OWED_LIMIT = 500

# The container's marks, per database: a container has one (tests switch), and a mark is
# only ever written in the database its row is in. They outlive the invocation, as the
# container does.
_owed: dict[tuple, OwedMarks] = {}
_owed_lock = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Message:
    id: int
    destination: str
    message_type: str
    payload: str
    correlation_id: str | None
    created_at: dt.datetime


# Built once: a statement object costs more CPU to build than to run (its cache key is computed
# anew for each new object); values are bound at execution, always the same columns.
_INSERT = t.outbox.insert()


def add(conn, destination: str, message_type: str, data: dict) -> Message:
    """Write a message in the caller's transaction."""
    if destination not in DESTINATIONS:
        raise ValueError(f"unknown outbox destination {destination!r}")
    row: dict[str, Any] = dict(destination=destination, message_type=message_type,
               payload=json.dumps(data, ensure_ascii=False, separators=(",", ":")),
               correlation_id=current_correlation_id(), created_at=utcnow())
    result = conn.execute(_INSERT, row)
    return Message(id=int(result.inserted_primary_key[0]), **row)


@contextlib.contextmanager
def transaction_paying_marks() -> Iterator[Any]:
    """A transaction that also writes the marks this container owes, last, before its commit;
    they stay owed unless that commit succeeds. The unit of work's transaction."""
    owed = _owed_in(engine())
    marks: Mapping[int, dt.datetime] = {}
    try:
        with transaction() as conn:
            yield conn
            marks = owed.reserve()
            if marks:
                _write_marks(conn, marks)
    except BaseException:
        owed.release(marks)
        raise
    owed.settle(marks)


def relay_committed(messages: list[Message]) -> int:
    """Send messages the caller has just committed, from memory; their marks are owed to the
    next unit of work. Never raises: what cannot be sent stays in the outbox for the sweeper.
    One fast attempt (a few seconds at worst) keeps the caller's answer inside its timeout and
    well inside GRACE, so the sweeper does not send a row while its relay still is."""
    ledger = _owed_in(engine())
    sent = owed = 0
    for batch in _batches(messages):
        for message, error in zip(batch, _send_batch(batch, profile="fast"), strict=True):
            if error is not None:
                log.warning("outbox relay failed", extra={"outbox_id": message.id, "error": error[:300]})
                _release(message.id, error)
                continue
            owed = ledger.owe(message.id, utcnow())
            sent += 1
    if owed > OWED_LIMIT:
        try:
            write_owed_marks()
        except Exception:  # noqa: BLE001 - still owed: the next unit of work writes them
            log.warning("could not write the owed outbox marks", extra={"owed": owed})
    return sent


def write_owed_marks() -> None:
    """Write the marks this container owes in a transaction of their own."""
    if _owed_in(engine()).owed():
        with transaction_paying_marks():
            pass


def owed_marks() -> list[int]:
    """Ids of the rows this container sent and has not yet recorded as sent."""
    return _owed_in(engine()).owed()


def forget_owed_marks() -> None:
    """What a container that is gone leaves: nothing owed (its rows are the sweeper's)."""
    with _owed_lock:
        for owed in _owed.values():
            owed.forget()


def _owed_in(eng) -> OwedMarks:
    url = eng.url
    database = (url.get_backend_name(), url.host, url.port, url.database)  # not the password: it may rotate
    with _owed_lock:
        return _owed.setdefault(database, OwedMarks())


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


def sweep(grace: dt.timedelta = GRACE, limit: int = 200) -> int:
    """Relay messages unsent for longer than `grace` (their own relay did not happen, or its
    mark is owed by a container that idles or is gone). This container's own owed marks are
    written first, in the same transaction, so it does not send those rows again."""
    cutoff = utcnow() - grace
    with transaction_paying_marks() as conn:
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
        # A relay's owed mark written meanwhile keeps its (earlier) time.
        conn.execute(t.outbox.update().where(t.outbox.c.id == message_id)
                     .values(sent_at=sa.func.coalesce(t.outbox.c.sent_at, utcnow()), claimed_until=None,
                             last_error=None))
    return 1


def _write_marks(conn, marks: Mapping[int, dt.datetime]) -> int:
    """Record sends in the caller's transaction, each with its own time. Only rows still
    unsent: a row the sweeper sent and marked meanwhile keeps that."""
    ids = sorted(marks)
    params: dict[str, Any] = {"ids": ids}
    for i, message_id in enumerate(ids):
        params[f"id_{i}"], params[f"at_{i}"] = message_id, marks[message_id]
    return conn.execute(_marks_statement(len(ids)), params).rowcount


@functools.lru_cache(maxsize=32)
def _marks_statement(count: int):
    """The UPDATE of `count` marks: a CASE branch per mark, so one statement per count."""
    c = t.outbox.c
    times = sa.case(*((sa.bindparam(f"id_{i}", type_=c.id.type), sa.bindparam(f"at_{i}", type_=c.sent_at.type))
                      for i in range(count)), value=c.id)
    return (t.outbox.update()
            .where(c.id.in_(sa.bindparam("ids", expanding=True)), c.sent_at.is_(None))
            .values(sent_at=times,
                    # a claimed row's attempt was counted by its claim
                    attempts=c.attempts + sa.case((c.claimed_until.is_(None), 1), else_=0),
                    last_error=None))


def envelope(row) -> dict:
    return {
        "message_id": str(row.id),
        "type": row.message_type,
        "created_at": iso_utc(row.created_at),
        "data": json.loads(row.payload),
    }


def _send(row, profile: str = "default") -> None:
    from hospital.aws import client

    client("sqs", profile).send_message(QueueUrl=DESTINATIONS[row.destination].get(), **_entry(row))


def _entry(row) -> dict:
    attributes = {"message_type": {"DataType": "String", "StringValue": row.message_type}}
    if row.correlation_id:
        attributes[CORRELATION_ATTRIBUTE] = {"DataType": "String", "StringValue": row.correlation_id}
    return {"MessageBody": json.dumps(envelope(row), ensure_ascii=False), "MessageAttributes": attributes}


SQS_BATCH = 10  # SendMessageBatch's limit


def _batches(messages: list[Message]) -> list[list[Message]]:
    """The messages by queue, at most SQS_BATCH together, in the order they were published."""
    by_queue: dict[str, list[list[Message]]] = {}
    for message in messages:
        batches = by_queue.setdefault(message.destination, [[]])
        if len(batches[-1]) == SQS_BATCH:
            batches.append([])
        batches[-1].append(message)
    return [batch for batches in by_queue.values() for batch in batches]


def _send_batch(batch: list[Message], profile: str) -> list[str | None]:
    """Send one queue's messages in one call (a fan-out to several staff is one SendMessageBatch,
    not one SendMessage each); per message, None when it was sent, else why not."""
    from hospital.aws import client

    try:
        if len(batch) == 1:
            _send(batch[0], profile)
            return [None]
        answer = client("sqs", profile).send_message_batch(
            QueueUrl=DESTINATIONS[batch[0].destination].get(),
            Entries=[{"Id": str(message.id), **_entry(message)} for message in batch])
    except Exception as exc:  # noqa: BLE001 - anything here is retried by the sweeper
        return [repr(exc)] * len(batch)
    # Only what SQS lists as successful was sent; anything else stays for the sweeper.
    sent = {entry["Id"] for entry in answer.get("Successful", [])}
    failed = {entry["Id"]: f"{entry.get('Code')}: {entry.get('Message')}" for entry in answer.get("Failed", [])}
    return [None if str(message.id) in sent else failed.get(str(message.id), "not acknowledged by SQS")
            for message in batch]


def _release(message_id: int, error: str) -> None:
    """Note the error and drop any claim, so the sweeper retries the row."""
    try:
        with transaction() as conn:
            conn.execute(t.outbox.update().where(t.outbox.c.id == message_id, t.outbox.c.sent_at.is_(None))
                         .values(claimed_until=None, last_error=error[:500]))
    except Exception:  # the claim expires by itself
        log.exception("could not release outbox claim", extra={"outbox_id": message_id})
