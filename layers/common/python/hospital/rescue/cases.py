"""Rescue cases: intake by a patient, the case view, and timeline recording (ER1-ER5)."""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import uuid

import sqlalchemy as sa

from hospital import crypto
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, NotFound, ValidationFailed
from hospital.rescue import messages, visibility
from hospital.rescue.timeline import derive_status, refusal
from hospital.timeutil import iso_utc, utcnow
from hospital.unit_of_work import unit_of_work

log = logging.getLogger("hospital.rescue")

_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")


def _ctx(case_id: str, column: str) -> str:
    return f"rescue_cases.{column}:{case_id}"


def create_case(principal, intake, idempotency_key: str | None = None) -> tuple[dict, bool]:
    """Create a case from a patient's one-click intake; returns (case view, created).

    A retried request with the same Idempotency-Key returns the first case instead of
    creating a second one: a person in distress may press twice or lose the answer.
    """
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise ValidationFailed("Idempotency-Key must be 8-64 letters, digits or _.:-",
                               field="Idempotency-Key")
    if idempotency_key:
        existing = _case_id_for_key(principal.user_id, idempotency_key)
        if existing:
            return get_case(principal, existing), False
    case_id = uuid.uuid4().hex
    now = utcnow()
    location = intake.location
    stored_location = {"latitude": location.latitude, "longitude": location.longitude,
                       "accuracy_m": location.accuracy_m}
    first_node = {
        "node": "call_received", "source": "mini_program", "actor_user_id": principal.user_id,
        "actor_role": "patient", "at": now, "details": {
            "with_card": intake.hospital_card_id is not None,
            "with_rescue_person": intake.rescue_person_id is not None,
            "coord_system": location.coord_system,
            "accuracy_m": location.accuracy_m,
        },
    }
    # Encrypted before the transaction opens: a cold container's KMS call holds no locks.
    sealed = {
        "location_enc": crypto.encrypt(json.dumps(stored_location), _ctx(case_id, "location")),
        "address_enc": _enc(intake.address_text, case_id, "address"),
        "complaint_enc": _enc(intake.complaint, case_id, "complaint"),
    }
    try:
        with unit_of_work() as uow:
            _check_still_active(uow.conn, principal)
            _check_owned(uow.conn, principal.user_id, intake)
            uow.conn.execute(t.rescue_cases.insert().values(
                id=case_id,
                patient_user_id=principal.user_id,
                source="mini_program",
                card_id=intake.hospital_card_id,
                rescue_person_id=intake.rescue_person_id,
                coord_system=location.coord_system,
                **sealed,
                legal_basis="vital_interests",
                status="received",
                idempotency_key=idempotency_key,
                created_at=now,
                updated_at=now,
            ))
            _insert_node(uow.conn, case_id, **first_node)
            visibility.record_own(uow.conn, principal, "rescue_case", case_id, [
                name for name, value in ((visibility.LOCATION, location), (visibility.ADDRESS, intake.address_text),
                                         (visibility.COMPLAINT, intake.complaint)) if value])
            uow.publish(messages.CaseCreated(case_id=case_id))
            # The consoles first, then the queue: its consumer then finds them alerted.
            uow.after_commit(lambda: alert_consoles_now(case_id, {
                "type": "rescue.alert", "case_id": case_id, "source": "mini_program", "status": "received",
                "created_at": iso_utc(now), "location": {**stored_location, "coord_system": location.coord_system},
                "address_text": intake.address_text, "complaint": intake.complaint}))
    except sa.exc.IntegrityError:
        # Lost a race with a concurrent request carrying the same Idempotency-Key.
        existing = idempotency_key and _case_id_for_key(principal.user_id, idempotency_key)
        if not existing:
            raise
        return get_case(principal, existing), False
    log.info("rescue case created", extra={"case_id": case_id, "user_id": principal.user_id})
    # The answer is built from what was just written: no second read on the hot path.
    return _view(
        case_id=case_id, status="received", source="mini_program", created_at=now,
        card_id=intake.hospital_card_id, rescue_person_id=intake.rescue_person_id,
        location={**stored_location, "coord_system": location.coord_system},
        address_text=intake.address_text, complaint=intake.complaint,
        nodes=[{**first_node, "occurred_at": now}],
    ), True


def _enc(text: str | None, case_id: str, column: str) -> bytes | None:
    return None if text is None else crypto.encrypt(text, _ctx(case_id, column))


def _case_id_for_key(user_id: int, key: str) -> str | None:
    with transaction() as conn:
        return conn.execute(sa.select(t.rescue_cases.c.id).where(
            t.rescue_cases.c.patient_user_id == user_id,
            t.rescue_cases.c.idempotency_key == key)).scalar_one_or_none()


def _check_still_active(conn, principal) -> None:
    """The caller's account, read under a shared lock in the intake's transaction: a profile
    link (which locks the user row) has either finished, and the merged account is refused, or
    waits for this intake and then moves the new case with the rest. A case never lands on a
    retired user, whatever a container's cached view of the caller says."""
    from hospital.auth import standing

    status = conn.execute(sa.select(t.users.c.status).where(t.users.c.id == principal.user_id)
                          .with_for_update(read=True)).scalar_one_or_none()
    standing.resolve(principal, standing.Standing(status, principal.roles))


def _check_owned(conn, user_id: int, intake) -> None:
    """The card and the rescue person must be the caller's own, else 400 naming the field."""
    if intake.hospital_card_id is not None:
        found = conn.execute(sa.select(t.patient_cards.c.id).where(
            t.patient_cards.c.id == intake.hospital_card_id,
            t.patient_cards.c.user_id == user_id,
            t.patient_cards.c.unbound_at.is_(None))).first()
        if not found:
            raise ValidationFailed("no such hospital card bound to you", field="hospital_card_id",
                                   code="unknown_reference")
    if intake.rescue_person_id is not None:
        found = conn.execute(sa.select(t.rescue_persons.c.id).where(
            t.rescue_persons.c.id == intake.rescue_person_id,
            t.rescue_persons.c.owner_user_id == user_id,
            t.rescue_persons.c.deleted_at.is_(None))).first()
        if not found:
            raise ValidationFailed("no such rescue person of yours", field="rescue_person_id",
                                   code="unknown_reference")


def _insert_node(conn, case_id: str, node: str, *, source: str, actor_user_id=None, actor_role=None,
                 details: dict | None = None, dedupe_key: str | None = None, at=None) -> None:
    conn.execute(t.rescue_events.insert().values(
        case_id=case_id, node=node, occurred_at=at or utcnow(), actor_user_id=actor_user_id,
        actor_role=actor_role, source=source, details=details or {}, dedupe_key=dedupe_key))


def append_node(conn, case_id: str, node: str, *, dedupe_key: str | None = None, **fields) -> bool:
    """Append a timeline node and move the case status; False if `dedupe_key` was seen before.

    The case row is locked first, so writers of one case queue up instead of deadlocking
    (each node insert would otherwise take a shared lock on the case through its foreign
    key, and then both would wait to update the status).
    """
    current = conn.execute(sa.select(t.rescue_cases.c.status).where(t.rescue_cases.c.id == case_id)
                           .with_for_update()).scalar_one_or_none()
    if current is None:
        raise NotFound(f"rescue case {case_id} does not exist")
    why_not = refusal(node, current)
    if why_not:
        raise Conflict(why_not, code="illegal_transition")
    try:
        with conn.begin_nested():
            _insert_node(conn, case_id, node, dedupe_key=dedupe_key, **fields)
    except sa.exc.IntegrityError:
        if dedupe_key is None:
            raise
        return False
    nodes = conn.execute(sa.select(t.rescue_events.c.node).where(t.rescue_events.c.case_id == case_id)
                         .order_by(t.rescue_events.c.id)).scalars().all()
    status = derive_status(list(nodes))
    if status != current:
        conn.execute(t.rescue_cases.update().where(t.rescue_cases.c.id == case_id)
                     .values(status=status, updated_at=utcnow()))
    return True


def record_alerted(case_id: str, channel: str, details: dict, disclosure=None) -> bool:
    """Note the delivery result of one alert channel, once per case and channel however often
    the message is delivered or republished; in the same transaction, the audit record of the
    personal fields the alert carried to its recipients (a rescue.visibility.Disclosure)."""
    with transaction() as conn:
        if disclosure is not None:
            visibility.record_pushed(conn, case_id, disclosure)
        return append_node(conn, case_id, "alerted", source=channel, actor_role="system",
                           details={"channel": channel, **details}, dedupe_key=f"alerted:{channel}")


def alert_consoles_now(case_id: str, summary: dict) -> None:
    """The ED consoles hear of a new case straight from the intake, not a queue hop later.
    Best effort: the rescue-events consumer still alerts (and records) any case this missed."""
    from hospital import live

    try:
        delivery = live.push(live.ED_CONSOLE, summary)
        if delivery.delivered:
            record_alerted(case_id, live.ED_CONSOLE, {**delivery.counts(), "path": "intake"},
                           visibility.pushed(summary, visibility.ED_ALERT_ROLES, delivery.recipients))
    except Exception as exc:  # noqa: BLE001 - the case is saved; the consumer is the guarantee
        log.warning("intake alert not pushed", extra={"case_id": case_id, "error": type(exc).__name__})


def was_alerted(case_id: str, channel: str) -> bool:
    with transaction() as conn:
        return conn.execute(sa.select(t.rescue_events.c.id).where(
            t.rescue_events.c.case_id == case_id, t.rescue_events.c.dedupe_key == f"alerted:{channel}")).first() is not None


def alert_summary(case_id: str) -> dict:
    """What the ED console shows for a new case (the console reads the rest over HTTP)."""
    view = load_view(case_id)
    return {"type": "rescue.alert", "case_id": case_id, "source": view["source"], "status": view["status"],
            "created_at": view["created_at"], "location": view["location"], "address_text": view["address_text"],
            "complaint": view["complaint"]}


def republish_unalerted(older_than: dt.timedelta = dt.timedelta(minutes=2),
                        window: dt.timedelta = dt.timedelta(hours=24), limit: int = 100) -> list[str]:
    """The watchdog: cases still not alerted a while after intake get their event again
    (its first message may have gone to the DLQ). Safe to repeat: alerting is deduplicated."""
    now = utcnow()
    with transaction() as conn:
        stuck = conn.execute(
            sa.select(t.rescue_cases.c.id)
            .where(t.rescue_cases.c.status == "received",
                   t.rescue_cases.c.created_at <= now - older_than,
                   t.rescue_cases.c.created_at >= now - window)
            .order_by(t.rescue_cases.c.created_at).limit(limit)).scalars().all()
    for case_id in stuck:
        with unit_of_work() as uow:
            uow.publish(messages.CaseCreated(case_id=case_id, republished=True))
        log.warning("rescue case not alerted in time: event republished", extra={"case_id": case_id})
    return list(stuck)


def _owned_case_id(conn, principal, case_id: str) -> None:
    found = conn.execute(sa.select(t.rescue_cases.c.id).where(
        t.rescue_cases.c.id == case_id, t.rescue_cases.c.patient_user_id == principal.user_id)).first()
    if found is None:
        raise NotFound("no such rescue case", field="case_id")


def correct_location(principal, case_id: str, correction) -> dict:
    """The caller moves the pin (ER5): the new location is kept beside every earlier one
    and the timeline says when, from where to where (by reference: locations are encrypted)."""
    loc = correction.location
    sealed = crypto.encrypt(json.dumps({"latitude": loc.latitude, "longitude": loc.longitude,
                                        "accuracy_m": loc.accuracy_m}), _ctx(case_id, "location"))
    address = _enc(correction.address_text, case_id, "address")
    now = utcnow()
    with unit_of_work() as uow:
        _owned_case_id(uow.conn, principal, case_id)
        location_id = uow.conn.execute(t.rescue_locations.insert().values(
            case_id=case_id, location_enc=sealed, coord_system=loc.coord_system, address_enc=address,
            source="patient", reported_at=now)).inserted_primary_key[0]
        append_node(uow.conn, case_id, "location_changed", source="mini_program", actor_role="patient",
                    actor_user_id=principal.user_id, at=now,
                    details={"location_id": int(location_id), "coord_system": loc.coord_system,
                             "accuracy_m": loc.accuracy_m})
        uow.publish(messages.LocationChanged(case_id=case_id, location_id=int(location_id)))
    return get_case(principal, case_id)


def cancel(principal, case_id: str, reason: str) -> dict:
    """The caller cancels before dispatch; after dispatch it is refused with 409 and why."""
    with unit_of_work() as uow:
        _owned_case_id(uow.conn, principal, case_id)
        append_node(uow.conn, case_id, "cancelled", source="mini_program", actor_role="patient",
                    actor_user_id=principal.user_id, details={"reason": reason})
        uow.publish(messages.CaseChanged(case_id=case_id, node="cancelled"))
    return get_case(principal, case_id)


PAGE_DEFAULT, PAGE_MAX = 20, 50


def list_own(principal, limit: int = PAGE_DEFAULT, cursor: str | None = None) -> dict:
    """The caller's cases, newest first (ER11), paged with an opaque keyset cursor."""
    query = sa.select(t.rescue_cases).where(t.rescue_cases.c.patient_user_id == principal.user_id)
    if cursor:
        at, last_id = _decode_cursor(cursor)
        query = query.where(sa.or_(t.rescue_cases.c.created_at < at,
                                   sa.and_(t.rescue_cases.c.created_at == at, t.rescue_cases.c.id < last_id)))
    with transaction() as conn:
        rows = conn.execute(query.order_by(t.rescue_cases.c.created_at.desc(), t.rescue_cases.c.id.desc())
                            .limit(limit + 1)).all()
        page = rows[:limit]
        with_address = [r.id for r in page if r.address_enc is not None]
        if with_address:
            visibility.record_own(conn, principal, "rescue_case", None, [visibility.ADDRESS], targets=with_address)
    return {
        "items": [{
            "case_id": r.id, "status": r.status, "source": r.source, "created_at": iso_utc(r.created_at),
            "rescue_person_id": r.rescue_person_id,
            "address_text": crypto.decrypt_text(r.address_enc, _ctx(r.id, "address")),
        } for r in page],
        "next_cursor": _encode_cursor(page[-1]) if len(rows) > limit else None,
    }


def _encode_cursor(row) -> str:
    import base64

    return base64.urlsafe_b64encode(f"{row.created_at.isoformat()}|{row.id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str):
    import base64

    try:
        at, last_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
        return dt.datetime.fromisoformat(at), last_id
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed("cursor is not one this API gave out", field="cursor") from None


def get_case(principal, case_id: str) -> dict:
    """The case as its owner sees it (audited like every view of personal data). Anyone else
    gets 404: we do not confirm it exists."""
    view = load_view(case_id, owner_user_id=principal.user_id)
    with transaction() as conn:
        visibility.record_own(conn, principal, "rescue_case", case_id, visibility.shown(view))
    return view


def load_view(case_id: str, owner_user_id: int | None = None) -> dict:
    """The case with its timeline and every reported location (decrypted)."""
    with transaction() as conn:
        query = sa.select(t.rescue_cases).where(t.rescue_cases.c.id == case_id)
        if owner_user_id is not None:
            query = query.where(t.rescue_cases.c.patient_user_id == owner_user_id)
        case = conn.execute(query).first()
        if case is None:
            raise NotFound("no such rescue case", field="case_id")
        events = conn.execute(sa.select(t.rescue_events).where(t.rescue_events.c.case_id == case_id)
                              .order_by(t.rescue_events.c.id)).all()
        corrections = conn.execute(sa.select(t.rescue_locations).where(t.rescue_locations.c.case_id == case_id)
                                   .order_by(t.rescue_locations.c.id)).all()

    def located(blob, coord_system, source, at, address):
        point = json.loads(crypto.decrypt(blob, _ctx(case_id, "location"))) if blob is not None else None
        return {**(point or {"latitude": None, "longitude": None, "accuracy_m": None}),
                "coord_system": coord_system, "source": source, "reported_at": iso_utc(at),
                "address_text": crypto.decrypt_text(address, _ctx(case_id, "address"))}

    history = [located(case.location_enc, case.coord_system, "intake", case.created_at, case.address_enc)]
    history += [located(c.location_enc, c.coord_system, c.source, c.reported_at, c.address_enc) for c in corrections]
    current = history[-1]
    view = _view(
        case_id=case.id, status=case.status, source=case.source, created_at=case.created_at,
        card_id=case.card_id, rescue_person_id=case.rescue_person_id,
        location=({k: current[k] for k in ("latitude", "longitude", "accuracy_m", "coord_system")}
                  if current["latitude"] is not None else None),
        address_text=current["address_text"] or history[0]["address_text"],
        complaint=crypto.decrypt_text(case.complaint_enc, _ctx(case_id, "complaint")),
        nodes=[e._asdict() for e in events],
    )
    if corrections:
        view["location_history"] = history
    return view


def _view(*, case_id, status, source, created_at, card_id, rescue_person_id, location,
          address_text, complaint, nodes) -> dict:
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
