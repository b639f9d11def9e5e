"""Shared fixtures: the AWS side (embedded moto over HTTP), the WeChat simulator, and the
databases (real MariaDB/MySQL and the SQLite file `make run` uses).

MySQL comes from TEST_DATABASE_URL (default: root on 127.0.0.1:3306); each run gets its
own database, dropped at the end. If the server cannot be reached those tests skip with
the reason in the summary, unless REQUIRE_MYSQL=1 (CI), where they fail.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import socket
import time
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Under pytest (not when a benchmark imports these helpers: production does not check),
    every answer of every route the tests call is checked against the route's declared contract
    (hospital.api_contract): the published OpenAPI document is what the code answers."""
    os.environ["HOSPITAL_CHECK_CONTRACTS"] = "1"


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.05):
    """Poll `predicate` until it returns something truthy (that value is returned)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclasses.dataclass
class Platform:
    endpoint: object
    physical: dict
    wechat: object
    wechat_secrets: dict
    mini_program_app_id: str
    official_account_app_id: str
    triage: object = None
    host: object = None  # infra.local.functions.FunctionHost
    live: object = None  # infra.local.websocket.WebSocketServer
    wechatpay: object = None  # infra.simulators.wechatpay.WeChatPaySimulator
    credit: object = None  # infra.simulators.credit.CreditSimulator
    insurance: object = None  # infra.simulators.medical_insurance.InsuranceSimulator
    his: object = None  # infra.simulators.his.HisSimulator
    api: object = None  # infra.local.api.ApiServer over `host`: where payment notifications arrive
    runtime: object = None  # infra.local.runtime.LocalRuntime: all of the above, as `make run` starts it

    def queue_url(self, logical_id: str) -> str:
        return self.physical[logical_id]["Ref"]

    def sqs(self):
        from hospital.aws import client

        return client("sqs")


# Tests never touch a developer's LocalStack, AWS or partners: an embedded moto and simulators of their own.
OUTSIDE_SYSTEMS = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "PAYMENT_NOTIFY_BASE_URL", "WECHAT_API_BASE", "TRIAGE_API_BASE",
                   "WECHATPAY_API_BASE", "HIS_API_BASE", "CREDIT_API_BASE", "MED_INS_API_BASE")


def platform_runtime():
    """`make run`'s local runtime, hook included, as the tests use it: free ports; no queue
    pollers, schedules or invoke endpoint (tests drive those themselves); functions imported on
    first use; no database of its own (each test chooses one: _use_database)."""
    import functools

    from infra.local import hooks
    from infra.local.runtime import LocalRuntime

    return LocalRuntime(
        ROOT, api_port=0, websocket_port=0, aws_port=free_port(),
        start_control=False, start_sqs=False, start_schedules=False, load_functions=False,
        # An empty DATABASE_URL is set: the runtime leaves it alone, so no .local/ SQLite is made.
        env={**dict.fromkeys(OUTSIDE_SYSTEMS), "DATABASE_URL": "", "DB_POOL_SIZE": "10"},
        # WeChat's day of notification retries compressed to about 3 s.
        before_start=functools.partial(hooks.before_start, migrate=False, simulator_port=0,
                                       simulator_options={"wechatpay": {"retry_scale": 0.00003}}),
    )


@contextlib.contextmanager
def platform_environment():
    """Everything outside the database the functions need, wired as template.yaml says."""
    from infra import devenv

    try:
        with platform_runtime() as runtime:
            _forget_container_state()
            started, ids = runtime.ctx.services, devenv.wechat_app_ids()
            yield Platform(runtime.endpoint, runtime.physical, started["wechat"], devenv.wechat_dev_secrets(),
                           ids["mini_program"], ids["official_account"], started["triage"], runtime.host,
                           runtime.websocket, started["wechatpay"], started["credit"], started["medical_insurance"],
                           started["his"], runtime.api, runtime)
    finally:
        _forget_container_state()


@pytest.fixture(scope="session")
def platform():
    with platform_environment() as value:
        yield value


def _forget_container_state() -> None:
    """What a fresh Lambda container would not have: what a SnapStart snapshot must not carry
    either, so one list serves both (hospital.snapshot.HELD)."""
    from hospital import snapshot

    snapshot.forget_container_state()


@contextlib.contextmanager
def new_mysql_database():
    """A migrated MariaDB/MySQL database of its own (its URL), dropped afterwards."""
    import sqlalchemy as sa

    from infra import devenv

    base = sa.engine.make_url(os.environ.get("TEST_DATABASE_URL", "mysql+pymysql://root@127.0.0.1:3306/"))
    try:
        admin = sa.create_engine(base, connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server is reported as the skip's reason
        reason = f"MySQL/MariaDB unreachable at {base.render_as_string(hide_password=True)}: {exc!r}"
        if os.environ.get("REQUIRE_MYSQL") == "1":
            pytest.fail(reason + " (REQUIRE_MYSQL=1)")
        pytest.skip("!!! " + reason + " -- MySQL tests NOT run")
    name = f"hospital_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        devenv.migrate(url)
        yield url
    finally:
        from hospital.db import reset_engine

        reset_engine()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()


@pytest.fixture(scope="session")
def mysql_url():
    with new_mysql_database() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory):
    from infra import devenv

    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'hospital.db'}"
    devenv.migrate(url)
    return url


def _use_database(url: str) -> None:
    if os.environ.get("DATABASE_URL") != url:
        os.environ["DATABASE_URL"] = url
        _forget_container_state()


@pytest.fixture(params=["mysql", "sqlite"])
def db(request, platform):
    """The test runs once on MariaDB/MySQL and once on SQLite (what `make run` uses)."""
    _use_database(request.getfixturevalue(f"{request.param}_url"))
    return request.param


@pytest.fixture
def mysql_db(platform, mysql_url):
    """MariaDB/MySQL only: concurrency and production-only behaviour."""
    _use_database(mysql_url)
    return "mysql"


@pytest.fixture
def fresh_app_id(platform):
    """A WeChat app of its own, so token tests don't share state."""
    app_id = f"wx-test-{uuid.uuid4().hex[:8]}"
    platform.wechat.apps[app_id] = "sim-secret"
    return app_id


@pytest.fixture
def patient(db, platform):
    """A signed-in patient: (principal, access token)."""
    return make_patient(platform)


def acting_as(user_id: int):
    """The user as a request would act: with the roles and permissions they hold now
    (hospital.auth.standing), for calling the layer directly."""
    from hospital.auth import standing
    from hospital.auth.tokens import Principal

    return standing.current(Principal(user_id=user_id, roles=frozenset()), fresh=True)


def make_patient(platform, openid: str | None = None):
    from hospital.auth import sessions
    from hospital.auth.tokens import verify_access_token

    issued = sessions.sign_in_identity(platform.mini_program_app_id, openid or f"o-{uuid.uuid4().hex[:12]}")
    return verify_access_token(issued["access_token"]), issued["access_token"]


@pytest.fixture(scope="session")
def functions(platform):
    """The template's functions loaded as Lambda would load them, invoked in-process."""
    return platform.host


def api_event(method: str, path: str, *, resource: str | None = None, body=None, token: str | None = None,
              headers: dict | None = None, path_parameters: dict | None = None) -> dict:
    """An API Gateway REST proxy event as API Gateway sends it."""
    import json as _json

    all_headers = {"Content-Type": "application/json", "X-Correlation-Id": f"test-{uuid.uuid4().hex[:8]}"}
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    all_headers.update(headers or {})
    if isinstance(body, (dict, list)):
        body = _json.dumps(body)
    resource = resource or path
    return {
        "resource": resource, "path": path, "httpMethod": method,
        "headers": all_headers, "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": path_parameters, "stageVariables": None,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "path": f"/dev{path}",
                           "stage": "dev", "requestId": uuid.uuid4().hex,
                           "identity": {"sourceIp": "127.0.0.1"}},
        "body": body, "isBase64Encoded": False,
    }


def call(functions, function: str, event: dict) -> tuple[int, dict]:
    """Invoke an HTTP function; returns (status, decoded JSON body)."""
    import json as _json

    invocation = functions.invoke(function, event)
    assert invocation.ok, invocation.error_payload
    body = invocation.result.get("body")
    return invocation.result["statusCode"], (_json.loads(body) if body else None)
