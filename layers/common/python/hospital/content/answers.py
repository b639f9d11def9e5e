"""What the site-content routes answer with (hospital.api_contract): items and their versions
for the back office, and the published pages, menus and notices the public reads. Times are
ISO-8601 UTC; user ids are the back office's numeric ids."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from hospital.answer_base import Answer

Kind = Literal["page", "notice", "menu"]  # content_rules.KINDS
ItemStatus = Literal["draft", "published", "unpublished"]  # content_rules.ITEM_STATUSES
State = Literal["draft", "in_review", "approved", "rejected", "superseded"]  # content_rules.STATES


class MenuLink(Answer):
    """A menu entry: its title and exactly one of url (https) or page (a page's slug)."""

    title: str
    url: str | None = None
    page: str | None = None


class MenuEntry(MenuLink):
    """A top-level menu entry, which may instead hold entries of its own, one level deep."""

    children: list[MenuLink] | None = None


# ---- back office ------------------------------------------------------------------------------------

class Item(Answer):
    id: str
    kind: Kind
    slug: str
    status: ItemStatus
    latest_version: int
    published_version: int | None = Field(description="the version the public reads; null unless published")
    published_at: str | None
    published_by: int | None
    created_at: str
    created_by: int
    updated_at: str
    updated_by: int


class ListedItem(Item):
    latest_title: str
    latest_state: State


class ItemList(Answer):
    items: list[ListedItem]
    count: int
    limit: int


class VersionSummary(Answer):
    version: int
    title: str
    state: State
    author_id: int
    created_at: str
    restored_from: int | None = Field(description="the version this one was restored from, if any")
    submitted_at: str | None
    submitted_by: int | None
    reviewed_at: str | None
    reviewed_by: int | None
    review_note: str | None


class ItemDetail(Item):
    versions: list[VersionSummary] = Field(description="every version, newest first")


class VersionPreview(VersionSummary):
    item: Item
    body_html: str | None = Field(description="the sanitised body (pages and notices)")
    menu: list[MenuEntry] | None = Field(description="the entries (menus)")
    pinned: bool
    shown_from: str | None
    shown_until: str | None
    published: bool = Field(description="whether this is the version the public reads now")


# ---- public -----------------------------------------------------------------------------------------

class Published(Answer):
    slug: str
    title: str
    version: int
    published_at: str


class Page(Published):
    body_html: str


class Menu(Published):
    entries: list[MenuEntry]


class NoticeSummary(Published):
    pinned: bool
    shown_from: str | None
    shown_until: str | None


class Notice(NoticeSummary):
    body_html: str


class Notices(Answer):
    items: list[NoticeSummary] = Field(description="the notices shown now, pinned first, then the newest")
