"""The outpatient messages: a suspension whose registrations are to be found, and each
registration found in one, to be cancelled, refunded and its patient told (the fan-out goes
through the queue, one message per registration, not one long request)."""
from __future__ import annotations

import dataclasses

from hospital.messages import Message, declare

OUTPATIENT_EVENTS = "outpatient-events"


@declare
@dataclasses.dataclass(frozen=True)
class SuspensionFound(Message):
    QUEUE = OUTPATIENT_EVENTS
    TYPE = "outpatient.suspension"
    suspension_id: str


@declare
@dataclasses.dataclass(frozen=True)
class RegistrationSuspended(Message):
    QUEUE = OUTPATIENT_EVENTS
    TYPE = "outpatient.registration_suspended"
    suspension_id: str
    registration_id: str
