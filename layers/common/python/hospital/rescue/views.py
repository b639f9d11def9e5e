"""The case as it is answered: its shape (status, current location, timeline, location
history), the patient's own case and list of cases (ER11), and the list's paging cursors.

Who sees which personal field is rescue.visibility's rule; the patient's reads here are
audited there like every view of personal data. The entries: `get_case` (read and decrypted
by case_store.load, then audited in a transaction of its own) and `list_own` (the page and its
audit record in one transaction, each address decrypted after it).
"""
from __future__ import annotations

import base64
import datetime as dt

from hospital.db import transaction
from hospital.errors import ValidationFailed
from hospital.rescue import case_store, visibility
from hospital.rescue.paging import PAGE_DEFAULT
from hospital.timeutil import iso_utc


def shape(*, case_id, status, source, created_at, card_id, rescue_person_id, location,
          address_text, complaint, nodes) -> dict:
    """The case view every reader gets (before rescue.visibility redacts it)."""
    return {
        "case_id": case_id,
        "status": status,
        "source": source,
        "created_at": iso_utc(created_at),
        "hospital_card_id": card_id,
        "rescue_person_id": rescue_person_id,
        "location": location,
        "address_text": address_text,
        "complaint": complaint,
        "timeline": [
            {"node": n["node"], "at": iso_utc(n["occurred_at"]), "source": n["source"],
             "actor_role": n["actor_role"], "details": n["details"] or {}}
            for n in nodes
        ],
    }


def case_view(data: case_store.CaseData) -> dict:
    """The view of a loaded case: the newest reported location is the current one, and the
    whole history is shown once there has been a correction."""
    history = [_located(loc) for loc in data.locations]
    current = history[-1]
    view = shape(
        case_id=data.case_id, status=data.status, source=data.source, created_at=data.created_at,
        card_id=data.card_id, rescue_person_id=data.rescue_person_id,
        location=({k: current[k] for k in ("latitude", "longitude", "accuracy_m", "coord_system")}
                  if current["latitude"] is not None else None),
        address_text=current["address_text"] or history[0]["address_text"],
        complaint=data.complaint,
        nodes=data.nodes,
    )
    if len(history) > 1:
        view["location_history"] = history
    return view


def _located(loc: case_store.ReportedLocation) -> dict:
    return {**(loc.point or {"latitude": None, "longitude": None, "accuracy_m": None}),
            "coord_system": loc.coord_system, "source": loc.source, "reported_at": iso_utc(loc.reported_at),
            "address_text": loc.address_text}


def load_view(case_id: str, owner_user_id: int | None = None) -> dict:
    """The case with its timeline and every reported location (decrypted)."""
    return case_view(case_store.load(case_id, owner_user_id=owner_user_id))


def get_case(principal, case_id: str) -> dict:
    """The case as its owner sees it (audited like every view of personal data). Anyone else
    gets 404: we do not confirm it exists."""
    view = load_view(case_id, owner_user_id=principal.user_id)
    with transaction() as conn:
        visibility.record_own(conn, principal, "rescue_case", case_id, visibility.shown(view))
    return view


def list_own(principal, limit: int = PAGE_DEFAULT, cursor: str | None = None) -> dict:
    """The caller's cases, newest first (ER11), paged with an opaque keyset cursor."""
    after = _decode_cursor(cursor) if cursor else None
    with transaction() as conn:
        rows = case_store.patient_cases(conn, principal.user_id, limit + 1, after)
        page = rows[:limit]
        with_address = [r.case_id for r in page if r.has_address]
        if with_address:
            visibility.record_own(conn, principal, "rescue_case", None, [visibility.ADDRESS], targets=with_address)
    return {
        "items": [{
            "case_id": r.case_id, "status": r.status, "source": r.source, "created_at": iso_utc(r.created_at),
            "rescue_person_id": r.rescue_person_id,
            "address_text": r.address_text(),
        } for r in page],
        "next_cursor": _encode_cursor(page[-1]) if len(rows) > limit else None,
    }


def _encode_cursor(row: case_store.CaseListing) -> str:
    return base64.urlsafe_b64encode(f"{row.created_at.isoformat()}|{row.case_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        at, last_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
        return dt.datetime.fromisoformat(at), last_id
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("cursor is not one this API gave out", field="cursor") from None
