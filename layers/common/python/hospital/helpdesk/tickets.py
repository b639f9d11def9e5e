"""Feedback tickets (AS2): the front desk files them, IT (it_admin, super_admin) works them to
closed. The one who filed a ticket sees it and comments on it; IT sees every ticket, assigns
it and moves it with a note (hospital.helpdesk.ticket_rules). Every call is audited in the
transaction that read or changed; the text and the notes are encrypted at rest (they may
hold a patient's name or phone), so they are sealed before a transaction opens and opened
after it closes: a data key may need KMS, which no open transaction waits for.
"""
from __future__ import annotations

import dataclasses
import uuid

import sqlalchemy as sa

from hospital import audit, crypto, text
from hospital.auth.permissions import FEEDBACK_WORK
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, Forbidden, NotFound, ValidationFailed
from hospital.helpdesk import ticket_rules as rules
from hospital.timeutil import iso_utc, utcnow

DEFAULT_LIMIT, MAX_LIMIT = rules.DEFAULT_LIMIT, rules.MAX_LIMIT
# Where a reference's record lives: its type -> the table whose id it is (a case: the case store's).
_REFERENCED = {"order": t.payment_orders, "registration": t.registrations}

_t = t.feedback_tickets.c
_e = t.feedback_ticket_events.c


def _text_context(request_id: str) -> str:
    return f"feedback_tickets.text:{request_id}"


def _note_context(ticket_id: int) -> str:
    return f"feedback_ticket_events.note:{ticket_id}"


def is_worker(principal) -> bool:
    return principal.may(FEEDBACK_WORK)


# ---- filing ---------------------------------------------------------------------------------------

def create(principal, body) -> tuple[dict, bool]:
    """Entry: the ticket, and True if this call filed it; a retry with the same request_id
    (after a lost answer, or racing the first) gets the same ticket and False. The request_id
    of another user's ticket, or this user's for a different ticket, is a conflict. A retry
    is compared and audited after its read closed (decrypting may ask KMS); the read is a
    second transaction when a concurrent retry won the insert."""
    request_id = body.request_id.hex
    sealed = crypto.encrypt(body.text, _text_context(request_id))
    ref = body.reference
    try:
        with transaction() as conn:
            existing = conn.execute(sa.select(t.feedback_tickets).where(_t.request_id == request_id)).first()
            if existing is None:
                if ref is not None and not _exists(conn, ref):
                    raise NotFound(f"no {ref.type} has this id", field="reference.id", code="unknown_reference")
                now = utcnow()
                ticket_id = conn.execute(t.feedback_tickets.insert().values(
                    request_id=request_id, category=body.category, text_enc=sealed,
                    ref_type=ref.type if ref else None, ref_id=ref.id if ref else None, status=rules.OPEN,
                    filed_by=principal.user_id, created_at=now, updated_at=now)).inserted_primary_key[0]
                conn.execute(t.feedback_ticket_events.insert().values(
                    ticket_id=ticket_id, at=now, actor_user_id=principal.user_id, kind="filed", to_status=rules.OPEN))
                audit.add(conn, principal, "feedback.ticket_filed", "feedback_ticket", str(ticket_id), "ok",
                          {"category": body.category, "reference": _reference(ref), "chars": len(body.text)})
                row = conn.execute(sa.select(t.feedback_tickets).where(_t.id == ticket_id)).one()
                return view(row, body.text), True
    except sa.exc.IntegrityError:  # a concurrent retry filed it first
        with transaction() as conn:
            existing = conn.execute(sa.select(t.feedback_tickets).where(_t.request_id == request_id)).one()
    # Another user's ticket is never decrypted for this caller.
    same = (existing.filed_by == principal.user_id and existing.category == body.category
            and (existing.ref_type, existing.ref_id) == ((ref.type, ref.id) if ref else (None, None))
            and crypto.decrypt_text(existing.text_enc, _text_context(request_id)) == body.text)
    audit.record(principal, "feedback.ticket_filed", "feedback_ticket", str(existing.id),
                 "replayed" if same else "refused", {"request_id": request_id})
    if not same:
        raise Conflict("this request_id was used for another ticket; send a new one for a new ticket",
                       field="request_id", code="request_id_reused")
    return view(existing, body.text), False


def _exists(conn, ref) -> bool:
    if ref.type == "case":
        from hospital.rescue import case_store  # loaded only for a ticket naming a case

        return case_store.exists(conn, ref.id)
    table = _REFERENCED[ref.type]
    return conn.execute(sa.select(table.c.id).where(table.c.id == ref.id)).first() is not None


def _reference(ref) -> dict | None:
    return None if ref is None else {"type": ref.type, "id": ref.id}


# ---- reading --------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Filters:
    status: str | None = None
    category: str | None = None
    mine: bool = False  # for IT: assigned to the caller; the front desk sees only its own anyway
    before: int | None = None
    limit: int = DEFAULT_LIMIT


def listing(principal, filters: Filters) -> dict:
    """Entry: newest first, a page of `limit`; the next page is asked for with `before` set to
    the answer's `next_before`. The front desk sees the tickets it filed, IT every ticket."""
    wanted = []
    if not is_worker(principal):
        wanted.append(_t.filed_by == principal.user_id)
    elif filters.mine:
        wanted.append(_t.assignee_user_id == principal.user_id)
    for column, value in ((_t.status, filters.status), (_t.category, filters.category)):
        if value is not None:
            wanted.append(column == value)
    if filters.before is not None:
        wanted.append(_t.id < filters.before)
    with transaction() as conn:
        rows = conn.execute(sa.select(t.feedback_tickets).where(*wanted).order_by(_t.id.desc())
                            .limit(filters.limit)).all()
        audit.add(conn, principal, "feedback.tickets_listed", "feedback_ticket", None, "ok", {
            "filters": {k: v for k, v in dataclasses.asdict(filters).items() if v not in (None, False)},
            "count": len(rows)})
    return {"items": [view(row, crypto.decrypt_text(row.text_enc, _text_context(row.request_id)))
                      for row in rows],
            "count": len(rows), "limit": filters.limit,
            "next_before": rows[-1].id if len(rows) == filters.limit else None}


def detail(principal, ticket_id: str) -> dict:
    """Entry: the ticket with everything that happened to it, and what the caller may do next."""
    number = ticket_number(ticket_id)
    with transaction() as conn:
        row, events = _read(conn, principal, number)
        audit.add(conn, principal, "feedback.ticket_viewed", "feedback_ticket", str(number), "ok")
    return _full(principal, row, events)


def _read(conn, principal, number: int):
    row = _visible(conn, principal, number)
    return row, conn.execute(sa.select(t.feedback_ticket_events).where(_e.ticket_id == number).order_by(_e.id)).all()


def _full(principal, row, events) -> dict:
    filer = row.filed_by == principal.user_id
    return {**view(row, crypto.decrypt_text(row.text_enc, _text_context(row.request_id))),
            "events": [_event_view(event) for event in events],
            "next_statuses": [status for status in rules.STATUSES
                              if rules.move_refusal(row.status, status, worker=is_worker(principal),
                                                    filer=filer) is None],
            "may_comment": rules.takes_comments(row.status)}


def view(row, plain_text: str | None) -> dict:
    return {"id": row.id, "request_id": str(uuid.UUID(hex=row.request_id)), "category": row.category,
            "text": plain_text, "reference": {"type": row.ref_type, "id": row.ref_id} if row.ref_type else None,
            "status": row.status, "filed_by": row.filed_by, "assignee_user_id": row.assignee_user_id,
            "created_at": iso_utc(row.created_at), "updated_at": iso_utc(row.updated_at)}


def _event_view(event) -> dict:
    return {"id": event.id, "at": iso_utc(event.at), "actor_user_id": event.actor_user_id, "kind": event.kind,
            "from_status": event.from_status, "to_status": event.to_status,
            "assignee_user_id": event.assignee_user_id,
            "note": crypto.decrypt_text(event.note_enc, _note_context(event.ticket_id))}


def ticket_number(ticket_id: str) -> int:
    number = text.whole_number(ticket_id, low=1, high=text.MAX_ID)
    if number is None:
        raise ValidationFailed("ticket_id must be a whole number of 1 or more", field="ticket_id")
    return number


def _visible(conn, principal, number: int, *, lock: bool = False):
    """The ticket if the caller may see it; another's ticket is as unknown to the front desk
    as one that does not exist."""
    query = sa.select(t.feedback_tickets).where(_t.id == number)
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None or not (is_worker(principal) or row.filed_by == principal.user_id):
        raise NotFound("no such ticket", field="ticket_id")
    return row


# ---- working --------------------------------------------------------------------------------------

def comment(principal, ticket_id: str, note: str) -> dict:
    """Entry: a comment by the one who filed the ticket or by IT; none on a closed ticket."""
    number = ticket_number(ticket_id)
    sealed = crypto.encrypt(note, _note_context(number))
    with transaction() as conn:
        row = _visible(conn, principal, number, lock=True)
        if not rules.takes_comments(row.status):
            raise Conflict("a closed ticket takes no comments; file a new one", field="ticket_id",
                           code="ticket_closed")
        _event(conn, principal, number, "comment", note_enc=sealed)
        conn.execute(t.feedback_tickets.update().where(_t.id == number).values(updated_at=utcnow()))
        audit.add(conn, principal, "feedback.ticket_commented", "feedback_ticket", str(number), "ok",
                  {"chars": len(note)})
        row, events = _read(conn, principal, number)
    return _full(principal, row, events)


def assign(principal, ticket_id: str, assignee_user_id: int) -> dict:
    """Entry: IT gives the ticket to one of its own (someone holding a role that works tickets)."""
    number = ticket_number(ticket_id)
    with transaction() as conn:
        row = _visible(conn, principal, number, lock=True)
        works = conn.execute(
            sa.select(t.user_roles.c.role)
            .join(t.role_permissions, t.role_permissions.c.role == t.user_roles.c.role)
            .join(t.users, t.users.c.id == t.user_roles.c.user_id)
            .where(t.user_roles.c.user_id == assignee_user_id, t.users.c.status == "active",
                   t.role_permissions.c.permission == FEEDBACK_WORK)).first()
        if works is None:
            raise ValidationFailed("the assignee must be an active user who works tickets (holds feedback.work)",
                                   field="assignee_user_id")
        if not rules.takes_assignment(row.status):
            raise Conflict("a closed ticket is not assigned any more", field="ticket_id", code="ticket_closed")
        changed = row.assignee_user_id != assignee_user_id
        if changed:
            conn.execute(t.feedback_tickets.update().where(_t.id == number).values(
                assignee_user_id=assignee_user_id, updated_at=utcnow()))
            _event(conn, principal, number, "assigned", assignee_user_id=assignee_user_id)
        audit.add(conn, principal, "feedback.ticket_assigned", "feedback_ticket", str(number),
                  "ok" if changed else "unchanged", {"from": row.assignee_user_id, "to": assignee_user_id})
        row, events = _read(conn, principal, number)
    return _full(principal, row, events)


def move(principal, ticket_id: str, target: str, note: str) -> dict:
    """Entry: a move of the flow with its note: IT works the ticket forward, the one who filed
    it reopens it once resolved. The UPDATE is guarded by the state the move was decided on."""
    number = ticket_number(ticket_id)
    sealed = crypto.encrypt(note, _note_context(number))
    with transaction() as conn:
        row = _visible(conn, principal, number, lock=True)
        refusal = rules.move_refusal(row.status, target, worker=is_worker(principal),
                                     filer=row.filed_by == principal.user_id)
        if refusal == rules.NO_SUCH_MOVE:
            raise Conflict(f"a ticket that is {row.status} cannot become {target}", field="status",
                           code="invalid_transition")
        if refusal == rules.NOT_YOURS:
            raise Forbidden(f"you may not move this ticket from {row.status} to {target}", field="status")
        if not conn.execute(t.feedback_tickets.update().where(_t.id == number, _t.status == row.status)
                            .values(status=target, updated_at=utcnow())).rowcount:
            raise Conflict("the ticket changed meanwhile; reload it", field="status", code="stale_status")
        _event(conn, principal, number, "status", from_status=row.status, to_status=target, note_enc=sealed)
        audit.add(conn, principal, "feedback.ticket_moved", "feedback_ticket", str(number), "ok",
                  {"from": row.status, "to": target, "note_chars": len(note)})
        row, events = _read(conn, principal, number)
    return _full(principal, row, events)


def _event(conn, principal, ticket_id: int, kind: str, **values) -> None:
    conn.execute(t.feedback_ticket_events.insert().values(ticket_id=ticket_id, at=utcnow(),
                                                          actor_user_id=principal.user_id, kind=kind, **values))
