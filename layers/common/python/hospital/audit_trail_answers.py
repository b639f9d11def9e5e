"""What the audit log's back-office routes answer with (hospital.api_contract): the result
of walking the hash chain, and a page of entries (hospital.audit_trail)."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from hospital.answer_base import Answer


class ChainHead(Answer):
    seq: int = Field(description="the last entry's seq; 0 before any")
    hash: str = Field(description="the hash the last entry ends the chain with, to compare with a copy kept elsewhere")


class BrokenLink(Answer):
    id: int | None = Field(description="the entry whose link is broken; null when the head points past the last")
    seq: int
    expected_hash: str
    stored_hash: str


class ChainCheck(Answer):
    ok: bool
    checked: int = Field(description="entries that held before the first broken link")
    broken: BrokenLink | None
    head: ChainHead


class Entry(Answer):
    id: int
    seq: int
    at: str
    actor_user_id: int | None
    actor_roles: list[str]
    action: str
    target_type: str | None
    target_id: str | None
    result: str
    details: dict[str, Any] = Field(description="what the action records; its keys depend on the action")
    correlation_id: str | None
    entry_hash: str


class Entries(Answer):
    items: list[Entry]
    count: int
    limit: int
    next_before: int | None = Field(description="give it as `before` for the next page; null on the last page")
