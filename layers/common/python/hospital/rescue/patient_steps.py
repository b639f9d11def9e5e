"""What a patient does to their own case after intake: move the pin (ER5) and cancel before
a vehicle is dispatched. Anyone else's case is 404: we do not confirm it exists."""
from __future__ import annotations

from hospital.errors import NotFound
from hospital.rescue import case_store, messages, views
from hospital.timeutil import utcnow
from hospital.unit_of_work import unit_of_work

SOURCE = "mini_program"


# ---- entries: each opens one unit of work and answers with the case as the patient sees it ----

def correct_location(principal, case_id: str, correction) -> dict:
    """The caller moves the pin (ER5): the new location is kept beside every earlier one
    and the timeline says when, from where to where (by reference: locations are encrypted)."""
    loc = correction.location
    # Encrypted before the transaction opens: a KMS call holds no lock.
    sealed = case_store.seal(case_id, location=loc, address_text=correction.address_text)
    with unit_of_work() as uow:
        move_pin(uow, principal, sealed, loc, utcnow())
    return views.get_case(principal, case_id)


def cancel(principal, case_id: str, reason: str) -> dict:
    """The caller cancels before dispatch; after dispatch it is refused with 409 and why."""
    with unit_of_work() as uow:
        cancel_case(uow, principal, case_id, reason)
    return views.get_case(principal, case_id)


# ---- services: each takes the caller's unit of work and opens nothing ------------------------

def move_pin(uow, principal, sealed: case_store.Sealed, location, now) -> None:
    case_id = sealed.case_id
    _check_owned(uow.conn, principal, case_id)
    location_id = case_store.insert_location(uow.conn, sealed, coord_system=location.coord_system,
                                             source="patient", reported_at=now)
    case_store.append_node(uow.conn, case_id, "location_changed", source=SOURCE, actor_role="patient",
                           actor_user_id=principal.user_id, at=now,
                           details={"location_id": location_id, "coord_system": location.coord_system,
                                    "accuracy_m": location.accuracy_m})
    uow.publish(messages.LocationChanged(case_id=case_id, location_id=location_id))


def cancel_case(uow, principal, case_id: str, reason: str) -> None:
    _check_owned(uow.conn, principal, case_id)
    case_store.append_node(uow.conn, case_id, "cancelled", source=SOURCE, actor_role="patient",
                           actor_user_id=principal.user_id, details={"reason": reason})
    uow.publish(messages.CaseChanged(case_id=case_id, node="cancelled"))


def _check_owned(conn, principal, case_id: str) -> None:
    if not case_store.is_owned_by(conn, case_id, principal.user_id):
        raise NotFound("no such rescue case", field="case_id")
