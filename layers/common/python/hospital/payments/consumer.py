"""What the payment queues' consumers do with each message."""
from __future__ import annotations

import logging

log = logging.getLogger("hospital.payments")


def handle_payment_event(message: dict, record: dict) -> None:
    from hospital.payments import his_confirmation, results

    if message.get("type") != results.PAYMENT_PAID:
        log.warning("ignored message of unknown type", extra={"message_type": message.get("type")})
        return
    his_confirmation.confirm(message["data"]["order_id"])


def handle_refund(message: dict, record: dict) -> None:
    from hospital.payments import refunds, results

    if message.get("type") != results.REFUND_REQUESTED:
        log.warning("ignored message of unknown type", extra={"message_type": message.get("type")})
        return
    refunds.process(message["data"]["refund_id"])
