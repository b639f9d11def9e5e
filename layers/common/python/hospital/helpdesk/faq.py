"""The FAQ (AS2): finance and the front desk keep it, every back-office and staff role reads
and searches it. Each edit names the version it was made from and is refused (409) if the
entry has moved on since, so two editors never overwrite each other unseen. Edits are audited;
reads are not (the FAQ holds no personal data, and an audit entry per search would queue every
reader on the audit chain's head).

Search (hospital.helpdesk.search_rules) is portable SQL over the faq_terms table: the entries
holding the most query terms first, then by the weight of where they hold them (question and
tags above the answer), then the most recently updated.
"""
from __future__ import annotations

from typing import NoReturn

import sqlalchemy as sa

from hospital import audit, text
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, NotFound, ValidationFailed
from hospital.helpdesk import search_rules
from hospital.timeutil import iso_utc, utcnow

_f = t.faq_entries.c
_w = t.faq_terms.c


def view(row) -> dict:
    return {"id": row.id, "question": row.question, "answer": row.answer, "category": row.category,
            "tags": list(row.tags or []), "version": row.version, "created_by": row.created_by,
            "created_at": iso_utc(row.created_at), "updated_by": row.updated_by, "updated_at": iso_utc(row.updated_at)}


def entry_number(entry_id: str) -> int:
    number = text.whole_number(entry_id, low=1, high=text.MAX_ID)
    if number is None:
        raise ValidationFailed("entry_id must be a whole number of 1 or more", field="entry_id")
    return number


def _index(conn, entry_id: int, body) -> None:
    """The entry's terms, replaced whole."""
    conn.execute(t.faq_terms.delete().where(_w.entry_id == entry_id))
    weights = search_rules.weighted_terms(body.question, body.answer, body.tags)
    if weights:
        conn.execute(t.faq_terms.insert(), [{"entry_id": entry_id, "term": term, "weight": weight}
                                            for term, weight in sorted(weights.items())])


def _fields(principal, body) -> dict:
    return {"question": body.question, "answer": body.answer, "category": body.category, "tags": list(body.tags),
            "updated_by": principal.user_id, "updated_at": utcnow()}


def create(principal, body) -> dict:
    """Entry: a new entry at version 1, indexed."""
    with transaction() as conn:
        fields = _fields(principal, body)
        entry_id = conn.execute(t.faq_entries.insert().values(
            version=1, created_by=principal.user_id, created_at=fields["updated_at"], **fields)).inserted_primary_key[0]
        _index(conn, entry_id, body)
        audit.add(conn, principal, "faq.entry_created", "faq_entry", str(entry_id), "ok",
                  {"category": body.category, "question": body.question})
        return view(conn.execute(sa.select(t.faq_entries).where(_f.id == entry_id)).one())


def update(principal, entry_id: str, body) -> dict:
    """Entry: the edit, made only if the entry is still at `body.version`; re-indexed."""
    number = entry_number(entry_id)
    with transaction() as conn:
        done = conn.execute(t.faq_entries.update().where(_f.id == number, _f.version == body.version)
                            .values(version=_f.version + 1, **_fields(principal, body))).rowcount
        if not done:
            _refuse_stale(conn, number, body.version)
        _index(conn, number, body)
        row = conn.execute(sa.select(t.faq_entries).where(_f.id == number)).one()
        audit.add(conn, principal, "faq.entry_updated", "faq_entry", str(number), "ok",
                  {"version": row.version, "category": body.category, "question": body.question})
        return view(row)


def delete(principal, entry_id: str, version: int) -> None:
    """Entry: the entry and its terms gone, if it is still at `version`."""
    number = entry_number(entry_id)
    with transaction() as conn:
        row = conn.execute(sa.select(t.faq_entries).where(_f.id == number).with_for_update()).first()
        if row is None or row.version != version:
            _refuse_stale(conn, number, version)
        conn.execute(t.faq_terms.delete().where(_w.entry_id == number))
        conn.execute(t.faq_entries.delete().where(_f.id == number, _f.version == version))
        audit.add(conn, principal, "faq.entry_deleted", "faq_entry", str(number), "ok",
                  {"version": version, "question": row.question})


def _refuse_stale(conn, number: int, version: int) -> NoReturn:
    current = conn.execute(sa.select(_f.version).where(_f.id == number)).scalar()
    if current is None:
        raise NotFound("no such FAQ entry", field="entry_id")
    raise Conflict(f"the entry is at version {current}, not {version}: someone changed it since; reload it",
                   field="version", code="stale_version")


def get(entry_id: str) -> dict:
    """Entry: one entry."""
    number = entry_number(entry_id)
    with transaction() as conn:
        row = conn.execute(sa.select(t.faq_entries).where(_f.id == number)).first()
    if row is None:
        raise NotFound("no such FAQ entry", field="entry_id")
    return view(row)


def search(query: str | None, category: str | None, limit: int, before: int | None) -> dict:
    """Entry: without a query, the entries newest first, a page of `limit` (the next page with
    `before` set to `next_before`); with one, the best `limit` matches, ranked."""
    wanted = [] if category is None else [_f.category == category]
    if query is None:
        if before is not None:
            wanted.append(_f.id < before)
        with transaction() as conn:
            rows = conn.execute(sa.select(t.faq_entries).where(*wanted).order_by(_f.id.desc()).limit(limit)).all()
        return {"items": [view(row) for row in rows], "count": len(rows), "limit": limit,
                "next_before": rows[-1].id if len(rows) == limit else None}
    terms = search_rules.query_terms(query)
    if not terms:
        raise ValidationFailed("q holds no letter, digit or character to search for", field="q")
    hits = (sa.select(_w.entry_id, sa.func.count().label("matched"), sa.func.sum(_w.weight).label("score"))
            .where(_w.term.in_(terms)).group_by(_w.entry_id).subquery())
    with transaction() as conn:
        rows = conn.execute(
            sa.select(t.faq_entries, hits.c.matched, hits.c.score).join(hits, hits.c.entry_id == _f.id)
            .where(*wanted).order_by(hits.c.matched.desc(), hits.c.score.desc(), _f.updated_at.desc(), _f.id.desc())
            .limit(limit)).all()
    return {"items": [{**view(row), "matched": int(row.matched), "score": int(row.score)} for row in rows],
            "count": len(rows), "limit": limit, "terms": terms, "next_before": None}
