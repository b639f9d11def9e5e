"""Errors the caller may see, each with its HTTP status and a stable code.

Handlers and domain code raise these; the web layer turns them into
{"error": {"code", "message", "field"}} with the status. Anything else becomes a 500
with no detail for the caller (the log has it).
"""
from __future__ import annotations


class AppError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}

    def headers(self) -> dict:
        return {}


class ValidationFailed(AppError):
    status = 400
    code = "invalid_request"


class PayloadTooLarge(ValidationFailed):
    status = 413
    code = "body_too_large"


class Unauthenticated(AppError):
    status = 401
    code = "unauthenticated"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class Locked(AppError):
    """The account is locked for a while after repeated failures; Retry-After says how long."""

    status = 423
    code = "account_locked"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None, code: str | None = None):
        super().__init__(message, field=field, code=code)
        self.retry_after = max(1, retry_after)

    def headers(self) -> dict:
        return {"Retry-After": str(self.retry_after)}


class UpstreamUnavailable(AppError):
    """An external system we depend on did not answer usefully; the caller may retry."""

    status = 503
    code = "upstream_unavailable"


class ServiceUnavailable(AppError):
    """Our own database could not be reached or lost the connection: try again shortly."""

    status = 503
    code = "database_unavailable"
    RETRY_AFTER_SECONDS = 5

    def headers(self) -> dict:
        return {"Retry-After": str(self.RETRY_AFTER_SECONDS)}
