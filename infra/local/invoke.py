"""One invocation, like `sam local invoke`:

  python -m infra.local.invoke FUNCTION EVENT_FILE     # EVENT_FILE '-' reads stdin
  python -m infra.local.invoke --trigger FUNCTION      # fire its Schedule event

FUNCTION is a template logical id or a CodeUri folder name (functions/<name>/).
If a local runtime's control endpoint answers (LOCAL_CONTROL_URL, default
http://127.0.0.1:$LOCAL_CONTROL_PORT or :3001) the call goes there, so it shares that
runtime's state; otherwise the AWS side and hooks start in this process for the one call.
The result JSON goes to stdout, logs to stderr; the exit status is 1 if the handler raised.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from infra import dotenv

from .runtime import REPO_ROOT, LocalRuntime


def default_control_url() -> str:
    return os.environ.get("LOCAL_CONTROL_URL") or f"http://127.0.0.1:{os.environ.get('LOCAL_CONTROL_PORT', '3001')}"


def _control_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/local/health", timeout=0.5) as resp:
            return json.load(resp).get("runtime") == "local"
    except (OSError, ValueError):
        return False


def via_control(url: str, function: str, event: Any, trigger: bool, event_name: str | None) -> tuple[Any, bool]:
    """(payload, handler_failed) from a running runtime."""
    if trigger:
        path = f"/local/trigger/{quote(function, safe='')}" + (f"?event={quote(event_name)}" if event_name else "")
        body = b""
    else:
        path = f"/2015-03-31/functions/{quote(function, safe='')}/invocations"
        body = json.dumps(event).encode()
    req = urllib.request.Request(url + path, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=900) as resp:
            return json.load(resp), resp.headers.get("X-Amz-Function-Error") is not None
    except urllib.error.HTTPError as exc:   # unknown function, no schedule, bad event
        raise LookupError(f"{exc.code} from {url}: {exc.read().decode(errors='replace')}") from None


def in_process(repo: str, function: str, event: Any, trigger: bool, event_name: str | None) -> tuple[Any, bool]:
    rt = LocalRuntime(repo, start_api=False, start_websocket=False, start_control=False, start_sqs=False,
                      start_schedules=False, load_functions=False)   # only the invoked function gets imported
    with rt:
        lid = rt.host.resolve_name(function)
        inv = rt._fire(lid, event_name) if trigger else rt.host.invoke(lid, rt.prepare_event(event))
    return (inv.result if inv.ok else inv.error_payload), not inv.ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m infra.local.invoke", description=__doc__.splitlines()[0])
    p.add_argument("function")
    p.add_argument("event_file", nargs="?", help="JSON event file ('-' = stdin)")
    p.add_argument("--trigger", action="store_true", help="fire the function's Schedule event instead")
    p.add_argument("--event", dest="event_name", help="which Schedule event (when it has several)")
    p.add_argument("--repo", default=str(REPO_ROOT))
    p.add_argument("--control-url", default=None, help="running runtime's control endpoint")
    p.add_argument("--in-process", action="store_true", help="never use a running runtime")
    args = p.parse_args(argv)
    if not dotenv.load_for_command(args.repo):
        return 1

    event: Any = None
    if not args.trigger:
        if not args.event_file:
            p.error("EVENT_FILE is required unless --trigger is given")
        with (contextlib.nullcontext(sys.stdin) if args.event_file == "-"
              else open(args.event_file, encoding="utf-8")) as fh:
            event = json.load(fh)

    url = args.control_url or default_control_url()
    stdout = sys.stdout
    try:
        if not args.in_process and _control_answers(url):
            payload, failed = via_control(url, args.function, event, args.trigger, args.event_name)
        else:
            # Anything the handler or hooks print must not mix with the result on stdout.
            with contextlib.redirect_stdout(sys.stderr):
                payload, failed = in_process(args.repo, args.function, event, args.trigger, args.event_name)
    except LookupError as exc:   # unknown function, or no Schedule event to trigger
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(payload), file=stdout, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
