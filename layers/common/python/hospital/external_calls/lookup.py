"""The back office's lookup of external calls (AS3): `search` answers the filters an IT
administrator gives (order, case, patient, system, outcome, time), newest first, and writes
the search to the audit log in the transaction that read it."""
from __future__ import annotations

import dataclasses
import datetime as dt

from hospital import audit, text
from hospital.db import transaction
from hospital.errors import ValidationFailed
from hospital.external_calls import call_rules as rules
from hospital.external_calls import journal
from hospital.timeutil import iso_utc

DEFAULT_LIMIT, MAX_LIMIT = rules.LOOKUP_DEFAULT_LIMIT, rules.LOOKUP_MAX_LIMIT
OUTCOMES = rules.OUTCOMES


@dataclasses.dataclass(frozen=True)
class Filters:
    """What to look for, as the caller sent it: ids and names as text (checked by `search`),
    times aware, the outcome and the limit checked already (hospital.web's query helpers)."""

    order_id: str | None = None
    case_id: str | None = None
    user_id: str | None = None
    system: str | None = None
    outcome: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    limit: int = DEFAULT_LIMIT


def search(principal, filters: Filters) -> dict:
    """Entry: the records that match, newest first, the search audited."""
    for name in ("order_id", "case_id"):
        value = getattr(filters, name)
        if value is not None and not rules.REFERENCE.match(value):
            raise ValidationFailed(f"{name} must be 1 to 32 letters, digits, '-' or '_'", field=name)
    user_id = None
    if filters.user_id is not None:
        user_id = text.whole_number(filters.user_id, low=1, high=text.MAX_ID)
        if user_id is None:
            raise ValidationFailed("user_id must be a whole number of 1 or more", field="user_id")
    if filters.system is not None and not rules.SYSTEM.match(filters.system):
        raise ValidationFailed("system must be a system's name, e.g. wechatpay_v3 or his", field="system")
    since, until = _utc(filters.since), _utc(filters.until)
    if since is not None and until is not None and until <= since:
        raise ValidationFailed("to must be later than from", field="to")
    with transaction() as conn:
        rows = journal.select(conn, order_id=filters.order_id, case_id=filters.case_id, user_id=user_id,
                              system=filters.system, outcome=filters.outcome, since=since, until=until,
                              limit=filters.limit)
        audit.add(conn, principal, "external_calls.searched", "report", None, "ok", {
            "filters": {name: value for name, value in (
                ("order_id", filters.order_id), ("case_id", filters.case_id), ("user_id", user_id),
                ("system", filters.system), ("outcome", filters.outcome), ("from", iso_utc(since)),
                ("to", iso_utc(until))) if value is not None},
            "limit": filters.limit, "count": len(rows)})
    return {"items": [view(row) for row in rows], "count": len(rows), "limit": filters.limit}


def view(row) -> dict:
    return {"id": row.id, "at": iso_utc(row.at), "system": row.system, "operation": row.operation,
            "outcome": row.outcome, "http_status": row.http_status, "error_code": row.error_code,
            "latency_ms": row.latency_ms, "order_id": row.order_id, "case_id": row.case_id,
            "user_id": row.user_id, "function": row.function, "correlation_id": row.correlation_id}


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """An aware time as the naive UTC the table holds."""
    return None if value is None else value.astimezone(dt.UTC).replace(tzinfo=None)
