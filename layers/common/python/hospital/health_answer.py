"""What the health route answers with (hospital.api_contract): each check of hospital.health
with its latency, and whether all passed."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from hospital.answer_base import Answer


class Check(Answer):
    ok: bool
    latency_ms: float
    error: str | None = Field(default=None, description="the kind of failure (an exception's class name), "
                                                        "only when the check failed")


class HealthReport(Answer):
    status: Literal["ok", "failing"]
    checks: dict[str, Check] = Field(description="by check: database, queues, personal_data_key, session_secret")
    checked_at: str = Field(description="when the checks ran; the answer is kept a few seconds")
