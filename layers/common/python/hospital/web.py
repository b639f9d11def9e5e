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

from hospital import api_contract, observability, settings
from hospital.errors import AppError, Forbidden, ServiceUnavailable, Unauthenticated, ValidationFailed

# Chalice's own refusals are about these parts of the request.
_CHALICE_FIELDS = {415: "Content-Type"}

log = logging.getLogger("hospital.web")

PUBLIC = "public"
DEFAULT_MAX_BODY = api_contract.DEFAULT_MAX_BODY
# Declaration helpers, so that a route reads web.Int(...), web.Raw(...).
Int, Date, Time, Choice, Text, Raw = (api_contract.Int, api_contract.Date, api_contract.Time, api_contract.Choice,
                                      api_contract.Text, api_contract.Raw)
lazy, list_of = api_contract.lazy, api_contract.list_of
_principal: contextvars.ContextVar = contextvars.ContextVar("principal", default=None)
# The request lives in a context variable, not on the app (Chalice's app.current_request is
# shared by every thread; the local runtime serves requests concurrently).
_request: contextvars.ContextVar = contextvars.ContextVar("request", default=None)
_contract: contextvars.ContextVar = contextvars.ContextVar("contract", default=None)


def create_app(name: str, *, needs: tuple[settings.Group, ...]) -> Chalice:
    from hospital import chalice_app

    app = chalice_app.create_app(name, needs=needs)
    app.register_middleware(_http_middleware(app), "http")
    return app


def route(app: Chalice, path: str, *, methods: list[str], permission: str | None = None, public: bool = False,
          body: type | None = None, query: tuple[api_contract.Param, ...] = (), response=None,
          also: tuple[api_contract.Raw, ...] = (), success: tuple[int, ...] | None = None,
          errors: tuple[int, ...] = (), error_body: api_contract.Raw | None = None,
          strict_query: bool = False, body_required: bool = True, max_body: int = DEFAULT_MAX_BODY, **options):
    """Register a view with its access rule and its contract (hospital.api_contract): `body`
    the model web.body() reads, `query` the parameters web.args() reads, `response` what a
    success answers with (None: no body), `also` other forms of it (web.Raw: a CSV download),
    `success` its statuses (default 200, or 204 without a body; a probe's 503 may be one),
    `errors` the error statuses beyond those every route of its kind may answer, and
    `error_body` a platform's own refusal format where its callback must be answered in it;
    `strict_query` refuses an undeclared query parameter (a search's filters), and
    `body_required=False` reads no body at all as the body model's defaults.
    Domain errors become JSON error answers."""
    from hospital.auth.permissions import NAMES

    if public == bool(permission):
        raise ValueError(f"{path}: declare exactly one of permission=<name> or public=True")
    if permission is not None and permission not in NAMES:
        raise ValueError(f"{path}: unknown permission {permission!r}")
    if len(methods) != 1:
        raise ValueError(f"{path}: one method per route, each with its own contract")

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
        view.contract = api_contract.declare(  # type: ignore[attr-defined]
            method=methods[0], path=path, fn=fn, body=body, query=query, response=response, also=also,
            error_body=error_body, strict_query=strict_query, body_required=body_required, success=success,
            errors=errors, max_body=max_body, public=public, permission=permission)
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


def args():
    """The query parameters the route declares (query=...), read and checked: 400 naming the
    parameter when one is malformed. Attributes by name; an absent optional one is its default."""
    return _contract.get().args(request().query_params)


def body():
    """The request body validated against the route's declared model (body=...); 400 naming
    the field if not."""
    contract = _contract.get()
    assert contract.body is not None, f"{contract.path} declares no body model"
    max_bytes = contract.max_body
    raw = request().raw_body or b""
    if len(raw) > max_bytes:
        raise ValidationFailed(f"request body is larger than {max_bytes} bytes", field="body",
                               code="body_too_large")
    if not raw.strip():
        if not contract.body_required:
            return api_contract.resolve(contract.body)()
        raise ValidationFailed("request body is empty; a JSON object is required", field="body",
                               code="missing_body")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurdly deep nesting
        raise ValidationFailed("request body is not valid JSON", field="body", code="malformed_json") from None
    if not isinstance(data, dict):
        raise ValidationFailed("request body must be a JSON object", field="body")
    return validate(api_contract.resolve(contract.body), data)


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


def _kept_to(contract, response: Response) -> Response:
    """The answer, or a 500 naming the breach when it breaks the route's declaration (only
    when HOSPITAL_CHECK_CONTRACTS=1: the test suite's check that the document is the code)."""
    breach = api_contract.breaches(contract, response.status_code, response.headers, response.body)
    if breach is None:
        return response
    log.error("answer breaks its contract", extra={"path": contract.path, "breach": breach})
    return respond({"error": {"code": "contract_breach", "message": f"{contract.method} {contract.path}: {breach}",
                              "field": None}}, status=500)


def _http_middleware(app: Chalice):
    def middleware(event, get_response):
        started = time.perf_counter()
        cid_token = observability.bind_correlation_id(event.headers.get(observability.CORRELATION_HEADER))
        request_token = _request.set(event)
        principal_token = _principal.set(None)
        resource = event.context.get("resourcePath")
        caller = None
        entry = app.routes.get(resource, {}).get(event.method)
        contract = getattr(getattr(entry, "view_function", None), "contract", None)
        contract_token = _contract.set(contract)
        try:
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
        if contract is not None and api_contract.checking():
            response = _kept_to(contract, response)
        correlation_id = observability.current_correlation_id()
        assert correlation_id is not None  # bound at the start of this request
        response.headers[observability.CORRELATION_HEADER] = correlation_id
        response.headers.setdefault("Cache-Control", "no-store")
        log.info("http", extra={
            "method": event.method, "resource": resource, "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "user_id": getattr(caller, "user_id", None),
        })
        _contract.reset(contract_token)
        _principal.reset(principal_token)
        _request.reset(request_token)
        observability.reset_correlation_id(cid_token)
        return response

    return middleware
