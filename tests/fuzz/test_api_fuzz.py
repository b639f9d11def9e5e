"""Schemathesis over every route of the OpenAPI document (infra/openapi.py), through the local
API server, with a session token of every seeded role and with none: no answer is a server
error, every answer's status, Content-Type and body are the ones documented, and every 4xx
carries the JSON error body, naming the field when the input is at fault (NF1, NF5).

It runs on a MariaDB database of its own: the calls create, edit and delete whatever a role may,
which must not leak into other tests. Examples per operation are bounded; a role that does not
hold an operation's permission is checked once per operation (a 403 costs nothing to repeat).
"""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from hospital.auth.permissions import SEEDED
from tests.conftest import new_mysql_database

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
ANONYMOUS = "anonymous"
ROLES = [ANONYMOUS, *sorted(SEEDED)]
CHECKS = [schemathesis.checks.not_a_server_error, openapi_checks.status_code_conformance,
          openapi_checks.content_type_conformance, openapi_checks.response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_database(platform):
    from tests.conftest import _use_database

    with new_mysql_database() as url:
        _use_database(url)
        yield url


@pytest.fixture(scope="module")
def tokens(fuzz_database):
    """A token of a user holding each seeded role alone."""
    from hospital.auth import sessions
    from hospital.auth.tokens import Principal, issue_access_token
    from hospital.db import engine, tables
    from hospital.timeutil import utcnow

    minted = {}
    for role in SEEDED:
        with engine().begin() as conn:
            user_id = conn.execute(tables.users.insert().values(status="active", created_at=utcnow())
                                   ).inserted_primary_key[0]
        sessions.grant_role(user_id, role)
        minted[role] = issue_access_token(Principal(user_id=user_id, roles=frozenset({role})))
    return minted


ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}


def error_body_names_the_field(ctx, response, case):
    """A 4xx is our error body (unless the route answers in a platform's own format); a 400
    names the field at fault."""
    if not 400 <= response.status_code < 500:
        return None
    documented = case.operation.definition.raw["responses"].get(str(response.status_code), {})
    if documented.get("content", {}).get("application/json", {}).get("schema") != ERROR_BODY:
        return None  # a platform's callback, refused in the platform's format (status and type still checked)
    error = response.json()["error"]
    assert error["code"] and error["message"], error
    if response.status_code == 400:
        assert error["field"], f"a 400 without the field at fault: {error}"
    return None


def _operations():
    from infra.openapi import document

    schema = schemathesis.openapi.from_dict(document())
    only = os.environ.get("FUZZ_PATHS")  # a regular expression, to fuzz part of the API while working on it
    if only:
        schema = schema.include(path_regex=only)
    return {result.ok().label: result.ok() for result in schema.get_all_operations()}


OPERATIONS = _operations()


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_every_route_keeps_to_its_contract_for_every_role_NF1_NF5(label, platform, tokens):
    operation = OPERATIONS[label]
    permission = operation.definition.raw.get("x-permission")
    for role in ROLES:
        holds = permission is None or (role != ANONYMOUS and permission in SEEDED[role][1])
        headers = {"Authorization": f"Bearer {tokens[role]}"} if role != ANONYMOUS else {}
        # Inputs the document allows, then (for a role that gets past the permission check)
        # inputs it does not: these must be refused with a 4xx, never a 5xx.
        for mode, examples in ((GenerationMode.POSITIVE, EXAMPLES if holds else 1),
                               (GenerationMode.NEGATIVE, EXAMPLES // 2 if holds else 0)):
            if examples:
                _fuzz(operation, mode, examples, platform.api.url, headers, holds, role)


def _fuzz(operation, mode, examples, base_url, headers, holds, role):
    checks = CHECKS + ([openapi_checks.negative_data_rejection] if mode == GenerationMode.NEGATIVE else [])

    strategy = operation.as_strategy(generation_mode=mode)

    @given(case=strategy)
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def call(case):
        response = case.call_and_validate(base_url=base_url, headers=headers, checks=checks,
                                          additional_checks=[error_body_names_the_field])
        if not holds:
            assert response.status_code in (401, 403), (role, response.text)

    try:
        call()
    except Unsatisfiable:
        if mode != GenerationMode.NEGATIVE:
            raise  # an operation without inputs has nothing to get wrong; every other must be fuzzed
