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
"""
from __future__ import annotations

import contextlib

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


@contextlib.contextmanager
def unit_of_work():
    with outbox.transaction_paying_marks() as conn:
        uow = UnitOfWork(conn)
        yield uow
    try:
        for hook in uow.committed_hooks:
            hook()
    finally:
        outbox.relay_committed(uow.published)
