"""SQS event source: partial batch failures, visibility timeout, redrive to the DLQ."""
from __future__ import annotations

import json

import pytest

from infra.local.sqs import decide
from tests.conftest import wait_for


def _wait(predicate, timeout: float, interval: float = 0.2):
    return wait_for(predicate, timeout, interval)  # slower default: each poll may receive from the queue


def test_moto_honours_redrive_policy(runtime):
    """The runtime relies on SQS (moto) itself moving messages to the DLQ."""
    sqs = runtime.endpoint.client("sqs")
    dlq = sqs.create_queue(QueueName="redrive-check-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    src = sqs.create_queue(QueueName="redrive-check", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})})["QueueUrl"]
    sqs.send_message(QueueUrl=src, MessageBody="poison")
    first = sqs.receive_message(QueueUrl=src)["Messages"][0]
    sqs.change_message_visibility(QueueUrl=src, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    assert "Messages" not in sqs.receive_message(QueueUrl=src)   # 2nd receive moves it instead
    moved = sqs.receive_message(QueueUrl=dlq)["Messages"][0]
    assert moved["Body"] == "poison"


def test_partial_batch_failure_and_redrive(runtime, fixture_repo):
    sqs = runtime.endpoint.client("sqs")
    queue = runtime.model.queues["WorkQueue"]
    dlq = runtime.model.queues["WorkDLQ"]
    seen_file = fixture_repo / "functions/worker/seen.jsonl"
    sqs.send_message_batch(QueueUrl=queue.url, Entries=[
        {"Id": "1", "MessageBody": "ok-1", "MessageAttributes": {
            "kind": {"DataType": "String", "StringValue": "greeting"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x01\x02"}}},
        {"Id": "2", "MessageBody": "fail"},
        {"Id": "3", "MessageBody": "ok-2"},
    ])

    # VisibilityTimeout 1 s, maxReceiveCount 2: "fail" is delivered twice, then SQS moves it.
    def dlq_message():
        msgs = sqs.receive_message(QueueUrl=dlq.url, WaitTimeSeconds=1).get("Messages", [])
        return msgs[0] if msgs else None

    moved = _wait(dlq_message, timeout=20, interval=0)
    assert moved["Body"] == "fail"

    records = [json.loads(line) for line in seen_file.read_text().splitlines()]
    bodies = [r["body"] for r in records]
    assert bodies.count("ok-1") == 1
    assert bodies.count("ok-2") == 1                                 # deleted after success
    fail_counts = [r["attributes"]["ApproximateReceiveCount"] for r in records if r["body"] == "fail"]
    assert fail_counts == ["1", "2"]                                 # redelivered after the timeout

    attrs = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"

    # Lambda's SQS record shape
    rec = next(r for r in records if r["body"] == "ok-1")
    assert set(rec) >= {"messageId", "receiptHandle", "body", "attributes", "messageAttributes",
                        "md5OfBody", "eventSource", "eventSourceARN", "awsRegion"}
    assert rec["eventSource"] == "aws:sqs"
    assert rec["eventSourceARN"] == queue.arn
    assert rec["awsRegion"] == "us-east-1"
    assert set(rec["attributes"]) >= {"ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                      "ApproximateFirstReceiveTimestamp"}
    assert rec["messageAttributes"]["kind"] == {"stringValue": "greeting", "stringListValues": [],
                                                "binaryListValues": [], "dataType": "String"}
    assert rec["messageAttributes"]["blob"]["binaryValue"] == "AQI="
    assert rec["messageAttributes"]["blob"]["dataType"] == "Binary"


RECORDS = [{"messageId": "a", "receiptHandle": "ra"}, {"messageId": "b", "receiptHandle": "rb"}]


@pytest.mark.parametrize("result", [None, {}, {"batchItemFailures": []}, "anything"])
def test_decide_success_deletes_all(result):
    d = decide(RECORDS, result, report_failures=True)
    assert d.outcome == "ok"
    assert d.delete == RECORDS


def test_decide_partial_and_invalid():
    d = decide(RECORDS, {"batchItemFailures": [{"itemIdentifier": "b"}]}, report_failures=True)
    assert (d.outcome, [r["messageId"] for r in d.delete], d.failed) == ("partial", ["a"], ["b"])
    for bad in ([{"itemIdentifier": "zzz"}], [{"itemIdentifier": ""}], [{}]):
        d = decide(RECORDS, {"batchItemFailures": bad}, report_failures=True)
        assert d.outcome == "error"
        assert d.delete == []
    # failures reported without ReportBatchItemFailures configured: keep the whole batch
    d = decide(RECORDS, {"batchItemFailures": [{"itemIdentifier": "b"}]}, report_failures=False)
    assert d.outcome == "error"
    assert d.delete == []


def test_a_poller_stopped_mid_long_poll_hands_what_it_then_receives_back_at_once(runtime):
    """Stopping does not wait out a 20 s long poll; what that poll still brings in is not run
    (the functions are going) but made visible again for the next poller, not hidden for the
    queue's visibility timeout."""
    import threading
    import time

    from infra.local.sqs import SqsPoller
    from infra.local.template import SqsEvent

    class NoHost:
        def __init__(self) -> None:
            self.invoked: list = []

        def invoke(self, *args, **kwargs):
            self.invoked.append(args)

    sqs = runtime.endpoint.client("sqs")
    url = sqs.create_queue(QueueName="stopped-poller", Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stop, host = threading.Event(), NoHost()
    poller = SqsPoller(host, "Nobody", SqsEvent("Src", None, arn), url, runtime.endpoint, stop)
    poller.start()
    time.sleep(1)   # its first receive is on the wire, waiting for up to 20 s
    stop.set()
    poller.quiesce(timeout=1)   # returns at once: no batch in hand, the long poll still waits
    assert poller.thread.is_alive()

    sqs.send_message(QueueUrl=url, MessageBody="after the stop")
    poller.join(timeout=25)
    assert not poller.thread.is_alive()
    assert host.invoked == []
    again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2, AttributeNames=["All"]).get("Messages", [])
    assert [m["Body"] for m in again] == ["after the stop"]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"   # the stopped poller's receive, handed back


def test_the_embedded_moto_keeps_a_message_for_its_queues_retention_period_and_no_longer(monkeypatch):
    """moto_process replaces moto's retention check of each message received (it built every
    attribute of the queue, counting all its messages, to read one) with a read of the queue's
    period: the same answers, within the period and past it."""
    from moto import mock_aws
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sqs.models import SQSBackend, sqs_backends

    from infra.local import moto_process

    check = "is_message_valid_based_on_retention_period"
    original = getattr(SQSBackend, check)
    monkeypatch.setattr(SQSBackend, check, original)  # moto's own again after the test
    moto_process._plain_retention_check()
    plain = getattr(SQSBackend, check)
    assert plain is not original
    with mock_aws():  # moto's state, in this process, for this test only
        backend = sqs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        backend.create_queue("retention-check", MessageRetentionPeriod="60")
        messages = {body: backend.send_message("retention-check", body) for body in ("old", "fresh")}
        messages["old"].sent_timestamp -= 61_000  # sent 61 s ago: past the period
        answers = {body: plain(backend, "retention-check", m) for body, m in messages.items()}
        assert answers == {body: original(backend, "retention-check", m) for body, m in messages.items()}
        assert answers == {"old": False, "fresh": True}
