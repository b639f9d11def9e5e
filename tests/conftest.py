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

    def queue_url(self, logical_id: str) -> str:
        return self.physical[logical_id]["Ref"]

    def sqs(self):
        from hospital.aws import client

        return client("sqs")


@contextlib.contextmanager
def platform_environment():
    """Everything outside the database the functions need, wired as template.yaml says."""
    from infra import devenv
    from infra.local import aws
    from infra.local.api import LOCAL_API_MARKER, ApiServer, Route, localize_rest_api
    from infra.local.functions import FunctionHost, function_environment
    from infra.local.template import ApiEvent, Template
    from infra.local.websocket import WebSocketServer, localize_environment
    from infra.simulators.triage import TriageSimulator
    from infra.simulators.wechat import WeChatSimulator

    saved = dict(os.environ)
    # Tests never touch a developer's LocalStack or AWS: always an embedded moto of their own.
    for key in ("AWS_ENDPOINT_URL", "WECHAT_API_BASE", "TRIAGE_API_BASE", "WECHATPAY_API_BASE", "HIS_API_BASE",
                "CREDIT_API_BASE", "MED_INS_API_BASE", "PAYMENT_NOTIFY_BASE_URL", "AWS_PROFILE"):
        os.environ.pop(key, None)
    endpoint = aws.start_endpoint(port=free_port())
    simulator = triage = live = host = wechatpay = his = credit = insurance = api = None
    try:
        template = Template.from_file(ROOT / "template.yaml", parameters={"PaymentNotifyBaseUrl": LOCAL_API_MARKER})
        physical = aws.provision(template, endpoint, {"WeChatSecret": devenv.wechat_secret_string(),
                                                      "TriageSecret": devenv.triage_secret_string(),
                                                      "WeChatPaySecret": devenv.wechatpay_secret_string(),
                                                      "HisSecret": devenv.his_secret_string(),
                                                      "CreditSecret": devenv.credit_secret_string(),
                                                      "MedInsSecret": devenv.insurance_secret_string()})
        simulator = WeChatSimulator(devenv.wechat_dev_secrets()).start()
        triage = TriageSimulator(devenv.TRIAGE_DEV_KEY).start()
        # WeChat's day of notification retries compressed to about 3 s.
        wechatpay = devenv.wechatpay_simulator(retry_scale=0.00003).start()
        his = devenv.start_his_simulator(port=0)
        credit = devenv.start_credit_simulator(port=0)
        insurance = devenv.start_insurance_simulator(port=0)
        os.environ["WECHAT_API_BASE"] = simulator.url
        os.environ["TRIAGE_API_BASE"] = triage.url
        os.environ["WECHATPAY_API_BASE"] = wechatpay.url
        os.environ["HIS_API_BASE"] = his.url
        os.environ["CREDIT_API_BASE"] = credit.url
        os.environ["MED_INS_API_BASE"] = insurance.url
        os.environ["DB_POOL_SIZE"] = "10"  # threads stand in for containers, as in the local runtime
        model = template.model(physical)
        # The functions, as Lambda would load them, and the WebSocket API's local server
        # (its connection-management endpoint is where live pushes go).
        host = FunctionHost(model.functions)
        live = WebSocketServer(host, list(model.websocket_apis.values()), model.region, port=0)
        live.start()
        os.environ["AWS_CA_BUNDLE"] = live.ca_bundle
        localize_environment(model.functions, list(model.websocket_apis.values()), model.region, live.domain)
        # The REST API over real HTTP, so the WeChat Pay simulator can call our callbacks.
        routes = [Route(ev.path, ev.method, lid, ev.stage, physical.get(ev.rest_api, {}).get("Ref", "local"))
                  for lid, fn in model.functions.items() for ev in fn.events_of(ApiEvent)]
        api = ApiServer(host, routes, port=0)
        localize_rest_api(model.functions, api.url)
        api.start()
        credit.callback_url = f"{api.url}/callbacks/credit"
        insurance.callback_url = f"{api.url}/callbacks/medical-insurance"
        os.environ.update(function_environment(model.functions, os.environ))
        _forget_container_state()
        ids = devenv.wechat_app_ids()
        yield Platform(endpoint, physical, simulator, devenv.wechat_dev_secrets(),
                       ids["mini_program"], ids["official_account"], triage, host, live, wechatpay, credit,
                       insurance, his, api)
    finally:
        for running in (simulator, triage, live, wechatpay, credit, insurance, his, api):
            if running is not None:
                running.stop()
        if host is not None:
            host.unload()
        endpoint.stop()
        os.environ.clear()
        os.environ.update(saved)
        _forget_container_state()


@pytest.fixture(scope="session")
def platform():
    with platform_environment() as value:
        yield value


def _forget_container_state() -> None:
    """What a fresh Lambda container would not have: cached clients, secrets, keys, pools."""
    from hospital import aws, config, crypto
    from hospital.auth import standing
    from hospital.db import reset_engine

    aws.reset_clients()
    config.clear_caches()
    crypto.forget_keys()
    standing.forget_all()  # user ids of one database mean other users in the next
    reset_engine()


@pytest.fixture(scope="session")
def mysql_url():
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
    devenv.migrate(url)
    yield url
    from hospital.db import reset_engine

    reset_engine()
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
    admin.dispose()


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
