"""One business transaction plus the messages it publishes.

    with unit_of_work() as uow:
        uow.conn.execute(...)
        uow.publish("rescue-events", "rescue.case_created", {...})

The messages are outbox rows in the same transaction; after commit they are relayed
to their queues. If the transaction rolls back, nothing is published. `after_commit(fn)`
runs fn after the commit and before the relay (the consumers hear of it only after fn).
"""
from __future__ import annotations

import contextlib

from hospital import outbox
from hospital.db import transaction


class UnitOfWork:
    def __init__(self, conn) -> None:
        self.conn = conn
        self.published: list[outbox.Message] = []
        self.committed_hooks: list = []

    def after_commit(self, fn) -> None:
        self.committed_hooks.append(fn)

    def publish(self, destination: str, message_type: str, data: dict) -> int:
        message = outbox.add(self.conn, destination, message_type, data)
        self.published.append(message)
        return message.id


@contextlib.contextmanager
def unit_of_work():
    with transaction() as conn:
        uow = UnitOfWork(conn)
        yield uow
    try:
        for hook in uow.committed_hooks:
            hook()
    finally:
        outbox.relay_committed(uow.published)
