"""SQS consumers: one record at a time, partial batch failures reported to Lambda.

Only the records that failed come back to the queue (ReportBatchItemFailures); after
maxReceiveCount they move to the DLQ. Each record runs with the correlation id it carries.
"""
from __future__ import annotations

import json
import logging
from typing import Callable

from hospital.observability import CORRELATION_ATTRIBUTE, bind_correlation_id, reset_correlation_id

log = logging.getLogger("hospital.messaging")


def process_batch(records, handle: Callable[[dict, dict], None]) -> dict:
    """`records`: a Chalice SQSEvent or the raw Lambda event's Records list.
    `handle(message, record)` gets the decoded JSON body and the raw record."""
    failures = []
    for record in records:
        raw = record.to_dict() if hasattr(record, "to_dict") else record
        attrs = raw.get("messageAttributes") or {}
        token = bind_correlation_id((attrs.get(CORRELATION_ATTRIBUTE) or {}).get("stringValue"))
        try:
            handle(json.loads(raw["body"]), raw)
        except Exception:  # noqa: BLE001 - any failure returns just this record to the queue
            log.exception("message failed", extra={
                "sqs_message_id": raw.get("messageId"),
                "receive_count": (raw.get("attributes") or {}).get("ApproximateReceiveCount"),
            })
            failures.append({"itemIdentifier": raw["messageId"]})
        finally:
            reset_correlation_id(token)
    return {"batchItemFailures": failures}
