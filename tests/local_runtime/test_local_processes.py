"""The command lines: invoke.py (via a running runtime and in-process) and a clean stop."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from infra.local.runtime import LocalRuntime

PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _invoke(args, env, cwd):
    return subprocess.run([PY, "-m", "infra.local.invoke", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=False)


def test_invoke_via_running_runtime(runtime, fixture_repo, subprocess_env, tmp_path):
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps({"job": "from-file"}))
    env = dict(subprocess_env, LOCAL_CONTROL_URL=runtime.control_url)
    repo_root = subprocess_env["PYTHONPATH"]

    done = _invoke(["TickFunction", str(event_file), "--repo", str(fixture_repo)], env, repo_root)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"ticked": "from-file", "function": "TickFunction"}

    done = _invoke(["--trigger", "tick", "--repo", str(fixture_repo)], env, repo_root)   # folder name
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ticked"] == "Scheduled Event"


def test_invoke_in_process(fixture_repo, subprocess_env, tmp_path):
    event_file = tmp_path / "boom.json"
    event_file.write_text(json.dumps({"path": "/raw/boom"}))
    env = dict(subprocess_env, LOCAL_AWS_PORT=str(free_port()), LOCAL_CONTROL_PORT=str(free_port()))
    repo_root = subprocess_env["PYTHONPATH"]

    done = _invoke(["RawFunction", str(event_file), "--repo", str(fixture_repo)], env, repo_root)
    assert done.returncode == 1
    assert json.loads(done.stdout)["errorType"] == "RuntimeError"
    assert '"outcome": "error"' in done.stderr
    assert "Traceback" in done.stderr

    done = _invoke(["--trigger", "TickFunction", "--repo", str(fixture_repo)], env, repo_root)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ticked"] == "Scheduled Event"

    done = _invoke(["Nope", str(event_file), "--repo", str(fixture_repo)], env, repo_root)
    assert done.returncode == 2
    assert "no function 'Nope'" in done.stderr


def test_main_stops_cleanly_on_sigterm(fixture_repo, subprocess_env):
    proc = subprocess.Popen(
        [PY, "-m", "infra.local.runtime", "--repo", str(fixture_repo), "--port", "0", "--control-port", "0",
         "--ws-port", "0", "--aws-port", str(free_port())],
        env=subprocess_env, cwd=subprocess_env["PYTHONPATH"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            banner.append(line)
            if "Lambda invoke" in line:
                break
        text = "".join(banner)
        assert "Local runtime ready" in text, proc.stderr.read() if proc.poll() is not None else text
        assert "/items/{item_id}" in text
        assert "fixture-test-work" in text
        assert "rate(5 minutes)" in text
        assert "WebSocket      ws://127.0.0.1:" in text
        assert "subscribe" in text
        assert "/test/@connections/{id}" in text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_runtime_stop_releases_everything(fixture_repo, clean_env):
    env_before, path_before = dict(os.environ), list(sys.path)
    aws_port = free_port()
    rt = LocalRuntime(fixture_repo, api_port=0, control_port=0, websocket_port=0, aws_port=aws_port, start_sqs=True,
                      start_schedules=True, env={**clean_env, "LOCAL_MARKER": "1"},
                      before_start=lambda ctx: ctx.on_stop(stopped.set))
    stopped = threading.Event()
    others = set(threading.enumerate())   # e.g. the shared session runtime's threads
    rt.start()
    assert os.environ["LOCAL_MARKER"] == "1"
    ours = [t for t in threading.enumerate() if t not in others and t.is_alive()]
    assert any(t.name.startswith("local-sqs-") for t in ours)
    assert any(t.name.startswith("local-schedule-") for t in ours)
    rt.stop()
    assert stopped.is_set()
    assert [t for t in ours if t.name.startswith("local-") and t.is_alive()] == []
    # Unnamed request threads may belong to the shared session runtime's moto server (its
    # poller long-polls for 1 s); any of ours would be stuck forever, theirs end quickly.
    for t in ours:
        t.join(3)
    assert [t for t in ours if t.is_alive()] == []
    assert dict(os.environ) == env_before
    assert sys.path == path_before
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", aws_port), timeout=0.5).close()
