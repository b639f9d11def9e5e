"""What keeps an alert from being lost or doubled: concurrent duplicate deliveries, the
watchdog for cases whose event was lost, a quick retry of failed records (ER3, NF2)."""
import concurrent.futures
import datetime as dt
import json
import time
import uuid

import sqlalchemy as sa

from hospital.db import engine, tables, transaction
from hospital.rescue import alerts
from hospital.timeutil import utcnow
from tests.conftest import ROOT, api_event, call, make_patient

SCHEDULED = json.loads((ROOT / "events/rescue_watchdog/every_minute.json").read_text())

LOCATION = {"latitude": 22.5431, "longitude": 114.0579, "coord_system": "gcj02"}


def new_case(functions, token, **headers):
    status, case = call(functions, "RescueApiFunction",
                        api_event("POST", "/rescue/cases", body={"location": LOCATION}, token=token, headers=headers))
    assert status in (200, 201), case
    return case["case_id"]


def nodes(case_id):
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.rescue_events.c.node).where(tables.rescue_events.c.case_id == case_id)
                            .order_by(tables.rescue_events.c.id)).scalars().all()


def test_concurrent_duplicate_deliveries_record_alerted_once_without_deadlock_ER3(mysql_db, platform, functions):
    _, token = make_patient(platform)
    case_id = new_case(functions, token)

    def deliver(n):  # each delivery records in a transaction of its own, as a consumer does
        with transaction() as conn:
            return alerts.record_alerted(conn, case_id, "ed_console", {"delivery": n})

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        results = list(pool.map(deliver, range(6)))
    assert sorted(results) == [False] * 5 + [True]
    assert nodes(case_id) == ["call_received", "alerted"]


def test_watchdog_republishes_a_case_whose_event_was_lost_and_alerting_stays_single_ER3(db, platform, functions):
    _, token = make_patient(platform)
    case_id = new_case(functions, token)
    with engine().begin() as conn:  # as if its message had been dead-lettered three minutes ago
        conn.execute(tables.rescue_cases.update().where(tables.rescue_cases.c.id == case_id)
                     .values(created_at=utcnow() - dt.timedelta(minutes=3)))
    result = functions.invoke("RescueWatchdogFunction", SCHEDULED)
    assert case_id in result.result["republished"]
    sqs, url = platform.sqs(), platform.queue_url("RescueEventsQueue")
    delivered = []
    for _ in range(500):  # other tests' events share the queue: drain until it is empty
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                  MessageAttributeNames=["All"], WaitTimeSeconds=0).get("Messages", [])
        for m in got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            if json.loads(m["Body"])["data"]["case_id"] == case_id:
                delivered.append(m)
        if not got:
            break
    assert delivered, "the republished event is on the queue"
    event = {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                          "attributes": m.get("Attributes", {}), "messageAttributes": {},
                          "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:hospital-dev-rescue-events"}
                         for m in delivered]}
    for _ in range(2):  # the original and the republished event both arrive
        assert functions.invoke("RescueEventsFunction", event).result == {"batchItemFailures": []}
    assert nodes(case_id) == ["call_received", "alerted"]
    again = functions.invoke("RescueWatchdogFunction", SCHEDULED)
    assert case_id not in again.result["republished"]


def test_a_failed_record_comes_back_in_seconds_not_after_the_visibility_timeout_ER3(
        db, platform, functions, monkeypatch):
    monkeypatch.setenv("SQS_RETRY_BASE_SECONDS", "1")
    sqs, url = platform.sqs(), platform.queue_url("RescueEventsQueue")
    marker = uuid.uuid4().hex
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(
        {"message_id": marker, "type": "rescue.case_created", "data": {"case_id": uuid.uuid4().hex}}))
    received = None
    for _ in range(20):
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", []):
            if marker in m["Body"]:
                received = m
            else:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if received:
            break
    record = {"messageId": received["MessageId"], "receiptHandle": received["ReceiptHandle"], "body": received["Body"],
              "attributes": received["Attributes"], "messageAttributes": {},
              "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:hospital-dev-rescue-events"}
    result = functions.invoke("RescueEventsFunction", {"Records": [record]})
    assert result.result == {"batchItemFailures": [{"itemIdentifier": received["MessageId"]}]}  # unknown case
    time.sleep(1.5)  # the queue's own visibility timeout is 180 s
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
    assert any(marker in m["Body"] for m in again)
    for m in again:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def test_idempotency_keys_are_case_sensitive_on_every_database_ER1(db, platform, functions):
    _, token = make_patient(platform)
    upper = new_case(functions, token, **{"Idempotency-Key": "MyKey-0001"})
    lower = new_case(functions, token, **{"Idempotency-Key": "mykey-0001"})
    assert upper != lower
