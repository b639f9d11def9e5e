"""Health for a monitor (GET /health): with everything up, 200 and every check with its
latency; with the database or a queue gone, 503 naming which, and never a URL, an ARN or a
secret in the answer; a flood of probes costs the dependencies one check per few seconds."""
import json

from hospital import health
from tests.conftest import api_event, call


def probe(functions):
    health.forget()
    return call(functions, "HealthFunction", api_event("GET", "/health"))


def test_everything_up_is_200_with_each_check_and_its_latency(db, platform, functions):
    status, answer = probe(functions)
    assert status == 200 and answer["status"] == "ok"
    assert set(answer["checks"]) == {"database", "queues", "personal_data_key", "session_secret"}
    assert all(c["ok"] and c["latency_ms"] >= 0 for c in answer["checks"].values())


def test_a_dependency_gone_is_503_naming_it_and_nothing_secret(db, platform, functions, monkeypatch):
    monkeypatch.setenv("REFUNDS_QUEUE_URL", "http://127.0.0.1:9/000000000000/gone-queue")
    status, answer = probe(functions)
    assert status == 503 and answer["status"] == "failing"
    assert answer["checks"]["queues"]["ok"] is False and answer["checks"]["database"]["ok"] is True
    text = json.dumps(answer)
    assert "gone-queue" not in text and "arn:" not in text and "127.0.0.1" not in text


def test_probes_within_seconds_share_one_check(db, platform, functions, monkeypatch):
    health.forget()
    calls = []
    monkeypatch.setitem(health.CHECKS, "database", lambda: calls.append(1))
    for _ in range(5):
        assert call(functions, "HealthFunction", api_event("GET", "/health"))[0] == 200
    assert len(calls) == 1
