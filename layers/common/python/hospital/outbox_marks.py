"""The marks this container owes the outbox: rows it sent to SQS and has not yet recorded as
sent in a commit (hospital.outbox says why they wait for the next unit of work).

Process-wide and thread-safe: the local runtime runs many functions in threads of one
process. A transaction reserves the marks that are free, writes them, and settles them once
it has committed or releases them if it did not (they are owed again). A reserved mark is
handed to no second transaction, so two never update the same rows or wait on each other's
locks for them.
"""
from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping


class OwedMarks:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: dict[int, dt.datetime] = {}  # outbox id -> when it was sent
        self._reserved: dict[int, dt.datetime] = {}  # being written by a transaction not yet committed

    def owe(self, message_id: int, sent_at: dt.datetime) -> int:
        """Note a send; returns how many marks are owed now."""
        with self._lock:
            self._free[message_id] = sent_at
            return len(self._free) + len(self._reserved)

    def reserve(self) -> Mapping[int, dt.datetime]:
        """Every free mark, now held for one transaction to write."""
        with self._lock:
            taken, self._free = self._free, {}
            self._reserved.update(taken)
        return taken

    def settle(self, marks: Mapping[int, dt.datetime]) -> None:
        """Their transaction committed: no longer owed."""
        with self._lock:
            for message_id in marks:
                self._reserved.pop(message_id, None)

    def release(self, marks: Mapping[int, dt.datetime]) -> None:
        """Their transaction did not commit: owed again, for the next one."""
        with self._lock:
            for message_id, sent_at in marks.items():
                if self._reserved.pop(message_id, None) is not None:  # not forgotten meanwhile
                    self._free.setdefault(message_id, sent_at)

    def owed(self) -> list[int]:
        with self._lock:
            return sorted({*self._free, *self._reserved})

    def forget(self) -> None:
        """What a fresh container has: nothing (its rows are the sweeper's)."""
        with self._lock:
            self._free.clear()
            self._reserved.clear()
