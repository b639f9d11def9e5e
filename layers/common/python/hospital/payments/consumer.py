"""What the payment queues' consumers do with each message."""
from __future__ import annotations

from hospital.messaging import Consumer, Delivery
from hospital.payments import messages


def _confirm_with_his(message: messages.PaymentPaid, delivery: Delivery) -> None:
    from hospital.payments import his_confirmation

    his_confirmation.confirm(message.order_id)


def _carry_refund_on(message: messages.RefundRequested, delivery: Delivery) -> None:
    from hospital.payments import refunds

    refunds.process(message.refund_id)


PAYMENT_EVENTS = Consumer(messages.PaymentPaid.QUEUE, {messages.PaymentPaid: _confirm_with_his})
REFUNDS = Consumer(messages.RefundRequested.QUEUE, {messages.RefundRequested: _carry_refund_on})
