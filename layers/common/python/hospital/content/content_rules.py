"""Pure rules of site content (AD3): the review workflow, slugs, menus, the notice window and
the ETag of what the public API serves. Plain data in, a decision out; no I/O.

Workflow of one version (versions are never edited; an edit is a new version):

    draft --submit--> in_review --approve--> approved (published)
                            in_review --reject--> rejected
    draft | in_review --(a newer version is made)--> superseded

Only the item's latest version moves. The reviewer of a version is never its author (four eyes).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re

KINDS = ("page", "notice", "menu")
ITEM_STATUSES = ("draft", "published", "unpublished")  # never published yet, live, taken down
STATES = ("draft", "in_review", "approved", "rejected", "superseded")
# action -> (the state it moves from, the state it moves to)
ALLOWED_FROM = {
    "submit": ("draft", "in_review"),
    "approve": ("in_review", "approved"),
    "reject": ("in_review", "rejected"),
}
# A newer version replaces an unfinished one; a decided version keeps its decision in history.
SUPERSEDED_FROM = ("draft", "in_review")
REVIEW_ACTIONS = frozenset({"approve", "reject"})

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_SLUG = 64
MAX_TITLE = 100
MAX_BODY_BYTES = 200 * 1024
MAX_MENU_ENTRIES = 10
MAX_MENU_CHILDREN = 10
MAX_MENU_TITLE = 40
MAX_URL = 1000


@dataclasses.dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    field: str | None = None


def step_refusal(action: str, state: str, *, version: int, latest: int, actor: int | None,
                 author: int | None) -> Refusal | None:
    """Why `actor` may not `action` version `version` (in `state`) of an item whose latest
    version is `latest`; None when they may."""
    expected, _ = ALLOWED_FROM[action]
    if version != latest:
        return Refusal("not_latest", f"version {version} is not the latest ({latest}); only the latest moves on",
                       "version")
    if state != expected:
        return Refusal("wrong_state", f"{action} needs a version in {expected}; version {version} is {state}",
                       "version")
    if action in REVIEW_ACTIONS and actor is not None and actor == author:
        return Refusal("four_eyes", "the author of a version may not review it; another reviewer must", "version")
    return None


def moved_to(action: str) -> str:
    return ALLOWED_FROM[action][1]


def unpublish_refusal(item_status: str) -> Refusal | None:
    if item_status != "published":
        return Refusal("not_published", f"only a published item can be unpublished; this one is {item_status}")
    return None


def base_refusal(base_version: int, latest: int) -> Refusal | None:
    """An edit based on an older version would silently drop what was saved since."""
    if base_version != latest:
        return Refusal("stale_base_version",
                       f"base_version {base_version} is not the latest version ({latest}): someone saved since; "
                       "reload and edit the latest", "base_version")
    return None


def slug_refusal(slug: str) -> str | None:
    if not slug or len(slug) > MAX_SLUG or not SLUG.fullmatch(slug):
        return (f"must be 1 to {MAX_SLUG} lower-case letters a-z, digits and single hyphens between them "
                "(e.g. visiting-hours)")
    return None


# ---- menus -----------------------------------------------------------------------------------------

def menu_entries(value, field: str = "menu") -> tuple[list[dict] | None, Refusal | None]:
    """A menu's entries checked and normalised: each has a title and exactly one of `url`
    (https only) or `page` (a page's slug), or, at the top level only, `children` (entries
    of their own, one level deep)."""
    if not isinstance(value, list) or not value:
        return None, Refusal("invalid_menu", "must be a non-empty list of entries", field)
    if len(value) > MAX_MENU_ENTRIES:
        return None, Refusal("invalid_menu", f"at most {MAX_MENU_ENTRIES} entries", field)
    out = []
    for i, entry in enumerate(value):
        checked, refusal = _entry(entry, f"{field}.{i}", top=True)
        if refusal is not None:
            return None, refusal
        out.append(checked)
    return out, None


def _entry(entry, field: str, *, top: bool) -> tuple[dict, Refusal | None]:
    allowed = {"title", "url", "page", "children"} if top else {"title", "url", "page"}
    if not isinstance(entry, dict):
        return {}, Refusal("invalid_menu", "each entry must be an object with a title", field)
    unknown = sorted(set(entry) - allowed)
    if unknown:
        why = "entries are nested one level only" if unknown == ["children"] else "unknown field"
        return {}, Refusal("invalid_menu", why, f"{field}.{unknown[0]}")
    title = entry.get("title")
    if not isinstance(title, str) or not title.strip() or len(title.strip()) > MAX_MENU_TITLE:
        return {}, Refusal("invalid_menu", f"must be text of 1 to {MAX_MENU_TITLE} characters", f"{field}.title")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in title):
        return {}, Refusal("invalid_menu", "must not contain control characters", f"{field}.title")
    targets = [key for key in ("url", "page", "children") if key in entry]
    if len(targets) != 1:
        need = "url, page or children" if top else "url or page"
        return {}, Refusal("invalid_menu", f"an entry has exactly one of {need}", field)
    [target] = targets
    value = entry[target]
    out: dict = {"title": title.strip()}
    if target == "url":
        if not isinstance(value, str) or not is_https_url(value):
            return {}, Refusal("invalid_menu", f"must be an https:// URL of at most {MAX_URL} characters",
                               f"{field}.url")
        out["url"] = value
    elif target == "page":
        bad_slug = slug_refusal(value) if isinstance(value, str) else "must be a page's slug"
        if bad_slug:
            return {}, Refusal("invalid_menu", bad_slug, f"{field}.page")
        out["page"] = value
    else:
        if not isinstance(value, list) or not value or len(value) > MAX_MENU_CHILDREN:
            return {}, Refusal("invalid_menu", f"must be a list of 1 to {MAX_MENU_CHILDREN} entries",
                               f"{field}.children")
        children = []
        for j, child in enumerate(value):
            checked, refusal = _entry(child, f"{field}.children.{j}", top=False)
            if refusal is not None:
                return {}, refusal
            children.append(checked)
        out["children"] = children
    return out, None


def is_https_url(value: str) -> bool:
    """An absolute https URL with a host, no spaces, no control characters, no credentials."""
    if len(value) > MAX_URL or not value.lower().startswith("https://"):
        return False
    rest = value[len("https://"):]
    host = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if not host or "@" in host:
        return False
    return not any(ord(ch) <= 32 or ord(ch) == 127 or ch in '"<>\\`' for ch in value)


# ---- notices ---------------------------------------------------------------------------------------

def window_refusal(shown_from: dt.datetime | None, shown_until: dt.datetime | None) -> Refusal | None:
    if shown_from is not None and shown_until is not None and shown_until <= shown_from:
        return Refusal("invalid_window", "must be later than shown_from", "shown_until")
    return None


def is_shown(shown_from: dt.datetime | None, shown_until: dt.datetime | None, now: dt.datetime) -> bool:
    """A notice is shown from `shown_from` (included) until `shown_until` (excluded); an open end is open."""
    return (shown_from is None or shown_from <= now) and (shown_until is None or now < shown_until)


def notice_order(pinned: bool, published_at: dt.datetime, slug: str) -> tuple:
    """Sort key: pinned first, then the newest published, then by slug for a stable order."""
    return (0 if pinned else 1, -published_at.timestamp(), slug)


# ---- caching ---------------------------------------------------------------------------------------

def etag(*parts: tuple[str, int]) -> str:
    """A strong ETag for what the public API serves, from the published (item, version) pairs it
    is made of: a published version never changes, so the pair names its bytes. A format marker
    is mixed in so a change of the answer's shape changes every ETag."""
    digest = hashlib.sha256(repr(("content-v1", *parts)).encode()).hexdigest()[:32]
    return f'"{digest}"'


def not_modified(if_none_match: str | None, current: str) -> bool:
    """If-None-Match holds `current` (or "*"): compared weakly, as RFC 9110 asks for GET."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == current:
            return True
    return False
