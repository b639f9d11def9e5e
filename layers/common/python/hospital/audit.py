"""The append-only audit log (NF1, EA3): who did what to which record, with what result.

`add` writes the record in the caller's transaction, beside the change it records; `record`
is the entry for a caller with no transaction of its own (a read, a refusal): it opens one.
"""
from __future__ import annotations

import functools
import logging

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
    """One audit row, in the caller's transaction."""
    conn.execute(_insert(), {
        "at": utcnow(),
        "actor_user_id": getattr(principal, "user_id", None),
        "actor_roles": ",".join(sorted(getattr(principal, "roles", ()))) or None,
        "action": action, "target_type": target_type, "target_id": target_id,
        "result": result, "details": details or {}, "correlation_id": current_correlation_id(),
    })
    log.info("audit", extra={"audit_action": action, "target_id": target_id, "result": result})


@functools.cache
def _insert():
    """Built once: a statement object costs more CPU to build than to run (its cache key is
    computed anew for each new object); values are bound at execution, always all of them."""
    from hospital.db import tables

    return tables.audit_log.insert()
