"""The dead-letter queues' depths as metrics: one cheap read per queue, and a queue that cannot
be read is skipped, never failing the sweep that publishes them."""
import json
import logging

import pytest

from hospital import observability, queue_depths


class FakeSqs:
    def __init__(self, depths: dict[str, object]):
        self.depths, self.asked = depths, []

    def get_queue_attributes(self, QueueUrl, AttributeNames):
        self.asked.append((QueueUrl, tuple(AttributeNames)))
        depth = self.depths[QueueUrl]
        if isinstance(depth, Exception):
            raise depth
        return {"Attributes": {"ApproximateNumberOfMessages": str(depth)}}


@pytest.fixture
def queues(monkeypatch):
    urls = {}
    for queue, setting in queue_depths.DEAD_LETTER_QUEUES.items():
        urls[queue] = f"http://sqs.local/123/hospital-dev-{queue}-dlq"
        monkeypatch.setenv(setting.name, urls[queue])
    token = observability.bind_function("outbox_sweeper")
    yield urls
    observability.reset_function(token)


def test_every_dead_letter_queue_depth_is_published_and_a_failed_read_skips_only_its_queue(
        queues, monkeypatch, capsys, caplog):
    from hospital import aws

    answers = {url: 0 for url in queues.values()}
    answers[queues["notifications"]] = 2
    answers[queues["triage"]] = ConnectionError("endpoint unreachable")
    sqs = FakeSqs(answers)
    profiles = []
    monkeypatch.setattr(aws, "client", lambda service, profile="default": profiles.append((service, profile)) or sqs)
    with caplog.at_level(logging.WARNING, logger="hospital.queue_depths"):
        depths = queue_depths.publish_dead_letter_depths()
    assert depths == {**dict.fromkeys(queues, 0), "notifications": 2, "triage": None}
    assert {profile for _, profile in profiles} == {"fast"}  # one attempt, short timeouts: cheap
    assert {names for _, names in sqs.asked} == {("ApproximateNumberOfMessages",)}
    published = {line["queue"]: line["DeadLetterQueueDepth"]
                 for line in map(json.loads, capsys.readouterr().out.splitlines())}
    assert published == {queue: depth for queue, depth in depths.items() if depth is not None}
    [warning] = [r for r in caplog.records if r.name == "hospital.queue_depths"]
    assert (warning.queue, warning.error) == ("triage", "ConnectionError")

