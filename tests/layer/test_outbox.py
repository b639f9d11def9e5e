"""Transactional outbox: relayed after commit, recorded as sent in the next unit of work's
commit, swept when the relay did not happen, never sent by two relays at once, nothing
published when the transaction rolls back."""
import concurrent.futures
import contextlib
import dataclasses
import datetime as dt
import json

import pytest
import sqlalchemy as sa

from hospital import outbox
from hospital.db import engine, tables
from hospital.messages import Message
from hospital.timeutil import utcnow
from hospital.unit_of_work import unit_of_work
from tests.db_costs import counted


@dataclasses.dataclass(frozen=True)
class Probe(Message):
    """The tests' own message, on a real queue (not declared: no consumer reads it)."""
    QUEUE = "rescue-events"
    TYPE = "test.event"
    n: int


def drain(platform, queue="RescueEventsQueue"):
    sqs = platform.sqs()
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=platform.queue_url(queue), MaxNumberOfMessages=10,
                                  MessageAttributeNames=["All"], WaitTimeSeconds=0)
        messages = got.get("Messages", [])
        if not messages:
            return bodies
        for m in messages:
            bodies.append((json.loads(m["Body"]), m.get("MessageAttributes", {})))
            sqs.delete_message(QueueUrl=platform.queue_url(queue), ReceiptHandle=m["ReceiptHandle"])


def row(message_id):
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.outbox).where(tables.outbox.c.id == message_id)).one()


@pytest.fixture
def queue(platform, db):
    drain(platform)
    yield
    drain(platform)


def test_published_message_is_relayed_after_commit_with_its_correlation_id(platform, queue):
    from hospital.observability import bind_correlation_id, reset_correlation_id

    token = bind_correlation_id("corr-outbox-1")
    try:
        with unit_of_work() as uow:
            message_id = uow.publish(Probe(n=1))
    finally:
        reset_correlation_id(token)
    relayed_by = utcnow()
    sent = drain(platform)  # on the queue when the unit of work returns: the relay is synchronous
    assert [b["message_id"] for b, _ in sent] == [str(message_id)]
    assert sent[0][0]["data"] == {"n": 1}
    assert sent[0][1]["correlation_id"]["StringValue"] == "corr-outbox-1"
    # Recorded as sent by the container's next unit of work, inside its one commit, with the
    # time of the send (not of the record).
    assert row(message_id).sent_at is None
    assert message_id in outbox.owed_marks()
    with counted() as costs, unit_of_work():
        pass
    assert costs.writing_commits == 1 and costs.writes == ["UPDATE outbox SET"], str(costs)
    stored = row(message_id)
    assert stored.created_at <= stored.sent_at <= relayed_by
    assert stored.attempts == 1
    assert message_id not in outbox.owed_marks()


def test_rolled_back_transaction_publishes_nothing(platform, queue):
    before = _count()
    with pytest.raises(RuntimeError), unit_of_work() as uow:
        uow.publish(Probe(n=2))
        raise RuntimeError("business rule failed")
    assert _count() == before
    assert drain(platform) == []


def test_failed_relay_leaves_the_row_and_the_sweeper_sends_it(platform, queue, monkeypatch):
    monkeypatch.setenv("RESCUE_EVENTS_QUEUE_URL", platform.queue_url("RescueEventsQueue") + "-missing")
    with unit_of_work() as uow:
        message_id = uow.publish(Probe(n=3))
    stuck = row(message_id)
    assert stuck.sent_at is None
    assert stuck.last_error
    assert stuck.claimed_until is None
    monkeypatch.undo()
    assert outbox.sweep(grace=dt.timedelta(0)) >= 1
    assert [b["data"] for b, _ in drain(platform)] == [{"n": 3}]
    assert row(message_id).sent_at is not None


def test_concurrent_relays_send_a_message_once(platform, queue):
    with engine().begin() as conn:
        message_id = outbox.add(conn, "rescue-events", "test.event", {"n": 4}).id
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        sent = sum(pool.map(lambda _: outbox.relay([message_id]), range(6)))
    assert sent == 1
    assert len(drain(platform)) == 1


def test_unknown_destination_is_a_programming_error():
    with pytest.raises(ValueError):
        outbox.add(None, "nowhere", "x", {})


def _count():
    with engine().connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(tables.outbox)).scalar_one()


def test_past_the_limit_the_owed_marks_are_written_in_a_transaction_of_their_own(platform, queue, monkeypatch):
    monkeypatch.setattr(outbox, "OWED_LIMIT", 2)
    with unit_of_work() as uow:
        ids = [uow.publish(Probe(n=n)) for n in range(3)]
    assert len(drain(platform)) == 3
    assert not set(ids) & set(outbox.owed_marks())
    assert all(row(i).sent_at is not None for i in ids)


def test_concurrent_units_of_work_record_every_send_once_and_lose_none(platform, queue):
    """Threads of one process (the local runtime) share the owed marks: each is written by
    one transaction, none twice, none lost, and no two wait on each other for them."""
    def publish(n: int) -> int:
        with unit_of_work() as uow:
            return uow.publish(Probe(n=n))

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(publish, range(40)))
    with unit_of_work():  # the last ones' marks
        pass
    assert sorted(int(b["message_id"]) for b, _ in drain(platform)) == sorted(ids)  # each sent once
    assert not set(ids) & set(outbox.owed_marks())
    with engine().connect() as conn:
        unsent = conn.execute(sa.select(sa.func.count()).select_from(tables.outbox).where(
            tables.outbox.c.id.in_(ids), tables.outbox.c.sent_at.is_(None))).scalar_one()
    assert unsent == 0


@contextlib.contextmanager
def calls_of(*operations: str):
    """The parameters of each SQS call of these operations our relay's client makes meanwhile."""
    from hospital.aws import client

    events, seen = client("sqs", "fast").meta.events, {operation: [] for operation in operations}
    hooks = {operation: (lambda params, operation=operation, **_: seen[operation].append(dict(params)))
             for operation in operations}
    for operation, hook in hooks.items():
        events.register(f"before-parameter-build.sqs.{operation}", hook)
    try:
        yield seen
    finally:
        for operation, hook in hooks.items():
            events.unregister(f"before-parameter-build.sqs.{operation}", hook)


def test_messages_of_one_commit_for_one_queue_go_in_one_batch_call(platform, queue):
    with calls_of("SendMessageBatch", "SendMessage") as calls, unit_of_work() as uow:
        ids = [uow.publish(Probe(n=n)) for n in range(12)]
    assert [len(call["Entries"]) for call in calls["SendMessageBatch"]] == [10, 2]  # ten at most per call
    assert calls["SendMessage"] == []
    assert sorted(int(body["message_id"]) for body, _ in drain(platform)) == sorted(ids)
    assert set(outbox.owed_marks()) >= set(ids)  # all sent, their marks owed


def test_an_entry_the_batch_refuses_stays_unsent_for_the_sweeper_and_the_others_are_sent(platform, queue):
    from hospital.aws import client

    refused: list[int] = []

    def refuse_the_first(params, **_):
        refused.append(int(params["Entries"][0]["Id"]))
        params["Entries"] = params["Entries"][1:]  # the queue never sees it

    events = client("sqs", "fast").meta.events
    events.register_first("before-parameter-build.sqs.SendMessageBatch", refuse_the_first)
    try:
        with unit_of_work() as uow:
            ids = [uow.publish(Probe(n=n)) for n in range(3)]
    finally:
        events.unregister("before-parameter-build.sqs.SendMessageBatch", refuse_the_first)
    assert refused == [ids[0]]
    assert sorted(int(body["message_id"]) for body, _ in drain(platform)) == ids[1:]
    assert ids[0] not in outbox.owed_marks()
    assert row(ids[0]).sent_at is None
    assert set(ids[1:]) <= set(outbox.owed_marks())
