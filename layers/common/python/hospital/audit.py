"""The append-only audit log (NF1, EA3): who did what to which record, with what result."""
from __future__ import annotations

import logging

from hospital.observability import current_correlation_id
from hospital.timeutil import utcnow

log = logging.getLogger("hospital.audit")


def record(principal, action: str, target_type: str | None, target_id: str | None,
           result: str, details: dict | None = None, conn=None) -> None:
    """Write one audit row, inside the caller's transaction when `conn` is given."""
    from hospital.db import tables, transaction

    row = dict(
        at=utcnow(),
        actor_user_id=getattr(principal, "user_id", None),
        actor_roles=",".join(sorted(getattr(principal, "roles", ()))) or None,
        action=action, target_type=target_type, target_id=target_id,
        result=result, details=details or {}, correlation_id=current_correlation_id(),
    )
    if conn is not None:
        conn.execute(tables.audit_log.insert().values(**row))
    else:
        with transaction() as own:
            own.execute(tables.audit_log.insert().values(**row))
    log.info("audit", extra={"audit_action": action, "target_id": target_id, "result": result})
