"""SQS consumers: one record at a time, partial batch failures reported to Lambda.

Only the records that failed come back to the queue (ReportBatchItemFailures); after
maxReceiveCount they move to the DLQ. A failed record is made visible again after a short,
growing delay instead of the queue's whole visibility timeout: these are emergencies.
Each record runs with the correlation id it carries.
"""
from __future__ import annotations

import functools
import json
import logging
import os
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
            _retry_soon(raw)
        finally:
            reset_correlation_id(token)
    return {"batchItemFailures": failures}


def _retry_soon(raw: dict) -> None:
    """Shorten the failed record's invisibility: base * 2^(receives-1), at most 2 minutes."""
    from hospital.aws import client

    base = int(os.environ.get("SQS_RETRY_BASE_SECONDS", "5"))
    receives = int((raw.get("attributes") or {}).get("ApproximateReceiveCount", "1"))
    try:
        client("sqs").change_message_visibility(
            QueueUrl=_queue_url(raw["eventSourceARN"]), ReceiptHandle=raw["receiptHandle"],
            VisibilityTimeout=min(base * 2 ** (receives - 1), 120))
    except Exception:  # noqa: BLE001 - the queue's own visibility timeout still brings it back
        log.warning("could not shorten the retry delay", extra={"sqs_message_id": raw.get("messageId")})


@functools.lru_cache(maxsize=32)
def _queue_url(arn: str) -> str:
    from hospital.aws import client

    _, _, _, _, account, name = arn.split(":", 5)
    return client("sqs").get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
