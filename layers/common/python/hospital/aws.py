"""AWS clients, one per service per container, honouring AWS_ENDPOINT_URL.

The clients are botocore's, made without boto3: they are the very clients boto3 hands out,
but `import boto3` also loads s3transfer and its resource layer, which no function uses and
which cost a cold start about a third of the SDK's import time.

The SDK reads AWS_ENDPOINT_URL itself (botocore 1.31+); we pass it explicitly as well so the
behaviour does not depend on the SDK version shipped in the Lambda runtime.
"""
from __future__ import annotations

import functools
import logging
import os
import threading

_lock = threading.Lock()
_creating = threading.Lock()
_session = None  # the SDK session clients are made from, with the credentials it resolved
# At DEBUG the SDK logs whole requests and answers: a GetSecretValue answer is the secret.
for _sdk_logger in ("botocore", "boto3"):
    logging.getLogger(_sdk_logger).setLevel(logging.WARNING)


# "fast": one attempt, short timeouts, for calls made while a caller waits and which have a
# backstop (the outbox relay: the sweeper resends). Otherwise the SDK's standard retries.
_PROFILES = {
    "default": {"connect_timeout": 2, "read_timeout": 5, "retries": {"max_attempts": 3, "mode": "standard"}},
    "fast": {"connect_timeout": 1, "read_timeout": 2, "retries": {"max_attempts": 1, "mode": "standard"}},
}


# Connections a client keeps open. A Lambda container makes one call at a time, but a
# process serving many invocations at once (the local runtime, a test) shares one client
# between them: with the SDK's default of 10, the eleventh concurrent call opens a connection
# that is thrown away afterwards, and over TLS each new connection costs a handshake and a
# load of the whole CA bundle (about 10 ms of CPU).
POOLED_CONNECTIONS = 64


def new_client(service: str, *, config: dict, endpoint_url: str | None = None, region_name: str | None = None):
    """A client of its own (callers cache it), made from the container's one SDK session: the
    session loads the endpoint rules, partitions and service list once for every client (about
    25 ms of a cold start per further client). Creating clients from a session is not
    thread-safe, so creation is serialised; the clients themselves are."""
    from botocore.config import Config

    with _creating:
        return _shared_session().create_client(
            service, endpoint_url=endpoint_url, region_name=region_name,
            config=Config(**{"max_pool_connections": POOLED_CONNECTIONS, **config}))


def _shared_session():
    global _session
    if _session is None:
        import botocore.session

        _session = botocore.session.get_session()
    return _session


@functools.cache
def _client(service: str, endpoint: str | None, region: str, profile: str):
    return new_client(service, config=_PROFILES[profile], endpoint_url=endpoint, region_name=region)


def client(service: str, profile: str = "default"):
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    with _lock:
        return _client(service, endpoint, region, profile)


def reset_clients() -> None:
    global _session
    _client.cache_clear()
    with _creating:
        _session = None
