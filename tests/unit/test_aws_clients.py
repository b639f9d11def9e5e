"""The container's SDK clients: one per service and profile, all from one SDK session."""
from __future__ import annotations

import threading

import pytest

from hospital import aws


@pytest.fixture(autouse=True)
def _fresh_clients(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never called here
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws.reset_clients()
    yield
    aws.reset_clients()


def test_clients_of_different_services_share_one_session_and_each_is_made_once():
    sqs, kms = aws.client("sqs"), aws.client("kms")

    assert sqs is aws.client("sqs") and kms is aws.client("kms")
    assert sqs.meta.service_model.service_name == "sqs" and kms.meta.service_model.service_name == "kms"
    assert aws._session is not None
    assert sqs._loader is kms._loader  # the session's loader: service data read once for both


def test_clients_made_at_once_from_many_threads_are_all_whole():
    services = ["sqs", "kms", "secretsmanager", "sqs", "kms", "secretsmanager", "sns", "sts"]
    made: dict[int, object] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(len(services))

    def make(n: int, service: str) -> None:
        start.wait()
        try:
            made[n] = aws.new_client(service, config={"retries": {"max_attempts": 1}})
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=make, args=(n, s)) for n, s in enumerate(services)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert [made[n].meta.service_model.service_name for n in range(len(services))] == services


def test_reset_forgets_the_session_with_the_clients():
    old_client, old_session = aws.client("sqs"), aws._session

    aws.reset_clients()

    assert aws._session is None
    assert aws.client("sqs") is not old_client and aws._session is not old_session
