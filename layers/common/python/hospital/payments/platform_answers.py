"""How each payment platform must be answered, and the guard every platform callback passes.

The guard refuses an oversized body with 413 before anything parses or verifies it (a
notification is a few KiB: MAX_CALLBACK_BODY leaves ample room, and a 10 MB body must not
cost seconds of XML or JSON parsing before its 401), and turns our own trouble into the
platform's failure answer: 503 with Retry-After when the database is unavailable, 500
otherwise, so the platform retries and the log names the cause.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable

from hospital.errors import ServiceUnavailable

log = logging.getLogger("hospital.payments")

MAX_CALLBACK_BODY = 16 * 1024


class Answer:
    """What a callback sends back: status, body text, content type and headers."""

    def __init__(self, status: int, body: str = "", content_type: str = "application/json",
                 headers: dict | None = None):
        self.status, self.body, self.content_type = status, body, content_type
        self.headers = dict(headers or {})


def json_answer(status: int, body: dict) -> Answer:
    return Answer(status, json.dumps(body, ensure_ascii=False, separators=(",", ":")))


def wechatpay_v3_fail(status: int, message: str) -> Answer:
    return Answer(status, json.dumps({"code": "FAIL", "message": message}, ensure_ascii=False))


def wechatpay_v2_fail(status: int, message: str) -> Answer:
    from hospital.adapters import wechatpay_v2

    return Answer(status, wechatpay_v2.failure_answer(message), "text/xml")


# Each platform's failure answer, by the name its callback is guarded under.
FAILURES: dict[str, Callable[[int, str], Answer]] = {
    "wechatpay_v3": wechatpay_v3_fail,
    "wechatpay_v2": wechatpay_v2_fail,
    "credit": lambda status, message: json_answer(status, {"code": "FAIL", "message": message}),
    "medical_insurance": lambda status, message: json_answer(status, {"infcode": -1, "err_msg": message}),
}


def guarded(platform: str, handle: Callable[[dict, bytes], Answer | tuple[int, dict]], headers: dict,
            body: bytes) -> Answer:
    """`handle(headers, body)` behind the size limit and the failure answers of `platform`."""
    fail = FAILURES[platform]
    if len(body) > MAX_CALLBACK_BODY:
        log.warning("callback refused: body too large", extra={"platform": platform, "bytes": len(body)})
        return fail(413, f"body larger than {MAX_CALLBACK_BODY} bytes")
    try:
        answer = handle(headers, body)
    except Exception as exc:  # answered in the platform's format, so it retries
        from hospital.db.engine import describe_unavailable, is_unavailable

        if is_unavailable(exc):
            log.error("callback not applied: database unavailable",
                      extra={"platform": platform, **describe_unavailable(exc)})
            unavailable = fail(503, "temporarily unavailable; retry later")
            unavailable.headers["Retry-After"] = str(ServiceUnavailable.RETRY_AFTER_SECONDS)
            return unavailable
        log.exception("callback not applied: internal error", extra={"platform": platform})
        return fail(500, "internal error; retry later")
    return json_answer(*answer) if isinstance(answer, tuple) else answer
