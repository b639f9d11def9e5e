"""Reading the audit log (NF1): `verify` walks the hash chain and finds its first broken link;
`search` finds entries by actor, action, target and time, newest first. Both are audited in
the transaction that read."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re

from hospital import audit, audit_chain, text
from hospital.db import transaction
from hospital.errors import ValidationFailed
from hospital.timeutil import iso_utc

BATCH = 1000  # entries read per statement while walking the chain
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
NAME = re.compile(r"[a-z][a-z0-9_.]{0,63}")  # actions and target types: "payments.refund", "report"
PRINTABLE = re.compile(r"[!-~]{1,64}")  # a target id: printable ASCII, no spaces


def verify(principal) -> dict:
    """Entry: the chain walked from its first entry to its head, in order; the first broken
    link, or ok with how many entries were checked. The check is audited either way."""
    with transaction() as conn:
        outcome = walk(conn)
        audit.add(conn, principal, "audit.verified", "audit_log", None, "ok" if outcome["ok"] else "broken",
                  {"checked": outcome["checked"], **({"broken_id": outcome["broken"]["id"]} if outcome["broken"]
                                                     else {})})
    return outcome


def walk(conn) -> dict:
    """The chain up to the head as it stands when the walk starts (later entries wait for the
    next walk), `BATCH` entries per statement. An entry is a broken link when it does not
    point at the previous entry's hash or its hash is not that of its content and the
    previous hash; a missing or changed entry breaks the link of the one after it, and a
    removed tail leaves the head pointing past the last entry."""
    import sqlalchemy as sa

    from hospital.db import tables

    head = conn.execute(sa.select(tables.audit_chain_head).where(tables.audit_chain_head.c.id == 1)).one()
    log = tables.audit_log
    previous, checked, last_seq = audit_chain.GENESIS, 0, 0
    while last_seq < head.seq:
        rows = conn.execute(sa.select(log).where(log.c.seq > last_seq, log.c.seq <= head.seq)
                            .order_by(log.c.seq).limit(BATCH)).all()
        if not rows:
            break
        for row in rows:
            expected = audit_chain.link(previous, audit_chain.row_content_hash(row))
            if row.prev_hash != previous or row.entry_hash != expected:
                return _broken(checked, row.id, row.seq, expected, row.entry_hash, head)
            previous, checked, last_seq = row.entry_hash, checked + 1, row.seq
    if last_seq != head.seq or previous != head.head_hash:
        return _broken(checked, None, head.seq, previous, head.head_hash, head)
    return {"ok": True, "checked": checked, "broken": None, "head": _head(head)}


def _broken(checked: int, entry_id, seq: int, expected: str, stored: str, head) -> dict:
    return {"ok": False, "checked": checked, "head": _head(head),
            "broken": {"id": entry_id, "seq": seq, "expected_hash": expected, "stored_hash": stored}}


def _head(head) -> dict:
    """The head, which a copy kept elsewhere can be compared with: a chain cut short and its
    head rewritten to match looks whole from inside the database."""
    return {"seq": head.seq, "hash": head.head_hash}


@dataclasses.dataclass(frozen=True)
class Filters:
    """What to look for, as the caller sent it: ids and names as text (checked by `search`),
    times aware and the limit checked already (hospital.web's query helpers)."""

    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    before: str | None = None
    limit: int = DEFAULT_LIMIT


def search(principal, filters: Filters) -> dict:
    """Entry: the entries that match every filter, newest first, a page of `limit`; the next
    page is asked for with `before` set to the answer's `next_before`. The search is audited."""
    import sqlalchemy as sa

    from hospital.db import tables

    actor = _number(filters.actor, "actor")
    before = _number(filters.before, "before")
    for name in ("action", "target_type"):
        value = getattr(filters, name)
        if value is not None and not NAME.fullmatch(value):
            raise ValidationFailed(f"{name} must be a name of lowercase letters, digits, '_' or '.', "
                                   "e.g. payments.refund", field=name)
    if filters.target_id is not None and not PRINTABLE.fullmatch(filters.target_id):
        raise ValidationFailed("target_id must be 1 to 64 printable characters", field="target_id")
    since, until = _utc(filters.since), _utc(filters.until)
    if since is not None and until is not None and until <= since:
        raise ValidationFailed("to must be later than from", field="to")
    c = tables.audit_log.c
    wanted = [column == value for column, value in ((c.actor_user_id, actor), (c.action, filters.action),
                                                     (c.target_type, filters.target_type),
                                                     (c.target_id, filters.target_id)) if value is not None]
    if since is not None:
        wanted.append(c.at >= since)
    if until is not None:
        wanted.append(c.at < until)
    if before is not None:
        wanted.append(c.id < before)
    with transaction() as conn:
        rows = conn.execute(sa.select(tables.audit_log).where(*wanted).order_by(c.id.desc())
                            .limit(filters.limit)).all()
        audit.add(conn, principal, "audit.searched", "audit_log", None, "ok", {
            "filters": {name: value for name, value in (
                ("actor", actor), ("action", filters.action), ("target_type", filters.target_type),
                ("target_id", filters.target_id), ("from", iso_utc(since)), ("to", iso_utc(until)),
                ("before", before)) if value is not None},
            "limit": filters.limit, "count": len(rows)})
    return {"items": [view(row) for row in rows], "count": len(rows), "limit": filters.limit,
            "next_before": rows[-1].id if len(rows) == filters.limit else None}


def view(row) -> dict:
    return {"id": row.id, "seq": row.seq, "at": iso_utc(row.at), "actor_user_id": row.actor_user_id,
            "actor_roles": row.actor_roles.split(",") if row.actor_roles else [], "action": row.action,
            "target_type": row.target_type, "target_id": row.target_id, "result": row.result,
            "details": row.details or {}, "correlation_id": row.correlation_id, "entry_hash": row.entry_hash}


def _number(raw: str | None, field: str) -> int | None:
    if raw is None:
        return None
    value = text.whole_number(raw, low=1, high=text.MAX_ID)
    if value is None:
        raise ValidationFailed(f"{field} must be a whole number of 1 or more", field=field)
    return value


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """An aware time as the naive UTC the table holds."""
    return None if value is None else value.astimezone(dt.UTC).replace(tzinfo=None)
