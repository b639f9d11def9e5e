"""Request bodies of the feedback tickets and the FAQ (AS2)."""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from hospital import text
from hospital.helpdesk import faq_rules, ticket_rules
from hospital.request_fields import multiline_text, single_line_text

if TYPE_CHECKING:  # a str with constraints: a type checker sees the str
    TicketText = str
    Note = str
    Question = str
    Answer = str
    Tag = str
else:
    TicketText = multiline_text(max_length=2000)  # may hold a patient's name or phone: encrypted
    Note = multiline_text(max_length=1000)
    Question = single_line_text(max_length=200)
    Answer = multiline_text(max_length=faq_rules.MAX_ANSWER)
    Tag = single_line_text(max_length=20)

PublicId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
UserId = Annotated[int, Field(strict=True, ge=1, le=text.MAX_ID)]


class _Strict(BaseModel):
    # defer_build: a model's validator is built when it first validates, so a cold request pays
    # for its own model only, not for every model of the module.
    model_config = ConfigDict(extra="forbid", defer_build=True)


def _one_of(value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"must be one of {', '.join(choices)}")
    return value


class Reference(_Strict):
    type: Literal["order", "registration", "case"]  # ticket_rules.REFERENCE_TYPES (a unit test holds them equal)
    id: PublicId


class NewTicket(_Strict):
    request_id: uuid.UUID  # the client's, the same on a retry: one ticket however often it is sent
    category: str
    text: TicketText
    reference: Reference | None = None

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        return _one_of(value, ticket_rules.CATEGORIES)


class TicketComment(_Strict):
    note: Note


class TicketMove(_Strict):
    status: str
    note: Note  # why: read by the front desk and by whoever picks the ticket up later

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        return _one_of(value, ticket_rules.STATUSES)


class TicketAssignee(_Strict):
    assignee_user_id: UserId


class FaqEntry(_Strict):
    question: Question
    answer: Answer
    category: str
    tags: list[Tag] = Field(default_factory=list, max_length=faq_rules.MAX_TAGS)

    @field_validator("category")
    @classmethod
    def _category(cls, value: str) -> str:
        return _one_of(value, faq_rules.CATEGORIES)


class FaqEdit(FaqEntry):
    version: Annotated[int, Field(strict=True, ge=1, le=2**31 - 1)]  # the version the edit was made from
