"""One business transaction plus the messages it publishes.

    with unit_of_work() as uow:
        uow.conn.execute(...)
        uow.publish("rescue-events", "rescue.case_created", {...})

The messages are outbox rows in the same transaction; after commit they are relayed
to their queues. If the transaction rolls back, nothing is published.
"""
from __future__ import annotations

import contextlib

from hospital import outbox
from hospital.db import transaction


class UnitOfWork:
    def __init__(self, conn) -> None:
        self.conn = conn
        self.published: list[outbox.Message] = []

    def publish(self, destination: str, message_type: str, data: dict) -> int:
        message = outbox.add(self.conn, destination, message_type, data)
        self.published.append(message)
        return message.id


@contextlib.contextmanager
def unit_of_work():
    with transaction() as conn:
        uow = UnitOfWork(conn)
        yield uow
    outbox.relay_committed(uow.published)
