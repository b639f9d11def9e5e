"""Outbound HTTP connections: one `requests.Session` per adapter per container, so calls
reuse their TCP (and TLS) connection instead of opening one each.

- Created on first use (no connection, and no `requests` import, at module import), shared
  by the threads of a container (urllib3's pool is thread-safe; creation is locked).
- Cookies are not kept: every call stands alone, as when each call had its own session.
- Retries with backoff only for idempotent queries: GET, and calls made inside
  `idempotent_query()` (a partner query sent as POST). A call that creates or moves money is
  sent once, whatever happens, exactly as before; its caller retries with its own
  idempotency key. A timeout is not retried either, nor a failure that came after
  RETRY_WITHIN_SECONDS: the caller's time budget (its timeouts) stays about what it was.
- A session left idle for IDLE_SECONDS drops its pooled connections: a frozen Lambda
  container thaws with connections a NAT may have dropped without a word.
- Every request is recorded (hospital.external_calls) under the adapter's name as its system:
  one record per call, its retries included, whatever the adapter.
"""
from __future__ import annotations

import contextlib
import contextvars
import threading
import time

from hospital import external_calls

RETRIES = 2                 # after the first attempt
BACKOFF_SECONDS = 0.2       # 0 s before the first retry, then 0.4 s
# No retry once this long has passed since the first attempt began: a slow failure is not
# tried again, so a query never takes much longer than its own timeouts allow.
RETRY_WITHIN_SECONDS = 1.5
RETRY_STATUSES = (500, 502, 503, 504)
IDLE_SECONDS = 240.0

_idempotent: contextvars.ContextVar[bool] = contextvars.ContextVar("idempotent_query", default=False)
# When the call now being made began (its first attempt), for the retry deadline.
_request_started: contextvars.ContextVar[float] = contextvars.ContextVar("request_started")
_lock = threading.Lock()
_sessions: dict[str, list] = {}  # adapter name -> [session, last use (monotonic)]


@contextlib.contextmanager
def idempotent_query():
    """Calls inside may be retried like a GET: the caller vouches that they only read."""
    token = _idempotent.set(True)
    try:
        yield
    finally:
        _idempotent.reset(token)


def session(name: str, *, retry_queries: bool = True):
    """The session of adapter `name` in this container. `retry_queries=False`: nothing is
    retried, not even a GET (for APIs whose GETs are not idempotent)."""
    now = time.monotonic()
    with _lock:
        held = _sessions.get(name)
        if held is None:
            held = _sessions[name] = [_new_session(name, retry_queries), now]
        elif now - held[1] > IDLE_SECONDS:
            held[0].close()  # its pools are made again on the next request
        held[1] = now
        return held[0]


def close_all() -> None:
    """Forget every session and its connections (tests: a fresh container)."""
    with _lock:
        held = list(_sessions.values())
        _sessions.clear()
    for forgotten, _ in held:
        forgotten.close()


def _new_session(system: str, retry_queries: bool):
    from http.cookiejar import DefaultCookiePolicy

    import requests
    from requests.adapters import HTTPAdapter

    class TimedSession(requests.Session):
        def request(self, method, url, *args, **kwargs):  # wechatpy passes both by keyword
            token = _request_started.set(time.monotonic())
            call = external_calls.started(system, method, url)
            try:
                response = super().request(method, url, *args, **kwargs)
            except requests.Timeout as exc:
                external_calls.ended(call, error=type(exc).__name__, timed_out=True)
                raise
            except BaseException as exc:
                external_calls.ended(call, error=type(exc).__name__)
                raise
            finally:
                _request_started.reset(token)
            external_calls.ended(call, status=response.status_code)
            return response

    created = TimedSession()
    created.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    if not retry_queries:
        adapter = HTTPAdapter()  # requests' own default: no retries
    else:
        adapter = HTTPAdapter(max_retries=_query_retry_class()(
            total=RETRIES, connect=RETRIES, read=RETRIES, status=RETRIES, other=0, backoff_factor=BACKOFF_SECONDS,
            status_forcelist=RETRY_STATUSES, allowed_methods=frozenset({"GET"}), raise_on_status=False,
            respect_retry_after_header=False))
    created.mount("https://", adapter)
    created.mount("http://", adapter)
    return created


_retry_class = None


def _query_retry_class():
    """urllib3's Retry, narrowed to idempotent queries (built on first use: urllib3 loads late)."""
    global _retry_class
    if _retry_class is not None:
        return _retry_class
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
    from urllib3.util.retry import Retry

    class QueryRetry(Retry):
        def _is_method_retryable(self, method: str) -> bool:
            return method.upper() == "GET" or _idempotent.get()

        def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
            timed_out = isinstance(error, ReadTimeoutError) or (
                isinstance(error, ConnectTimeoutError) and not isinstance(error, NewConnectionError))
            too_late = time.monotonic() - _request_started.get(time.monotonic()) > RETRY_WITHIN_SECONDS
            if timed_out or too_late or not self._is_method_retryable(method or ""):
                # What requests does without retries: the error goes to the caller as it is.
                return Retry(0, read=False).increment(method, url, response, error, _pool, _stacktrace)
            return super().increment(method, url, response, error, _pool, _stacktrace)

    _retry_class = QueryRetry
    return QueryRetry
