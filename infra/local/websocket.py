"""API Gateway WebSocket APIs (AWS::ApiGatewayV2::Api, ProtocolType WEBSOCKET) on one port.

  ws://127.0.0.1:3002/{stage}                         clients ("/" too when there is one API;
                                                      wss:// as well)
  https://127.0.0.1:3002/{stage}/@connections/{id}    connection management, like
                                                      https://{apiId}.execute-api.../{stage}:
                                                      POST sends the body, GET describes,
                                                      DELETE closes (http:// as well)

Like API Gateway:
- the opening handshake invokes the $connect route's function with a CONNECT event; a
  non-2xx statusCode refuses the connection with HTTP 403 (a failed invocation with 502) and
  it never opens; a Sec-WebSocket-Protocol header in the response selects the subprotocol;
- each text message is routed by the API's RouteSelectionExpression ($request.body.action on
  a JSON body) to that route key's function, else to $default; with neither the client gets
  {"message": "Forbidden", ...}, and when the function fails {"message": "Internal server
  error", ...}; what a message's function returns is not sent back (no RouteResponse);
- binary frames close the connection with 1003, messages over 128 KiB (frames over 32 KiB)
  with 1009;
- when a connection closes (either side, DELETE, or the runtime stopping) $disconnect gets a
  DISCONNECT event with disconnectStatusCode / disconnectReason; the connection is already
  gone then, as are connections still in $connect;
- the management API answers with the real status codes and x-amzn-ErrorType, so boto3's
  apigatewaymanagementapi client raises GoneException for a closed or unknown connection.

Reaching the management API from a function, without a local-only switch:
- requestContext.domainName is "127.0.0.1:<port>", so `https://{domainName}/{stage}` (what
  functions give boto3 as endpoint_url) is this server. It speaks TLS with a certificate of
  a throw-away local CA, which the runtime adds to AWS_CA_BUNDLE (tls.py);
- Chalice's app.websocket_api builds its endpoint from apiId and region instead
  (https://{apiId}.execute-api.{region}.amazonaws.com/{stage}); before invoking a function
  whose Chalice app has a websocket_api, the server calls its public
  `websocket_api.configure(domainName, stage)`, which Chalice then keeps;
- the API's public domain ({apiId}.execute-api.{region}.amazonaws.com, e.g. from
  !Sub or !GetAtt Api.ApiEndpoint) in function environment variables is replaced by the
  local one (`localize_environment`), for functions that push without a WebSocket event.

Messages of one connection are handled one at a time, in order, in that connection's thread.
"""
from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import re
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from websockets.datastructures import Headers
from websockets.frames import CloseCode, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import CLOSED, OPEN
from websockets.server import ServerProtocol

from infra.httpserver import StoppableHTTPServer

from .api import proxy_headers, proxy_query
from .functions import FunctionHost, Invocation, log_line
from .template import Function, TemplateError, WebSocketApi
from .tls import LocalTls

MAX_MESSAGE = 128 * 1024    # API Gateway's limits: message and PostToConnection data ...
MAX_FRAME = 32 * 1024       # ... and a single frame
CLOSE_TIMEOUT = 3.0         # seconds a peer has to answer our close frame
MANAGEMENT = "@connections"
_SELECTION = re.compile(r"\$\{?request\.body\.([A-Za-z0-9_.\-]+)\}?")


def aws_id() -> str:
    """An id shaped like API Gateway's connection / request ids ("L0SM9cOFvHcCIhw=")."""
    while True:
        value = base64.b64encode(secrets.token_bytes(11)).decode("ascii")
        if "/" not in value and "+" not in value:   # they go into URL paths
            return value


def select_route(expression: str, body: str) -> str | None:
    """The route key a message body selects, or None (not JSON, or the field is missing).

    Supports `$request.body.<path>` and templates such as `${request.body.type}-x`."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    missing = False

    def value(m: re.Match) -> str:
        nonlocal missing
        v: Any = doc
        for part in m.group(1).split("."):
            if not isinstance(v, dict) or part not in v:
                missing = True
                return ""
            v = v[part]
        if v is None or isinstance(v, (dict, list)):
            missing = True
            return ""
        return json.dumps(v) if isinstance(v, bool) else str(v)

    key = _SELECTION.sub(value, expression)
    return None if missing or key == expression else key


def localize_environment(functions: Mapping[str, Function], apis: Iterable[WebSocketApi], region: str,
                         domain: str) -> None:
    """Replace the APIs' public domain in the functions' environment values by `domain`."""
    public = [f"{api.api_id}.execute-api.{region}.amazonaws.com" for api in apis]
    for fn in functions.values():
        for key, original in fn.environment.items():
            value = original
            for name in public:
                value = value.replace(name, domain)
            fn.environment[key] = value


class Connection:
    """One open client connection. send() and close() may be called from any thread."""

    def __init__(self, connection_id: str, api: WebSocketApi, sock: socket.socket, protocol: ServerProtocol,
                 source_ip: str, user_agent: str | None, connected_at: float) -> None:
        self.id = connection_id
        self.api = api
        self.stage = api.stage
        self.source_ip = source_ip
        self.user_agent = user_agent
        self.connected_at = connected_at
        self.last_active_at = connected_at
        self.closed_by_server: tuple[int, str] | None = None
        self._sock = sock
        self._protocol = protocol
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._protocol.state is OPEN

    def send(self, data: bytes) -> bool:
        """One message: a text frame when `data` is UTF-8, else binary. False: connection gone."""
        with self._lock:
            if self._protocol.state is not OPEN:
                return False
            try:
                data.decode("utf-8")
                self._protocol.send_text(data)
            except UnicodeDecodeError:
                self._protocol.send_binary(data)
            ok = self._flush()
        if ok:
            self.last_active_at = time.time()
        return ok

    def close(self, code: int, reason: str = "") -> bool:
        """Start the closing handshake; a peer that does not answer is cut off after CLOSE_TIMEOUT."""
        with self._lock:
            if self._protocol.state is not OPEN:
                return False
            self.closed_by_server = (int(code), reason)
            self._protocol.send_close(code, reason)
            self._flush()
        timer = threading.Timer(CLOSE_TIMEOUT, self._abort)
        timer.daemon = True
        timer.start()
        return True

    def receive(self, data: bytes) -> list[Frame]:
        """Feed bytes read from the socket (b"" = end of stream); returns the frames received."""
        with self._lock:
            if data:
                self._protocol.receive_data(data)
            else:
                self._protocol.receive_eof()
            events = self._protocol.events_received()
            self._flush()   # pongs, close echoes
            if self._protocol.close_expected():
                self._sock.settimeout(CLOSE_TIMEOUT)
        return [e for e in events if isinstance(e, Frame)]

    @property
    def finished(self) -> bool:
        return self._protocol.state is CLOSED

    def disconnect_status(self) -> tuple[int, str]:
        """disconnectStatusCode / disconnectReason of the DISCONNECT event."""
        p = self._protocol
        if p.close_rcvd is not None and p.close_rcvd_then_sent is not False and self.closed_by_server is None:
            code = int(p.close_rcvd.code)
            return code, p.close_rcvd.reason or (
                "Client-side close frame status not set" if code == CloseCode.NO_STATUS_RCVD else "")
        if self.closed_by_server is not None:
            return self.closed_by_server
        if p.close_sent is not None:    # the protocol failed the connection (e.g. 1009)
            return int(p.close_sent.code), p.close_sent.reason
        return int(CloseCode.ABNORMAL_CLOSURE), "Connection closed without a close frame"

    def _flush(self) -> bool:
        try:
            for chunk in self._protocol.data_to_send():
                if chunk:
                    self._sock.sendall(chunk)
                else:
                    self._sock.shutdown(socket.SHUT_WR)   # the protocol's end of stream
        except OSError:
            return False
        return True

    def _abort(self) -> None:
        if self._protocol.state is not CLOSED:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)


class WebSocketServer:
    """The template's WebSocket APIs and their connection-management API on one port."""

    def __init__(self, host: FunctionHost, apis: Iterable[WebSocketApi], region: str,
                 bind: str = "127.0.0.1", port: int = 3002, account_id: str = "123456789012") -> None:
        self.host = host
        self.region = region
        self.account_id = account_id
        self.apis = [api for api in apis if api.stage is not None]
        self._by_stage: dict[str, WebSocketApi] = {}
        for api in self.apis:
            if api.stage in self._by_stage:
                raise TemplateError(
                    f"WebSocket APIs {self._by_stage[api.stage].logical_id} and {api.logical_id} both use stage "
                    f"{api.stage!r}: locally they share one port, told apart by the stage in the path")
            self._by_stage[api.stage] = api
        self.connections: dict[str, Connection] = {}
        self._lock = threading.Condition()
        self._sessions = 0
        self._configured: set[str] = set()
        # An AWS_CA_BUNDLE already set stays trusted: it is the base of ours.
        self.tls = LocalTls.create(os.environ.get("AWS_CA_BUNDLE"))
        try:
            self.server = StoppableHTTPServer((bind, port), _make_handler(self), name="local-websocket",
                                              ssl_context=self.tls.server_context())
        except BaseException:
            self.tls.remove()
            raise

    # ---- addresses ----------------------------------------------------------------------

    @property
    def domain(self) -> str:
        """requestContext.domainName: host:port of this server (the certificate's names)."""
        host, port = self.server.server_address[:2]
        return f"{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"

    @property
    def url(self) -> str:
        return f"ws://{self.domain}"

    def endpoint(self, stage: str) -> str:
        """The apigatewaymanagementapi endpoint_url of a stage, as functions build it."""
        return f"https://{self.domain}/{stage}"

    @property
    def ca_bundle(self) -> str:
        return str(self.tls.ca_bundle)

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        """Close every connection (1001 Going away, $disconnect runs), then the server."""
        with self._lock:
            conns = list(self.connections.values())
        for conn in conns:
            conn.close(CloseCode.GOING_AWAY, "Going away")
        deadline = time.monotonic() + CLOSE_TIMEOUT + 2
        with self._lock:
            while self._sessions and time.monotonic() < deadline:
                self._lock.wait(0.1)
        self.server.stop()
        self.tls.remove()

    # ---- connections --------------------------------------------------------------------

    def api_for_path(self, path: str) -> WebSocketApi | None:
        parts = [unquote(p) for p in path.strip("/").split("/") if p]
        if not parts:
            return self.apis[0] if len(self.apis) == 1 else None
        return self._by_stage.get(parts[0]) if len(parts) == 1 else None

    def session(self, handler: BaseHTTPRequestHandler, api: WebSocketApi, query: str) -> None:
        """Handshake ($connect), messages, $disconnect: the whole life of one connection."""
        with self._lock:
            self._sessions += 1
        try:
            self._session(handler, api, query)
        finally:
            with self._lock:
                self._sessions -= 1
                self._lock.notify_all()

    def _session(self, handler: BaseHTTPRequestHandler, api: WebSocketApi, query: str) -> None:
        sock: socket.socket = handler.connection
        header_items = list(handler.headers.items())
        source_ip = handler.client_address[0]
        user_agent = handler.headers.get("User-Agent")
        protocol = ServerProtocol(max_size=(MAX_MESSAGE, MAX_FRAME))
        # http.server has read the request; the protocol parses the same bytes again.
        protocol.receive_data(handler.raw_requestline + b"".join(
            f"{k}: {v}\r\n".encode("latin-1") for k, v in header_items) + b"\r\n")
        events = protocol.events_received()
        if not events:
            _send_all(sock, protocol.data_to_send())
            return
        response = protocol.accept(events[0])   # 101, or 400/426 for a bad handshake
        connection_id, connected_at = aws_id(), time.time()
        if response.status_code == 101:
            refusal, selected = self._connect(api, connection_id, connected_at, handler, header_items, query)
            if refusal is not None:
                response = refusal
            elif selected:
                response.headers["Sec-WebSocket-Protocol"] = selected
        protocol.send_response(response)
        if not _send_all(sock, protocol.data_to_send()) or protocol.state is not OPEN:
            return
        conn = Connection(connection_id, api, sock, protocol, source_ip, user_agent, connected_at)
        with self._lock:
            self.connections[connection_id] = conn
        try:
            self._read(conn, handler.rfile)
        finally:
            with self._lock:
                self.connections.pop(connection_id, None)
            self._disconnect(conn, handler.headers.get("Host", self.domain))

    def _read(self, conn: Connection, rfile: Any) -> None:
        kind, parts = None, []
        while True:
            try:
                data = rfile.read1(65536)
            except (OSError, ValueError):   # timeout after a close frame, reset, server stopping
                data = b""
            for frame in conn.receive(data):
                if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                    kind, parts = frame.opcode, [frame.data]
                elif frame.opcode is Opcode.CONT:
                    parts.append(frame.data)
                else:
                    continue   # ping, pong, close: answered by the protocol
                if frame.fin:
                    self._message(conn, kind, b"".join(parts))
                    kind, parts = None, []
            if not data or conn.finished:
                return

    # ---- invocations --------------------------------------------------------------------

    def _connect(self, api: WebSocketApi, connection_id: str, connected_at: float,
                 handler: BaseHTTPRequestHandler, header_items: list[tuple[str, str]],
                 query: str) -> tuple[Response | None, str | None]:
        """(refusal response or None, subprotocol selected by $connect's response)."""
        fn = api.function_for("$connect")
        if fn is None:
            return None, None
        secure = isinstance(handler.connection, ssl.SSLSocket)
        headers, multi_headers = proxy_headers(header_items, handler.client_address[0],
                                               self.server.server_address[1], "https" if secure else "http")
        multi_query = proxy_query(query)
        event: dict[str, Any] = {"headers": headers, "multiValueHeaders": multi_headers}
        if multi_query:   # absent, not null, when the URL has no query string
            event["queryStringParameters"] = {k: v[-1] for k, v in multi_query.items()}
            event["multiValueQueryStringParameters"] = multi_query
        event["requestContext"] = self._context(api, "$connect", "CONNECT", connection_id, connected_at,
                                                handler.client_address[0], handler.headers.get("User-Agent"))
        event["isBase64Encoded"] = False
        detail = {"route": "$connect", "connection_id": connection_id}
        inv = self._invoke(fn, api, event, detail)
        status, selected = _connect_outcome(inv.result) if inv.ok else (None, None)
        if status is None:
            return _http_error(502, "Internal server error"), None
        if not 200 <= status < 300:
            return _http_error(403, "Forbidden"), None
        return None, selected

    def _message(self, conn: Connection, kind: Opcode | None, data: bytes) -> None:
        conn.last_active_at = time.time()
        if kind is Opcode.BINARY:   # API Gateway does not accept binary frames from clients
            conn.close(CloseCode.UNSUPPORTED_DATA, "Binary frames are not supported")
            return
        try:
            body = data.decode("utf-8")
        except UnicodeDecodeError:
            conn.close(CloseCode.INVALID_DATA, "Invalid UTF-8 in a text frame")
            return
        api = conn.api
        key = select_route(api.route_selection_expression, body)
        route_key = key if key in api.routes else "$default"
        fn = api.function_for(route_key)
        context = self._context(api, route_key, "MESSAGE", conn.id, conn.connected_at, conn.source_ip,
                                conn.user_agent)
        if fn is None:
            log_line({"function": None, "trigger": "websocket", "outcome": "no_route", "route": key,
                      "connection_id": conn.id})
            conn.send(_client_error("Forbidden", conn.id, context["requestId"]))
            return
        event = {"requestContext": context, "body": body, "isBase64Encoded": False}
        inv = self._invoke(fn, api, event, {"route": route_key, "connection_id": conn.id})
        if not inv.ok:
            conn.send(_client_error("Internal server error", conn.id, context["requestId"]))

    def _disconnect(self, conn: Connection, host_header: str) -> None:
        fn = conn.api.function_for("$disconnect")
        if fn is None:
            return
        code, reason = conn.disconnect_status()
        headers = {"Host": host_header, "x-api-key": "", "X-Forwarded-For": "", "x-restapi": ""}
        context = self._context(conn.api, "$disconnect", "DISCONNECT", conn.id, conn.connected_at,
                                conn.source_ip, conn.user_agent)
        context.update(disconnectStatusCode=code, disconnectReason=reason)
        event = {"headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
                 "requestContext": context, "isBase64Encoded": False}
        self._invoke(fn, conn.api, event, {"route": "$disconnect", "connection_id": conn.id, "close_code": code})

    def _invoke(self, fn: str, api: WebSocketApi, event: dict, detail: dict) -> Invocation:
        self._configure_chalice(fn, api)
        if detail["route"] == "$connect":
            def classify(result: Any) -> tuple[str, dict]:
                status = _connect_outcome(result)[0]
                return ("ok", {**detail, "status": status}) if status is not None else \
                    ("error", {**detail, "status": 502, "error": "malformed $connect response"})
        else:
            def classify(result: Any) -> tuple[str, dict]:
                return "ok", dict(detail)
        return self.host.invoke(fn, event, trigger="websocket", classify=classify, error_detail=dict(detail))

    def _configure_chalice(self, fn: str, api: WebSocketApi) -> None:
        """Point a Chalice app's websocket_api at this server before its first use.

        Chalice would build https://{apiId}.execute-api.{region}.amazonaws.com/{stage} from the
        event; WebsocketAPI.configure() is public and the first configuration wins."""
        if fn in self._configured:
            return
        try:
            handler = self.host.load(fn)
        except Exception:  # noqa: BLE001 - the invocation reports the import error
            return
        self._configured.add(fn)
        owners = [handler, *getattr(handler, "__globals__", {}).values()]
        for owner in owners:
            ws_api = getattr(owner, "websocket_api", None)
            if type(ws_api).__name__ == "WebsocketAPI" and callable(getattr(ws_api, "configure", None)):
                ws_api.configure(self.domain, api.stage)

    def _context(self, api: WebSocketApi, route_key: str, event_type: str, connection_id: str,
                 connected_at: float, source_ip: str, user_agent: str | None) -> dict:
        now = time.time()
        request_id = aws_id()
        context: dict[str, Any] = {"routeKey": route_key}
        if event_type == "MESSAGE":
            context["messageId"] = aws_id()
        context.update({
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "messageDirection": "IN",
            "stage": api.stage,
            "connectedAt": int(connected_at * 1000),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"userAgent": user_agent, "sourceIp": source_ip},
            "requestId": request_id,
            "domainName": self.domain,
            "connectionId": connection_id,
            "apiId": api.api_id,
        })
        return context

    # ---- connection-management API ------------------------------------------------------

    def manage(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """POST / GET / DELETE /{stage}/@connections/{connectionId} -> (status, headers, body)."""
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if len(parts) != 3 or parts[1] != MANAGEMENT or parts[0] not in self._by_stage:
            return _api_error(403, "ForbiddenException", "Forbidden")
        stage, connection_id = parts[0], parts[2]
        with self._lock:
            conn = self.connections.get(connection_id)
        gone = _api_error(410, "GoneException", f"connection {connection_id} is gone (closed, unknown, or "
                                                   "still in $connect)")
        if conn is None or conn.stage != stage or not conn.is_open:
            return gone
        if method == "POST":
            if len(body) > MAX_MESSAGE:
                return _api_error(413, "PayloadTooLargeException", "Message too long")
            if not conn.send(body):
                return gone
            return 200, {}, b""
        if method == "GET":
            return 200, {}, json.dumps({
                "connectedAt": _iso(conn.connected_at),
                "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
                "lastActiveAt": _iso(conn.last_active_at),
            }).encode()
        if method == "DELETE":
            conn.close(CloseCode.NORMAL_CLOSURE)
            return 204, {}, b""
        return _api_error(403, "ForbiddenException", "Forbidden")


def _connect_outcome(result: Any) -> tuple[int | None, str | None]:
    """(statusCode, Sec-WebSocket-Protocol) of a $connect result; statusCode None = malformed."""
    if not isinstance(result, dict):
        return 200, None   # no proxy response at all: the invocation succeeded
    try:
        status = int(result.get("statusCode", 200))
    except (TypeError, ValueError):
        return None, None
    selected = None
    for source in (result.get("multiValueHeaders") or {}, result.get("headers") or {}):
        if not isinstance(source, dict):
            return None, None
        for name, value in source.items():
            if name.lower() == "sec-websocket-protocol":
                selected = str(value[0] if isinstance(value, list) and value else value)
    return status, selected


def _http_error(status: int, message: str) -> Response:
    body = json.dumps({"message": message}).encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                       ("Connection", "close"), ("x-amzn-RequestId", aws_id())])
    return Response(status, {403: "Forbidden", 502: "Bad Gateway"}.get(status, "Error"), headers, body)


def _api_error(status: int, error_type: str, message: str) -> tuple[int, dict[str, str], bytes]:
    # botocore's rest-json parser reads the code from x-amzn-ErrorType, the text from "message".
    return status, {"x-amzn-ErrorType": error_type}, json.dumps({"message": message}).encode()


def _client_error(message: str, connection_id: str, request_id: str) -> bytes:
    return json.dumps({"message": message, "connectionId": connection_id, "requestId": request_id}).encode()


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _send_all(sock: socket.socket, chunks: list[bytes]) -> bool:
    try:
        for chunk in chunks:
            if chunk:
                sock.sendall(chunk)
    except OSError:
        return False
    return True


def _make_handler(ws: WebSocketServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def version_string(self) -> str:
            return "local-apigateway"

        def log_message(self, fmt: str, *args: Any) -> None:   # invocations log their own line
            pass

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if self.headers.get("Upgrade", "").lower() != "websocket":
                self._manage(path)
                return
            self.close_connection = True
            api = ws.api_for_path(path)
            if api is None:
                log_line({"function": None, "trigger": "websocket", "outcome": "no_api", "status": 403, "path": path})
                self._send(403, {"Connection": "close"}, b'{"message":"Forbidden"}')
                return
            ws.session(self, api, query)

        def do_POST(self) -> None:
            self._manage(self.path.partition("?")[0])

        do_DELETE = do_PUT = do_PATCH = do_POST

        def _manage(self, path: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > 2 * MAX_MESSAGE:
                self.close_connection = True   # do not read a huge body
                self._send(*_api_error(413, "PayloadTooLargeException", "Message too long"))
                return
            body = self.rfile.read(length) if length else b""
            self._send(*ws.manage(self.command, path, body))

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("x-amzn-RequestId", aws_id())
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
