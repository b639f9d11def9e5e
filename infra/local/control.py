"""A Lambda Invoke API on 127.0.0.1:3001, like `sam local start-lambda`, so that
`boto3.client("lambda", endpoint_url="http://127.0.0.1:3001").invoke(...)` works.

  POST /2015-03-31/functions/{FunctionName}/invocations   Lambda Invoke (the event is the body)
  POST /local/trigger/{FunctionName}[?event=EventName]     fire the function's Schedule event now
  GET  /local/health                                       {"runtime": "local", "functions": [...]}
  POST /local/prepare                                      the JSON body with its ${...} sample-event
                                                           placeholders filled (demo data, as make invoke)

The /local/* paths are ours (used by infra.local.invoke); FunctionName is the template
logical id, a function ARN, or the CodeUri folder name.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote

from infra.httpserver import StoppableHTTPServer

from .functions import FunctionHost, Invocation, UnknownFunction

INVOKE_PREFIX = "/2015-03-31/functions/"
TRIGGER_PREFIX = "/local/trigger/"

# trigger(function_logical_id, event_name_or_None) -> Invocation
Trigger = Callable[[str, "str | None"], Invocation]


class ControlServer:
    def __init__(self, host: FunctionHost, trigger: Trigger, bind: str = "127.0.0.1", port: int = 3001,
                 prepare: Callable[[Any], Any] | None = None) -> None:
        self.host = host
        self.prepare = prepare or (lambda event: event)
        self.trigger = trigger
        self.server = StoppableHTTPServer((bind, port), _make_handler(self), name="local-control")
        self._async: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        for t in self._async:
            t.join(10)

    def invoke_async(self, lid: str, event: Any) -> None:
        t = threading.Thread(target=self.host.invoke, args=(lid, event), name=f"local-async-{lid}", daemon=True)
        self._async = [x for x in self._async if x.is_alive()] + [t]
        t.start()


def _make_handler(ctl: ControlServer) -> type[BaseHTTPRequestHandler]:  # noqa: C901 - the handler class's methods count as this function's
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/local/health":
                self._json(200, {"runtime": "local", "functions": sorted(ctl.host.functions)})
            else:
                self._error(404, "ResourceNotFoundException", f"no route {self.path}")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path, _, query = self.path.partition("?")
            try:
                if path.startswith(INVOKE_PREFIX) and path.endswith("/invocations"):
                    self._invoke(unquote(path[len(INVOKE_PREFIX):-len("/invocations")]), body)
                elif path == "/local/prepare":
                    try:
                        document = json.loads(body) if body.strip() else {}
                    except ValueError:
                        self._error(400, "InvalidRequestContentException", "Could not parse request body into json")
                        return
                    self._json(200, ctl.prepare(document))
                elif path.startswith(TRIGGER_PREFIX):
                    lid = ctl.host.resolve_name(unquote(path[len(TRIGGER_PREFIX):]))
                    event_name = (parse_qs(query).get("event") or [None])[0]
                    self._result(ctl.trigger(lid, event_name))
                else:
                    self._error(404, "ResourceNotFoundException", f"no route {path}")
            except UnknownFunction as exc:
                self._error(404, "ResourceNotFoundException", f"Function not found: {exc}")
            except LookupError as exc:   # e.g. a function without a Schedule event
                self._error(400, "InvalidParameterValueException", str(exc))

        def _invoke(self, name: str, body: bytes) -> None:
            lid = ctl.host.resolve_name(name.split(":")[0] if not name.startswith("arn:") else name)
            try:
                event = ctl.prepare(json.loads(body) if body.strip() else {})
            except ValueError:
                self._error(400, "InvalidRequestContentException", "Could not parse request body into json")
                return
            kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
            if kind == "DryRun":
                self._send(204, b"", {})
            elif kind == "Event":
                ctl.invoke_async(lid, event)
                self._send(202, b"", {})
            else:
                self._result(ctl.host.invoke(lid, event, trigger="invoke"))

        def _result(self, inv: Invocation) -> None:
            headers = {"X-Amz-Executed-Version": "$LATEST"}
            if inv.ok:
                payload = inv.result
            else:
                headers["X-Amz-Function-Error"] = "Unhandled"
                payload = inv.error_payload
            self._send(200, json.dumps(payload).encode(), headers)

        def _error(self, status: int, error_type: str, message: str) -> None:
            # botocore reads the error code from this header for the Lambda (rest-json) API.
            self._send(status, json.dumps({"Type": "User", "message": message}).encode(),
                       {"x-amzn-ErrorType": error_type})

        def _json(self, status: int, payload: Any) -> None:
            self._send(status, json.dumps(payload).encode(), {})

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler
