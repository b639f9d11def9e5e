"""SQS consumers: one record at a time, partial batch failures reported to Lambda.

Only the records that failed come back to the queue (ReportBatchItemFailures); after
maxReceiveCount they move to the DLQ. A failed record is made visible again after a short,
growing delay instead of the queue's whole visibility timeout: these are emergencies.
Each record runs with the correlation id it carries.

A queue's consumer is a `Consumer`: the message classes it handles, each with its handler.
It decodes the body into the declared class (hospital.messages); a type it does not handle
is logged and acknowledged, here and nowhere else; data that does not fit a known type fails
the record, which comes back and ends in the DLQ.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from hospital import messages, settings
from hospital.observability import CORRELATION_ATTRIBUTE, bind_correlation_id, reset_correlation_id

log = logging.getLogger("hospital.messaging")


@dataclasses.dataclass(frozen=True)
class Delivery:
    """What the queue says about one delivery of a message."""
    message_id: str | None  # the outbox row id: the same on every resend
    receive_count: int


class Consumer:
    """One queue's consumer: `process_batch(records, consumer)`."""

    def __init__(self, queue: str,
                 handlers: Mapping[type[messages.Message], Callable[[Any, Delivery], None]]):
        strays = [cls.__name__ for cls in handlers if queue != cls.QUEUE]
        if strays:
            raise ValueError(f"the {queue} consumer cannot handle messages of other queues: {strays}")
        self.queue = queue
        self.handlers = dict(handlers)

    @property
    def handles(self) -> frozenset[type[messages.Message]]:
        return frozenset(self.handlers)

    def __call__(self, body, record: dict) -> None:
        try:
            message = messages.decode(body)
        except messages.UnknownMessage:
            message = None
        handler = None if message is None else self.handlers.get(type(message))
        if handler is None:  # not ours (a declared type of another queue counts as unknown too)
            log.warning("ignored message of unknown type",
                        extra={"message_type": body.get("type"), "queue": self.queue})
            return
        receives = int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))
        handler(message, Delivery(body.get("message_id"), receives))


# How long a batch may hold the messages its records published before relaying them (they
# are relayed together at the batch's end, unless a slow record makes them wait this long).
HOLD_SECONDS = 2.0


def process_batch(records, handle: Callable[[dict, dict], None]) -> dict:
    """`records`: a Chalice SQSEvent or the raw Lambda event's Records list.
    `handle(body, record)` (a Consumer) gets the JSON body and the raw record."""
    from hospital.unit_of_work import relayed_together

    with relayed_together() as held:
        return _process_each(records, handle, held)


def _process_each(records, handle: Callable[[dict, dict], None], held) -> dict:
    failures = []
    for record in records:
        held.relay_if_held_for(HOLD_SECONDS)
        raw = record.to_dict() if hasattr(record, "to_dict") else record
        attrs = raw.get("messageAttributes") or {}
        token = bind_correlation_id((attrs.get(CORRELATION_ATTRIBUTE) or {}).get("stringValue"))
        try:
            handle(json.loads(raw["body"]), raw)
        except Exception:  # any failure returns just this record to the queue
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

    base = settings.SQS_RETRY_BASE_SECONDS.get()
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
