"""Structured JSON logs with a correlation id carried through every hop.

One JSON object per line. The correlation id comes from the incoming request header
(X-Correlation-Id) or SQS message attribute `correlation_id`, or is made fresh; it goes
out again on every queue message and outbound HTTP call.
"""
from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import uuid

CORRELATION_HEADER = "X-Correlation-Id"
CORRELATION_ATTRIBUTE = "correlation_id"

_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)
_function: contextvars.ContextVar[str | None] = contextvars.ContextVar("function", default=None)
# The Lambda invocation a line belongs to: its request id, its X-Ray trace id, and whether it
# is the container's first (a cold start).
_invocation: contextvars.ContextVar[dict | None] = contextvars.ContextVar("invocation", default=None)

# Attributes every LogRecord has; anything else passed through `extra` goes into the line.
_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def current_correlation_id() -> str | None:
    return _correlation_id.get()


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def bind_correlation_id(value: str | None) -> contextvars.Token:
    """Set the correlation id for the current invocation; returns a token for reset."""
    cleaned = (value or "").strip()
    if not cleaned or len(cleaned) > 128 or not cleaned.isprintable():
        cleaned = new_correlation_id()
    return _correlation_id.set(cleaned)


def reset_correlation_id(token: contextvars.Token) -> None:
    _correlation_id.reset(token)


def current_function() -> str | None:
    """The function whose invocation this is (bound by hospital.chalice_app)."""
    return _function.get()


def bind_function(name: str) -> contextvars.Token:
    return _function.set(name)


def reset_function(token: contextvars.Token) -> None:
    _function.reset(token)


def bind_invocation(request_id: str | None, trace_id: str | None, cold_start: bool) -> contextvars.Token:
    fields = {"request_id": request_id, "trace_id": trace_id, "cold_start": cold_start}
    return _invocation.set({key: value for key, value in fields.items() if value is not None})


def reset_invocation(token: contextvars.Token) -> None:
    _invocation.reset(token)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": _correlation_id.get(),
        }
        if _function.get():
            line["function"] = _function.get()
        line.update(_invocation.get() or {})
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(level: str | None = None) -> None:
    """Route the `hospital` loggers to one JSON line each on stdout (CloudWatch on Lambda)."""
    import os

    logger = logging.getLogger("hospital")
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level or os.environ.get("LOG_LEVEL", "INFO"))


def mask(value: str | None, keep: int = 3) -> str | None:
    """What logs may carry of a personal value or credential: its first characters only."""
    if value is None:
        return None
    text = str(value)
    return text[:keep] + "***" if len(text) > keep else "***"
