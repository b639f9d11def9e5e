"""The append-only audit log (NF1, EA3): who did what to which record, with what result.

`add` writes the record in the caller's transaction, beside the change it records; `record`
is the entry for a caller with no transaction of its own (a read, a refusal): it opens one.

Each record is chained to the one before (hospital.audit_chain). Appending costs one statement
more than a plain INSERT: an UPDATE moves the chain's one-row head, computing the new link in
the database, and holds the head's lock to the caller's commit, so concurrent writers queue
and the chain cannot fork; the INSERT then copies the link from the head (INSERT ... SELECT).
"""
from __future__ import annotations

import functools
import logging

from hospital import audit_chain
from hospital.observability import current_correlation_id
from hospital.timeutil import utcnow

log = logging.getLogger("hospital.audit")


def record(principal, action: str, target_type: str | None, target_id: str | None,
           result: str, details: dict | None = None) -> None:
    """Entry: one audit row in a transaction of its own."""
    from hospital.db import transaction

    with transaction() as conn:
        add(conn, principal, action, target_type, target_id, result, details)


def add(conn, principal, action: str, target_type: str | None, target_id: str | None,
        result: str, details: dict | None = None) -> None:
    """One audit row, in the caller's transaction, chained to the last one."""
    entry = {
        "at": utcnow(),
        "actor_user_id": getattr(principal, "user_id", None),
        "actor_roles": ",".join(sorted(getattr(principal, "roles", ()))) or None,
        "action": action, "target_type": target_type, "target_id": target_id,
        "result": result, "details": details or {}, "correlation_id": current_correlation_id(),
    }
    advance, append = _statements()
    if conn.execute(advance, {"content_hash": audit_chain.content_hash(**entry)}).rowcount != 1:
        raise RuntimeError("the audit chain has no head row: the database is not migrated")
    conn.execute(append, entry)
    log.info("audit", extra={"audit_action": action, "target_id": target_id, "result": result})


@functools.cache
def _statements():
    """Built once: a statement object costs more CPU to build than to run (its cache key is
    computed anew for each new object); values are bound at execution, always all of them.

    The head's SET clauses are ordered: MySQL assigns left to right, each seeing the ones
    before, so prev_hash must take head_hash before head_hash changes (SQLite sees old values
    throughout, which gives the same)."""
    import sqlalchemy as sa

    from hospital.db import tables

    head, log = tables.audit_chain_head, tables.audit_log
    advance = head.update().where(head.c.id == 1).ordered_values(
        (head.c.seq, head.c.seq + 1),
        (head.c.prev_hash, head.c.head_hash),
        (head.c.head_hash, sa.func.sha2(head.c.head_hash.concat(sa.bindparam("content_hash")), 256)),
    )
    fields = ("at", "actor_user_id", "actor_roles", "action", "target_type", "target_id", "result", "details",
              "correlation_id")
    append = log.insert().from_select(
        [*fields, "seq", "prev_hash", "entry_hash"],
        sa.select(*(sa.bindparam(name, type_=log.c[name].type) for name in fields),
                  head.c.seq, head.c.prev_hash, head.c.head_hash).where(head.c.id == 1))
    return advance, append
