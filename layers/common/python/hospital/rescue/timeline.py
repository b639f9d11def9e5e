"""Timeline nodes of a rescue case (see docs/rescue-and-outpatient.md).

Nodes are append-only; the case's status is derived from them. A node that only informs
(guidance, a location correction) leaves the status as it was.
"""
from __future__ import annotations

# node -> status it puts the case in (None: informative only)
NODES: dict[str, str | None] = {
    "call_received": "received",
    "alerted": "alerted",
    "acknowledged": None,  # the ED saw the alert (ER3); not in the EMS list, informative only
    "accepted": "accepted",
    "guidance_started": None,
    "guidance_ended": None,
    "decided": "decided",
    "dispatched": "dispatched",
    "en_route": "en_route",
    "on_scene": "on_scene",
    "patient_contact": "patient_contact",
    "left_scene": "left_scene",
    "at_hospital": "at_hospital",
    "handed_over": "handed_over",
    "back_in_service": "back_in_service",
    "completed": "completed",
    "cancelled": "cancelled",
    "location_changed": None,
}
_ORDER = [status for status in NODES.values() if status]
TERMINAL = {"completed", "cancelled"}


def derive_status(nodes: list[str]) -> str:
    """The status after these nodes, in order: the furthest point reached, terminal wins."""
    status = None
    for node in nodes:
        if node not in NODES:
            raise ValueError(f"unknown timeline node {node!r}")
        reached = NODES[node]
        if reached is None or status in TERMINAL:
            continue
        if status is None or reached in TERMINAL or _ORDER.index(reached) > _ORDER.index(status):
            status = reached
    if status is None:
        raise ValueError("a case starts with call_received")
    return status


_OPEN = set(_ORDER) - TERMINAL
_BEFORE_DISPATCH = {"received", "alerted", "accepted", "decided"}
# Where the crew's progress can be reported from: any earlier point of the trip (a crew
# that forgot to press "en route" can still report "on scene").
_TRIP = ["dispatched", "en_route", "on_scene", "patient_contact", "left_scene", "at_hospital", "handed_over"]


def _trip_before(node: str) -> set[str]:
    return set(_TRIP[: _TRIP.index(node)]) if node in _TRIP else set(_TRIP)


# The explicit state machine (EA4): the statuses each node may follow, and why not otherwise.
# Nodes not listed (alerted, guidance) may be appended to any case that is not closed.
ALLOWED_FROM: dict[str, tuple[set[str], str]] = {
    "accepted": ({"received", "alerted"}, "only a new case can be accepted"),
    "decided": ({"accepted"}, "a case is decided after it has been accepted, once"),
    "dispatched": ({"accepted", "decided"}, "a vehicle can be dispatched only to an accepted, undispatched case"),
    **{node: (_trip_before(node), f"{node.replace('_', ' ')} must follow the dispatch and earlier trip steps")
       for node in _TRIP[1:]},
    "back_in_service": (set(_TRIP), "the vehicle can return only from a dispatch in progress"),
    "completed": (_BEFORE_DISPATCH | {"back_in_service"},
                  "a dispatched case completes only after the vehicle is back in service"),
    "cancelled": (_BEFORE_DISPATCH, "a case can be cancelled only before a vehicle is dispatched"),
    "location_changed": (_OPEN, "the location can be corrected only while the case is open"),
}
_ANY_OPEN = (_OPEN, "the case is closed")


def refusal(node: str, status: str) -> str | None:
    """Why `node` may not be appended to a case in `status`, or None if it may."""
    if node in ("alerted", "acknowledged"):
        return None  # alerts and their acknowledgement may come after a case moved on, even closed
    allowed, reason = ALLOWED_FROM.get(node, _ANY_OPEN)
    if status in allowed:
        return None
    return f"{reason} (the case is {status})"
