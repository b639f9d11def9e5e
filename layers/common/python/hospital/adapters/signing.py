"""What our partner systems' interfaces share (the HIS gateway, the insurance platform, the
credit provider; the triage link signs the same way): JSON over HTTPS, signed with
``<Prefix>-Timestamp: <unix seconds>`` and ``<Prefix>-Signature: hex HMAC-SHA256 over
"<unix seconds>.<raw body bytes>"``, so a signature binds the exact bytes and the time.
Each adapter keeps its own wire format; this module only sends, signs, checks and logs.
Each system's calls share one HTTP session per container; GETs, and calls the adapter marks
`query=True`, are retried on a 5xx or a dropped connection, other calls never. `stream` is
`call` for an answer that is a file (a statement), read as it arrives instead of as JSON. Each
call's record (hospital.external_calls) gets the code of the refusal `interpret` raised."""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from hospital import external_calls
from hospital.errors import UpstreamUnavailable

log = logging.getLogger("hospital.external")
WINDOW_SECONDS = 300


def timestamped_hmac(key: str, timestamp: int, body: bytes) -> str:
    return hmac.new(key.encode("utf-8"), str(timestamp).encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def verify_timestamped(headers: dict, body: bytes, key: str, prefix: str, now: float | None = None) -> None:
    """A partner's signed callback: raises ValueError (a reason safe to log) unless it is
    signed with our key within the 5-minute window."""
    lowered = {str(k).lower(): v for k, v in headers.items()}
    timestamp = lowered.get(f"{prefix}-timestamp".lower()) or ""
    signature = lowered.get(f"{prefix}-signature".lower()) or ""
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise ValueError(f"missing or malformed {prefix}-Timestamp")
    if abs((now if now is not None else time.time()) - int(timestamp)) > WINDOW_SECONDS:
        raise ValueError("timestamp outside the 5-minute window")
    if not hmac.compare_digest(timestamped_hmac(key, int(timestamp), body), signature):
        raise ValueError("bad signature")


def call(*, system: str, name: str, operation: str, method: str, url: str, body: bytes | None, key: str,
         prefix: str, timeout, interpret: Callable[[int, Any], Any], query: bool = False) -> Any:
    """Send a signed request and hand (status, JSON answer) to `interpret`, which returns the
    result or raises. Down, 5xx or not JSON: UpstreamUnavailable. One log line per call with
    the outcome (the `code` of whatever `interpret` raised), never the body. `query`: the call
    only reads (a query sent as POST), so it may be retried like a GET."""
    with stream(system=system, name=name, operation=operation, method=method, url=url, body=body, key=key,
                prefix=prefix, timeout=timeout, query=query) as answer:
        try:
            data = answer.json()
        except ValueError:
            external_calls.failed("garbled")
            raise UpstreamUnavailable(f"{name} answered something that is not JSON") from None
        try:
            return interpret(answer.status_code, data)
        except Exception as exc:
            code = getattr(exc, "code", None)
            if isinstance(exc, UpstreamUnavailable):
                external_calls.failed()  # keeps a code `interpret` noted (the HIS's E_SYSTEM)
            elif code:
                external_calls.refused(code)
            else:
                external_calls.failed(type(exc).__name__)
            raise


@contextlib.contextmanager
def stream(*, system: str, name: str, operation: str, method: str, url: str, body: bytes | None, key: str,
           prefix: str, timeout, query: bool = False) -> Iterator[Any]:
    """A signed request whose answer body is left unread: yields the `requests.Response` (status
    below 500) for the caller to read in chunks, and closes it after. Down or 5xx:
    UpstreamUnavailable. One log line per call, as `call` writes, once the body is read."""
    import requests

    from hospital.adapters import http_sessions

    headers = _signed_headers(key, prefix, body)
    started, outcome = time.monotonic(), "ok"
    try:
        try:
            with http_sessions.idempotent_query() if query else contextlib.nullcontext():
                answer = http_sessions.session(system).request(method, url, data=body, headers=headers,
                                                               timeout=timeout, allow_redirects=False, stream=True)
        except requests.RequestException as exc:
            outcome = type(exc).__name__
            raise UpstreamUnavailable(f"{name} did not answer") from None
        with answer:
            if answer.status_code >= 500:
                outcome = f"HTTP {answer.status_code}"
                raise UpstreamUnavailable(f"{name} answered {answer.status_code}")
            try:
                yield answer
            except requests.RequestException as exc:  # the body broke off while being read
                outcome = type(exc).__name__
                raise UpstreamUnavailable(f"{name} broke off its answer") from None
            except Exception as exc:
                outcome = str(getattr(exc, "code", None) or type(exc).__name__)[:40]
                raise
    finally:
        log.info("%s %s", system, operation, extra={"external": {
            "system": system, "operation": operation, "outcome": outcome,
            "duration_ms": round((time.monotonic() - started) * 1000, 1)}})


def _signed_headers(key: str, prefix: str, body: bytes | None) -> dict:
    timestamp = int(time.time())
    headers = {f"{prefix}-Timestamp": str(timestamp),
               f"{prefix}-Signature": timestamped_hmac(key, timestamp, body or b""),
               "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json; charset=utf-8"
    return headers
