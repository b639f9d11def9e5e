"""The dispatcher's and the crew's side of a case: phone intake, acceptance, the decision,
vehicle and crew assignment, trip progress and completion (ER5, ES1, EA4).

Every step is a timeline node appended under the case's row lock, checked against the
state machine in hospital.rescue.timeline (pure rules); a vehicle is taken with a guarded
UPDATE, so two dispatchers cannot send one ambulance to two cases.

The services (take_phone_call, append_step, record_acknowledgement, send_vehicle,
record_progress, add_vehicle) take the caller's unit of work and open nothing; the entries the
functions call (phone_intake, step, acknowledge, dispatch, progress, register_vehicle) open one
each. case_view is the read side's entry: it reads in one transaction, decrypts after it closes
(no lock held over a KMS call), writes the audit of what it showed in another and reads the
triage link's status in a last one.
"""
from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa

from hospital.auth.permissions import RESCUE_CONSOLE, RESCUE_RECORDS
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, NotFound, ValidationFailed
from hospital.rescue import case_store, messages, views, visibility
from hospital.timeutil import iso_utc, utcnow
from hospital.unit_of_work import unit_of_work

SOURCE = "dispatch_console"
# What the vehicle is doing after each trip node (the dispatch systems' usual statuses).
VEHICLE_AFTER = {
    "dispatched": "dispatched", "en_route": "en_route", "on_scene": "on_scene",
    "patient_contact": "on_scene", "left_scene": "transporting", "at_hospital": "at_hospital",
    "handed_over": "returning", "back_in_service": "available",
}
TRIP_NODES = ("en_route", "on_scene", "patient_contact", "left_scene", "at_hospital", "handed_over",
              "back_in_service")


# ---- entries: each opens one unit of work and has one service do the step; the case's steps
# then answer with the case as the caller may see it --------------------------------------------

def phone_intake(dispatcher, intake) -> dict:
    """A 120 call entered by hand: caller phone, address, complaint, optional coordinates."""
    case_id = uuid.uuid4().hex
    loc = intake.location
    # Encrypted before the transaction opens, like the one-click intake.
    sealed = case_store.seal(case_id, location=loc, address_text=intake.address_text,
                             complaint=intake.complaint, caller_phone=intake.caller_phone)
    with unit_of_work() as uow:
        take_phone_call(uow, dispatcher, sealed, loc.coord_system if loc else None, utcnow())
    return case_view(dispatcher, case_id)


def step(actor, role: str, case_id: str, node: str, details: dict | None = None) -> dict:
    """Append one node that needs no other bookkeeping (accept, decide, cancel, complete)."""
    with unit_of_work() as uow:
        append_step(uow, actor, role, case_id, node, details)
    return case_view(actor, case_id)


def acknowledge(actor, role: str, case_id: str) -> dict:
    """The ED confirms it saw the alert; the first acknowledgement counts, repeats change nothing."""
    with unit_of_work() as uow:
        record_acknowledgement(uow, actor, role, case_id)
    return case_view(actor, case_id)


def dispatch(dispatcher, case_id: str, vehicle_id: str, crew_user_ids: list[int]) -> dict:
    with unit_of_work() as uow:
        send_vehicle(uow, dispatcher, case_id, vehicle_id, crew_user_ids, uuid.uuid4().hex, utcnow())
    return case_view(dispatcher, case_id)


def progress(staff, case_id: str, node: str, details: dict | None = None) -> dict:
    """The crew reports a trip step; only the crew assigned to the open dispatch may."""
    if node not in TRIP_NODES:
        raise ValidationFailed(f"node must be one of {', '.join(TRIP_NODES)}", field="node")
    with unit_of_work() as uow:
        record_progress(uow, staff, case_id, node, details, utcnow())
    return case_view(staff, case_id)


def open_cases(actor, limit: int) -> dict:
    """The open cases for the ED consoles (their catch-up after a missed push), oldest first,
    with the address where the caller's role may see it. The list and the audit record of the
    addresses it shows share one transaction; they are decrypted after it."""
    visible = visibility.fields_for(actor.roles)
    with_address = visibility.ADDRESS in visible
    with transaction() as conn:
        cases = case_store.open_cases(conn, limit)
        shown = [c.case_id for c in cases if c.has_address]
        if with_address and shown:
            visibility.record_shown(conn, actor, None, [visibility.ADDRESS],
                                    visibility.granting_roles(actor.roles, visible), targets=shown)
    return {"items": [{
        "case_id": c.case_id, "status": c.status, "source": c.source, "created_at": iso_utc(c.created_at),
        "acknowledged_at": iso_utc(c.acknowledged_at),
        "address_text": c.address_text() if with_address else None,
    } for c in cases]}


def register_vehicle(vehicle_id: str, plate: str) -> None:
    with unit_of_work() as uow:
        add_vehicle(uow, vehicle_id, plate)


# ---- services: each takes the caller's unit of work and opens nothing ------------------------

def take_phone_call(uow, dispatcher, sealed: case_store.Sealed, coord_system: str | None, now) -> None:
    """A new case from a call, its personal fields sealed beforehand; the consoles hear of it."""
    case_store.insert_case(
        uow.conn, sealed, source="phone", coord_system=coord_system,
        legal_basis="vital_interests", created_at=now, intake_user_id=dispatcher.user_id,
        first_node={"node": "call_received", "source": SOURCE, "actor_user_id": dispatcher.user_id,
                    "actor_role": "dispatcher", "at": now,
                    "details": {"channel": "phone", "with_location": sealed.location is not None}})
    uow.publish(messages.CaseCreated(case_id=sealed.case_id))


def append_step(uow, actor, role: str, case_id: str, node: str, details: dict | None = None) -> None:
    """One node under the state machine (hospital.rescue.timeline), and the case's change told."""
    case_store.append_node(uow.conn, case_id, node, source=SOURCE, actor_user_id=actor.user_id,
                           actor_role=role, details=details or {})
    uow.publish(messages.CaseChanged(case_id=case_id, node=node))
    _tell_consoles(uow, case_id, node)


def record_acknowledgement(uow, actor, role: str, case_id: str) -> None:
    """The first acknowledgement is a node, and every open console hears of it (each stops
    ringing); a repeat records and tells nothing."""
    if case_store.append_node(uow.conn, case_id, "acknowledged", source="ed_console",
                              actor_user_id=actor.user_id, actor_role=role, dedupe_key="acknowledged"):
        _tell_consoles(uow, case_id, "acknowledged")


def _tell_consoles(uow, case_id: str, node: str) -> None:
    """After the commit, the ED consoles hear that the case moved (alerts.case_changed)."""
    from hospital.rescue import alerts

    uow.after_commit(lambda: alerts.tell_consoles(case_id, node))


def send_vehicle(uow, dispatcher, case_id: str, vehicle_id: str, crew_user_ids: list[int], dispatch_id: str,
                 now) -> None:
    """The case is dispatched (its lock and state check first), then the vehicle taken with a
    guarded UPDATE, so two dispatchers cannot send one ambulance to two cases."""
    conn = uow.conn
    crew = conn.execute(sa.select(sa.func.count()).select_from(
        t.users.join(t.user_roles, t.user_roles.c.user_id == t.users.c.id))
        .where(t.users.c.id.in_(crew_user_ids), t.users.c.status == "active",
               t.user_roles.c.role == "staff")).scalar_one()
    if crew != len(set(crew_user_ids)):
        raise ValidationFailed("every crew member must be an active user holding the staff role",
                               field="crew_user_ids")
    # The case first (its lock and state check), then the vehicle.
    case_store.append_node(conn, case_id, "dispatched", source=SOURCE, actor_user_id=dispatcher.user_id,
                           actor_role="dispatcher", at=now,
                           details={"dispatch_id": dispatch_id, "vehicle_id": vehicle_id,
                                    "crew": sorted(crew_user_ids)})
    taken = conn.execute(t.vehicles.update()
                         .where(t.vehicles.c.id == vehicle_id, t.vehicles.c.status == "available")
                         .values(status="dispatched", updated_at=now)).rowcount
    if not taken:
        exists = conn.execute(
            sa.select(t.vehicles.c.status).where(t.vehicles.c.id == vehicle_id)).scalar_one_or_none()
        if exists is None:
            raise ValidationFailed("no such vehicle", field="vehicle_id")
        raise Conflict(f"vehicle {vehicle_id} is not available (it is {exists})", code="vehicle_unavailable")
    conn.execute(t.dispatches.insert().values(id=dispatch_id, case_id=case_id, vehicle_id=vehicle_id,
                                              dispatcher_user_id=dispatcher.user_id, created_at=now))
    for user_id in sorted(set(crew_user_ids)):
        conn.execute(t.dispatch_crew.insert().values(dispatch_id=dispatch_id, user_id=user_id))
    uow.publish(messages.Dispatched(case_id=case_id, dispatch_id=dispatch_id))
    _tell_consoles(uow, case_id, "dispatched")


def record_progress(uow, staff, case_id: str, node: str, details: dict | None, now) -> None:
    """A trip step of the crew's open dispatch: the node, the vehicle's status after it, and the
    dispatch closed when the vehicle is back in service."""
    conn = uow.conn
    open_dispatch = _open_dispatch_of_crew(conn, staff.user_id, case_id)
    case_store.append_node(conn, case_id, node, source="staff_app", actor_user_id=staff.user_id,
                           actor_role="staff", at=now, details={**(details or {}), "dispatch_id": open_dispatch.id})
    conn.execute(t.vehicles.update().where(t.vehicles.c.id == open_dispatch.vehicle_id)
                 .values(status=VEHICLE_AFTER[node], updated_at=now))
    if node == "back_in_service":
        conn.execute(t.dispatches.update().where(t.dispatches.c.id == open_dispatch.id).values(closed_at=now))
    uow.publish(messages.CaseChanged(case_id=case_id, node=node))
    _tell_consoles(uow, case_id, node)


def add_vehicle(uow, vehicle_id: str, plate: str) -> None:
    uow.conn.execute(t.vehicles.insert().values(id=vehicle_id, plate=plate, status="available", updated_at=utcnow()))


def _open_dispatch_of_crew(conn, user_id: int, case_id: str):
    row = conn.execute(
        sa.select(t.dispatches).join(t.dispatch_crew, t.dispatch_crew.c.dispatch_id == t.dispatches.c.id)
        .where(t.dispatches.c.case_id == case_id, t.dispatches.c.closed_at.is_(None),
               t.dispatch_crew.c.user_id == user_id)).first()
    if row is None:
        raise NotFound("no open dispatch of yours for this case", field="case_id")
    return row


# How long the crew keep the case (and the caller's phone) after their dispatch closes: enough
# to finish the trip's notes, short enough that the phone does not stay on a crew's app.
CREW_GRACE = dt.timedelta(minutes=10)


def is_assigned_crew(conn, user_id: int, case_id: str, now: dt.datetime | None = None) -> bool:
    """Crew of one of the case's dispatches that is open, or closed less than CREW_GRACE ago."""
    now = now or utcnow()
    return conn.execute(
        sa.select(t.dispatches.c.id).join(t.dispatch_crew, t.dispatch_crew.c.dispatch_id == t.dispatches.c.id)
        .where(t.dispatches.c.case_id == case_id, t.dispatch_crew.c.user_id == user_id,
               sa.or_(t.dispatches.c.closed_at.is_(None), t.dispatches.c.closed_at > now - CREW_GRACE))
    ).first() is not None


def case_view(actor, case_id: str) -> dict:
    """The case for dispatchers, ED nurses and the crew, with the personal fields each may see
    (rescue.visibility); every view that shows any is written to the audit log (ES1, EA3).
    Crew see only the cases they are assigned to; to anyone else those are 404."""
    with transaction() as conn:
        if not case_store.exists(conn, case_id):
            raise NotFound("no such rescue case", field="case_id")
        assigned = is_assigned_crew(conn, actor.user_id, case_id)
        if not (actor.may(RESCUE_CONSOLE) or actor.may(RESCUE_RECORDS)) and not assigned:
            raise NotFound("no such rescue case", field="case_id")
        dispatch_rows = conn.execute(sa.select(t.dispatches).where(t.dispatches.c.case_id == case_id)
                                     .order_by(t.dispatches.c.created_at)).all()
    visible = visibility.fields_for(actor.roles, assigned_crew=assigned)
    data = case_store.load(case_id, caller_phone=visibility.CALLER_PHONE in visible)
    view = views.case_view(data)
    view["caller_phone"] = data.caller_phone
    view = visibility.redact(view, visible)
    _audit_shown(actor, case_id, view, visible, assigned)
    from hospital.rescue import triage_link

    with transaction() as conn:
        view["triage"] = triage_link.status_of(conn, case_id)
    view["dispatches"] = [{"dispatch_id": d.id, "vehicle_id": d.vehicle_id, "created_at": iso_utc(d.created_at),
                           "closed_at": iso_utc(d.closed_at)} for d in dispatch_rows]
    return view


def _audit_shown(actor, case_id: str, view: dict, visible: frozenset[str], assigned: bool) -> None:
    fields = visibility.shown(view)
    if fields:
        with transaction() as conn:
            visibility.record_shown(conn, actor, case_id, fields,
                                    visibility.granting_roles(actor.roles, visible, assigned_crew=assigned))
