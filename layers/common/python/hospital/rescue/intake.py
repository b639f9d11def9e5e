"""One-click rescue (ER1, ER2): a patient's press becomes a case, once however often the
request is retried, and the ED consoles hear of it straight after the commit.

`create_case` is the entry: it seals the personal fields first, then opens one unit of work
for `take_case` (the service); a look-up of the Idempotency-Key is a short read of its own."""
from __future__ import annotations

import logging
import re
import uuid

import sqlalchemy as sa

from hospital import live
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import ValidationFailed
from hospital.rescue import alerts, case_store, messages, views, visibility
from hospital.timeutil import utcnow
from hospital.unit_of_work import unit_of_work

log = logging.getLogger("hospital.rescue")

_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")
SOURCE = "mini_program"


def create_case(principal, intake, idempotency_key: str | None = None) -> tuple[dict, bool]:
    """Create a case from a patient's one-click intake; returns (case view, created).

    A retried request with the same Idempotency-Key returns the first case instead of
    creating a second one: a person in distress may press twice or lose the answer.
    """
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise ValidationFailed("Idempotency-Key must be 8-64 letters, digits or _.:-",
                               field="Idempotency-Key")
    if idempotency_key:
        with transaction() as conn:
            existing = case_store.case_id_for_key(conn, principal.user_id, idempotency_key)
        if existing:
            return views.get_case(principal, existing), False
    case_id = uuid.uuid4().hex
    now = utcnow()
    location = intake.location
    first_node = {
        "node": "call_received", "source": SOURCE, "actor_user_id": principal.user_id,
        "actor_role": "patient", "at": now, "details": {
            "with_card": intake.hospital_card_id is not None,
            "with_rescue_person": intake.rescue_person_id is not None,
            "coord_system": location.coord_system,
            "accuracy_m": location.accuracy_m,
        },
    }
    # The answer is built from what is written: no second read on the hot path.
    view = views.shape(
        case_id=case_id, status="received", source=SOURCE, created_at=now,
        card_id=intake.hospital_card_id, rescue_person_id=intake.rescue_person_id,
        location={"latitude": location.latitude, "longitude": location.longitude,
                  "accuracy_m": location.accuracy_m, "coord_system": location.coord_system},
        address_text=intake.address_text, complaint=intake.complaint,
        nodes=[{**first_node, "occurred_at": now}],
    )
    # Encrypted before the transaction opens: a cold container's KMS call holds no locks.
    sealed = case_store.seal(case_id, location=location, address_text=intake.address_text,
                             complaint=intake.complaint)
    try:
        with unit_of_work() as uow:
            take_case(uow, principal, intake, sealed, first_node, idempotency_key, alerts.summary_of(view))
    except sa.exc.IntegrityError:
        # Lost a race with a concurrent request carrying the same Idempotency-Key.
        existing = None
        if idempotency_key:
            with transaction() as conn:
                existing = case_store.case_id_for_key(conn, principal.user_id, idempotency_key)
        if not existing:
            raise
        return views.get_case(principal, existing), False
    log.info("rescue case created", extra={"case_id": case_id, "user_id": principal.user_id})
    return view, True


def take_case(uow, principal, intake, sealed: case_store.Sealed, first_node: dict, idempotency_key: str | None,
              summary: dict) -> None:
    """In the caller's unit of work: the case (its personal fields sealed beforehand) for an
    active caller with their own card and rescue person, its audit record and its message; the
    consoles hear of it from `summary` straight after the commit."""
    case_id = sealed.case_id
    location = intake.location
    _check_still_active(uow.conn, principal)
    _check_owned(uow.conn, principal.user_id, intake)
    case_store.insert_case(
        uow.conn, sealed, source=SOURCE, coord_system=location.coord_system,
        legal_basis="vital_interests", created_at=first_node["at"], first_node=first_node,
        patient_user_id=principal.user_id, card_id=intake.hospital_card_id,
        rescue_person_id=intake.rescue_person_id, idempotency_key=idempotency_key)
    visibility.record_own(uow.conn, principal, "rescue_case", case_id, [
        name for name, value in ((visibility.LOCATION, location), (visibility.ADDRESS, intake.address_text),
                                 (visibility.COMPLAINT, intake.complaint)) if value])
    uow.publish(messages.CaseCreated(case_id=case_id))
    # Who listens is read here, so the push after the commit needs no read of its own. The
    # consoles first, then the queue: its consumer then finds them alerted.
    consoles = live.listeners(uow.conn, [live.ED_CONSOLE])
    uow.after_commit(lambda: alerts.alert_consoles_now(case_id, summary, consoles))


# Built once, as every intake runs it: a statement costs more CPU to build than to run.
_STATUS_SHARED = sa.select(t.users.c.status).where(t.users.c.id == sa.bindparam("user_id")).with_for_update(read=True)


def _check_still_active(conn, principal) -> None:
    """The caller's account, read under a shared lock in the intake's transaction: a profile
    link (which locks the user row) has either finished, and the merged account is refused, or
    waits for this intake and then moves the new case with the rest. A case never lands on a
    retired user, whatever a container's cached view of the caller says."""
    from hospital.auth import standing

    status = conn.execute(_STATUS_SHARED, {"user_id": principal.user_id}).scalar_one_or_none()
    standing.refuse_inactive(status)


def _check_owned(conn, user_id: int, intake) -> None:
    """The card and the rescue person must be the caller's own, else 400 naming the field."""
    if intake.hospital_card_id is not None:
        _must_own(conn, t.patient_cards.c.id == intake.hospital_card_id, t.patient_cards.c.user_id == user_id,
                  t.patient_cards.c.unbound_at.is_(None), "no such hospital card bound to you", "hospital_card_id")
    if intake.rescue_person_id is not None:
        _must_own(conn, t.rescue_persons.c.id == intake.rescue_person_id, t.rescue_persons.c.owner_user_id == user_id,
                  t.rescue_persons.c.deleted_at.is_(None), "no such rescue person of yours", "rescue_person_id")


def _must_own(conn, is_it, is_theirs, still_there, message: str, field: str) -> None:
    """A row matching all three conditions exists, else 400 naming the field."""
    row_id = is_it.left
    if conn.execute(sa.select(row_id).where(is_it, is_theirs, still_there)).first() is None:
        raise ValidationFailed(message, field=field, code="unknown_reference")
