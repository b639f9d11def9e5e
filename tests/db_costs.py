"""What a piece of work costs the database: commits (of writing and of read-only
transactions) and statements, counted on the engine's events."""
from __future__ import annotations

import contextlib
import dataclasses
import re

import sqlalchemy as sa

from hospital.db import engine

_WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


@dataclasses.dataclass
class Costs:
    statements: int = 0
    writing_commits: int = 0  # commits of transactions that wrote a row
    reading_commits: int = 0  # commits that ended a read-only transaction
    rollbacks: int = 0
    writes: list[str] = dataclasses.field(default_factory=list)  # the first words of each write

    @property
    def commits(self) -> int:
        return self.writing_commits + self.reading_commits

    @property
    def round_trips(self) -> int:
        """On MySQL: one per statement and one per COMMIT/ROLLBACK (BEGIN is implicit)."""
        return self.statements + self.commits + self.rollbacks

    def __str__(self) -> str:
        return (f"{self.writing_commits} writing commit(s), {self.reading_commits} read-only commit(s), "
                f"{self.statements} statements, {self.round_trips} round trips; writes: {self.writes}")


@contextlib.contextmanager
def counted():
    """Counts everything the engine does inside the block (every thread of this process)."""
    costs = Costs()
    writing: set[int] = set()  # connections whose open transaction has written
    eng = engine()

    def on_statement(conn, _cursor, statement, _parameters, _context, _executemany):
        costs.statements += 1
        if _WRITE.match(statement):
            writing.add(id(conn))
            costs.writes.append(" ".join(statement.split()[:3]))

    def on_commit(conn):
        if id(conn) in writing:
            costs.writing_commits += 1
        else:
            costs.reading_commits += 1
        writing.discard(id(conn))

    def on_rollback(conn):
        costs.rollbacks += 1
        writing.discard(id(conn))

    listeners = (("before_cursor_execute", on_statement), ("commit", on_commit), ("rollback", on_rollback))
    for name, fn in listeners:
        sa.event.listen(eng, name, fn)
    try:
        yield costs
    finally:
        for name, fn in listeners:
            sa.event.remove(eng, name, fn)
