"""What the lookup of external calls answers with (hospital.api_contract): a page of the
records of hospital.external_calls, newest first."""
from __future__ import annotations

from pydantic import Field

from hospital.answer_base import Answer


class ExternalCall(Answer):
    id: int
    at: str = Field(description="when the call began")
    system: str = Field(description="wechat, wechatpay_v3, his, ...")
    operation: str
    outcome: str = Field(description="ok, refused, error or timeout")
    http_status: int | None
    error_code: str | None
    latency_ms: int | None
    order_id: str | None
    case_id: str | None
    user_id: int | None = Field(description="the patient the call concerns")
    function: str | None
    correlation_id: str | None


class ExternalCalls(Answer):
    items: list[ExternalCall]
    count: int
    limit: int
