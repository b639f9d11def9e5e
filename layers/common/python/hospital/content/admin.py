"""The back office of site content (AD3): items listed and read with their versions, drafts
made and edited (each edit a new version, based on the latest one or refused), submitted,
approved (published) or rejected by someone other than their author, unpublished, and any
version restored as a new draft that goes through review again. Every call is audited in the
transaction of what it read or changed; bad input changes nothing.
"""
from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from hospital import audit, text
from hospital.content import content_rules as rules
from hospital.content import sanitiser
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from hospital.timeutil import iso_utc, utcnow

_i = t.content_items.c
_v = t.content_versions.c
CONTENT_FIELDS = ("title", "body_html", "menu", "pinned", "shown_from", "shown_until")


# ---- views -----------------------------------------------------------------------------------------

def item_view(row) -> dict:
    return {"id": row.id, "kind": row.kind, "slug": row.slug, "status": row.status,
            "latest_version": row.latest_version, "published_version": row.published_version,
            "published_at": iso_utc(row.published_at), "published_by": row.published_by,
            "created_at": iso_utc(row.created_at), "created_by": row.created_by,
            "updated_at": iso_utc(row.updated_at), "updated_by": row.updated_by}


def version_summary(row) -> dict:
    return {"version": row.version, "title": row.title, "state": row.state, "author_id": row.author_id,
            "created_at": iso_utc(row.created_at), "restored_from": row.restored_from,
            "submitted_at": iso_utc(row.submitted_at), "submitted_by": row.submitted_by,
            "reviewed_at": iso_utc(row.reviewed_at), "reviewed_by": row.reviewed_by, "review_note": row.review_note}


def version_view(row) -> dict:
    return {**version_summary(row), "body_html": row.body_html, "menu": row.menu, "pinned": bool(row.pinned),
            "shown_from": iso_utc(row.shown_from), "shown_until": iso_utc(row.shown_until)}


# ---- reads -----------------------------------------------------------------------------------------

def listing(principal, kind: str | None, status: str | None, state: str | None, limit: int) -> dict:
    """Items by kind and slug with their latest version's title and state; `state`: the latest
    version's (in_review is the reviewers' queue)."""
    query = (sa.select(t.content_items, _v.title, _v.state)
             .join(t.content_versions, sa.and_(_v.item_id == _i.id, _v.version == _i.latest_version))
             .order_by(_i.kind, _i.slug).limit(limit))
    if kind is not None:
        query = query.where(_i.kind == kind)
    if status is not None:
        query = query.where(_i.status == status)
    if state is not None:
        query = query.where(_v.state == state)
    with transaction() as conn:
        rows = conn.execute(query).all()
        audit.add(conn, principal, "content.items_viewed", "content_item", None, "ok",
                  {"kind": kind, "status": status, "state": state, "count": len(rows)})
    return {"items": [{**item_view(r), "latest_title": r.title, "latest_state": r.state} for r in rows],
            "count": len(rows), "limit": limit}


def detail(principal, item_id: str) -> dict:
    with transaction() as conn:
        item = _item(conn, item_id)
        audit.add(conn, principal, "content.item_viewed", "content_item", item.id, "ok")
        return _detail(conn, item.id)


def preview(principal, item_id: str, version: int) -> dict:
    """Any version as it would be served, published or not: its body is stored sanitised."""
    with transaction() as conn:
        item = _item(conn, item_id)
        row = _version(conn, item.id, version)
        audit.add(conn, principal, "content.version_previewed", "content_item", item.id, "ok", {"version": version})
    return {"item": item_view(item), **version_view(row), "published": item.published_version == version}


# ---- drafts ----------------------------------------------------------------------------------------

def create(principal, body) -> dict:
    """A new item and its first version, a draft. The slug is unique per kind."""
    content = checked_content(body.kind, body)
    item_id, now = uuid.uuid4().hex, utcnow()
    try:
        with transaction() as conn:
            taken = conn.execute(sa.select(_i.id).where(_i.kind == body.kind, _i.slug == body.slug)).first()
            if taken is not None:
                raise Conflict(f"a {body.kind} with the slug {body.slug} exists already", field="slug",
                               code="slug_taken")
            conn.execute(t.content_items.insert().values(
                id=item_id, kind=body.kind, slug=body.slug, status="draft", latest_version=1, published_version=None,
                created_at=now, created_by=principal.user_id, updated_at=now, updated_by=principal.user_id))
            conn.execute(t.content_versions.insert().values(
                item_id=item_id, version=1, author_id=principal.user_id, created_at=now, state="draft", **content))
            audit.add(conn, principal, "content.created", "content_item", item_id, "ok",
                      {"kind": body.kind, "slug": body.slug, "version": 1})
            return _detail(conn, item_id)
    except sa.exc.IntegrityError:  # the same slug created at the same moment by someone else
        raise Conflict(f"a {body.kind} with the slug {body.slug} exists already", field="slug",
                       code="slug_taken") from None


def edit(principal, item_id: str, body) -> dict:
    """A new draft version based on `base_version`, which must still be the latest."""
    with transaction() as conn:
        item = _item(conn, item_id)
        content = checked_content(item.kind, body)
        number = _new_version(conn, principal, item, body.base_version, content, restored_from=None)
        audit.add(conn, principal, "content.edited", "content_item", item.id, "ok",
                  {"version": number, "base_version": body.base_version})
        return _detail(conn, item.id)


def restore(principal, item_id: str, version: int, base_version: int) -> dict:
    """A new draft copied from `version`: it is reviewed again before it is published."""
    with transaction() as conn:
        item = _item(conn, item_id)
        source = _version(conn, item.id, version)
        content = {name: getattr(source, name) for name in CONTENT_FIELDS}
        number = _new_version(conn, principal, item, base_version, content, restored_from=version)
        audit.add(conn, principal, "content.restored", "content_item", item.id, "ok",
                  {"version": number, "restored_from": version, "base_version": base_version})
        return _detail(conn, item.id)


def _new_version(conn, principal, item, base_version: int, content: dict, *, restored_from: int | None) -> int:
    refusal = rules.base_refusal(base_version, item.latest_version)
    if refusal is not None:
        _refuse(refusal)
    number, now = base_version + 1, utcnow()
    # Guarded: of two editors saving on the same base at once, the second finds it moved on.
    moved = conn.execute(t.content_items.update().where(_i.id == item.id, _i.latest_version == base_version)
                         .values(latest_version=number, updated_at=now, updated_by=principal.user_id)).rowcount
    if moved != 1:
        raise Conflict(f"base_version {base_version} is no longer the latest version: someone saved at the same "
                       "moment; reload and edit the latest", field="base_version", code="stale_base_version")
    conn.execute(t.content_versions.update()
                 .where(_v.item_id == item.id, _v.state.in_(rules.SUPERSEDED_FROM)).values(state="superseded"))
    conn.execute(t.content_versions.insert().values(
        item_id=item.id, version=number, author_id=principal.user_id, created_at=now, state="draft",
        restored_from=restored_from, **content))
    return number


def checked_content(kind: str, body) -> dict:
    """The columns of a version from a request body, checked for `kind`; a refusal names the field."""
    notice_only = {"pinned": body.pinned, "shown_from": body.shown_from, "shown_until": body.shown_until}
    if kind != "notice":
        for name, value in notice_only.items():
            if value not in (None, False):
                raise ValidationFailed(f"{name}: only notices have it", field=name)
    shown_from, shown_until = (_utc(body.shown_from), _utc(body.shown_until))
    refusal = rules.window_refusal(shown_from, shown_until)
    if refusal is not None:
        raise ValidationFailed(f"{refusal.field}: {refusal.message}", field=refusal.field, code=refusal.code)
    content = {"title": body.title, "body_html": None, "menu": None, "pinned": bool(body.pinned),
               "shown_from": shown_from, "shown_until": shown_until}
    if kind == "menu":
        if body.body_html is not None:
            raise ValidationFailed("body_html: a menu has entries (menu), not a body", field="body_html")
        if body.menu is None:
            raise ValidationFailed("menu: a menu needs its entries", field="menu")
        entries, refusal = rules.menu_entries(body.menu)
        if refusal is not None:
            raise ValidationFailed(f"{refusal.field}: {refusal.message}", field=refusal.field, code=refusal.code)
        content["menu"] = entries
        return content
    if body.menu is not None:
        raise ValidationFailed(f"menu: a {kind} has a body (body_html), not menu entries", field="menu")
    if body.body_html is None:
        raise ValidationFailed(f"body_html: a {kind} needs its body", field="body_html")
    if len(body.body_html.encode("utf-8")) > rules.MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body_html: at most {rules.MAX_BODY_BYTES // 1024} KB", field="body_html")
    cleaned = sanitiser.clean(body.body_html)
    if not cleaned.strip():
        raise ValidationFailed("body_html: nothing is left once scripts and disallowed markup are removed",
                               field="body_html", code="empty_body")
    content["body_html"] = cleaned
    return content


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.astimezone(dt.UTC).replace(tzinfo=None)


# ---- review and publication ------------------------------------------------------------------------

def submit(principal, item_id: str, version: int) -> dict:
    return _step(principal, item_id, version, "submit", None)


def approve(principal, item_id: str, version: int, note: str | None) -> dict:
    """The version is reviewed and published: the item serves it from now on."""
    return _step(principal, item_id, version, "approve", note)


def reject(principal, item_id: str, version: int, note: str) -> dict:
    return _step(principal, item_id, version, "reject", note)


STEP_AUDIT = {"submit": "content.submitted", "approve": "content.published", "reject": "content.rejected"}


def _step(principal, item_id: str, version: int, action: str, note: str | None) -> dict:
    now = utcnow()
    refused, answer = None, {}
    with transaction() as conn:
        item = _item(conn, item_id)
        row = _version(conn, item.id, version)
        refused = rules.step_refusal(action, row.state, version=version, latest=item.latest_version,
                                     actor=principal.user_id, author=row.author_id)
        if refused is not None:  # recorded, and nothing else written: the refusal is raised after the commit
            audit.add(conn, principal, STEP_AUDIT[action], "content_item", item.id, "refused",
                      {"version": version, "code": refused.code})
        else:
            _apply_step(conn, principal, item, row, action, note, now)
            answer = _detail(conn, item.id)
    if refused is not None:
        _refuse(refused)
    return answer


def _apply_step(conn, principal, item, row, action: str, note: str | None, now: dt.datetime) -> None:
    expected, target = rules.ALLOWED_FROM[action]
    values: dict = {"state": target}
    if action == "submit":
        values |= {"submitted_at": now, "submitted_by": principal.user_id}
    else:
        values |= {"reviewed_at": now, "reviewed_by": principal.user_id, "review_note": note}
    moved = conn.execute(t.content_versions.update().where(_v.id == row.id, _v.state == expected)
                         .values(**values)).rowcount
    if moved != 1:  # a concurrent step or edit got there first
        raise Conflict(f"version {row.version} changed meanwhile; reload it", field="version", code="wrong_state")
    details: dict = {"version": row.version}
    if action == "approve":
        published = conn.execute(t.content_items.update()
                                 .where(_i.id == item.id, _i.latest_version == row.version)
                                 .values(status="published", published_version=row.version, published_at=now,
                                         published_by=principal.user_id, updated_at=now,
                                         updated_by=principal.user_id)).rowcount
        if published != 1:
            raise Conflict(f"version {row.version} is no longer the latest; reload it", field="version",
                           code="not_latest")
        details["previous_published_version"] = item.published_version
    if note is not None:
        details["note"] = note
    audit.add(conn, principal, STEP_AUDIT[action], "content_item", item.id, "ok", details)


def unpublish(principal, item_id: str) -> dict:
    """The item is no longer served; its versions stay, and any can be restored and reviewed again."""
    now = utcnow()
    with transaction() as conn:
        item = _item(conn, item_id)
        refusal = rules.unpublish_refusal(item.status)
        if refusal is not None:
            _refuse(refusal)
        done = conn.execute(t.content_items.update().where(_i.id == item.id, _i.status == "published")
                            .values(status="unpublished", published_version=None, updated_at=now,
                                    updated_by=principal.user_id)).rowcount
        if done != 1:
            raise Conflict("the item was unpublished meanwhile", code="not_published")
        audit.add(conn, principal, "content.unpublished", "content_item", item.id, "ok",
                  {"version": item.published_version})
        return _detail(conn, item.id)


# ---- helpers ---------------------------------------------------------------------------------------

def _detail(conn, item_id: str) -> dict:
    item = conn.execute(sa.select(t.content_items).where(_i.id == item_id)).one()
    versions = conn.execute(sa.select(t.content_versions).where(_v.item_id == item_id)
                            .order_by(_v.version.desc())).all()
    return {**item_view(item), "versions": [version_summary(v) for v in versions]}


def _item(conn, item_id: str):
    row = conn.execute(sa.select(t.content_items).where(_i.id == item_id)).first() if _is_id(item_id) else None
    if row is None:
        raise NotFound("no such content item", field="item_id")
    return row


def _version(conn, item_id: str, version: int):
    row = conn.execute(sa.select(t.content_versions).where(_v.item_id == item_id, _v.version == version)).first()
    if row is None:
        raise NotFound(f"this item has no version {version}", field="version")
    return row


def _is_id(value: str) -> bool:
    return len(value) == 32 and all(ch in "0123456789abcdef" for ch in value)


def parse_version(raw: str) -> int:
    number = text.whole_number(raw, low=1, high=2**31 - 1)
    if number is None:
        raise ValidationFailed("version must be a whole number from 1", field="version")
    return number


def _refuse(refusal: rules.Refusal):
    if refusal.code == "four_eyes":
        raise Forbidden(refusal.message, field=refusal.field, code=refusal.code)
    raise Conflict(refusal.message, field=refusal.field, code=refusal.code)
