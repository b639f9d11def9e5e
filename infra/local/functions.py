"""Load the template's functions into this process and invoke them like Lambda would.

All functions share one process, so:
- each handler module is imported from its CodeUri under a unique module name (every
  function folder has its own `app.py`), with the CodeUri on sys.path only while it
  imports; sibling modules it imports then are kept private to it (see `_import`);
- layers' python/ folders go on sys.path once, ahead of site-packages (Lambda's /opt/python);
- environment variables are process-wide: `function_environment()` merges them and refuses
  two functions that disagree;
- one lock per function: a Lambda container handles one event at a time, and handler code
  (e.g. Chalice's `app.current_request`) relies on that.
"""
from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import importlib.util
import json
import os
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .template import Function

# classify(result) -> (outcome, detail) for a handler that returned normally
Classifier = Callable[[Any], "tuple[str, dict]"]

_log_lock = threading.Lock()


class UnknownFunction(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class EnvironmentConflict(Exception):
    pass


class LambdaContext:
    """The attributes of the Python runtime's context object."""

    def __init__(self, fn: Function, request_id: str) -> None:
        self.function_name = fn.logical_id
        self.function_version = "$LATEST"
        self.invoked_function_arn = fn.arn
        # The real runtime reads AWS_LAMBDA_FUNCTION_MEMORY_SIZE, so this is a str there too.
        self.memory_limit_in_mb = str(fn.memory)
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{fn.logical_id}"
        self.log_stream_name = f"{dt.date.today():%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + fn.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class Invocation:
    function: str
    request_id: str
    outcome: str                       # ok | error | partial
    result: Any = None                 # the handler's return value after a JSON round trip
    error: BaseException | None = None
    error_payload: dict | None = None  # Lambda's {"errorMessage", "errorType", ...}
    duration_ms: float = 0.0
    detail: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def function_environment(functions: Mapping[str, Function], environ: Mapping[str, str]) -> dict[str, str]:
    """Union of the functions' variables to add to os.environ.

    A variable already in `environ` wins over the template (so DATABASE_URL etc. can be
    overridden) and is left out; two functions giving one variable different values is an
    error because they share os.environ here.
    """
    merged: dict[str, tuple[str, str]] = {}
    conflicts = []
    for fn in functions.values():
        for key, value in fn.environment.items():
            if key in environ:
                continue
            if key in merged and merged[key][0] != value:
                conflicts.append(f"{key}: {merged[key][1]}={merged[key][0]!r} vs {fn.logical_id}={value!r}")
            merged.setdefault(key, (value, fn.logical_id))
    if conflicts:
        raise EnvironmentConflict(
            "functions share one process locally, so their environment variables must agree "
            "(or be set in the environment to override): " + "; ".join(conflicts))
    return {k: v for k, (v, _) in merged.items()}


class FunctionHost:
    def __init__(self, functions: Mapping[str, Function]) -> None:
        self.functions = dict(functions)
        self._handlers: dict[str, Callable] = {}
        self._modules: dict[tuple[Path, str], ModuleType] = {}
        # Lambda scales a function out over containers; here up to LOCAL_FUNCTION_CONCURRENCY
        # invocations of one function run at once, in threads sharing the module (the layer
        # keeps per-request state in context variables, not on the Chalice app).
        concurrency = int(os.environ.get("LOCAL_FUNCTION_CONCURRENCY", "8"))
        self._slots = {lid: threading.BoundedSemaphore(concurrency) for lid in self.functions}
        self._load_lock = threading.RLock()
        self._added_paths: list[str] = []

    # ---- names ------------------------------------------------------------------------

    def resolve_name(self, name: str) -> str:
        """Logical id, a function ARN (as boto3 may send), or the CodeUri folder name."""
        if name in self.functions:
            return name
        if name.startswith("arn:"):
            parts = name.split(":")
            if len(parts) >= 7 and parts[6] in self.functions:
                return parts[6]
        folder = name.strip("/").split("/")[-1]
        by_folder = [lid for lid, fn in self.functions.items() if fn.code_uri.name == folder]
        if len(by_folder) == 1:
            return by_folder[0]
        if by_folder:
            raise UnknownFunction(f"folder {folder!r} holds several functions ({', '.join(by_folder)}): "
                                  "use the logical id")
        raise UnknownFunction(f"no function {name!r} in the template (known: {', '.join(self.functions)})")

    # ---- loading ----------------------------------------------------------------------

    def add_layers(self) -> None:
        paths: list[str] = []
        for fn in self.functions.values():
            for p in fn.layer_paths:
                if str(p) not in paths:
                    paths.append(str(p))
        for p in reversed(paths):
            if p not in sys.path:
                sys.path.insert(0, p)
                self._added_paths.append(p)

    def load(self, lid: str) -> Callable:
        with self._load_lock:
            if lid in self._handlers:
                return self._handlers[lid]
            fn = self.functions[lid]
            module_path, _, attr = fn.handler.rpartition(".")
            if not module_path:
                raise ImportError(f"{lid}: Handler {fn.handler!r} is not of the form module.attr")
            key = (fn.code_uri, module_path)
            if key not in self._modules:
                self._modules[key] = self._import(fn.code_uri, module_path)
            try:
                handler = getattr(self._modules[key], attr)
            except AttributeError:
                raise ImportError(f"{lid}: {module_path} has no attribute {attr!r} (Handler {fn.handler})") from None
            self._handlers[lid] = handler
            return handler

    def load_all(self) -> None:
        for lid in self.functions:
            self.load(lid)

    def _import(self, code_uri: Path, module_path: str) -> ModuleType:
        file = code_uri / (module_path.replace(".", "/") + ".py")
        if not file.exists():
            file = code_uri / module_path.replace(".", "/") / "__init__.py"
        if not file.exists():
            raise ImportError(f"handler module {module_path!r} not found in {code_uri}")
        digest = hashlib.sha1(str(code_uri).encode(), usedforsecurity=False).hexdigest()[:8]
        name = "_lambda_" + re.sub(r"\W", "_", f"{code_uri.name}_{module_path}") + f"_{digest}"
        spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(spec)
        before = set(sys.modules)
        sys.modules[name] = module   # dataclasses & co. look their module up here
        sys.path.insert(0, str(code_uri))
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        finally:
            sys.path.remove(str(code_uri))
            # Sibling modules (e.g. a chalicelib/ package) stay bound inside this function's
            # module but leave sys.modules, so the next function imports its own copy.
            for mod_name in set(sys.modules) - before - {name}:
                mod_file = getattr(sys.modules.get(mod_name), "__file__", None)
                if mod_file and Path(mod_file).resolve().is_relative_to(code_uri):
                    sys.modules.pop(mod_name, None)
        return module

    def unload(self) -> None:
        """Forget loaded modules and the sys.path entries we added (tests run many hosts)."""
        with self._load_lock:
            for module in self._modules.values():
                sys.modules.pop(module.__name__, None)
            self._modules.clear()
            self._handlers.clear()
            for p in self._added_paths:
                if p in sys.path:
                    sys.path.remove(p)
            self._added_paths.clear()

    # ---- invoking ---------------------------------------------------------------------

    def invoke(
        self,
        lid: str,
        event: Any,
        trigger: str = "invoke",
        classify: Classifier | None = None,
        error_detail: dict | None = None,
    ) -> Invocation:
        """Run the handler once; never raises for handler errors. Logs one JSON line."""
        fn = self.functions[lid]
        request_id = str(uuid.uuid4())
        inv = Invocation(function=lid, request_id=request_id, outcome="ok")
        with self._slots[lid]:
            start = time.monotonic()
            try:
                handler = self.load(lid)   # an import error fails the invocation, as on Lambda
                result = handler(event, LambdaContext(fn, request_id))
                # Lambda hands callers JSON; a round trip surfaces unserialisable results here too.
                inv.result = json.loads(json.dumps(result, default=_json_default))
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - any handler failure
                inv.error = exc
            inv.duration_ms = round((time.monotonic() - start) * 1000, 1)
        if inv.error is None:
            inv.outcome, inv.detail = classify(inv.result) if classify else ("ok", {})
        else:
            exc = inv.error
            inv.outcome = "error"
            inv.detail = {**(error_detail or {}), "error": f"{type(exc).__name__}: {exc}"}
            inv.error_payload = {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "requestId": request_id,
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
        if inv.duration_ms > fn.timeout * 1000:
            inv.detail["over_timeout"] = True   # Lambda would have killed it at `timeout`
        log_line(
            {"function": lid, "trigger": trigger, "request_id": request_id,
             "duration_ms": inv.duration_ms, "outcome": inv.outcome, **inv.detail},
            exc=inv.error,
        )
        return inv


def log_line(record: dict, exc: BaseException | None = None) -> None:
    """One JSON line on stderr (after the traceback, if any)."""
    text = json.dumps({"runtime": "local", **record}, default=str)
    with _log_lock:
        if exc is not None:
            traceback.print_exception(exc, file=sys.stderr)
        print(text, file=sys.stderr, flush=True)


def _json_default(o: Any) -> Any:
    # The Lambda Python runtime serialises Decimal as a number; everything else fails.
    if isinstance(o, decimal.Decimal):
        return int(o) if o == o.to_integral_value() else float(o)
    raise TypeError(f"Runtime.MarshalError: {type(o).__name__} is not JSON serializable")
