"""The OpenAPI 3.1 document of the HTTP API, written from the code, never by hand.

The routes come from template.yaml (what API Gateway serves), each one's contract from its
function's app (hospital.web.route: body model, query parameters, answer model, statuses,
permission), the schemas from the pydantic models. A route in the template that its app does
not declare, or the reverse, is an error here, so the document cannot list what is not served.

    python -m infra.openapi              # the document on stdout
    python -m infra.openapi --write      # docs/openapi.json, which tests/template checks is current
"""
from __future__ import annotations

import argparse
import json
import runpy
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "openapi.json"
REF = "#/components/schemas/{model}"

# What each error status means wherever it appears; the body is always ErrorBody.
ERRORS = {
    400: "The input is malformed: `error.field` names the body field, query parameter or path part.",
    401: "No session, or the session token is invalid or expired (`error.field`: Authorization).",
    403: "The caller's roles do not give this route's permission, or the item is not theirs to act on.",
    404: "No such item, or none the caller may see.",
    409: "The item's state refuses this (`error.code` says why); a retry would be refused the same way.",
    413: "The request body is larger than this route takes.",
    415: "The Content-Type is not one this route takes.",
    423: "The account is locked for a while (`Retry-After`).",
    500: "A failure of ours; the answer's X-Correlation-Id finds it in the logs.",
    503: "A dependency (the database, the HIS, a platform) is briefly unavailable; try again (`Retry-After`).",
}
SUCCESS = {200: "OK", 201: "Created", 202: "Accepted", 204: "Done; no body", 304: "Not modified since the ETag given"}


def contracts(template_path: Path = ROOT / "template.yaml") -> list[tuple[str, str, Any, list[str] | None]]:
    """(function logical id, event name, contract, content types) for every Api event of the template."""
    from infra.local.template import Template

    template = Template.from_file(template_path)
    found = []
    for lid, resource in template.resources.items():
        if resource.type != "AWS::Serverless::Function":
            continue
        events = {name: event["Properties"] for name, event in resource.properties.get("Events", {}).items()
                  if event["Type"] == "Api"}
        if not events:
            continue
        app = _load_app(ROOT / resource.properties["CodeUri"] / "app.py", lid)
        served = {(method, path): entry.view_function for path, methods in app.routes.items()
                  for method, entry in methods.items()}
        listed = {(props["Method"].upper(), props["Path"]): name for name, props in events.items()}
        if set(served) != set(listed):
            raise SystemExit(f"{lid}: template events and app routes differ: "
                             f"{sorted(set(served) ^ set(listed))}")
        for key, name in sorted(listed.items(), key=lambda item: (item[0][1], item[0][0])):
            contract = getattr(served[key], "contract", None)
            if contract is None:
                raise SystemExit(f"{lid}: {key} declares no contract (hospital.web.route)")
            found.append((lid, name, contract, getattr(served[key], "content_types", None)))
    return found


def _load_app(path: Path, lid: str):
    """The function's Chalice app. Its settings are not checked: the document reads the routes,
    it runs no function, so it is written on a machine where none is configured."""
    from unittest import mock

    from hospital import settings

    with mock.patch.object(settings, "check", lambda function, groups: None):
        return runpy.run_path(str(path), run_name=f"openapi_{lid}")["app"]


def _schemas(kinds: list[Any]) -> tuple[dict[Any, dict], dict[str, dict]]:
    """Each type's schema (a $ref for a model) and the shared component schemas."""
    from hospital.answer_base import ErrorBody
    from hospital.api_contract import resolve

    kinds = [ErrorBody, *dict.fromkeys(resolve(kind) for kind in kinds)]
    inputs = [(kind, "validation", _adapter(kind)) for kind in kinds]
    by_key, defs = TypeAdapter.json_schemas(inputs, ref_template=REF)
    return {kind: by_key[(kind, "validation")] for kind in kinds}, defs.get("$defs", {})


def _adapter(kind: Any) -> TypeAdapter:
    return TypeAdapter(kind)


def _raw_schema(media_type: str) -> dict:
    """A form the platform or the file format defines: JSON is some object, the rest text."""
    return {"type": "object"} if media_type.endswith("json") else {"type": "string"}


def _operation(lid: str, name: str, contract, content_types, schema_of: dict) -> dict:
    from hospital.api_contract import Raw, resolve
    from hospital.auth.permissions import BY_NAME

    description = contract.description
    if contract.permission:
        permission = BY_NAME[contract.permission]
        description = (f"{description}\n\nPermission: `{permission.name}` ({permission.description}"
                       f"{'; back-office work' if permission.back_office else ''}).").strip()
    operation: dict[str, Any] = {
        "operationId": f"{lid.removesuffix('Function')}.{name}",
        "tags": [lid.removesuffix("Function")],
        "summary": contract.summary,
        "description": description,
        "security": [] if contract.public else [{"session": []}],
        "x-permission": contract.permission,
    }
    parameters = [{"name": part, "in": "path", "required": True, "schema": {"type": "string"}}
                  for part in contract.path_params]
    parameters += [{"name": p.name, "in": "query", "required": p.required, "schema": p.schema(),
                    **({"description": p.description} if p.description else {})} for p in contract.query]
    if parameters:
        operation["parameters"] = parameters
    if contract.body is not None:
        operation["requestBody"] = {"required": contract.body_required, "content": {
            "application/json": {"schema": schema_of[resolve(contract.body)]}}}
    elif contract.method in ("POST", "PUT", "PATCH") and content_types and content_types != ["application/json"]:
        # A platform's own message or an uploaded file, read as it comes (its signature or format is checked).
        operation["requestBody"] = {"required": True, "content": {
            media: {"schema": {"type": "string"}} for media in content_types}}
    responses: dict[str, Any] = {}
    for status in contract.statuses():
        if status not in contract.success and contract.error_body is not None:
            responses[str(status)] = {"description": f"{ERRORS[status]} {contract.error_body.description}",
                                      "content": {contract.error_body.media_type: {
                                          "schema": _raw_schema(contract.error_body.media_type)}}}
        elif status not in contract.success:
            responses[str(status)] = {"description": ERRORS[status], "content": {
                "application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}}}
        elif status in (204, 304) or contract.response is None:
            responses[str(status)] = {"description": SUCCESS[status]}
        elif isinstance(contract.response, Raw):
            responses[str(status)] = {"description": contract.response.description, "content": {
                contract.response.media_type: {"schema": _raw_schema(contract.response.media_type)}}}
        else:
            responses[str(status)] = {"description": SUCCESS.get(status) or ERRORS[status], "content": {
                "application/json": {"schema": schema_of[resolve(contract.response)]}}}
        for form in contract.also:
            answer = responses[str(status)]
            answer["content"][form.media_type] = {"schema": _raw_schema(form.media_type)}
            answer["description"] += f" Or {form.media_type}: {form.description}"
    operation["responses"] = responses
    return operation


def document() -> dict:
    from hospital.api_contract import Raw

    found = contracts()
    kinds = [c.body for _, _, c, _ in found if c.body is not None]
    kinds += [c.response for _, _, c, _ in found if c.response is not None and not isinstance(c.response, Raw)]
    schema_of, components = _schemas(kinds)
    paths: dict[str, dict] = {}
    for lid, name, contract, content_types in found:
        paths.setdefault(contract.path, {})[contract.method.lower()] = _operation(
            lid, name, contract, content_types, schema_of)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Hospital WeChat service account API",
            "version": "1",
            "description": (
                "Every call but sign-in, the platforms' signed callbacks, published site content and the "
                "health probe carries `Authorization: Bearer <access token>` from sign-in. Each operation "
                "names the permission it needs (`x-permission`); a role is a set of permissions. Errors "
                "answer `{\"error\": {\"code\", \"message\", \"field\"}}`; money is integer fen; times are "
                "ISO-8601 with their offset. Generated from the code by `python -m infra.openapi`."),
        },
        "servers": [{"url": "/", "description": "the stage's base URL (make run: http://127.0.0.1:3000)"}],
        "components": {
            "securitySchemes": {"session": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": components,
        },
        "paths": dict(sorted(paths.items())),
    }


def render() -> str:
    return json.dumps(document(), ensure_ascii=False, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"write {DOCUMENT.relative_to(ROOT)}")
    text = render()
    if parser.parse_args(argv).write:
        DOCUMENT.write_text(text)
        print(f"wrote {DOCUMENT.relative_to(ROOT)}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

