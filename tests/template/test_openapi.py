"""The OpenAPI document is written from the code (infra/openapi.py) and docs/openapi.json is
that document: a route, a model or a permission changed without `make openapi` fails here.
That the code answers what the document says is checked on every call the tests make
(HOSPITAL_CHECK_CONTRACTS, tests/conftest.py)."""
from __future__ import annotations

import json

import pytest
from openapi_spec_validator import validate

from infra import openapi
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def document():
    return openapi.document()


def operations(document):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_the_committed_document_is_the_one_the_code_writes(document):
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(document)), "run `make openapi` and commit docs/openapi.json"


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_template_route_is_documented_once(document):
    from infra.local.template import Template

    template = Template.from_file(ROOT / "template.yaml")
    served = {(event["Properties"]["Method"].lower(), event["Properties"]["Path"])
              for resource in template.resources.values() if resource.type == "AWS::Serverless::Function"
              for event in resource.properties.get("Events", {}).values() if event["Type"] == "Api"}
    documented = {(method, path) for path, method, _ in operations(document)}
    assert documented == served
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))


def test_every_operation_says_what_it_does_and_what_it_needs_NF1(document):
    for path, method, operation in operations(document):
        assert operation["summary"], (method, path)
        if operation["security"]:
            assert operation["x-permission"] and f"`{operation['x-permission']}`" in operation["description"]
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
        else:
            assert operation["x-permission"] is None


def test_every_error_answer_is_the_one_error_body_but_a_platform_callback_s_NF5(document):
    """A platform's callback is refused in the platform's own format, which it reads; every
    other route in the one error body."""
    error = {"$ref": "#/components/schemas/ErrorBody"}
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400 or (status == "503" and path == "/health"):
                continue
            if path.startswith("/callbacks/"):
                assert "application/json" not in response["content"] or \
                    response["content"]["application/json"]["schema"] != error, (method, path, status)
            else:
                assert response["content"]["application/json"]["schema"] == error, (method, path, status)
    body = document["components"]["schemas"]["ErrorDetail"]
    assert set(body["required"]) == {"code", "message"} and "field" in body["properties"]


def _refs(schema):
    if isinstance(schema, dict):
        if "$ref" in schema:
            yield schema["$ref"].rsplit("/", 1)[-1]
        for value in schema.values():
            yield from _refs(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _refs(value)


def test_bodies_and_answers_name_every_field_they_take_or_give_NF5(document):
    """An unknown request field is refused (400) and an answer sends no field it does not list."""
    schemas = document["components"]["schemas"]
    named = set()
    for _, _, operation in operations(document):
        named |= set(_refs(operation.get("requestBody", {})))
        named |= set(_refs(operation["responses"]))
    todo = list(named)
    while todo:
        for ref in _refs(schemas[todo.pop()]):
            if ref not in named:
                named.add(ref)
                todo.append(ref)
    for name in named:
        if schemas[name].get("type") == "object":
            assert schemas[name].get("additionalProperties") is False, name


def test_the_suite_checks_every_answer_against_its_contract():
    """tests/conftest.py turns the check on for every pytest run (and only there)."""
    import os

    from hospital import api_contract

    assert os.environ.get(api_contract.CHECK_ENV) == "1" and api_contract.checking()
