"""What each HTTP route takes and answers, declared once on the route (hospital.web.route):
its body model, its query parameters, its answer's model and the statuses it may answer with.

The handlers read their inputs through the declaration (web.body(), web.args()), so the
declaration is what the code accepts; the OpenAPI document (infra/openapi.py) is written
from the same declarations; and with HOSPITAL_CHECK_CONTRACTS=1 (the test suite sets it)
every answer is checked against its declaration, so a test that makes a route answer with an
undeclared field or status fails.

Models are named through `lazy("hospital.outpatient.answers").Card`, a reference imported
when first needed: a function's module then loads no pydantic model at import, and a cold GET
none at all (answers are checked only under the tests). Pure stdlib: no I/O, no pydantic
until a model is used.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import importlib
import json
import os
import re
import types
import typing
from typing import Any

from hospital import text, timeutil
from hospital.errors import ValidationFailed

CHECK_ENV = "HOSPITAL_CHECK_CONTRACTS"
DEFAULT_MAX_BODY = 16 * 1024
NO_BODY = frozenset({204, 304})
_PATH_PARAM = re.compile(r"{(\w+)}")


@dataclasses.dataclass(frozen=True)
class Ref:
    """A model by module and name, imported when first resolved."""

    module: str
    name: str

    def resolve(self) -> Any:
        return getattr(importlib.import_module(self.module), self.name)


class Lazy:
    """A module whose attributes are references (Ref) to its models, imported on first use."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Ref:
        if name.startswith("__"):
            raise AttributeError(name)
        return Ref(self._module, name)


def lazy(module: str) -> Any:
    return Lazy(module)


def list_of(kind: Any) -> Any:
    """An answer that is a JSON array of `kind` (a model or a Ref to one)."""
    return list[kind]


@functools.cache
def resolve(kind: Any) -> Any:
    """The type a declaration names: its references imported, list[Ref] made list[Model]."""
    if isinstance(kind, Ref):
        return kind.resolve()
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is None or not args:
        return kind
    return origin[tuple(resolve(arg) for arg in args)]


@dataclasses.dataclass(frozen=True)
class Raw:
    """An answer that is not JSON of ours (a CSV download, a platform's own XML or JSON reply)."""

    media_type: str
    description: str


@dataclasses.dataclass(frozen=True)
class Param:
    """One query-string parameter: how it reads, and how the document shows it."""

    name: str
    kind: str  # int, date, time, choice, text
    description: str = ""
    required: bool = False
    default: Any = None
    low: int | None = None
    high: int | None = None
    choices: tuple[str, ...] = ()
    max_length: int = 200

    def read(self, raw: str | None) -> Any:
        if raw is None:
            if self.required:
                raise ValidationFailed(f"{self.name} is required", field=self.name)
            return self.default
        return getattr(self, f"_read_{self.kind}")(raw)

    def _read_int(self, raw: str) -> int:
        assert self.low is not None and self.high is not None
        value = text.whole_number(raw, low=self.low, high=self.high)
        if value is None:
            raise ValidationFailed(f"{self.name} must be a whole number from {self.low} to {self.high}",
                                   field=self.name)
        return value

    def _read_date(self, raw: str) -> dt.date:
        try:
            value = dt.date.fromisoformat(raw)
        except ValueError:
            raise ValidationFailed(f"{self.name} must be a date like 2026-11-26", field=self.name) from None
        if not timeutil.is_plausible_date(value):
            raise ValidationFailed(f"{self.name} must be a date from {timeutil.EARLIEST_DATE} to "
                                   f"{timeutil.LATEST_DATE}", field=self.name)
        return value

    def _read_time(self, raw: str) -> dt.datetime:
        try:
            value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            value = None
        if value is None or value.tzinfo is None:
            raise ValidationFailed(f"{self.name} must be an ISO-8601 time with its offset, e.g. "
                                   "2026-11-26T08:00:00Z", field=self.name)
        if not timeutil.is_plausible_instant(value):
            raise ValidationFailed(f"{self.name} must be a time from {timeutil.EARLIEST_INSTANT:%Y-%m-%dT%H:%M:%SZ} "
                                   f"to {timeutil.LATEST_INSTANT:%Y-%m-%dT%H:%M:%SZ}", field=self.name)
        return value

    def _read_choice(self, raw: str) -> str:
        if raw not in self.choices:
            raise ValidationFailed(f"{self.name} must be one of {', '.join(self.choices)}", field=self.name)
        return raw

    def _read_text(self, raw: str) -> str:
        if len(raw) > self.max_length:
            raise ValidationFailed(f"{self.name} is longer than {self.max_length} characters", field=self.name)
        hidden = text.hidden_character(raw, multiline=False)
        if hidden is not None:
            raise ValidationFailed(f"{self.name} holds the control character {text.code_point(hidden)}",
                                   field=self.name)
        return raw

    def schema(self) -> dict:
        """This parameter's JSON schema, for the OpenAPI document."""
        shapes: dict[str, dict[str, Any]] = {
            "int": {"type": "integer", "minimum": self.low, "maximum": self.high},
            "date": {"type": "string", "format": "date"},
            "time": {"type": "string", "format": "date-time"},
            "choice": {"type": "string", "enum": list(self.choices)},
            "text": {"type": "string", "maxLength": self.max_length},
        }
        shape = shapes[self.kind]
        if self.default is not None:
            shape["default"] = self.default
        return shape


def Int(name: str, *, low: int, high: int, default: int | None = None, required: bool | None = None,
        description: str = "") -> Param:
    """A whole number from low to high; required unless it has a default or required=False (None when absent)."""
    return Param(name, "int", description, required=default is None if required is None else required,
                 default=default, low=low, high=high)


def Date(name: str, *, required: bool = True, description: str = "") -> Param:
    """A calendar date, YYYY-MM-DD, from 2000-01-01 to 2099-12-31."""
    return Param(name, "date", description, required=required)


def Time(name: str, *, required: bool = False, description: str = "") -> Param:
    """An ISO-8601 time with its offset (2026-11-26T08:00:00Z)."""
    return Param(name, "time", description, required=required)


def Choice(name: str, choices: tuple[str, ...], *, default: str | None = None,
           description: str = "") -> Param:
    return Param(name, "choice", description, default=default, choices=tuple(choices))


def Text(name: str, *, max_length: int = 200, required: bool = False, description: str = "") -> Param:
    """Free text, one line, without control characters."""
    return Param(name, "text", description, required=required, max_length=max_length)


@dataclasses.dataclass(frozen=True)
class Contract:
    """A route's declaration. `response` is a type pydantic validates (a model, list[Model]),
    a Raw answer, or None for an answer without a body (204)."""

    method: str
    path: str
    body: Any  # a pydantic model or a Ref to one; None: no JSON body
    body_required: bool  # False: no body at all reads as the model's defaults
    query: tuple[Param, ...]
    response: Any
    also: tuple[Raw, ...]  # other forms of the same answer (a CSV of the same rows), chosen by the request
    error_body: Raw | None  # a platform's own refusal format; None: the one ErrorBody
    success: tuple[int, ...]
    errors: tuple[int, ...]
    max_body: int
    strict_query: bool  # refuse an undeclared parameter: a filter spelt wrong must not widen a listing
    public: bool
    permission: str | None
    summary: str
    description: str

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)

    def statuses(self) -> tuple[int, ...]:
        """Every status this route may answer with, in order."""
        possible = set(self.success) | set(self.errors) | {500, 503}
        if self.body is not None or self.query or self.path_params:
            possible.add(400)
        if self.body is not None:
            possible.add(413)
        if self.method in ("POST", "PUT", "PATCH"):
            possible.add(415)  # Chalice refuses a Content-Type the route does not take
        if not self.public:
            possible |= {401, 403}
        if self.path_params:
            possible.add(404)
        return tuple(sorted(possible))

    def args(self, query_params: dict | None) -> types.SimpleNamespace:
        """The declared query parameters, read; others are ignored (a client's cache-buster),
        or refused, naming the first, when the route's query is strict."""
        given = query_params or {}
        names = [param.name for param in self.query]
        unknown = sorted(set(given) - set(names))
        if self.strict_query and unknown:
            raise ValidationFailed(f"unknown filter {unknown[0]!r}; use {', '.join(names)}",
                                   field=unknown[0] or "query")  # "?=1" names no parameter
        return types.SimpleNamespace(**{param.name: param.read(given.get(param.name)) for param in self.query})


def declare(*, method: str, path: str, fn, body, query, response, success, errors, max_body, public,
            permission, also=(), error_body=None, strict_query=False, body_required=True) -> Contract:
    doc = (fn.__doc__ or "").strip()
    summary, _, description = doc.partition("\n")
    if success is None:
        success = (204,) if response is None else (200,)
    if response is None and any(status not in NO_BODY for status in success):
        raise ValueError(f"{method} {path}: an answer with a body needs response=<model>")
    names = [param.name for param in query]
    if len(set(names)) != len(names):
        raise ValueError(f"{method} {path}: a query parameter is declared twice")
    return Contract(method=method, path=path, body=body, body_required=body_required,
                    query=tuple(query), response=response,
                    also=tuple(also), error_body=error_body, success=tuple(success), errors=tuple(errors),
                    max_body=max_body, strict_query=strict_query, public=public,
                    permission=permission, summary=summary.strip() or fn.__name__.replace("_", " "),
                    description=" ".join(description.split()))


def checking() -> bool:
    return os.environ.get(CHECK_ENV) == "1"


@functools.cache
def _adapter(kind):
    from pydantic import TypeAdapter

    return TypeAdapter(resolve(kind))


def breaches(contract: Contract, status: int, headers: dict, body) -> str | None:
    """Why an answer breaks its route's declaration, or None when it keeps to it."""
    if status not in contract.statuses():
        return f"status {status} is not declared (declared: {contract.statuses()})"
    if status in NO_BODY:
        return "a 204 or 304 answer carries a body" if body else None
    media = (headers.get("Content-Type") or "").split(";")[0].strip()
    if status not in contract.success and contract.error_body is not None:
        expected = contract.error_body.media_type
        return None if media == expected else f"Content-Type {media!r} of a refusal, declared {expected!r}"
    if status not in contract.success:
        from hospital.answer_base import ErrorBody

        kind: Any = ErrorBody
    elif any(form.media_type == media for form in contract.also):
        return None
    elif isinstance(contract.response, Raw):
        expected = contract.response.media_type
        return None if media == expected else f"Content-Type {media!r}, declared {expected!r}"
    else:
        kind = contract.response
    from pydantic import ValidationError

    try:
        _adapter(kind).validate_python(json.loads(body) if isinstance(body, (str, bytes)) else body)
    except (ValueError, ValidationError) as exc:
        return f"the body does not match {kind}: {exc}"
    return None
