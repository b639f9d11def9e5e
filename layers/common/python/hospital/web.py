"""HTTP functions: one Chalice app per function, built the same way everywhere.

    app = web.create_app("rescue_api")

    @web.route(app, "/rescue/cases", methods=["POST"], permission=permissions.RESCUE_CALL)
    def create_case(): ...

Every route declares who may call it: the named `permission=` a caller must hold through one
of their roles (hospital.auth.permissions), or `public=True` for the few that must work
without a session (sign-in, payment callbacks that verify their own signature). A middleware
authenticates the bearer token, checks the route's permission, carries the correlation id
and writes one access line; errors leave as
{"error": {"code", "message", "field"}} with their status, never as a stack trace.
"""
from __future__ import annotations

import contextvars
import functools
import json
import logging
import re
import time

from chalice import Chalice, Response

from hospital import observability, settings
from hospital.errors import AppError, Forbidden, ServiceUnavailable, Unauthenticated, ValidationFailed

# Chalice's own refusals are about these parts of the request.
_CHALICE_FIELDS = {415: "Content-Type"}

log = logging.getLogger("hospital.web")

PUBLIC = "public"
DEFAULT_MAX_BODY = 16 * 1024
_principal: contextvars.ContextVar = contextvars.ContextVar("principal", default=None)
# The request lives in a context variable, not on the app (Chalice's app.current_request is
# shared by every thread; the local runtime serves requests concurrently).
_request: contextvars.ContextVar = contextvars.ContextVar("request", default=None)


def create_app(name: str, *, needs: tuple[settings.Group, ...]) -> Chalice:
    from hospital import chalice_app

    app = chalice_app.create_app(name, needs=needs)
    app.register_middleware(_http_middleware(app), "http")
    return app


def route(app: Chalice, path: str, *, methods: list[str], permission: str | None = None, public: bool = False,
          **options):
    """Register a view with its access rule; domain errors become JSON error answers."""
    from hospital.auth.permissions import NAMES

    if public == bool(permission):
        raise ValueError(f"{path}: declare exactly one of permission=<name> or public=True")
    if permission is not None and permission not in NAMES:
        raise ValueError(f"{path}: unknown permission {permission!r}")

    def register(fn):
        @functools.wraps(fn)
        def view(**params):
            try:
                return fn(**params)
            except AppError as exc:
                return error_response(exc)
            except Exception as exc:  # noqa: BLE001 - logged with its correlation id, hidden from callers
                return unexpected_error(exc, path)

        view.access = PUBLIC if public else permission  # type: ignore[attr-defined]  # read by the middleware
        app.route(path, methods=methods, **options)(view)
        return fn

    return register


def principal():
    """The authenticated caller of the current request (hospital.auth.tokens.Principal)."""
    value = _principal.get()
    if value is None:
        raise Unauthenticated("sign in first")
    return value


def request():
    """The Chalice request being served."""
    return _request.get()


def header(name: str) -> str | None:
    return request().headers.get(name)


def query(name: str) -> str | None:
    return (request().query_params or {}).get(name)


def query_int(name: str, *, default: int, low: int, high: int) -> int:
    from hospital import text

    raw = query(name)
    if raw is None:
        return default
    value = text.whole_number(raw, low=low, high=high)
    if value is None:
        raise ValidationFailed(f"{name} must be a whole number from {low} to {high}", field=name)
    return value


def query_date(name: str):
    """A required calendar date, YYYY-MM-DD, from 2000-01-01 to 2099-12-31."""
    import datetime as dt

    from hospital import timeutil

    raw = query(name)
    try:
        value = dt.date.fromisoformat(raw or "")
    except ValueError:
        raise ValidationFailed(f"{name} must be a date like 2026-11-26", field=name) from None
    if not timeutil.is_plausible_date(value):
        raise ValidationFailed(
            f"{name} must be a date from {timeutil.EARLIEST_DATE} to {timeutil.LATEST_DATE}", field=name)
    return value


def query_choice(name: str, choices: tuple[str, ...]) -> str | None:
    raw = query(name)
    if raw is not None and raw not in choices:
        raise ValidationFailed(f"{name} must be one of {', '.join(choices)}", field=name)
    return raw


def query_time(name: str):
    """An ISO-8601 time with its offset (e.g. 2026-11-26T08:00:00Z), or None if absent."""
    import datetime as dt

    from hospital import timeutil

    raw = query(name)
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise ValidationFailed(f"{name} must be an ISO-8601 time with its offset, e.g. 2026-11-26T08:00:00Z",
                               field=name)
    if not timeutil.is_plausible_instant(value):
        raise ValidationFailed(f"{name} must be a time from {timeutil.EARLIEST_INSTANT:%Y-%m-%dT%H:%M:%SZ} "
                               f"to {timeutil.LATEST_INSTANT:%Y-%m-%dT%H:%M:%SZ}", field=name)
    return value


def json_body(model, max_bytes: int = DEFAULT_MAX_BODY):
    """The request body validated against a pydantic model; 400 naming the field if not."""
    raw = request().raw_body or b""
    if len(raw) > max_bytes:
        raise ValidationFailed(f"request body is larger than {max_bytes} bytes", field="body",
                               code="body_too_large")
    if not raw.strip():
        raise ValidationFailed("request body is empty; a JSON object is required", field="body",
                               code="missing_body")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurdly deep nesting
        raise ValidationFailed("request body is not valid JSON", field="body", code="malformed_json") from None
    if not isinstance(data, dict):
        raise ValidationFailed("request body must be a JSON object", field="body")
    return validate(model, data)


def validate(model, data: dict):
    from pydantic import ValidationError

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "body"
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = "unknown field"
        raise ValidationFailed(f"{field}: {message}", field=field, code="invalid_field") from None


def respond(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        body="" if status == 204 else json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status_code=status,
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def error_response(exc: AppError) -> Response:
    return respond(exc.body(), status=exc.status, headers=exc.headers())


def unexpected_error(exc: Exception, where: str | None) -> Response:
    """A failure the code did not raise on purpose: 503 with Retry-After when the database is
    unavailable (the caller should simply try again), else 500; the log says which and why."""
    from hospital.db.engine import describe_unavailable, is_unavailable

    if is_unavailable(exc):
        log.error("database unavailable", extra={"path": where, **describe_unavailable(exc)})
        return error_response(ServiceUnavailable("the service is briefly unavailable; try again shortly"))
    log.error("unhandled error", exc_info=exc, extra={"path": where})
    return error_response(AppError("internal error"))


_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def _authenticate(authorization: str | None, method: str):
    """The caller of a bearer token, with the roles and permissions they hold now
    (hospital.auth.standing): read afresh for a write, from a cache of a few seconds for a read."""
    from hospital.auth import standing
    from hospital.auth.tokens import verify_access_token

    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthenticated("a bearer session token is required", field="Authorization")
    return standing.current(verify_access_token(authorization[7:].strip()), fresh=method not in _READS)


_CHALICE_CODE = re.compile(r"(?<!^)(?=[A-Z])")


def _normalise(response: Response) -> Response:
    """Chalice's own refusals (405, 415, ...) use {"Code", "Message"}: reshape them."""
    body = response.body
    if response.status_code >= 400 and isinstance(body, dict) and set(body) == {"Code", "Message"}:
        code = _CHALICE_CODE.sub("_", body["Code"]).lower().removesuffix("_error")
        return respond({"error": {"code": code, "message": body["Message"],
                                  "field": _CHALICE_FIELDS.get(response.status_code)}},
                       status=response.status_code, headers=dict(response.headers))
    return response


def _http_middleware(app: Chalice):
    def middleware(event, get_response):
        started = time.perf_counter()
        cid_token = observability.bind_correlation_id(event.headers.get(observability.CORRELATION_HEADER))
        request_token = _request.set(event)
        principal_token = _principal.set(None)
        resource = event.context.get("resourcePath")
        caller = None
        try:
            entry = app.routes.get(resource, {}).get(event.method)
            access = getattr(getattr(entry, "view_function", None), "access", None)
            if entry is not None and access is None:
                raise AppError(f"route {resource} declares no access rule")  # fail closed
            if entry is not None and access != PUBLIC:
                caller = _authenticate(event.headers.get("authorization"), event.method)
                if access in caller.withheld:
                    raise Forbidden(f"{access} is back-office work: sign in to the back office with your "
                                    "password and second factor", code="second_factor_required")
                if not caller.may(access):
                    raise Forbidden(f"this needs the permission {access}, which your roles do not give",
                                    code="forbidden")
                _principal.set(caller)
            response = _normalise(get_response(event))
        except AppError as exc:
            response = error_response(exc)
        except Exception as exc:  # noqa: BLE001 - logged with its correlation id, hidden from callers
            response = unexpected_error(exc, resource)
        correlation_id = observability.current_correlation_id()
        assert correlation_id is not None  # bound at the start of this request
        response.headers[observability.CORRELATION_HEADER] = correlation_id
        response.headers.setdefault("Cache-Control", "no-store")
        log.info("http", extra={
            "method": event.method, "resource": resource, "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "user_id": getattr(caller, "user_id", None),
        })
        _principal.reset(principal_token)
        _request.reset(request_token)
        observability.reset_correlation_id(cid_token)
        return response

    return middleware
