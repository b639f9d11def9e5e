"""The payment messages: a paid order to confirm with the HIS, a refund for the worker."""
from __future__ import annotations

import dataclasses

from hospital.messages import Message, declare


@declare
@dataclasses.dataclass(frozen=True)
class PaymentPaid(Message):
    """An order is paid: the payment-events consumer confirms it with the HIS."""
    QUEUE = "payment-events"
    TYPE = "payment.paid"
    order_id: str


@declare
@dataclasses.dataclass(frozen=True)
class RefundRequested(Message):
    """A refund to carry on: the refund worker calls the provider and records its answer."""
    QUEUE = "refunds"
    TYPE = "refund.requested"
    refund_id: str
