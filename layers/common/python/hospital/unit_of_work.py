"""One business transaction plus the messages it publishes.

    with unit_of_work() as uow:
        uow.conn.execute(...)
        uow.publish(rescue_messages.CaseCreated(case_id=case_id))

The messages (declared classes, see hospital.messages: each names its queue) are outbox
rows in the same transaction; after commit they are relayed to their queues. If the
transaction rolls back, nothing is published. `after_commit(fn)` runs fn after the commit
and before the relay (the consumers hear of it only after fn).

The transaction also records the sends of the container's earlier units of work (their
outbox marks), so a unit of work that publishes commits once (hospital.outbox says why
nothing is lost that way).

Inside `relayed_together()` (a queue consumer's batch) the units of work hold their committed
messages instead, and they are relayed together when it ends: one SendMessageBatch per queue
for the batch rather than one call per record. Held messages are committed rows like any
other: if the relay never happens the sweeper sends them. `relay_if_held_for` bounds how long
a slow batch may hold them.
"""
from __future__ import annotations

import contextlib
import contextvars
import time

from hospital import outbox
from hospital.messages import Message


class UnitOfWork:
    def __init__(self, conn) -> None:
        self.conn = conn
        self.published: list[outbox.Message] = []
        self.committed_hooks: list = []

    def after_commit(self, fn) -> None:
        self.committed_hooks.append(fn)

    def publish(self, message: Message) -> int:
        if not isinstance(message, Message):
            raise TypeError(f"publish takes a message object, not {type(message).__name__}")
        row = outbox.add(self.conn, message.QUEUE, message.wire_type, message.data())
        self.published.append(row)
        return row.id


class HeldMessages:
    """Committed messages waiting for the end of a `relayed_together` block."""

    def __init__(self) -> None:
        self.messages: list[outbox.Message] = []
        self.since: float | None = None

    def hold(self, messages: list[outbox.Message]) -> None:
        if messages and self.since is None:
            self.since = time.monotonic()
        self.messages.extend(messages)

    def relay(self) -> None:
        messages, self.messages, self.since = self.messages, [], None
        if messages:
            outbox.relay_committed(messages)

    def relay_if_held_for(self, seconds: float) -> None:
        if self.since is not None and time.monotonic() - self.since >= seconds:
            self.relay()


_held: contextvars.ContextVar[HeldMessages | None] = contextvars.ContextVar("held_messages", default=None)


@contextlib.contextmanager
def relayed_together():
    held = HeldMessages()
    token = _held.set(held)
    try:
        yield held
    finally:
        _held.reset(token)
        held.relay()


@contextlib.contextmanager
def unit_of_work():
    with outbox.transaction_paying_marks() as conn:
        uow = UnitOfWork(conn)
        yield uow
    try:
        for hook in uow.committed_hooks:
            hook()
    finally:
        held = _held.get()
        if held is not None:
            held.hold(uow.published)
        else:
            outbox.relay_committed(uow.published)
