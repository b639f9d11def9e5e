"""Request bodies of the site-content back office (AD3). The body's HTML and the menu are
checked further by the service (sanitiser, content_rules), which names the field it refuses."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, field_validator

from hospital.content import content_rules as rules
from hospital.request_fields import PlausibleInstant, multiline_text, single_line_text


def _slug(value: str) -> str:
    why = rules.slug_refusal(value)
    if why:
        raise ValueError(why)
    return value


class Fields(BaseModel):
    """What a version holds: the title, and the body (pages, notices) or the entries (menus)."""
    model_config = ConfigDict(extra="forbid", defer_build=True)

    title: single_line_text(rules.MAX_TITLE)  # type: ignore[valid-type]
    body_html: str | None = None
    menu: list[Any] | None = None
    pinned: StrictBool = False
    shown_from: PlausibleInstant | None = None
    shown_until: PlausibleInstant | None = None


class NewItem(Fields):
    kind: Literal["page", "notice", "menu"]
    slug: str

    @field_validator("slug")
    @classmethod
    def _check_slug(cls, value: str) -> str:
        return _slug(value)


class Edit(Fields):
    base_version: StrictInt


class Restore(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    base_version: StrictInt


class Approval(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    note: multiline_text(500) | None = None  # type: ignore[valid-type]


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    note: multiline_text(500)  # type: ignore[valid-type]
