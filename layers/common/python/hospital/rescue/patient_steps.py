"""What a patient does to their own case after intake: move the pin (ER5) and cancel before
a vehicle is dispatched. Anyone else's case is 404: we do not confirm it exists."""
from __future__ import annotations

from hospital.errors import NotFound
from hospital.rescue import case_store, messages, views
from hospital.timeutil import utcnow
from hospital.unit_of_work import unit_of_work

SOURCE = "mini_program"


def _check_owned(conn, principal, case_id: str) -> None:
    if not case_store.is_owned_by(conn, case_id, principal.user_id):
        raise NotFound("no such rescue case", field="case_id")


def correct_location(principal, case_id: str, correction) -> dict:
    """The caller moves the pin (ER5): the new location is kept beside every earlier one
    and the timeline says when, from where to where (by reference: locations are encrypted)."""
    loc = correction.location
    sealed = case_store.seal(case_id, location=loc, address_text=correction.address_text)
    now = utcnow()
    with unit_of_work() as uow:
        _check_owned(uow.conn, principal, case_id)
        location_id = case_store.insert_location(uow.conn, sealed, coord_system=loc.coord_system,
                                                 source="patient", reported_at=now)
        case_store.append_node(uow.conn, case_id, "location_changed", source=SOURCE, actor_role="patient",
                               actor_user_id=principal.user_id, at=now,
                               details={"location_id": location_id, "coord_system": loc.coord_system,
                                        "accuracy_m": loc.accuracy_m})
        uow.publish(messages.LocationChanged(case_id=case_id, location_id=location_id))
    return views.get_case(principal, case_id)


def cancel(principal, case_id: str, reason: str) -> dict:
    """The caller cancels before dispatch; after dispatch it is refused with 409 and why."""
    with unit_of_work() as uow:
        _check_owned(uow.conn, principal, case_id)
        case_store.append_node(uow.conn, case_id, "cancelled", source=SOURCE, actor_role="patient",
                               actor_user_id=principal.user_id, details={"reason": reason})
        uow.publish(messages.CaseChanged(case_id=case_id, node="cancelled"))
    return views.get_case(principal, case_id)
