"""What the helpdesk routes answer with (hospital.api_contract): feedback tickets with their
history, and FAQ entries. Times are ISO-8601 UTC; user ids are the back office's numeric ids."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from hospital.answer_base import Answer

TicketStatus = Literal["open", "in_progress", "resolved", "closed"]  # ticket_rules.STATUSES


# ---- feedback tickets -------------------------------------------------------------------------------

class TicketReference(Answer):
    type: Literal["order", "registration", "case"]
    id: str


class Ticket(Answer):
    id: int
    request_id: str = Field(description="the client's UUID the ticket was filed with")
    category: str
    text: str | None
    reference: TicketReference | None
    status: TicketStatus
    filed_by: int
    assignee_user_id: int | None
    created_at: str
    updated_at: str


class TicketEvent(Answer):
    id: int
    at: str
    actor_user_id: int
    kind: Literal["filed", "comment", "assigned", "status"]
    from_status: TicketStatus | None
    to_status: TicketStatus | None
    assignee_user_id: int | None
    note: str | None


class TicketDetail(Ticket):
    events: list[TicketEvent] = Field(description="everything that happened to the ticket, oldest first")
    next_statuses: list[TicketStatus] = Field(description="the statuses the caller may move the ticket to")
    may_comment: bool


class TicketPage(Answer):
    items: list[Ticket]
    count: int
    limit: int
    next_before: int | None = Field(description="pass as before for the next page; null on the last page")


# ---- FAQ --------------------------------------------------------------------------------------------

class FaqEntryView(Answer):
    id: int
    question: str
    answer: str
    category: str
    tags: list[str]
    version: int = Field(description="named by an edit or a deletion, which is refused once it moved on")
    created_by: int
    created_at: str
    updated_by: int
    updated_at: str


class FaqHit(FaqEntryView):
    matched: int | None = Field(None, description="with q: how many of the query's terms the entry holds")
    score: int | None = Field(None, description="with q: the summed weight of those terms")


class FaqPage(Answer):
    items: list[FaqHit]
    count: int
    limit: int
    terms: list[str] | None = Field(None, description="with q: the terms searched for")
    next_before: int | None = Field(description="without q: pass as before for the next page; else null")
