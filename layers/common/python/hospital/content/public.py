"""What the public reads of the WeChat site (AD3): the published version of a page, a menu or a
notice, and the notices shown now. Only an item's published version is ever read here; an item
never published, or unpublished, does not exist for the public. Each answer comes with its ETag
(content_rules.etag); nothing here is audited: these are anonymous reads of public content.
"""
from __future__ import annotations

import sqlalchemy as sa

from hospital.content import content_rules as rules
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import NotFound
from hospital.timeutil import iso_utc, utcnow

_i = t.content_items.c
_v = t.content_versions.c
MAX_NOTICES = 200


def _published():
    return (sa.select(_i.id, _i.slug, _i.published_version, _i.published_at, _v.title, _v.body_html, _v.menu,
                      _v.pinned, _v.shown_from, _v.shown_until)
            .join(t.content_versions, sa.and_(_v.item_id == _i.id, _v.version == _i.published_version))
            .where(_i.status == "published"))


def _one(kind: str, slug: str):
    if rules.slug_refusal(slug):
        raise NotFound(f"no such {kind}", field="slug")
    with transaction() as conn:
        row = conn.execute(_published().where(_i.kind == kind, _i.slug == slug)).first()
    if row is None:
        raise NotFound(f"no such {kind}", field="slug")
    return row


def _base(row) -> dict:
    return {"slug": row.slug, "title": row.title, "version": row.published_version,
            "published_at": iso_utc(row.published_at)}


def _notice(row) -> dict:
    return {**_base(row), "pinned": bool(row.pinned), "shown_from": iso_utc(row.shown_from),
            "shown_until": iso_utc(row.shown_until)}


def page(slug: str) -> tuple[dict, str]:
    row = _one("page", slug)
    return {**_base(row), "body_html": row.body_html}, rules.etag((row.id, row.published_version))


def menu(slug: str) -> tuple[dict, str]:
    row = _one("menu", slug)
    return {**_base(row), "entries": row.menu}, rules.etag((row.id, row.published_version))


def notice(slug: str) -> tuple[dict, str]:
    """A notice outside its window is not shown, by its slug either."""
    row = _one("notice", slug)
    if not rules.is_shown(row.shown_from, row.shown_until, utcnow()):
        raise NotFound("no such notice", field="slug")
    return {**_notice(row), "body_html": row.body_html}, rules.etag((row.id, row.published_version))


def notices() -> tuple[dict, str]:
    """The notices shown now, pinned first, then the newest published."""
    now = utcnow()
    with transaction() as conn:
        # The ended ones are most of them after a year or two: left out by the database.
        rows = conn.execute(_published().where(_i.kind == "notice", sa.or_(_v.shown_until.is_(None),
                                                                            _v.shown_until > now))).all()
    shown = sorted((r for r in rows if rules.is_shown(r.shown_from, r.shown_until, now)),
                   key=lambda r: rules.notice_order(bool(r.pinned), r.published_at, r.slug))[:MAX_NOTICES]
    return ({"items": [_notice(r) for r in shown]},
            rules.etag(*((r.id, r.published_version) for r in shown)))
