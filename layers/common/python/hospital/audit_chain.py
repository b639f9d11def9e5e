"""The hash chain of the audit log (NF1), as pure functions: what an entry's hash covers and
how it links to the one before. No I/O: `hospital.audit` writes the links, `hospital.audit_trail`
checks them.

An entry's content hash covers its canonical content; its entry hash is
sha256(previous entry hash + content hash), both as lowercase hex text, so the database can
make the link itself (SHA2(CONCAT(...), 256)) in the statement that moves the chain's head.
The first entry links to GENESIS.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json

GENESIS = "0" * 64
VERSION = "v1"  # the layout of the canonical content; a new layout would need a new tag


def canonical_content(*, at: dt.datetime, actor_user_id: int | None, actor_roles: str | None, action: str,
                      target_type: str | None, target_id: str | None, result: str, details: dict | None,
                      correlation_id: str | None) -> bytes:
    """Every recorded field of an entry, in a fixed order, as one canonical JSON array: sorted
    keys, no spaces, ASCII only, so the details read back from the JSON column give the same
    bytes on MySQL, MariaDB and SQLite. `at` is the stored naive UTC time, to the microsecond;
    no details is stored, and so hashed, as {}."""
    fields = [VERSION, at.isoformat(timespec="microseconds"), actor_user_id, actor_roles, action, target_type,
              target_id, result, details or {}, correlation_id]
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def content_hash(**fields) -> str:
    return hashlib.sha256(canonical_content(**fields)).hexdigest()


def link(previous_hash: str, content: str) -> str:
    """The entry hash: the previous entry's hash and this entry's content hash, chained."""
    return hashlib.sha256((previous_hash + content).encode("ascii")).hexdigest()


def row_content_hash(row) -> str:
    """The content hash of a stored row (anything with the audit_log columns as attributes)."""
    return content_hash(at=row.at, actor_user_id=row.actor_user_id, actor_roles=row.actor_roles, action=row.action,
                        target_type=row.target_type, target_id=row.target_id, result=row.result,
                        details=row.details, correlation_id=row.correlation_id)
