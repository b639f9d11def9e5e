"""The rescue messages: what a case's changes put on the rescue-events queue, and what its
consumer sends on to on-duty staff (notifications) and to the ED triage system (triage).

Whether the triage system hears of a change (ER7: a new case, its location, its status as the
ED sees it) is declared here with each message, so a new or renamed step cannot drop out of
the triage link unnoticed.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

from hospital.messages import Message, declare, versioned

RESCUE_EVENTS, NOTIFICATIONS, TRIAGE = "rescue-events", "notifications", "triage"


@dataclasses.dataclass(frozen=True)
class RescueEvent(Message):
    QUEUE = RESCUE_EVENTS
    TO_TRIAGE: ClassVar[bool] = False
    case_id: str

    @property
    def to_triage(self) -> bool:
        """Whether the rescue-events consumer forwards this change to the triage link."""
        return self.TO_TRIAGE


@declare
@dataclasses.dataclass(frozen=True)
class CaseCreated(RescueEvent):
    """A new case, from either intake; `republished` by the watchdog when it was not alerted."""
    TYPE = "rescue.case_created"
    TO_TRIAGE = True
    republished: bool = False


@declare
@dataclasses.dataclass(frozen=True)
class LocationChanged(RescueEvent):
    TYPE = "rescue.location_changed"
    TO_TRIAGE = True
    location_id: int


@declare
@dataclasses.dataclass(frozen=True)
class Dispatched(RescueEvent):
    TYPE = "rescue.dispatched"
    TO_TRIAGE = True
    dispatch_id: str


@declare
@dataclasses.dataclass(frozen=True)
class CaseChanged(RescueEvent):
    """A step that carries no data of its own, sent as `rescue.<node>`: the node is the wire
    name's tail, not a data field, as it always was."""
    TYPE = "rescue"
    # The steps sent this way (timeline nodes) -> whether the triage system hears of them.
    NODES: ClassVar[dict[str, bool]] = {
        "accepted": True, "decided": False, "cancelled": True, "completed": True,
        "en_route": False, "on_scene": True, "patient_contact": False, "left_scene": True,
        "at_hospital": True, "handed_over": True, "back_in_service": False,
    }
    node: str

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.node not in self.NODES:
            raise ValueError(f"{self.node!r} is not a case step declared in CaseChanged.NODES")

    @property
    def to_triage(self) -> bool:
        return self.NODES[self.node]

    @property
    def wire_type(self) -> str:
        return versioned(f"{self.TYPE}.{self.node}", self.VERSION)

    @classmethod
    def wire_types(cls) -> tuple[str, ...]:
        return tuple(versioned(f"{cls.TYPE}.{node}", cls.VERSION) for node in cls.NODES)

    def data(self) -> dict:
        return {"case_id": self.case_id}

    @classmethod
    def from_wire(cls, wire_type: str, data: dict) -> CaseChanged:
        node = next(node for node in cls.NODES if versioned(f"{cls.TYPE}.{node}", cls.VERSION) == wire_type)
        return super().from_wire(wire_type, {**data, "node": node})


@declare
@dataclasses.dataclass(frozen=True)
class StaffAlert(Message):
    """One on-duty staff member to be told of a new case by WeChat."""
    QUEUE = NOTIFICATIONS
    TYPE = "notify.staff_alert"
    case_id: str
    user_id: int


@declare
@dataclasses.dataclass(frozen=True)
class TriageCaseChanged(Message):
    """Push the case's current picture to the ED triage system."""
    QUEUE = TRIAGE
    TYPE = "triage.case_changed"
    case_id: str
