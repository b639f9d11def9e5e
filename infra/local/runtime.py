"""The local runtime: `python -m infra.local.runtime` or `LocalRuntime(...)` from tests.

Start-up order (each step can use what the previous ones set up):
  1. environment: caller's `env`, then defaults (DATABASE_URL -> .local/ sqlite, DB_POOL_SIZE)
  2. AWS endpoint (aws.start_endpoint: AWS_ENDPOINT_URL, or embedded moto)
  3. hooks.before_start(ctx): simulators, migrations, overrides
  4. template evaluated with ctx.parameters; resources created (embedded moto, or provisioning
     chosen: LOCAL_AWS_PROVISION=1 / --provision-aws) or looked up (aws.provision)
  5. the WebSocket server binds (when the template has a WebSocket API): its local CA goes
     into AWS_CA_BUNDLE and the APIs' public domain in function variables becomes its own;
     then the API server binds (ctx.api_url) and the hook's on_ready callbacks run
  6. functions' environment merged into os.environ (existing values win), layers on sys.path,
     handlers imported
  7. serving: API server, WebSocket server, Lambda-invoke endpoint, SQS pollers, schedules
`stop()` undoes it in reverse (open WebSocket connections are closed, $disconnect runs) and
restores os.environ.
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.util
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra import dotenv

from .api import ApiServer, Route, localize_rest_api
from .aws import AwsEndpoint, ProvisionError, provision, start_endpoint
from .control import ControlServer
from .functions import EnvironmentConflict, FunctionHost, Invocation, function_environment, log_line
from .schedule import ScheduleError, ScheduleRunner
from .sqs import SqsPoller
from .template import ApiEvent, Model, ScheduleEvent, SqsEvent, Template, TemplateError
from .websocket import WebSocketServer, localize_environment

# Configuration mistakes: reported in one line, without a traceback.
EXPECTED_ERRORS = (TemplateError, ProvisionError, EnvironmentConflict, ScheduleError, OSError)

REPO_ROOT = Path(__file__).resolve().parents[2]
_AUTO = object()


class InvocationFailed(Exception):
    """The handler raised; `.invocation.error_payload` is what Lambda would report."""

    def __init__(self, invocation: Invocation) -> None:
        super().__init__(f"{invocation.function} failed: {invocation.detail.get('error')}")
        self.invocation = invocation


@dataclass
class HookContext:
    repo_root: Path
    env: dict[str, str]
    aws_endpoint_url: str
    region: str
    account_id: str
    env_overrides: dict[str, str] = field(default_factory=dict)
    secret_overrides: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)   # what the hook started, by name, for the caller
    api_url: str | None = None   # set once the API server is bound (None when it is not started)
    stop_callbacks: list[Callable[[], Any]] = field(default_factory=list)
    ready_callbacks: list[Callable[[], Any]] = field(default_factory=list)
    # Pages the API server answers GET with itself, beside the template's routes (a reference
    # page, the consoles' files): path, or folder ending in "/", -> callable(rest of the path)
    # returning (Content-Type, body), or None for nothing there.
    pages: dict[str, Callable[[str], tuple[str, bytes] | None]] = field(default_factory=dict)

    def on_stop(self, fn: Callable[[], Any]) -> None:
        self.stop_callbacks.append(fn)

    def on_ready(self, fn: Callable[[], Any]) -> None:
        """fn() runs once the servers are bound (api_url set), before any of them serves."""
        self.ready_callbacks.append(fn)


def default_environment(repo_root: Path, environ: os._Environ[str] | dict = os.environ) -> None:
    if "DATABASE_URL" not in environ:
        (repo_root / ".local").mkdir(exist_ok=True)
        environ["DATABASE_URL"] = f"sqlite:///{repo_root / '.local' / 'hospital.db'}"
    environ.setdefault("DB_POOL_SIZE", "10")


def load_hook(repo_root: Path, name: str = "before_start") -> Callable[..., Any] | None:
    """`name` (before_start, prepare_event) of <repo>/infra/local/hooks.py, if present."""
    path = repo_root / "infra" / "local" / "hooks.py"
    if not path.exists():
        return None
    if path.resolve() == Path(__file__).with_name("hooks.py").resolve():
        module = importlib.import_module("infra.local.hooks")
    else:  # another checkout (e.g. a test fixture repo)
        spec = importlib.util.spec_from_file_location(f"_local_hooks_{abs(hash(str(path)))}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return getattr(module, name, None)


class LocalRuntime:
    """Everything `python -m infra.local.runtime` runs, as an object (context manager).

    Ports 0 pick free ports (see `api_url` / `ws_url` / `control_url`). `env` values are set in
    os.environ for the runtime's life (None unsets). `before_start` defaults to the repo's
    hooks.before_start; pass a callable to replace it or None to skip it. `provision_aws`:
    create the template's resources at AWS_ENDPOINT_URL (None: LOCAL_AWS_PROVISION decides;
    the embedded moto is always provisioned).
    """

    def __init__(
        self,
        repo_root: str | os.PathLike = REPO_ROOT,
        *,
        template: str = "template.yaml",
        parameters: Mapping[str, Any] | None = None,
        env: Mapping[str, str | None] | None = None,
        api_host: str = "127.0.0.1",
        api_port: int = 3000,
        control_port: int = 3001,
        websocket_port: int = 3002,
        aws_port: int | None = None,
        provision_aws: bool | None = None,
        start_api: bool = True,
        start_websocket: bool = True,
        start_control: bool = True,
        start_sqs: bool = True,
        start_schedules: bool = True,
        load_functions: bool = True,
        secret_overrides: Mapping[str, str] | None = None,
        before_start: Any = _AUTO,
        restore_env: bool = True,
    ) -> None:
        self.repo_root = Path(repo_root).resolve()
        self.template_path = self.repo_root / template
        self.options = dict(
            api_host=api_host, api_port=api_port, control_port=control_port, start_api=start_api,
            websocket_port=websocket_port, start_websocket=start_websocket,
            start_control=start_control, start_sqs=start_sqs, start_schedules=start_schedules,
            load_functions=load_functions,
        )
        self._parameters = dict(parameters or {})
        self._env = dict(env or {})
        self._aws_port = aws_port
        self._provision_aws = provision_aws
        self._secret_overrides = dict(secret_overrides or {})
        self._hook = load_hook(self.repo_root) if before_start is _AUTO else before_start
        # Sample events sent through invoke / the control endpoint may carry placeholders.
        self._prepare_event = load_hook(self.repo_root, "prepare_event") if before_start is _AUTO else None
        self._restore_env = restore_env
        self._stop_event = threading.Event()
        self._env_snapshot: dict[str, str] | None = None
        self._added_sys_path: str | None = None
        self.endpoint: AwsEndpoint | None = None
        self.ctx: HookContext | None = None
        self.template: Template | None = None
        self.physical: dict[str, dict[str, Any]] = {}
        self.model: Model | None = None
        self.host: FunctionHost | None = None
        self.api: ApiServer | None = None
        self.websocket: WebSocketServer | None = None
        self.control: ControlServer | None = None
        self.pollers: list[SqsPoller] = []
        self.schedules: dict[str, list[ScheduleRunner]] = {}
        self.started = False

    # ---- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> LocalRuntime:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> LocalRuntime:
        self._env_snapshot = dict(os.environ)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.started = True
        return self

    def _start(self) -> None:  # noqa: C901 - start-up in its order, each part behind its option
        o = self.options
        for k, v in self._env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = str(v)
        default_environment(self.repo_root)
        self.endpoint = start_endpoint(self._aws_port, create_resources=self._provision_aws)
        account = self.endpoint.account_id()

        self.ctx = HookContext(
            repo_root=self.repo_root, env=dict(os.environ), aws_endpoint_url=self.endpoint.url,
            region=self.endpoint.region, account_id=account,
            secret_overrides=dict(self._secret_overrides), parameters=dict(self._parameters),
        )
        if self._hook is not None:
            self._hook(self.ctx)
        os.environ.update({k: str(v) for k, v in self.ctx.env_overrides.items()})

        self.template = Template.from_file(self.template_path, parameters=self.ctx.parameters,
                                           region=self.endpoint.region, account_id=account)
        self.physical = provision(self.template, self.endpoint, self.ctx.secret_overrides)
        self.model = self.template.model(self.physical)

        self.host = FunctionHost(self.model.functions)
        ws_apis = [api for api in self.model.websocket_apis.values() if api.stage is not None]
        if ws_apis:
            if o["start_websocket"]:
                self.websocket = WebSocketServer(self.host, ws_apis, self.model.region, o["api_host"],
                                                 o["websocket_port"], account)
                # boto3 in the functions trusts the server's https (connection management).
                os.environ["AWS_CA_BUNDLE"] = self.websocket.ca_bundle
            domain = self.websocket.domain if self.websocket else f"127.0.0.1:{o['websocket_port']}"
            localize_environment(self.model.functions, ws_apis, self.model.region, domain)
        if o["start_api"]:
            routes = [
                Route(ev.path, ev.method, lid, ev.stage, self.physical.get(ev.rest_api, {}).get("Ref", "local"))
                for lid, fn in self.model.functions.items() for ev in fn.events_of(ApiEvent)
            ]
            self.api = ApiServer(self.host, routes, o["api_host"], o["api_port"], account,  # bound, not serving yet
                                 pages=self.ctx.pages)
            localize_rest_api(self.model.functions, self.api.url)  # e.g. payment notify URLs
            self.ctx.api_url = self.api.url
        for ready in self.ctx.ready_callbacks:
            ready()
        os.environ.update(function_environment(self.model.functions, os.environ))
        os.environ.setdefault("AWS_REGION", self.endpoint.region)   # Lambda sets both
        self.host.add_layers()
        if o["load_functions"]:
            self.host.load_all()   # import errors surface at start-up, not on first request

        for lid, fn in self.model.functions.items():
            self.schedules[lid] = [
                ScheduleRunner(self.host, lid, ev, self.model.region, account, self._stop_event)
                for ev in fn.events_of(ScheduleEvent)
            ]
        if self.api is not None:
            self.api.start()
        if self.websocket:
            self.websocket.start()
        if o["start_control"]:
            self.control = ControlServer(self.host, self._fire, "127.0.0.1", o["control_port"],
                                         prepare=self.prepare_event)
            self.control.start()
        if o["start_sqs"]:
            # Lambda polls an SQS source with several concurrent batches (5 to start with).
            pollers_per_source = int(os.environ.get("LOCAL_SQS_POLLERS", "5"))
            for lid, fn in self.model.functions.items():
                for ev in fn.events_of(SqsEvent):
                    for _ in range(pollers_per_source if ev.enabled else 0):
                        poller = SqsPoller(self.host, lid, ev, self._queue_url(ev), self.endpoint, self._stop_event)
                        poller.start()
                        self.pollers.append(poller)
        if o["start_schedules"]:
            for runners in self.schedules.values():
                for runner in runners:
                    if runner.source.enabled:
                        runner.start()

    def _queue_url(self, ev: SqsEvent) -> str:
        if ev.queue and ev.queue in self.model.queues:
            return self.model.queues[ev.queue].url
        name = ev.queue_arn.split(":")[-1]   # a queue outside the template: look it up by name
        sqs = self.endpoint.client("sqs")
        try:
            return sqs.get_queue_url(QueueName=name)["QueueUrl"]
        finally:
            sqs.close()

    def stop(self) -> None:
        """Stop threads and servers, run hook stop callbacks, restore os.environ. Idempotent."""
        self._stop_event.set()
        for runners in self.schedules.values():
            for runner in runners:
                if runner.thread.is_alive():
                    runner.join()
        for poller in self.pollers:
            poller.quiesce()
        for server in (self.websocket, self.api, self.control):
            if server is not None:
                server.stop()
        self.websocket = self.api = self.control = None
        if self.ctx is not None:
            for cb in reversed(self.ctx.stop_callbacks):
                try:
                    cb()
                except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                    log_line({"function": None, "outcome": "stop_error", "error": f"{type(exc).__name__}: {exc}"})
            self.ctx.stop_callbacks.clear()
        if self.host is not None:
            self.host.unload()
        if self.endpoint is not None:
            self.endpoint.stop()
        for poller in self.pollers:
            # An embedded endpoint is gone now, which ended the long polls; another endpoint's
            # polls are short and end by themselves.
            poller.join(timeout=poller.poll_seconds + 5)
        self.pollers = []
        if self._restore_env and self._env_snapshot is not None:
            os.environ.clear()
            os.environ.update(self._env_snapshot)
            self._env_snapshot = None
        self.started = False

    # ---- use ----------------------------------------------------------------------------

    @property
    def api_url(self) -> str | None:
        return self.api.url if self.api else None

    @property
    def ws_url(self) -> str | None:
        """ws://127.0.0.1:<port>; clients connect to ws_url + "/" + stage."""
        return self.websocket.url if self.websocket else None

    @property
    def control_url(self) -> str | None:
        return self.control.url if self.control else None

    @property
    def aws_endpoint_url(self) -> str | None:
        return self.endpoint.url if self.endpoint else None

    def prepare_event(self, event: Any) -> Any:
        """The event with the project's sample-event placeholders filled (hooks.prepare_event)."""
        return self._prepare_event(event, self.ctx) if self._prepare_event else event

    def invoke(self, function: str, event: Any = None) -> Any:
        """Invoke like Lambda's RequestResponse; returns the result, raises InvocationFailed."""
        inv = self.host.invoke(self.host.resolve_name(function), {} if event is None else event)
        if not inv.ok:
            raise InvocationFailed(inv)
        return inv.result

    def trigger(self, function: str, event_name: str | None = None) -> Any:
        """Fire the function's Schedule event now; returns the result, raises InvocationFailed."""
        inv = self._fire(self.host.resolve_name(function), event_name)
        if not inv.ok:
            raise InvocationFailed(inv)
        return inv.result

    def _fire(self, lid: str, event_name: str | None = None) -> Invocation:
        runners = [r for r in self.schedules.get(lid, []) if event_name in (None, r.source.name)]
        if not runners:
            raise LookupError(f"{lid} has no Schedule event" + (f" named {event_name}" if event_name else ""))
        return runners[0].fire()

    def banner(self) -> str:  # noqa: C901 - one section per part of the runtime, as it runs
        m, lines = self.model, []
        ep = self.endpoint
        lines.append(f"Local runtime ready: {self.template_path} (region {m.region}, account {m.account_id})")
        lines.append(f"  AWS endpoint   {ep.url}  ({_endpoint_role(ep)})")
        if self.api:
            lines.append(f"  API            {self.api.url}")
            for path in sorted(self.api.pages):
                lines.append(f"    page          {self.api.url}{path}")
            for r in sorted(self.api.router.routes, key=lambda r: (r.path, r.method)):
                lines.append(f"    {r.method:<7} {r.path:<40} -> {r.function}")
        for api in m.websocket_apis.values():
            if api.stage is None:
                continue
            if self.websocket is None:
                lines.append(f"  WebSocket      {api.logical_id} (not serving)")
                continue
            endpoint = self.websocket.endpoint(api.stage)
            lines.append(f"  WebSocket      {self.websocket.url}/{api.stage}  ({api.logical_id} {api.name}, "
                         f"route selection {api.route_selection_expression})")
            special = {"$connect": 0, "$disconnect": 1, "$default": 2}
            for key in sorted(api.routes, key=lambda k: (special.get(k, 3), k)):
                lines.append(f"    {key:<20} -> {api.routes[key].function or '(not run locally)'}")
            lines.append(f"    connections: {endpoint}/@connections/{{id}}  (boto3 apigatewaymanagementapi "
                         f"endpoint_url {endpoint}; http:// too; local CA in AWS_CA_BUNDLE)")
        lines.append("  SQS sources" + ("" if self.pollers else "   (not polling)"))
        for lid, fn in m.functions.items():
            for ev in fn.events_of(SqsEvent):
                q = m.queues.get(ev.queue or "")
                name = q.name if q else ev.queue_arn
                extra = f", DLQ {m.queues[q.dead_letter_queue].name} after {q.max_receive_count} receives" \
                    if q and q.dead_letter_queue else ""
                rbif = ", ReportBatchItemFailures" if ev.report_batch_item_failures else ""
                off = "" if ev.enabled else " [disabled]"
                lines.append(f"    {name} (batch {ev.batch_size}{rbif}{extra}) -> {lid}{off}")
        running = any(r.thread.is_alive() for rs in self.schedules.values() for r in rs)
        lines.append("  Schedules" + ("" if running else "     (not running; trigger on demand)"))
        now = dt.datetime.now(dt.UTC)
        for lid, runners in self.schedules.items():
            for r in runners:
                nxt = r.schedule.next_after(now) if r.thread.is_alive() else None
                when = f"next {nxt:%Y-%m-%dT%H:%M:%SZ}" if nxt else "enabled" if r.source.enabled else "disabled"
                lines.append(f"    {r.source.expression:<22} -> {lid} ({r.source.name}, {when})")
        if self.control:
            lines.append(f"  Lambda invoke  {self.control.url}  (boto3 lambda endpoint_url; names = logical ids)")
        for lid, fn in m.functions.items():
            for ev in fn.unsupported_events:
                lines.append(f"  NOT RUN LOCALLY: {lid} event {ev}")
        for api in m.websocket_apis.values():
            for what in api.not_run:
                lines.append(f"  NOT RUN LOCALLY: {api.logical_id} {what}")
        for what in m.not_run:
            lines.append(f"  NOT RUN LOCALLY: {what}")
        lines.extend(self._not_created_lines())
        return "\n".join(lines)

    def not_created(self) -> dict[str, str]:
        """Logical id -> type of the template's resources that have no local counterpart
        (alarms, permissions, topics ...): provisioning left them out of the physical map."""
        return {lid: res.type for lid, res in self.template.resources.items() if lid not in self.physical}

    def _not_created_lines(self) -> list[str]:
        missing = self.not_created()
        if not missing:
            return []
        if os.environ.get("LOCAL_VERBOSE", "") not in ("", "0"):
            return [f"  NOT CREATED LOCALLY: {lid} ({kind})" for lid, kind in missing.items()]
        counts: dict[str, int] = {}
        for kind in missing.values():
            counts[kind] = counts.get(kind, 0) + 1
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        noun = "resource" if len(missing) == 1 else "resources"
        return [f"  NOT CREATED LOCALLY: {len(missing)} {noun} of the template ({kinds}); LOCAL_VERBOSE=1 lists them"]


def _endpoint_role(ep: AwsEndpoint) -> str:
    if ep.embedded:
        held = f"; port {ep.port_held_elsewhere} is held by another program, left alone" \
            if ep.port_held_elsewhere else ""
        return f"embedded moto{held}"
    if ep.creates_resources:
        return "AWS_ENDPOINT_URL; template.yaml's resources created or reused there"
    return ("AWS_ENDPOINT_URL; template.yaml's resources looked up, not created "
            "(LOCAL_AWS_PROVISION=1 creates them)")


# ---------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------

def _parse_overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--parameter-overrides wants Key=Value, got {item!r}")
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    # .env first: it may set the variables the options below default to (LOCAL_API_PORT ...).
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--repo", default=str(REPO_ROOT))
    if not dotenv.load_for_command(pre.parse_known_args(argv)[0].repo):
        return 1
    p = argparse.ArgumentParser(prog="python -m infra.local.runtime", description=__doc__.splitlines()[0])
    p.add_argument("--repo", default=str(REPO_ROOT), help="repository root (template.yaml lives there; so does .env)")
    p.add_argument("--template", default="template.yaml")
    p.add_argument("--host", default="127.0.0.1", help="API and WebSocket bind address")
    p.add_argument("--port", type=int, default=int(os.environ.get("LOCAL_API_PORT", "3000")))
    p.add_argument("--control-port", type=int, default=int(os.environ.get("LOCAL_CONTROL_PORT", "3001")))
    p.add_argument("--ws-port", type=int, default=int(os.environ.get("LOCAL_WS_PORT", "3002")),
                   help="WebSocket APIs and their @connections endpoint")
    p.add_argument("--aws-port", type=int, default=None,
                   help="embedded moto port (default LOCAL_AWS_PORT or 4566; a free one when another "
                        "program holds it)")
    p.add_argument("--provision-aws", action=argparse.BooleanOptionalAction, default=None,
                   help="create template.yaml's queues, keys and secrets at AWS_ENDPOINT_URL (or reuse them "
                        "by name); without it they are only looked up there (default: LOCAL_AWS_PROVISION)")
    p.add_argument("--no-schedules", action="store_true", help="do not fire schedules on their own")
    p.add_argument("--no-sqs", action="store_true", help="do not poll SQS event sources")
    p.add_argument("--parameter-overrides", nargs="*", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    rt = LocalRuntime(
        args.repo, template=args.template, parameters=_parse_overrides(args.parameter_overrides),
        api_host=args.host, api_port=args.port, control_port=args.control_port, websocket_port=args.ws_port,
        aws_port=args.aws_port, provision_aws=args.provision_aws,
        start_sqs=not args.no_sqs, start_schedules=not args.no_schedules, restore_env=False,
    )
    try:
        rt.start()
    except Exception as exc:  # noqa: BLE001 - report start-up failures readably
        if not isinstance(exc, EXPECTED_ERRORS):
            traceback.print_exc()
        print(f"local runtime failed to start: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(rt.banner(), flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        print("stopping local runtime ...", file=sys.stderr, flush=True)
        rt.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
