"""The depth of each dead-letter queue as the DeadLetterQueueDepth metric, published by a
scheduled function that runs every minute anyway (the outbox sweeper): a message in one is
work that failed every try, of a patient or a payment, and waits for a person.

One GetQueueAttributes per queue with the "fast" client profile (one attempt, short timeouts);
a queue that cannot be read is logged and left out, never failing the caller's own work.
"""
from __future__ import annotations

import logging

from hospital import settings

log = logging.getLogger("hospital.queue_depths")

# The metric's `queue` dimension: the queue whose failures each one holds.
DEAD_LETTER_QUEUES = {
    "rescue-events": settings.RESCUE_EVENTS_DLQ_URL,
    "triage": settings.TRIAGE_DLQ_URL,
    "notifications": settings.NOTIFICATIONS_DLQ_URL,
    "payment-events": settings.PAYMENT_EVENTS_DLQ_URL,
    "refunds": settings.REFUNDS_DLQ_URL,
    "outpatient-events": settings.OUTPATIENT_EVENTS_DLQ_URL,
}


def publish_dead_letter_depths() -> dict[str, int | None]:
    """Entry: read and publish every dead-letter queue's depth; returns queue -> depth (None:
    not read this time)."""
    from hospital import aws, metrics

    depths: dict[str, int | None] = {}
    for queue, setting in DEAD_LETTER_QUEUES.items():
        try:
            answer = aws.client("sqs", "fast").get_queue_attributes(
                QueueUrl=setting.get(), AttributeNames=["ApproximateNumberOfMessages"])
            depth = int(answer["Attributes"]["ApproximateNumberOfMessages"])
        except Exception as exc:  # noqa: BLE001 - a depth missed this minute is read the next
            log.warning("dead-letter queue depth not read", extra={"queue": queue, "error": type(exc).__name__})
            depths[queue] = None
            continue
        depths[queue] = depth
        metrics.dead_letter_depth(queue, depth)
    return depths
