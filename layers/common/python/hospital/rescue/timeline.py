"""Timeline nodes of a rescue case (see shared/specs/rescue-and-outpatient.md).

Nodes are append-only; the case's status is derived from them. A node that only informs
(guidance, a location correction) leaves the status as it was.
"""
from __future__ import annotations

# node -> status it puts the case in (None: informative only)
NODES: dict[str, str | None] = {
    "call_received": "received",
    "alerted": "alerted",
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
# The explicit part of the state machine: a node that may only follow certain statuses.
# Anything else is refused with 409 and this reason (EA4).
ALLOWED_FROM: dict[str, tuple[set[str], str]] = {
    "cancelled": ({"received", "alerted", "accepted", "decided"},
                  "a case can be cancelled only before a vehicle is dispatched"),
    "location_changed": (_OPEN, "the location can be corrected only while the case is open"),
}


def refusal(node: str, status: str) -> str | None:
    """Why `node` may not be appended to a case in `status`, or None if it may."""
    allowed, reason = ALLOWED_FROM.get(node, (None, ""))
    if allowed is None or status in allowed:
        return None
    return f"{reason} (the case is {status})"
