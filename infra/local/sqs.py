"""SQS event source mappings: one poller thread per SQS event of a function.

Like Lambda's poller: receive a batch, invoke with an `aws:sqs` event, delete what
succeeded. A message that is not deleted comes back after the queue's visibility timeout,
and SQS itself moves it to the DLQ after maxReceiveCount receives (moto does that too).

Receives are long polls. On the embedded endpoint they last 20 s, as Lambda's: an idle poller
costs one request per 20 s, not one a second (25 pollers polling each second took a tenth of
the runtime's CPU), and stopping the endpoint ends them at once. On an endpoint the runtime
did not start (LocalStack, a test's moto), nothing can end a poll early, so they last
SHORT_POLL_SECONDS: the runtime's stop waits for them to end, and no poller outlives its
runtime to take the next one's messages. Stopping first waits for a batch being handled
(`quiesce`); a receive that still returns messages after the stop hands them back to the queue
at once (visibility 0) instead of running them.
"""
from __future__ import annotations

import base64
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from .aws import AwsEndpoint
from .functions import FunctionHost, log_line
from .template import SqsEvent

LONG_POLL_SECONDS = 20  # SQS's longest; what Lambda's pollers use
SHORT_POLL_SECONDS = 2


def lambda_record(msg: dict, queue_arn: str, region: str) -> dict:
    """One ReceiveMessage message -> one record of Lambda's SQS event."""
    attributes = dict(msg.get("Attributes") or {})
    message_attributes = {}
    for name, a in (msg.get("MessageAttributes") or {}).items():
        out: dict[str, Any] = {}
        if "StringValue" in a:
            out["stringValue"] = a["StringValue"]
        if "BinaryValue" in a:
            out["binaryValue"] = base64.b64encode(a["BinaryValue"]).decode("ascii")
        out["stringListValues"] = list(a.get("StringListValues") or [])
        out["binaryListValues"] = [base64.b64encode(b).decode("ascii") for b in a.get("BinaryListValues") or []]
        out["dataType"] = a.get("DataType", "String")
        message_attributes[name] = out
    record = {
        "messageId": msg["MessageId"],
        "receiptHandle": msg["ReceiptHandle"],
        "body": msg.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": msg.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in msg:
        record["md5OfMessageAttributes"] = msg["MD5OfMessageAttributes"]
    return record


@dataclass
class BatchOutcome:
    delete: list[dict]      # records to delete
    failed: list[str]       # messageIds left on the queue
    outcome: str            # ok | partial | error
    detail: dict


def decide(records: list[dict], result: Any, report_failures: bool) -> BatchOutcome:
    """Which records to delete after the handler returned `result` (Lambda's rules)."""
    ids = [r["messageId"] for r in records]
    failures = result.get("batchItemFailures") if isinstance(result, dict) else None
    n = len(records)
    if not failures:
        # None, {}, {"batchItemFailures": []} or [] all mean "every message succeeded".
        return BatchOutcome(records, [], "ok", {"batch": n, "failed": 0})
    if not report_failures:
        # Real Lambda ignores the response and deletes everything. We keep the batch so the
        # mistake (failures reported without ReportBatchItemFailures) is visible locally.
        return BatchOutcome([], ids, "error", {
            "batch": n, "failed": n,
            "error": "handler returned batchItemFailures but the event has no "
                     "FunctionResponseTypes: [ReportBatchItemFailures]; AWS would delete the whole batch"})
    failed = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures]
    if any(not f or f not in ids for f in failed):
        # An empty or unknown itemIdentifier makes Lambda treat the whole batch as failed.
        return BatchOutcome([], ids, "error", {"batch": n, "failed": n,
                                               "error": f"invalid batchItemFailures {failures!r}"})
    failed_set = set(failed)
    return BatchOutcome([r for r in records if r["messageId"] not in failed_set], sorted(failed_set),
                        "partial", {"batch": n, "failed": len(failed_set)})


class SqsPoller:
    def __init__(self, host: FunctionHost, function: str, source: SqsEvent, queue_url: str,
                 endpoint: AwsEndpoint, stop: threading.Event) -> None:
        self.host, self.function, self.source = host, function, source
        self.queue_url = queue_url
        self.endpoint = endpoint
        self.poll_seconds = LONG_POLL_SECONDS if endpoint.embedded else SHORT_POLL_SECONDS
        self.stop_event = stop
        self._handling = threading.Lock()   # held while a batch is handed to the function
        self.thread = threading.Thread(target=self._run, name=f"local-sqs-{function}-{source.name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def quiesce(self, timeout: float = 60) -> None:
        """After the stop event: wait for a batch being handled; none is handed on after this."""
        if self._handling.acquire(timeout=timeout):
            self._handling.release()

    def join(self, timeout: float = 10) -> None:
        self.thread.join(timeout)

    def _run(self) -> None:
        # One attempt per call: the loop below retries, and after a stop a call to an endpoint
        # that is gone fails at once instead of backing off.
        sqs = self.endpoint.client("sqs", retries={"total_max_attempts": 1})
        try:
            while not self.stop_event.is_set():
                try:
                    messages = self._receive_batch(sqs)
                    with self._handling:
                        if messages and self.stop_event.is_set():
                            self._hand_back(sqs, messages)
                        elif messages:
                            self._process(sqs, messages)
                except Exception as exc:  # noqa: BLE001 - keep polling, like Lambda does
                    if self.stop_event.is_set():
                        break
                    log_line({"function": self.function, "trigger": "sqs", "outcome": "poll_error",
                              "queue": self.source.queue_arn, "error": f"{type(exc).__name__}: {exc}"})
                    self.stop_event.wait(2)
        finally:
            sqs.close()   # lets the endpoint's keep-alive handler thread end

    def _receive_batch(self, sqs) -> list[dict]:
        batch: list[dict] = []
        deadline = time.monotonic() + self.source.maximum_batching_window
        while not self.stop_event.is_set() and len(batch) < self.source.batch_size:
            # Once a batch has begun, poll no longer than its window has left.
            wait = self.poll_seconds if not batch else min(self.poll_seconds,
                                                           math.ceil(max(0.0, deadline - time.monotonic())))
            resp = sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(self.source.batch_size - len(batch), 10),
                WaitTimeSeconds=wait,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            batch.extend(resp.get("Messages", []))
            if not batch:
                if self.source.maximum_batching_window == 0:
                    break
                # The batching window starts with the first message, as on Lambda.
                deadline = time.monotonic() + self.source.maximum_batching_window
            elif time.monotonic() >= deadline:
                break   # without a window this is right after the first non-empty receive
        return batch

    def _hand_back(self, sqs, messages: list[dict]) -> None:
        for i in range(0, len(messages), 10):
            sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for n, m in enumerate(messages[i:i + 10])])

    def _process(self, sqs, messages: list[dict]) -> None:
        records = [lambda_record(m, self.source.queue_arn, self.endpoint.region) for m in messages]
        decision: dict[str, BatchOutcome] = {}

        def classify(result: Any) -> tuple[str, dict]:
            decision["d"] = decide(records, result, self.source.report_batch_item_failures)
            return decision["d"].outcome, decision["d"].detail

        inv = self.host.invoke(self.function, {"Records": records}, trigger="sqs", classify=classify,
                               error_detail={"batch": len(records), "failed": len(records)})
        if not inv.ok:
            return   # delete nothing: the batch comes back after the visibility timeout
        to_delete = decision["d"].delete
        for i in range(0, len(to_delete), 10):
            chunk = to_delete[i:i + 10]
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(n), "ReceiptHandle": r["receiptHandle"]} for n, r in enumerate(chunk)],
            )
