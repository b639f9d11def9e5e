"""What every simulator's server does, whatever API it simulates: keep-alive connections counted
and closed on stop, faults that stall or reset, and a stop that never waits for a stalled handler."""
from __future__ import annotations

import http.client
import threading
import time

import pytest

from infra.simulators._http import SimulatorServer


class Echo(SimulatorServer):
    def __init__(self) -> None:
        super().__init__(fault_timeout_seconds=30)
        self.release = threading.Event()
        self.route("GET", "/echo", lambda req: (200, {"path": req.path}))
        self.route("GET", "/hang", lambda req: (200, {"released": self.release.wait(30)}))


@pytest.fixture
def sim():
    server = Echo().start()
    yield server
    server.release.set()
    server.stop()


def connect(sim) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(sim.host, sim.port, timeout=10)


def get(connection: http.client.HTTPConnection, path: str) -> int:
    connection.request("GET", path)
    answer = connection.getresponse()
    answer.read()
    return answer.status


def test_a_reused_connection_is_counted_once(sim):
    first = connect(sim)
    assert [get(first, "/echo"), get(first, "/echo")] == [200, 200]
    assert sim.connections() == 1
    second = connect(sim)
    assert get(second, "/echo") == 200
    assert sim.connections() == 2
    first.close()
    second.close()


def test_a_reset_fault_drops_the_connection_without_an_answer(sim):
    sim.inject_fault("/echo", "reset")
    connection = connect(sim)
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        get(connection, "/echo")
    connection.close()
    assert get(connect(sim), "/echo") == 200


def test_stop_wakes_a_stalled_timeout_closes_idle_connections_and_waits_for_no_handler(sim):
    idle = connect(sim)
    assert get(idle, "/echo") == 200
    sim.inject_fault("/echo", "timeout")
    outcomes: dict[str, object] = {}

    def call(path: str) -> None:
        connection = connect(sim)
        try:
            outcomes[path] = get(connection, path)
        except (OSError, http.client.HTTPException) as exc:
            outcomes[path] = type(exc)

    callers = [threading.Thread(target=call, args=(path,)) for path in ("/echo", "/hang")]
    for caller in callers:
        caller.start()
    deadline = time.monotonic() + 5
    while sim.stats().get("/hang", 0) + sim.stats().get("/echo", 0) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sim.stats() == {"/echo": 2, "/hang": 1}

    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 2   # neither the timeout fault nor /hang is waited for
    callers[0].join(5)
    assert outcomes["/echo"] is http.client.RemoteDisconnected   # the stalled call ends without an answer
    assert idle.sock.recv(1) == b""   # the idle keep-alive connection was closed (not reset)
    sim.release.set()
    callers[1].join(5)


class Keyed(Echo):
    """Counts and faults each call under a finer key too: its query's `op`, as a gateway's trade code."""

    def call_keys(self, req, route_path):
        return (f"{route_path}#{req.query['op']}", route_path) if "op" in req.query else (route_path,)


def test_a_finer_key_faults_one_operation_and_slow_and_garbled_answers_come_as_said():
    sim = Keyed().start()
    try:
        connection = connect(sim)
        sim.inject_fault("/echo#b", "http500")
        assert [get(connection, "/echo?op=a"), get(connection, "/echo?op=b"), get(connection, "/echo?op=b")] == [
            200, 500, 200]
        assert sim.stats() == {"/echo": 3, "/echo#a": 1, "/echo#b": 2}
        sim.inject_fault("/echo", "slow", seconds=0.2)
        started = time.monotonic()
        assert get(connection, "/echo") == 200
        assert time.monotonic() - started >= 0.2
        sim.inject_fault("/echo", "garbled")
        connection.request("GET", "/echo")
        answer = connection.getresponse()
        assert (answer.status, answer.getheader("Content-Type")) == (200, "text/html")
        assert answer.read().startswith(b"<html>")
        connection.close()
    finally:
        sim.release.set()
        sim.stop()
