"""The home grid of the signed-in patient (hospital.links.grid_rules), read in one transaction."""
from __future__ import annotations

import sqlalchemy as sa

from hospital.db import tables as t
from hospital.db import transaction
from hospital.links import consents
from hospital.links import grid_rules as rules


def grid(principal) -> dict:
    c = t.consents.c
    with transaction() as conn:
        cards = tuple(conn.execute(sa.select(t.patient_cards.c.id).where(
            t.patient_cards.c.user_id == principal.user_id, t.patient_cards.c.unbound_at.is_(None))
            .order_by(t.patient_cards.c.created_at)).scalars())
        held = conn.execute(sa.select(c.kind, c.details).where(
            c.user_id == principal.user_id, c.withdrawn_at.is_(None),
            c.kind.in_([consents.kind_of(s) for s in consents.SERVICES]))).all()
        enrolled = conn.execute(sa.select(t.credit_enrolments.c.id).where(
            t.credit_enrolments.c.active_user_id == principal.user_id,
            t.credit_enrolments.c.status == "active").limit(1)).first() is not None
    situation = rules.Situation(
        cards=cards, credit_enrolled=enrolled, connected=consents.connected(),
        consented=frozenset((kind.removeprefix("link:"), (details or {}).get("card_id")) for kind, details in held))
    return {"entries": rules.grid(situation)}
