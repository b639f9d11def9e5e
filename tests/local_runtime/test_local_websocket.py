"""WebSocket APIs: real clients through $connect / routes / $disconnect, and the @connections
management API through boto3 (what functions use), on the fixture template's LiveApi."""
from __future__ import annotations

import json
import os
import re
import socket
import time

import boto3
import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from infra.local.runtime import LocalRuntime
from infra.local.template import WebSocketRoute
from infra.local.websocket import aws_id, select_route
from tests.conftest import wait_for as _wait

AWS_ID = re.compile(r"^[A-Za-z0-9]{15}=$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



def _events(repo, connection_id: str, event_type: str | None = None) -> list[dict]:
    path = repo / "functions/live/events.jsonl"
    if not path.exists():
        return []
    events = [json.loads(line) for line in path.read_text().splitlines()]
    return [e for e in events if e["requestContext"]["connectionId"] == connection_id
            and event_type in (None, e["requestContext"]["eventType"])]


def _open(runtime, query: str = "token=good", **kwargs):
    return connect(f"{runtime.ws_url}/test?{query}", open_timeout=5, close_timeout=2, **kwargs)


def _ask(ws, payload) -> dict:
    ws.send(payload if isinstance(payload, str) else json.dumps(payload))
    return json.loads(ws.recv(timeout=5))


def _management(runtime):
    """What a function does: boto3 at https://{domainName}/{stage} (trusted via AWS_CA_BUNDLE)."""
    return boto3.session.Session().client("apigatewaymanagementapi",
                                          endpoint_url=f"https://{runtime.websocket.domain}/test")


def test_template_model_and_localized_endpoint(runtime):
    api = runtime.model.websocket_apis["LiveApi"]
    assert api.stage == "test"
    assert api.name == "fixture-live-test"
    assert api.route_selection_expression == "$request.body.action"
    assert {k: r.function for k, r in api.routes.items()} == {
        "$connect": "LiveConnectFunction", "$disconnect": "LiveDisconnectFunction",
        "$default": "LiveMessageFunction", "subscribe": "LiveSubscribeFunction"}
    assert api.routes["$connect"] == WebSocketRoute("$connect", "LiveConnectFunction", "LiveConnectRoute",
                                                    "LiveConnectIntegration")
    assert api.api_id == runtime.physical["LiveApi"]["Ref"]
    assert api.not_run == []
    # The template's !Sub https://${LiveApi}.execute-api... points at the local server.
    assert os.environ["LIVE_ENDPOINT"] == f"https://{runtime.websocket.domain}/test"
    assert runtime.ws_url == f"ws://{runtime.websocket.domain}"


def test_connect_event_routes_and_replies(runtime, fixture_repo):
    with _open(runtime, "token=good&patient=p%201&patient=p-2", subprotocols=["tok-123"],
               additional_headers={"X-Client": "mini-program"}) as ws:
        assert ws.subprotocol == "tok-123"                     # chosen by $connect's response header
        hello = _ask(ws, {"action": "hello", "n": 1})            # no "hello" route -> $default
        assert hello["handler"] == "message"
        assert hello["route"] == "$default"
        assert hello["echo"] == {"action": "hello", "n": 1}
        cid = hello["connection_id"]
        assert AWS_ID.match(cid)
        sub = _ask(ws, {"action": "subscribe", "case": "c-1"})   # own route, own function
        assert sub == {"handler": "subscribe", "route": "subscribe",
                       "live_endpoint": f"https://{runtime.websocket.domain}/test"}
        assert _ask(ws, "not json")["echo"] == {"text": "not json"}   # -> $default
        assert _ask(ws, {"action": {"nested": 1}})["route"] == "$default"

    connect_event, = _events(fixture_repo, cid, "CONNECT")
    assert connect_event["queryStringParameters"] == {"token": "good", "patient": "p-2"}
    assert connect_event["multiValueQueryStringParameters"] == {"token": ["good"], "patient": ["p 1", "p-2"]}
    assert connect_event["headers"]["Sec-WebSocket-Protocol"] == "tok-123"
    assert connect_event["headers"]["X-Client"] == "mini-program"
    assert connect_event["multiValueHeaders"]["X-Client"] == ["mini-program"]
    assert connect_event["isBase64Encoded"] is False
    ctx = connect_event["requestContext"]
    assert ctx["routeKey"] == "$connect"
    assert ctx["eventType"] == "CONNECT"
    assert ctx["stage"] == "test"
    assert ctx["apiId"] == runtime.physical["LiveApi"]["Ref"]
    assert ctx["domainName"] == runtime.websocket.domain
    assert ctx["identity"]["sourceIp"] == "127.0.0.1"
    assert isinstance(ctx["connectedAt"], int)
    assert isinstance(ctx["requestTimeEpoch"], int)
    assert AWS_ID.match(ctx["requestId"])
    assert ctx["messageDirection"] == "IN"

    messages = _events(fixture_repo, cid, "MESSAGE")
    assert [m["requestContext"]["routeKey"] for m in messages] == ["$default", "$default", "$default"]
    first = messages[0]
    assert json.loads(first["body"]) == {"action": "hello", "n": 1}
    assert first["isBase64Encoded"] is False
    assert first["requestContext"]["connectedAt"] == ctx["connectedAt"]
    assert AWS_ID.match(first["requestContext"]["messageId"])

    disconnect = _wait(lambda: _events(fixture_repo, cid, "DISCONNECT"))[0]["requestContext"]
    assert disconnect["routeKey"] == "$disconnect"
    assert disconnect["disconnectStatusCode"] == 1000


def test_connect_refused_by_status_is_403(runtime, fixture_repo):
    before = (fixture_repo / "functions/live/events.jsonl").read_text() \
        if (fixture_repo / "functions/live/events.jsonl").exists() else ""
    with pytest.raises(InvalidStatus) as info:
        _open(runtime, "token=bad")
    assert info.value.response.status_code == 403
    assert json.loads(info.value.response.body) == {"message": "Forbidden"}
    new = [json.loads(x) for x in (fixture_repo / "functions/live/events.jsonl").read_text()[len(before):].splitlines()]
    refused = [e for e in new if e["requestContext"]["eventType"] == "CONNECT"
               and e.get("queryStringParameters") == {"token": "bad"}]
    assert len(refused) == 1
    time.sleep(0.2)
    assert _events(fixture_repo, refused[0]["requestContext"]["connectionId"], "DISCONNECT") == []

    with pytest.raises(InvalidStatus) as info:                   # no query string at all
        connect(f"{runtime.ws_url}/test", open_timeout=5)
    assert info.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as info:                   # unknown stage
        connect(f"{runtime.ws_url}/prod?token=good", open_timeout=5)
    assert info.value.response.status_code == 403


def test_function_posts_to_other_connections_and_gone(runtime, fixture_repo):
    with _open(runtime) as a, _open(runtime) as b:
        b_id = _ask(b, {"action": "whoami"})["connection_id"]
        reply = _ask(a, {"action": "push", "push_to": b_id})    # app.websocket_api.send to b
        assert reply["pushed"] is True
        assert json.loads(b.recv(timeout=5)) == {"pushed_by": reply["connection_id"]}
        b.close()
        _wait(lambda: _events(fixture_repo, b_id, "DISCONNECT"))
        assert _ask(a, {"action": "push", "push_to": b_id})["pushed"] == "gone"   # WebsocketDisconnectedError

        client = _management(runtime)
        with pytest.raises(client.exceptions.GoneException):
            client.post_to_connection(ConnectionId=b_id, Data=b"late")
        with pytest.raises(client.exceptions.GoneException):
            client.get_connection(ConnectionId="bm90LWEtY29ubg=")

        a_id = reply["connection_id"]
        client.post_to_connection(ConnectionId=a_id, Data="直接 push".encode())
        assert a.recv(timeout=5) == "直接 push"
        info = client.get_connection(ConnectionId=a_id)
        assert info["Identity"]["SourceIp"] == "127.0.0.1"
        assert info["LastActiveAt"] >= info["ConnectedAt"]
    _wait(lambda: _events(fixture_repo, a_id, "DISCONNECT"))


def test_function_error_and_binary_frames(runtime, fixture_repo):
    with _open(runtime) as ws:
        cid = _ask(ws, {"action": "whoami"})["connection_id"]
        err = _ask(ws, {"action": "boom"})
        assert err["message"] == "Internal server error"
        assert err["connectionId"] == cid
        assert err["requestId"]
        ws.send(b"\x00\x01")                                       # API Gateway refuses binary frames
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
    assert info.value.rcvd.code == 1003
    event = _wait(lambda: _events(fixture_repo, cid, "DISCONNECT"))[0]
    assert event["requestContext"]["disconnectStatusCode"] == 1003


def test_server_side_close_delete_and_self_close(runtime, fixture_repo):
    client = _management(runtime)
    with _open(runtime) as ws:
        cid = _ask(ws, {"action": "whoami"})["connection_id"]
        client.delete_connection(ConnectionId=cid)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert info.value.rcvd.code == 1000
    assert _wait(lambda: _events(fixture_repo, cid, "DISCONNECT"))[0]["requestContext"]["disconnectStatusCode"] == 1000
    with pytest.raises(client.exceptions.GoneException):
        client.delete_connection(ConnectionId=cid)

    with _open(runtime) as ws:                                      # app.websocket_api.close from the function
        bye = _ask(ws, {"action": "bye"})
        assert bye["echo"] == {"action": "bye"}
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    _wait(lambda: _events(fixture_repo, bye["connection_id"], "DISCONNECT"))


def test_management_over_plain_http_and_errors(runtime, fixture_repo):
    base = f"http://{runtime.websocket.domain}/test/@connections"
    r = requests.post(f"{base}/nope", data=b"x", timeout=5)
    assert r.status_code == 410
    assert r.headers["x-amzn-ErrorType"] == "GoneException"
    assert requests.get(f"http://{runtime.websocket.domain}/other/path", timeout=5).status_code == 403
    with _open(runtime) as ws:
        cid = _ask(ws, {"action": "whoami"})["connection_id"]
        assert requests.post(f"{base}/{cid}", data=b"plain http", timeout=5).status_code == 200
        assert ws.recv(timeout=5) == "plain http"
        too_big = requests.post(f"{base}/{cid}", data=b"x" * (128 * 1024 + 1), timeout=5)
        assert too_big.status_code == 413
        assert too_big.headers["x-amzn-ErrorType"] == "PayloadTooLargeException"
        info = requests.get(f"{base}/{cid}", timeout=5).json()
        assert set(info) == {"connectedAt", "identity", "lastActiveAt"}       # wire names of GetConnection
        assert requests.delete(f"{base}/{cid}", timeout=5).status_code == 204
    _wait(lambda: _events(fixture_repo, cid, "DISCONNECT"))


def test_wss_with_the_local_ca(runtime, fixture_repo):
    url = f"wss://{runtime.websocket.domain}/test?token=good"
    with connect(url, ssl=runtime.websocket.tls.client_context(), open_timeout=5) as ws:
        reply = _ask(ws, {"action": "hi"})
        assert reply["route"] == "$default"
    _wait(lambda: _events(fixture_repo, reply["connection_id"], "DISCONNECT"))


def test_stop_closes_connections_with_1001(fixture_repo, clean_env):
    env_before = dict(os.environ)
    rt = LocalRuntime(fixture_repo, websocket_port=0, aws_port=free_port(), start_api=False, start_control=False,
                      start_sqs=False, start_schedules=False, env=clean_env)
    rt.start()
    port = int(rt.websocket.domain.rsplit(":", 1)[1])
    ws = _open(rt).__enter__()
    cid = _ask(ws, {"action": "whoami"})["connection_id"]
    rt.stop()
    with pytest.raises(ConnectionClosed) as info:
        ws.recv(timeout=5)
    assert info.value.rcvd.code == 1001
    assert _events(fixture_repo, cid, "DISCONNECT")[0]["requestContext"]["disconnectStatusCode"] == 1001
    assert dict(os.environ) == env_before                   # AWS_CA_BUNDLE and the rest restored
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()


def test_select_route_and_ids():
    expr = "$request.body.action"
    assert select_route(expr, '{"action": "subscribe"}') == "subscribe"
    assert select_route(expr, '{"action": 7}') == "7"
    assert select_route(expr, '{"other": 1}') is None
    assert select_route(expr, "not json") is None
    assert select_route(expr, '{"action": {"a": 1}}') is None
    assert select_route("$request.body.meta.kind", '{"meta": {"kind": "ping"}}') == "ping"
    assert select_route("${request.body.type}-${request.body.op}", '{"type": "case", "op": "get"}') == "case-get"
    assert all(AWS_ID.match(aws_id()) for _ in range(50))


def test_template_routes_need_integrations(tmp_path):
    """Routes whose target is not a Lambda proxy of the template are reported, not guessed."""
    from infra.local.template import Template

    (tmp_path / "t.yaml").write_text("""
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: ., Handler: app.handler}
  Ws:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: ws, ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.type}
  Http:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: http, ProtocolType: HTTP}
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties: {ApiId: !Ref Ws, StageName: live}
  Lit:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Ws, RouteKey: lit, Target: !Sub "integrations/${LitIntegration}"}
  LitIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Ws
      IntegrationType: AWS_PROXY
      IntegrationUri: "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/\\
        arn:aws:lambda:us-east-1:123456789012:function:Fn/invocations"
  Mock:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref Ws, RouteKey: $default, AuthorizationType: CUSTOM,
                 Target: !Join [/, [integrations, !Ref MockIntegration]]}
  MockIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties: {ApiId: !Ref Ws, IntegrationType: MOCK}
""")
    t = Template.from_file(tmp_path / "t.yaml")
    physical = {"Fn": {"Ref": "Fn", "Arn": "arn:aws:lambda:us-east-1:123456789012:function:Fn"},
                "Ws": {"Ref": "wsid"}, "Http": {"Ref": "httpid"}, "LitIntegration": {"Ref": "abc1234"}}
    model = t.model(physical)
    api = model.websocket_apis["Ws"]
    assert api.stage == "live"
    assert api.route_selection_expression == "$request.body.type"
    assert api.function_for("lit") == "Fn"                  # literal invocation ARN of a template function
    assert api.function_for("$default") is None
    assert any("MOCK" in p for p in api.not_run)
    assert any("CUSTOM" in p for p in api.not_run)
    assert model.not_run == ["Http (AWS::ApiGatewayV2::Api, ProtocolType HTTP)"]
