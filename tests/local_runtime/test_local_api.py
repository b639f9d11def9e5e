"""API Gateway emulation: event shape, routing, responses (through a running runtime)."""
from __future__ import annotations

import base64
import http.client
import json
from urllib.parse import urlparse

import requests

from infra.local.api import MAX_BODY, Route, Router
from infra.local.runtime import LocalRuntime
from tests.local_runtime.conftest import free_port


def _raw_request(url: str, method: str, path: str, headers: list[tuple[str, str]], body: bytes | None = None):
    """http.client, because requests cannot send one header twice."""
    u = urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.putrequest(method, path, skip_accept_encoding=True)
    for k, v in headers:
        conn.putheader(k, v)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def test_proxy_event_shape(runtime):
    resp, data = _raw_request(
        runtime.api_url, "GET", "/items/ab%20c?x=1&x=2&y=a+b&empty=",
        [("X-Multi", "one"), ("X-Multi", "two"), ("Accept", "application/json")],
    )
    assert resp.status == 200
    out = json.loads(data)
    event = out["event"]
    assert out["greeting"] == "hi from the layer"      # layer on sys.path
    assert out["item_id"] == "ab c"                     # Chalice got the decoded path parameter
    assert event["resource"] == "/items/{item_id}"
    assert event["path"] == "/items/ab%20c"             # API Gateway keeps `path` encoded
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"item_id": "ab c"}
    assert event["queryStringParameters"] == {"x": "2", "y": "a b", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["a b"], "empty": [""]}
    assert event["headers"]["X-Multi"] == "two"         # last value wins
    assert event["multiValueHeaders"]["X-Multi"] == ["one", "two"]
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    assert event["stageVariables"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["resourcePath"] == "/items/{item_id}"
    assert ctx["httpMethod"] == "GET"
    assert ctx["stage"] == "test"
    assert ctx["path"] == "/test/items/ab%20c"
    assert ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert ctx["accountId"] == "123456789012"
    assert ctx["protocol"] == "HTTP/1.1"
    assert isinstance(ctx["requestTimeEpoch"], int)
    assert ctx["requestId"]
    assert ctx["apiId"]


def test_literal_segment_beats_parameter_and_nulls(runtime):
    out = requests.get(runtime.api_url + "/items/special", timeout=10).json()
    assert out["special"] is True
    event = out["event"]
    assert event["resource"] == "/items/special"
    assert event["pathParameters"] is None
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None


def test_body_utf8_is_passed_byte_for_byte(runtime):
    text = 'héllo ✓ {"a": 1}\r\n  trailing  '
    r = requests.post(runtime.api_url + "/items/1", data=text.encode("utf-8"),
                      headers={"Content-Type": "text/plain"}, timeout=10)
    event = r.json()["event"]
    assert event["isBase64Encoded"] is False
    assert event["body"] == text


def test_body_non_utf8_is_base64(runtime):
    raw = bytes([0xFF, 0x00, 0xFE, 0x80]) + "é".encode("latin-1")
    r = requests.post(runtime.api_url + "/items/1", data=raw,
                      headers={"Content-Type": "application/octet-stream"}, timeout=10)
    event = r.json()["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_unknown_path_and_wrong_method_are_403(runtime):
    for method, path in (("GET", "/nope"), ("DELETE", "/items/1"), ("GET", "/items/1/extra")):
        r = requests.request(method, runtime.api_url + path, timeout=10)
        assert r.status_code == 403, (method, path)
        assert r.json() == {"message": "Missing Authentication Token"}
        assert r.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


def test_greedy_proxy_path(runtime):
    r = requests.put(runtime.api_url + "/files/a/b%2Fc/d.txt", data=b"x", timeout=10)
    body = r.json()
    event = body["event"]
    assert event["resource"] == "/files/{proxy+}"
    assert event["pathParameters"] == {"proxy": "a/b/c/d.txt"}
    assert event["httpMethod"] == "PUT"
    assert body["function"] == "RawFunction"
    assert 0 < body["remaining"] <= 5000                 # Timeout 5 from Globals


def test_handler_exception_and_malformed_response_are_502(runtime):
    for path in ("/raw/boom", "/raw/malformed"):
        r = requests.get(runtime.api_url + path, timeout=10)
        assert r.status_code == 502
        assert r.json() == {"message": "Internal server error"}


def test_binary_response_and_multi_value_headers(runtime):
    r = requests.get(runtime.api_url + "/raw/binary", timeout=10)
    assert r.status_code == 201
    assert r.content == bytes(range(256))
    assert r.headers["X-One"] == "1"
    assert r.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]


def test_body_over_10mb_is_413(runtime):
    u = urlparse(runtime.api_url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.putrequest("POST", "/items/1")
    conn.putheader("Content-Length", str(MAX_BODY + 1))
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()


def test_template_environment_reaches_functions(runtime, fixture_repo):
    env = requests.get(runtime.api_url + "/env", timeout=10).json()
    assert env["STAGE"] == "test"
    assert env["GREETING"] == "hello"
    assert env["EXTRA_SECRET_ARN"] is None               # !If ... AWS::NoValue removed it
    assert env["WORK_QUEUE_URL"].startswith(runtime.aws_endpoint_url)
    assert env["APP_SECRET_ARN"].startswith("arn:aws:secretsmanager:us-east-1:123456789012:secret:fixture/test/app")
    assert env["PII_KEY_ID"] == "alias/fixture-test-pii"
    assert env["BUCKET"] == "fixture-test-files-123456789012"
    assert env["DATABASE_URL"] == f"sqlite:///{fixture_repo / '.local' / 'hospital.db'}"
    assert env["DB_POOL_SIZE"] == "10"
    assert (fixture_repo / ".local").is_dir()


def test_on_ready_runs_once_the_api_is_bound_and_services_reach_the_caller(fixture_repo, clean_env):
    ready_at: list[str | None] = []

    def before_start(ctx):
        ctx.services["partner"] = "started by the hook"
        ctx.on_ready(lambda: ready_at.append(ctx.api_url))

    with LocalRuntime(fixture_repo, api_port=0, control_port=0, websocket_port=0, aws_port=free_port(),
                      start_sqs=False, start_schedules=False, env=clean_env, before_start=before_start) as rt:
        assert ready_at == [rt.api_url]
        assert rt.ctx.services == {"partner": "started by the hook"}


def test_router_ranking_unit():
    routes = [Route("/a/{x}", "GET", "P", "s", "id"), Route("/a/b", "POST", "L", "s", "id"),
              Route("/{proxy+}", "ANY", "G", "s", "id")]
    router = Router(routes)
    assert router.find("GET", "/a/zz")[0].function == "P"
    assert router.find("POST", "/a/b")[0].function == "L"
    assert router.find("GET", "/a/b") is None            # best resource /a/b has no GET -> 403
    assert router.find("GET", "/q/r")[1] == {"proxy": "q/r"}
    assert router.find("GET", "/a/zz/")[0].function == "P"   # trailing slash
