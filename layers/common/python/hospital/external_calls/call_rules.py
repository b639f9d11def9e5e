"""What a record of an external call holds, decided from plain data (no I/O): its outcome,
its operation, and the few short texts it keeps, cut to their columns' sizes and to
characters that cannot carry anything but a code.

A record never keeps a body, a header, a query string or a token: the operation is the
method and the URL's path (ids of ours, the partner's fixed routes), or what the adapter
names (the HIS's trade code); an error code is what the provider answered in its code field,
or the name of what went wrong on the way (ReadTimeout, garbled)."""
from __future__ import annotations

import re

OK, REFUSED, ERROR, TIMEOUT = "ok", "refused", "error", "timeout"
OUTCOMES = (OK, REFUSED, ERROR, TIMEOUT)
# How many calls one search of the record answers: by default, and at most.
LOOKUP_DEFAULT_LIMIT, LOOKUP_MAX_LIMIT = 100, 500

OPERATION_LENGTH = 200
CODE_LENGTH = 64
REFERENCE_LENGTH = 32     # order and case ids (uuid4 hex)
SYSTEM_LENGTH = 32
FUNCTION_LENGTH = 64
CORRELATION_LENGTH = 128

SYSTEM = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# What may be searched by: our ids are hex, a partner's may hold dashes or underscores.
REFERENCE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_NOT_CODE = re.compile(r"[^A-Za-z0-9_.:-]+")


def outcome_of(status: int | None, *, timed_out: bool = False) -> str:
    """What the transport alone says: no answer in time, no answer, a refusal (4xx) or the
    partner failing (5xx). An adapter corrects it where its wire format says more (WeChat's
    errcode under HTTP 200, the HIS's business refusals)."""
    if timed_out:
        return TIMEOUT
    if status is None or status >= 500:
        return ERROR
    return REFUSED if status >= 400 else OK


def operation_of(method: str, url: str) -> str:
    """`POST /v3/pay/transactions/jsapi`: the method and the URL's path, without the scheme,
    host, query string or fragment (where tokens, secrets and codes travel)."""
    rest = url.split("://", 1)[1] if "://" in url else url
    rest = rest.split("#", 1)[0].split("?", 1)[0]
    path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return f"{method.upper()} {path}"[:OPERATION_LENGTH]


def code(value) -> str | None:
    """A provider's error code as a short code: other characters dropped, cut to its column."""
    if value is None:
        return None
    cleaned = _NOT_CODE.sub("", str(value))[:CODE_LENGTH]
    return cleaned or None


def text(value, length: int) -> str | None:
    """A short text of ours (a function name, a correlation id), cut to its column."""
    if value is None:
        return None
    return str(value)[:length] or None
