"""API Gateway (REST, v1 proxy integration) in front of the template's Api events.

Requests become v1 proxy events shaped like the real ones (incl. API Gateway's quirks:
`path` stays percent-encoded while pathParameters and query values are decoded, `+` in
the query is a space, last header value wins in `headers`); responses are translated back.
Routing follows API Gateway: literal segments beat {param} beat {proxy+}, and an unknown
path or method answers 403 "Missing Authentication Token".
"""
from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote

from infra.httpserver import StoppableHTTPServer

from .functions import FunctionHost, log_line

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive"}


@dataclass
class Route:
    path: str        # template path, e.g. /rescue/cases/{case_id}
    method: str      # GET, POST, ... or ANY
    function: str    # logical id
    stage: str
    api_id: str

    def __post_init__(self) -> None:
        self.segments = [s for s in self.path.strip("/").split("/") if s]
        # Sort key: literal (0) < {param} (1) < {proxy+} (2), segment by segment.
        self.rank = tuple(2 if s.endswith("+}") else 1 if s.startswith("{") else 0 for s in self.segments)

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """Path parameters for the (decoded) request segments, or None."""
        params: dict[str, str] = {}
        for i, seg in enumerate(self.segments):
            if seg.startswith("{") and seg.endswith("+}"):
                if i >= len(parts):
                    return None
                params[seg[1:-2]] = "/".join(parts[i:])
                return params
            if i >= len(parts):
                return None
            if seg.startswith("{"):
                if parts[i] == "":
                    return None
                params[seg[1:-1]] = parts[i]
            elif seg != parts[i]:
                return None
        return params if len(parts) == len(self.segments) else None


class Router:
    def __init__(self, routes: list[Route]) -> None:
        self.routes = sorted(routes, key=lambda r: r.rank)
        seen: dict[tuple[str, str], str] = {}
        for r in routes:
            key = (r.path, r.method)
            if key in seen and seen[key] != r.function:
                raise ValueError(f"{r.method} {r.path} is routed to both {seen[key]} and {r.function}")
            seen[key] = r.function

    def find(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        path = raw_path if raw_path == "/" else raw_path.rstrip("/")
        parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
        # API Gateway picks the best-matching *resource* first, then looks for the method.
        for route in self.routes:
            params = route.match(parts)
            if params is None:
                continue
            same_resource = [r for r in self.routes if r.path == route.path]
            for r in same_resource:
                if r.method == method:
                    return r, params
            for r in same_resource:
                if r.method == "ANY":
                    return r, params
            return None
        return None


# A template parameter (or environment value) may name the local API server by this URL:
# the runtime rewrites it to where the server really listens (its port may be chosen at start).
LOCAL_API_MARKER = "http://local-api.invalid"


def localize_rest_api(functions, url: str) -> None:
    """Replace LOCAL_API_MARKER in the functions' environment values by the local API's URL."""
    for fn in functions.values():
        for key, value in fn.environment.items():
            fn.environment[key] = value.replace(LOCAL_API_MARKER, url)


class ApiServer:
    def __init__(
        self,
        host: FunctionHost,
        routes: list[Route],
        bind: str = "127.0.0.1",
        port: int = 3000,
        account_id: str = "123456789012",
        pages: dict[str, Callable[[str], tuple[str, bytes] | None]] | None = None,
    ) -> None:
        self.host = host
        self.pages = dict(pages or {})  # the runtime's own pages (GET only), not API Gateway's
        self.router = Router(routes)
        self.account_id = account_id
        self.server = StoppableHTTPServer((bind, port), _make_handler(self), name="local-api")

    @property
    def url(self) -> str:
        return self.server.url

    def page(self, raw_path: str) -> tuple[int, str, bytes] | None:
        """(status, Content-Type, body) of the runtime's own page at this path: an exact one, or
        one under a folder mount (a key ending in "/", whose callable gets the rest of the path;
        nothing there is a 404); None when the path is the API's."""
        mounts = [key for key in self.pages if key == raw_path or (key.endswith("/") and raw_path.startswith(key))]
        if not mounts:
            return None
        mount = max(mounts, key=len)
        found = self.pages[mount](unquote(raw_path[len(mount):]))
        return (200, *found) if found is not None else (404, "text/plain; charset=utf-8", b"not found\n")

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    # ---- event construction -----------------------------------------------------------

    def build_event(self, route: Route, params: dict[str, str], method: str, raw_path: str,
                    query: str, header_items: list[tuple[str, str]], body: bytes, source_ip: str) -> dict:
        headers, multi_headers = proxy_headers(header_items, source_ip, self.server.server_address[1])
        canonical = {k.lower(): k for k in headers}
        multi_query = proxy_query(query)

        if not body:
            body_field, is_b64 = None, False
        else:
            try:
                body_field, is_b64 = body.decode("utf-8"), False
            except UnicodeDecodeError:
                body_field, is_b64 = base64.b64encode(body).decode("ascii"), True

        now = time.time()
        request_id = str(uuid.uuid4())
        return {
            "resource": route.path,
            "path": raw_path,
            "httpMethod": method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": params or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": uuid.uuid4().hex[:6],
                "resourcePath": route.path,
                "httpMethod": method,
                "extendedRequestId": request_id,
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "path": f"/{route.stage}{raw_path}",
                "accountId": self.account_id,
                "protocol": "HTTP/1.1",
                "stage": route.stage,
                "domainPrefix": route.api_id,
                "requestTimeEpoch": int(now * 1000),
                "requestId": request_id,
                "identity": {
                    "cognitoIdentityPoolId": None, "accountId": None, "cognitoIdentityId": None,
                    "caller": None, "sourceIp": source_ip, "principalOrgId": None, "accessKey": None,
                    "cognitoAuthenticationType": None, "cognitoAuthenticationProvider": None,
                    "userArn": None, "userAgent": headers.get(canonical.get("user-agent", "User-Agent")),
                    "user": None,
                },
                "domainName": f"{route.api_id}.execute-api.amazonaws.com",
                "apiId": route.api_id,
            },
            "body": body_field,
            "isBase64Encoded": is_b64,
        }


def proxy_headers(header_items: list[tuple[str, str]], source_ip: str, port: int,
                  proto: str = "http") -> tuple[dict[str, str], dict[str, list[str]]]:
    """(headers, multiValueHeaders) as API Gateway passes them: last value wins in `headers`,
    one spelling per name, X-Forwarded-* added unless the client sent them."""
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    canonical: dict[str, str] = {}   # lower-case name -> first spelling seen
    for sent_name, value in header_items:
        name = canonical.setdefault(sent_name.lower(), sent_name)
        headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    for name, value in (("X-Forwarded-For", source_ip), ("X-Forwarded-Port", str(port)),
                        ("X-Forwarded-Proto", proto)):
        if name.lower() not in canonical:
            headers[name] = value
            multi_headers[name] = [value]
    return headers, multi_headers


def proxy_query(query: str) -> dict[str, list[str]]:
    """multiValueQueryStringParameters (decoded, `+` is a space); the last value is the single one."""
    multi_query: dict[str, list[str]] = {}
    for k, v in parse_qsl(query, keep_blank_values=True):
        multi_query.setdefault(k, []).append(v)
    return multi_query


def _make_handler(api: ApiServer) -> type[BaseHTTPRequestHandler]:  # noqa: C901 - the handler class's methods count as this function's
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"   # keep-alive, like API Gateway
        def version_string(self) -> str:   # "Server:" header without the Python version
            return "local-apigateway"

        def log_message(self, fmt: str, *args: Any) -> None:  # invocations log their own line
            pass

        def _handle(self) -> None:
            method = self.command
            raw_path, _, query = self.path.partition("?")
            body = self._read_body()
            if body is None:
                return
            page = api.page(raw_path) if method in ("GET", "HEAD") else None
            if page is not None:
                status, content_type, content = page
                self._send(status, {"Content-Type": [content_type], "Cache-Control": ["no-cache"]}, content)
                return
            found = api.router.find(method, raw_path)
            if found is None:
                log_line({"function": None, "trigger": "api", "outcome": "no_route", "status": 403,
                          "method": method, "path": raw_path})
                self._send(403, {"Content-Type": ["application/json"],
                                 "x-amzn-ErrorType": ["MissingAuthenticationTokenException"]},
                           b'{"message":"Missing Authentication Token"}')
                return
            route, params = found
            event = api.build_event(route, params, method, raw_path, query, list(self.headers.items()),
                                    body, self.client_address[0])
            inv = api.host.invoke(route.function, event, trigger="api", classify=_classify,
                                  error_detail={"status": 502, "method": method, "path": raw_path})
            response = _to_http(inv.result) if inv.ok else None
            if response is None:
                self._send(502, {"Content-Type": ["application/json"]}, b'{"message": "Internal server error"}')
            else:
                self._send(*response)

        def _read_body(self) -> bytes | None:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks, size = [], 0
                while True:
                    n = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if n == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        break
                    size += n
                    if size > MAX_BODY:
                        self._too_large()
                        return None
                    chunks.append(self.rfile.read(n))
                    self.rfile.readline()
                return b"".join(chunks)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._too_large()
                return None
            return self.rfile.read(length) if length else b""

        def _too_large(self) -> None:
            self.close_connection = True   # do not read the rest of a huge body
            self._send(413, {"Content-Type": ["application/json"]}, b'{"message":"Request Too Long"}')

        def _send(self, status: int, headers: dict[str, list[str]], body: bytes) -> None:
            self.send_response(status)
            for name, values in headers.items():
                for v in values:
                    self.send_header(name, v)
            lower = {k.lower() for k in headers}
            if "content-type" not in lower:
                self.send_header("Content-Type", "application/json")   # API Gateway's default
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    return Handler


def _classify(result: Any) -> tuple[str, dict]:
    response = _to_http(result)
    if response is None:
        return "error", {"status": 502, "error": "malformed Lambda proxy response"}
    return "ok", {"status": response[0]}


def _to_http(result: Any) -> tuple[int, dict[str, list[str]], bytes] | None:
    """Lambda proxy result -> (status, headers, body); None when API Gateway would 502."""
    if not isinstance(result, dict):
        return None
    try:
        status = int(result.get("statusCode", 200))
        body = result.get("body")
        if body is None:
            raw = b""
        elif not isinstance(body, str):
            return None   # API Gateway: "Malformed Lambda proxy response"
        elif result.get("isBase64Encoded"):
            raw = base64.b64decode(body)
        else:
            raw = body.encode("utf-8")
        # multiValueHeaders win for a name present in both (API Gateway merges them so).
        headers: dict[str, list[str]] = {}
        multi = result.get("multiValueHeaders") or {}
        for name, values in multi.items():
            headers[name] = [str(v) for v in (values if isinstance(values, list) else [values])]
        multi_lower = {k.lower() for k in multi}
        for name, value in (result.get("headers") or {}).items():
            if name.lower() not in multi_lower:
                headers[name] = [str(value)]
    except (TypeError, ValueError, AttributeError):
        return None
    headers = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
    return status, headers, raw
