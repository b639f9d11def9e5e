"""The patient's consent to a linked system (OI1, PE1, OV2): given before anything of theirs is
asked of the system, recorded with what it covers, withdrawable, audited both ways.

Cloud imaging and physical exams are consented per hospital card (the records of that card's
person); the insurance e-voucher per patient. A consent is a row of `consents` with kind
"link:<service>" and, for a card, {"card_id"} in its details; asking again while one holds
answers the one there (the user row is locked, so two at once make one).
"""
from __future__ import annotations

import sqlalchemy as sa

from hospital import audit
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, NotFound, UpstreamUnavailable, ValidationFailed
from hospital.timeutil import iso_utc, utcnow

CLOUD_IMAGING, PHYSICAL_EXAM, INSURANCE_VOUCHER = "cloud_imaging", "physical_exam", "insurance_voucher"
# Imaging and exams are the records of the card's person (a family's cards are of different
# people); the insurance e-voucher is the signed-in patient's own.
PER_CARD = frozenset({CLOUD_IMAGING, PHYSICAL_EXAM})
SERVICES = (CLOUD_IMAGING, PHYSICAL_EXAM, INSURANCE_VOUCHER)
_c = t.consents.c


def kind_of(service: str) -> str:
    return f"link:{service}"


def connected() -> frozenset[str]:
    """The linked systems this deployment reaches: those whose address is configured."""
    from hospital import settings

    reached = {
        CLOUD_IMAGING: settings.IMAGING_API_BASE.get_optional(),
        PHYSICAL_EXAM: settings.EXAM_API_BASE.get_optional(),
        INSURANCE_VOUCHER: settings.MED_INS_API_BASE.get_optional(),
        "online_consultation": settings.INTERNET_HOSPITAL_URL.get_optional(),
    }
    return frozenset(name for name, where in reached.items() if where)


def require_connected(service: str) -> None:
    if service not in connected():
        raise UpstreamUnavailable(f"{service} is not connected here", code="not_connected")


# ---- entries --------------------------------------------------------------------------------

def grant(principal, service: str, card_id: str | None = None, details: dict | None = None) -> tuple[dict, bool]:
    """The caller consents to `service` (for `card_id`, one of their bound cards, where the
    service is per card). Returns (the consent, made now)."""
    _check(service, card_id)
    require_connected(service)
    now = utcnow()
    with transaction() as conn:
        conn.execute(sa.select(t.users.c.id).where(t.users.c.id == principal.user_id).with_for_update())
        if card_id is not None:
            own_card(conn, principal.user_id, card_id)
        found = holding(conn, principal.user_id, service, card_id)
        if found is not None:
            return view(found), False
        consent_id = conn.execute(t.consents.insert().values(
            user_id=principal.user_id, kind=kind_of(service), granted_at=now,
            granted_via=principal.app_id or "unknown",
            details={**(details or {}), **({"card_id": card_id} if card_id else {})})).inserted_primary_key[0]
        audit.add(conn, principal, "links.consent_granted", "consent", str(consent_id), "ok",
                  {"service": service, "card_id": card_id})
        return view(conn.execute(sa.select(t.consents).where(_c.id == consent_id)).one()), True


def withdraw(principal, service: str, card_id: str | None = None) -> bool:
    """The caller's consent withdrawn; False if none held. What was shown before stays shown;
    nothing more is asked of the system for them."""
    _check(service, card_id)
    with transaction() as conn:
        found = holding(conn, principal.user_id, service, card_id)
        if found is None:
            return False
        # Two withdrawals at once: one ends it, the other finds it ended.
        if conn.execute(t.consents.update().where(_c.id == found.id, _c.withdrawn_at.is_(None))
                        .values(withdrawn_at=utcnow())).rowcount != 1:
            return False
        audit.add(conn, principal, "links.consent_withdrawn", "consent", str(found.id), "ok",
                  {"service": service, "card_id": card_id})
    return True


def listing(principal) -> list[dict]:
    """The caller's consents to linked systems that hold now."""
    with transaction() as conn:
        rows = conn.execute(sa.select(t.consents).where(
            _c.user_id == principal.user_id, _c.kind.in_([kind_of(s) for s in SERVICES]),
            _c.withdrawn_at.is_(None)).order_by(_c.id)).all()
    return [view(row) for row in rows]


# ---- in the caller's transaction ------------------------------------------------------------

def holding(conn, user_id: int, service: str, card_id: str | None = None):
    """The consent to `service` (for that card) that holds now, or None. A card unbound and
    bound again is a new binding: a consent given before it does not carry over."""
    rows = conn.execute(sa.select(t.consents).where(
        _c.user_id == user_id, _c.kind == kind_of(service), _c.withdrawn_at.is_(None)).order_by(_c.id)).all()
    found = next((row for row in rows if (row.details or {}).get("card_id") == card_id), None)
    if found is not None and card_id is not None:
        bound_at = conn.execute(sa.select(t.patient_cards.c.created_at)
                                .where(t.patient_cards.c.id == card_id)).scalar_one_or_none()
        if bound_at is not None and found.granted_at < bound_at:
            return None
    return found


def require(conn, user_id: int, service: str, card_id: str | None = None):
    """The consent that lets the backend ask `service` for the user's data, or 409
    `consent_required` naming what is missing (the caller may; their consent is what lacks)."""
    found = holding(conn, user_id, service, card_id)
    if found is None:
        raise Conflict(f"consent to {service} first" + (" for this card" if card_id else ""),
                        field="card_id" if card_id else None, code="consent_required")
    return found


def own_card(conn, user_id: int, card_id: str):
    """The caller's bound card, or 404 naming card_id."""
    card = conn.execute(sa.select(t.patient_cards).where(
        t.patient_cards.c.id == card_id, t.patient_cards.c.user_id == user_id,
        t.patient_cards.c.unbound_at.is_(None))).first()
    if card is None:
        raise NotFound("no such hospital card bound to you", field="card_id")
    return card


def view(row) -> dict:
    service = row.kind.removeprefix("link:")
    return {"consent_id": str(row.id), "service": service, "card_id": (row.details or {}).get("card_id"),
            "granted_at": iso_utc(row.granted_at)}


def _check(service: str, card_id: str | None) -> None:
    if service not in SERVICES:
        raise ValidationFailed(f"service must be one of {', '.join(SERVICES)}", field="service")
    if (service in PER_CARD) != (card_id is not None):
        how = "per card: name card_id" if service in PER_CARD else "once, without a card"
        raise ValidationFailed(f"{service} is consented {how}", field="card_id")
