"""The base of every answer model (hospital.api_contract) and the one error body."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Answer(BaseModel):
    """A field the code sends but the model does not name is a contract break (extra="forbid"),
    so the published document lists every field. Built when first used (defer_build)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


class ErrorDetail(Answer):
    code: str
    message: str
    field: str | None = None


class ErrorBody(Answer):
    error: ErrorDetail
