"""Whether the service can serve, for a monitor: the database answers, every queue the outbox
relays to is there, the personal-data key and the session signing secret can be reached. Each
check has its latency; a failure names its kind only (never a message that could carry a URL,
an ARN's account or a secret). The answer is kept a few seconds, so a flood of probes does not
become a flood on the database, KMS or Secrets Manager."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

CACHE_SECONDS = 5
_lock = threading.Lock()
_last: tuple[float, dict] | None = None


def _database() -> None:
    import sqlalchemy as sa

    from hospital.db import transaction

    with transaction() as conn:
        conn.execute(sa.text("SELECT 1")).scalar_one()


def _queues() -> None:
    from hospital import aws, settings

    sqs = aws.client("sqs")
    for setting in (settings.RESCUE_EVENTS_QUEUE_URL, settings.TRIAGE_QUEUE_URL, settings.NOTIFICATIONS_QUEUE_URL,
                    settings.PAYMENT_EVENTS_QUEUE_URL, settings.REFUNDS_QUEUE_URL,
                    settings.OUTPATIENT_EVENTS_QUEUE_URL):
        sqs.get_queue_attributes(QueueUrl=setting.get(), AttributeNames=["ApproximateNumberOfMessages"])


def _personal_data_key() -> None:
    from hospital import aws, settings

    aws.client("kms").describe_key(KeyId=settings.PII_KEY_ID.get())


def _session_secret() -> None:
    from hospital import config, settings

    config.secret_value(settings.APP_SECRET_ARN, "session_signing_key")  # cached: cheap after the first


CHECKS: dict[str, Callable[[], None]] = {
    "database": _database, "queues": _queues, "personal_data_key": _personal_data_key,
    "session_secret": _session_secret,
}


def check(now: float | None = None) -> dict:
    """{"status": "ok" | "failing", "checks": {name: {"ok", "latency_ms", "error"?}}, "checked_at"}."""
    global _last
    at = time.monotonic() if now is None else now
    with _lock:
        if _last is not None and at - _last[0] < CACHE_SECONDS:
            return _last[1]
    results: dict[str, dict] = {}
    for name, probe in CHECKS.items():
        started = time.perf_counter()
        try:
            probe()
            results[name] = {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}
        except Exception as exc:  # noqa: BLE001 - any failure is the answer; its kind only, never its text
            results[name] = {"ok": False, "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                             "error": type(exc).__name__}
    answer = {"status": "ok" if all(r["ok"] for r in results.values()) else "failing", "checks": results,
              "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with _lock:
        _last = (at, answer)
    return answer


def forget() -> None:
    global _last
    with _lock:
        _last = None
