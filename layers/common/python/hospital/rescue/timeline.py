"""Timeline nodes of a rescue case (see docs/rescue-and-outpatient.md).

Nodes are append-only; the case's status is derived from them. A node that only informs
(guidance, a location correction) leaves the status as it was.

Pure rules (plain data in, a decision out, no I/O; importable without the database): which
node may follow which status and why not (`refusal`), and the status a timeline comes to
(`derive_status`). The case store applies them under the case's row lock.
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
        status = status_after(status, node)
    if status is None:
        raise ValueError("a case starts with call_received")
    return status


def status_after(status: str | None, node: str) -> str | None:
    """One step of derive_status: the status once `node` follows a case now in `status`, so a
    writer holding the case's current status need not read its whole timeline again."""
    if node not in NODES:
        raise ValueError(f"unknown timeline node {node!r}")
    reached = NODES[node]
    if reached is None or status in TERMINAL:
        return status
    if status is None or reached in TERMINAL or _ORDER.index(reached) > _ORDER.index(status):
        return reached
    return status


STATUSES: tuple[str, ...] = tuple(_ORDER)  # every status a case can be in, in the order of a trip
_ALL = frozenset(STATUSES)
_OPEN = _ALL - TERMINAL
_BEFORE_DISPATCH = frozenset({"received", "alerted", "accepted", "decided"})
# Where the crew's progress can be reported from: any earlier point of the trip (a crew
# that forgot to press "en route" can still report "on scene").
_TRIP = ["dispatched", "en_route", "on_scene", "patient_contact", "left_scene", "at_hospital", "handed_over"]


def _trip_before(node: str) -> frozenset[str]:
    return frozenset(_TRIP[: _TRIP.index(node)])


# The explicit state machine (EA4): for every node, the statuses it may follow, and why not
# from any other. Complete: every node of NODES has its line (tests/unit/test_case_transitions.py
# walks every node against every status).
ALLOWED_FROM: dict[str, tuple[frozenset[str], str]] = {
    "call_received": (frozenset(), "a case starts with call_received: it is never appended"),
    # Alerts and their acknowledgement may come after a case moved on, even closed.
    "alerted": (_ALL, ""),
    "acknowledged": (_ALL, ""),
    "accepted": (frozenset({"received", "alerted"}), "only a new case can be accepted"),
    "guidance_started": (_OPEN, "the case is closed"),
    "guidance_ended": (_OPEN, "the case is closed"),
    "decided": (frozenset({"accepted"}), "a case is decided after it has been accepted, once"),
    "dispatched": (frozenset({"accepted", "decided"}),
                   "a vehicle can be dispatched only to an accepted, undispatched case"),
    **{node: (_trip_before(node), f"{node.replace('_', ' ')} must follow the dispatch and earlier trip steps")
       for node in _TRIP[1:]},
    "back_in_service": (frozenset(_TRIP), "the vehicle can return only from a dispatch in progress"),
    "completed": (_BEFORE_DISPATCH | {"back_in_service"},
                  "a dispatched case completes only after the vehicle is back in service"),
    "cancelled": (_BEFORE_DISPATCH, "a case can be cancelled only before a vehicle is dispatched"),
    "location_changed": (_OPEN, "the location can be corrected only while the case is open"),
}
if set(ALLOWED_FROM) != set(NODES):  # pragma: no cover - a node without its line is a bug at import
    raise RuntimeError(f"timeline nodes without a transition rule: {sorted(set(NODES) ^ set(ALLOWED_FROM))}")


def may_follow(node: str, status: str) -> bool:
    """Whether `node` may be appended to a case in `status`."""
    return refusal(node, status) is None


def refusal(node: str, status: str) -> str | None:
    """Why `node` may not be appended to a case in `status`, or None if it may. Pure: the case
    store asks it under the case's row lock before it appends anything."""
    if node not in ALLOWED_FROM:
        raise ValueError(f"unknown timeline node {node!r}")
    if status not in _ALL:
        raise ValueError(f"unknown case status {status!r}")
    allowed, reason = ALLOWED_FROM[node]
    if status in allowed:
        return None
    return f"{reason} (the case is {status})"
