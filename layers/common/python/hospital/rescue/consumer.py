"""What the rescue-events queue consumer does with each message."""
from __future__ import annotations

import logging

from hospital.rescue import cases

log = logging.getLogger("hospital.rescue")


def handle_message(message: dict, record: dict) -> None:
    if message.get("type") != cases.CASE_CREATED:
        log.warning("ignored message of unknown type", extra={"message_type": message.get("type")})
        return
    case_id = message["data"]["case_id"]
    recorded = cases.record_alerted(case_id, {
        "message_id": message["message_id"],
        "receive_count": int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1)),
    })
    if not recorded:
        log.info("duplicate delivery ignored", extra={"case_id": case_id, "outbox_id": message["message_id"]})
