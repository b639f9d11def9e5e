"""What the rescue-events queue consumer does with each message."""
from __future__ import annotations

import logging

from hospital.rescue import cases

log = logging.getLogger("hospital.rescue")


def handle_message(message: dict, record: dict) -> None:
    kind = message.get("type") or ""
    handler = HANDLERS.get(kind)
    if handler is not None:
        handler(message, record)
    elif kind.startswith("rescue."):
        # Published for the live pushes and the triage link, which consume them in their own steps.
        log.debug("no step for this message here", extra={"message_type": kind})
    else:
        log.warning("ignored message of unknown type", extra={"message_type": kind})


def _alert(message: dict, record: dict) -> None:
    case_id = message["data"]["case_id"]
    recorded = cases.record_alerted(case_id, {
        "message_id": message["message_id"],
        "receive_count": int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1)),
    })
    if not recorded:
        log.info("duplicate delivery ignored", extra={"case_id": case_id, "outbox_id": message["message_id"]})


HANDLERS = {cases.CASE_CREATED: _alert}
