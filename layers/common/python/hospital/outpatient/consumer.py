"""What the outpatient-events queue's consumer does with each message."""
from __future__ import annotations

from hospital.messaging import Consumer, Delivery
from hospital.outpatient import messages


def _find(message: messages.SuspensionFound, delivery: Delivery) -> None:
    from hospital.outpatient import suspensions

    suspensions.find(message.suspension_id)


def _handle(message: messages.RegistrationSuspended, delivery: Delivery) -> None:
    from hospital.outpatient import suspensions

    suspensions.handle(message.suspension_id, message.registration_id, delivery.receive_count)


OUTPATIENT_EVENTS = Consumer(messages.OUTPATIENT_EVENTS, {messages.SuspensionFound: _find,
                                                          messages.RegistrationSuspended: _handle})
