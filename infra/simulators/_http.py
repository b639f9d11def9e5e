"""Shared plumbing for local simulators of third-party HTTP APIs.

A simulator is a StoppableHTTPServer (infra.httpserver, the local runtime's server too) in a
daemon thread that routes requests to plain Python handlers returning (status, body). Every
simulator also gets the same /_sim/ control endpoints: fault injection, per-path call counts
and a movable clock (so tests can expire codes and tokens without sleeping).

Connections are HTTP/1.1 keep-alive, as real APIs are, so tests can see whether a client
reuses them (`connections()`, `GET /_sim/connections`); an idle one is closed after
IDLE_SECONDS and stop() closes them all. Fault modes (FAULT_MODES): `http500`, `slow500`
(stall, then 500), `timeout` (stall, then answer), `slow` (the same, for `seconds` that default
to SLOW_SECONDS: a slow but working upstream), `errcode` (the API's error body), `garbled` (200
with an HTML page, as a proxy in front of the API may answer), `reset` (drop the connection
without an answer, as a crashed upstream or a load balancer does). Faults and call counts are
keyed by the route's path; a subclass may add finer keys for a call (`call_keys`: the HIS
gateway's trade codes), so a fault can hit one operation of a one-endpoint API.

Route paths may hold `{name}` segments (`/v3/refund/domestic/refunds/{out_refund_no}`); the
values arrive in `Request.params`. A handler may answer (status, body) or (status, body,
headers); a bytes body is sent as it is, with the Content-Type of its headers.
"""
from __future__ import annotations

import contextlib
import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from infra.httpserver import StoppableHTTPServer

FAULT_MODES = ("http500", "slow500", "timeout", "slow", "errcode", "garbled", "reset")
SLOW_SECONDS = 1.0   # a "slow" fault's stall unless told
IDLE_SECONDS = 30.0  # an idle keep-alive connection is closed after this
_RESET = object()    # _dispatch's answer for a "reset" fault

# A handler returns (HTTP status, body); a dict/list body is sent as JSON, a str as text.
Reply = tuple[int, Any]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Any  # http.client.HTTPMessage
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # the route's {name} segments
    target: str = ""  # path and query exactly as sent (what v3 request signatures cover)

    def json(self) -> Any:
        """Parsed JSON body; raises ValueError if the body is not JSON."""
        return json.loads(self.body or b"null")


class SimulatorServer:
    """Base class: subclasses register API routes with `self.route(...)`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, fault_timeout_seconds: float = 10.0):
        self.host, self.port = host, port
        # Longer than any sane client read timeout, so "timeout" faults really time out.
        self.fault_timeout_seconds = fault_timeout_seconds
        self._lock = threading.RLock()
        self._routes: dict[tuple[str, str], Callable[[Request], Reply]] = {}
        self._patterns: list[tuple[str, re.Pattern, str, Callable[[Request], Reply]]] = []
        self._faults: list[dict] = []
        self._stats: dict[str, int] = {}
        self._clock_offset = 0.0
        self._stopping = threading.Event()
        self._server: StoppableHTTPServer | None = None
        self._accepted_before = 0   # connections of the servers of earlier starts
        self.route("POST", "/_sim/faults", self._ctl_add_fault)
        self.route("DELETE", "/_sim/faults", self._ctl_clear_faults)
        self.route("GET", "/_sim/stats", lambda req: (200, self.stats()))
        self.route("GET", "/_sim/connections", lambda req: (200, {"accepted": self.connections()}))
        self.route("POST", "/_sim/clock", self._ctl_clock)

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> SimulatorServer:
        self._stopping.clear()
        # Don't let stop() wait for a handler that is stalling on a "timeout" fault.
        self._server = StoppableHTTPServer((self.host, self.port), _handler_class(self), name=type(self).__name__,
                                           wait_for_handlers=False)
        self.port = self._server.server_address[1]
        self._server.start(poll_interval=0.05)  # a short poll interval makes stop() return quickly
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # wakes stalled "timeout" handlers
        self._server.stop()   # also closes idle keep-alive connections: their handlers are waiting to read
        self._accepted_before += self._server.connections_accepted
        self._server = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- test controls -----------------------------------------------------
    def route(self, method: str, path: str, handler: Callable[[Request], Reply]) -> None:
        if "{" in path:
            regex = re.compile("^" + re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$")
            self._patterns.append((method, regex, path, handler))
        else:
            self._routes[(method, path)] = handler

    def now(self) -> float:
        """Simulated wall-clock time (real time + advance_clock offsets)."""
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        with self._lock:
            self._clock_offset += seconds

    def inject_fault(self, path: str, mode: str, count: int = 1, errcode: int = -1,
                     seconds: float | None = None) -> None:
        """Make the next `count` calls of `path` (or of a finer key, see call_keys) fail with
        `mode` (see FAULT_MODES)."""
        if mode not in FAULT_MODES:
            raise ValueError(f"mode must be one of {FAULT_MODES}")
        if seconds is None:
            seconds = SLOW_SECONDS if mode == "slow" else self.fault_timeout_seconds
        seconds = float(seconds)
        with self._lock:
            self._faults.append({"path": path, "mode": mode, "count": int(count), "errcode": int(errcode),
                                 "seconds": seconds})

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def connections(self) -> int:
        """TCP connections accepted since start (a client reusing its connection adds none)."""
        return self._accepted_before + (self._server.connections_accepted if self._server is not None else 0)

    def stats(self) -> dict[str, int]:
        """Calls per API path (control endpoints are not counted)."""
        with self._lock:
            return dict(self._stats)

    def call_keys(self, req: Request, route_path: str) -> tuple[str, ...]:
        """What a call is counted and faulted under, the finest first: its route's path here; a
        subclass adds keys for what one route does (a gateway's operation codes)."""
        return (route_path,)

    def fault_body(self, errcode: int) -> Any:
        """Body of an "errcode" fault; override with the simulated API's error shape."""
        return {"errcode": errcode, "errmsg": "system error"}

    # -- dispatch ----------------------------------------------------------
    def _resolve(self, req: Request) -> tuple[str, Callable[[Request], Reply] | None]:
        """The route's path (as registered) and handler; fills req.params."""
        handler = self._routes.get((req.method, req.path))
        if handler is not None:
            return req.path, handler
        for method, regex, path, candidate in self._patterns:
            match = regex.match(req.path)
            if match and method == req.method:
                req.params = match.groupdict()
                return path, candidate
        return req.path, None

    def _dispatch(self, req: Request) -> Reply | None:
        route_path, handler = self._resolve(req)
        if not req.path.startswith("/_sim/"):
            keys = self.call_keys(req, route_path)
            with self._lock:
                for key in keys:
                    self._stats[key] = self._stats.get(key, 0) + 1
                fault = self._take_fault(keys)
            if fault and fault["mode"] == "slow500":
                self._stopping.wait(fault["seconds"])
            if fault and fault["mode"] in ("http500", "slow500"):
                return 500, "Internal Server Error"
            if fault and fault["mode"] == "errcode":
                return 200, self.fault_body(fault["errcode"])
            if fault and fault["mode"] == "garbled":
                return 200, "<html><body>502 Bad Gateway</body></html>", {"Content-Type": "text/html"}
            if fault and fault["mode"] == "reset":
                return _RESET
            # A timeout stalls like a slow upstream, then answers normally: the call still takes
            # effect, as a real timed-out request may have (clients must cope).
            if fault and fault["mode"] in ("timeout", "slow") and self._stopping.wait(fault["seconds"]):
                return None
        if handler is None:
            known = any(path == req.path for _, path in self._routes) or any(
                regex.match(req.path) for _, regex, _, _ in self._patterns)
            return (405, "Method Not Allowed") if known else (404, "Not Found")
        try:
            return handler(req)
        except ValueError as exc:  # bad control-endpoint input
            return 400, {"error": str(exc)}

    def _take_fault(self, keys: tuple[str, ...]) -> dict | None:
        for key in keys:
            for fault in self._faults:
                if fault["path"] == key and fault["count"] > 0:
                    fault["count"] -= 1
                    return fault
        return None

    def _ctl_add_fault(self, req: Request) -> Reply:
        body = _json_object(req)
        self.inject_fault(body.get("path", ""), body.get("mode", ""), body.get("count", 1),
                          body.get("errcode", -1), body.get("seconds"))
        return 200, {"ok": True}

    def _ctl_clear_faults(self, req: Request) -> Reply:
        self.clear_faults()
        return 200, {"ok": True}

    def _ctl_clock(self, req: Request) -> Reply:
        self.advance_clock(float(_json_object(req).get("advance_seconds", 0)))
        return 200, {"now": self.now()}


def _json_object(req: Request) -> dict:
    body = req.json()
    if not isinstance(body, dict):
        raise ValueError("expected a JSON object")
    return body


def _handler_class(sim: SimulatorServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: every answer carries its Content-Length
        timeout = IDLE_SECONDS

        def finish(self) -> None:
            with contextlib.suppress(OSError):  # the connection was reset (a "reset" fault, or the client left)
                super().finish()

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            req = Request(self.command, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)),
                          self.headers, self.rfile.read(length) if length else b"", target=self.path)
            reply = sim._dispatch(req)
            if reply is _RESET:
                # Linger 0: close with a TCP reset instead of an orderly FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            if reply is None:
                self.close_connection = True  # stopping: no answer, and no next request
                return
            status, payload = reply[0], reply[1]
            headers = dict(reply[2]) if len(reply) > 2 else {}
            if isinstance(payload, bytes):
                data, ctype = payload, headers.pop("Content-Type", "application/octet-stream")
            elif isinstance(payload, str):
                data, ctype = payload.encode(), headers.pop("Content-Type", "text/plain; charset=utf-8")
            else:
                data = json.dumps(payload, ensure_ascii=False).encode()
                ctype = headers.pop("Content-Type", "application/json; encoding=utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # client gave up (e.g. after a "timeout" fault)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format, *args) -> None:
            pass  # keep test output quiet; query strings would also carry secrets

    return Handler


def serve_forever(simulator: SimulatorServer, banner: str) -> None:
    """Run a simulator from the command line until Ctrl-C."""
    with simulator as sim:
        print(f"{banner} on {sim.url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
