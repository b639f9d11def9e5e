"""SnapStart's hooks (hospital.snapshot): registered once per process when an app is made; the
snapshot holds the libraries loaded on first use; after either hook every cache the module lists
as forgotten is empty and, after a restore, `random` is reseeded; and every module-level cache of
the layer is in that list, found statically."""
from __future__ import annotations

import ast
import json
import os
import pathlib
import random
import subprocess
import sys
import time
import types

import pytest

from hospital import chalice_app, snapshot

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers/common/python"


# ---- registration ------------------------------------------------------------------------------

def test_the_first_app_made_registers_the_hooks_once_with_lambdas_runtime(monkeypatch):
    before, after = [], []
    runtime = types.SimpleNamespace(register_before_snapshot=before.append, register_after_restore=after.append)
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    monkeypatch.setattr(snapshot, "_registered", False)

    for name in ("one", "two", "three"):  # the local runtime makes every function's app in one process
        chalice_app.create_app(name, needs=())

    assert before == [snapshot.before_snapshot]
    assert after == [snapshot.after_restore]


def test_without_the_runtime_module_apps_are_made_and_nothing_is_registered(monkeypatch):
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails: the python3.11 runtime
    monkeypatch.setattr(snapshot, "_registered", False)

    assert chalice_app.create_app("plain", needs=()).app_name == "plain"
    assert snapshot._registered


def test_the_real_runtime_module_holds_the_hooks_once_and_the_snapshot_holds_the_libraries():
    """snapshot-restore-py (the dev lock's copy of what the python3.12+ runtimes hold) as Lambda
    reads it, in a fresh process that made two apps: each hook once; and the libraries loaded on
    first use are loaded once the runtime ran the before-snapshot hooks."""
    program = """
import json, sys, snapshot_restore_py
from hospital import chalice_app, snapshot
chalice_app.create_app("one", needs=())
chalice_app.create_app("two", needs=())
lazy = [name for name in snapshot.PRIMED if name not in sys.modules]
for hook, args, kwargs in snapshot_restore_py.get_before_snapshot():
    hook(*args, **kwargs)
print(json.dumps({"before": [f.__qualname__ for f, _, _ in snapshot_restore_py.get_before_snapshot()],
                  "after": [f.__qualname__ for f, _, _ in snapshot_restore_py.get_after_restore()],
                  "lazy": lazy, "missing": [name for name in snapshot.PRIMED if name not in sys.modules]}))
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(LAYER), str(ROOT)])}
    done = subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert (seen["before"], seen["after"]) == (["before_snapshot"], ["after_restore"])
    assert "sqlalchemy" in seen["lazy"] and seen["missing"] == []


# ---- what the hooks forget -----------------------------------------------------------------------

def _fake_sqs(monkeypatch):
    from hospital import aws

    class Sqs:
        def get_queue_url(self, QueueName, QueueOwnerAWSAccountId):
            return {"QueueUrl": f"https://sqs.local/{QueueOwnerAWSAccountId}/{QueueName}"}

    monkeypatch.setattr(aws, "client", lambda service, profile="default": Sqs())


def _fill_engine(monkeypatch):
    from hospital import db

    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    with db.transaction() as conn:
        conn.exec_driver_sql("SELECT 1")


def _fill_secrets(monkeypatch):
    from hospital import config

    config._secrets["APP_SECRET_ARN"] = (time.monotonic(), {"session_signing_key": "from-the-snapshot"})


def _fill_keys(monkeypatch):
    from hospital import crypto

    crypto._keys._current[crypto.AES_GCM] = (b"wrapped", b"k" * 32, time.monotonic())
    crypto._keys._unwrapped[b"wrapped"] = b"k" * 32


def _fill_clients(monkeypatch):
    from hospital import aws

    aws.client("sqs")


def _fill_management(monkeypatch):
    from hospital import live

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    live._management("https://abc.execute-api.us-east-1.amazonaws.com/dev")


def _fill_sessions(monkeypatch):
    from hospital.adapters import http_sessions

    http_sessions.session("his")


def _fill_merchants(monkeypatch):
    from hospital.payments import merchants

    monkeypatch.setattr(merchants, "_cache", ('{"merchants": []}', {"1900000109": "a merchant and its keys"}))
    monkeypatch.setattr(merchants, "_last_reread", time.monotonic())


def _fill_standing(monkeypatch):
    from hospital.auth import standing

    standing._cache[(7, "session")] = (time.monotonic(), standing.Standing("active", frozenset({"patient"})))


def _fill_admin_activity(monkeypatch):
    from hospital.auth import admin_activity

    admin_activity._seen["f" * 32] = time.monotonic()


def _fill_health(monkeypatch):
    from hospital import health

    health._last = (time.monotonic(), {"status": "ok", "checks": {}})


def _fill_wechat_token(monkeypatch):
    import datetime as dt

    from hospital import wechat_tokens

    wechat_tokens._held["wx-app"] = ("a-token", dt.datetime(2099, 1, 1))


def _fill_queue_urls(monkeypatch):
    from hospital import messaging

    _fake_sqs(monkeypatch)
    messaging._queue_url("arn:aws:sqs:us-east-1:123456789012:hospital-dev-rescue-events")


# (module, name) -> (fill it, is it empty); one entry per cache HELD lists as forgotten
CACHES = {
    ("hospital.db.engine", "_engine"): (_fill_engine, lambda: sys.modules["hospital.db.engine"]._engine is None),
    ("hospital.config", "_secrets"): (_fill_secrets, lambda: not sys.modules["hospital.config"]._secrets),
    ("hospital.crypto", "_keys"): (_fill_keys, lambda: not (sys.modules["hospital.crypto"]._keys._current
                                                            or sys.modules["hospital.crypto"]._keys._unwrapped)),
    ("hospital.aws", "_client"): (
        _fill_clients, lambda: sys.modules["hospital.aws"]._client.cache_info().currsize == 0),
    ("hospital.aws", "_session"): (_fill_clients, lambda: sys.modules["hospital.aws"]._session is None),
    ("hospital.live", "_management"): (
        _fill_management, lambda: sys.modules["hospital.live"]._management.cache_info().currsize == 0),
    ("hospital.adapters.http_sessions", "_sessions"): (
        _fill_sessions, lambda: not sys.modules["hospital.adapters.http_sessions"]._sessions),
    ("hospital.payments.merchants", "_cache"): (
        _fill_merchants, lambda: sys.modules["hospital.payments.merchants"]._cache is None),
    ("hospital.payments.merchants", "_last_reread"): (
        _fill_merchants, lambda: sys.modules["hospital.payments.merchants"]._last_reread is None),
    ("hospital.auth.standing", "_cache"): (_fill_standing, lambda: not sys.modules["hospital.auth.standing"]._cache),
    ("hospital.auth.admin_activity", "_seen"): (
        _fill_admin_activity, lambda: not sys.modules["hospital.auth.admin_activity"]._seen),
    ("hospital.health", "_last"): (_fill_health, lambda: sys.modules["hospital.health"]._last is None),
    ("hospital.messaging", "_queue_url"): (
        _fill_queue_urls, lambda: sys.modules["hospital.messaging"]._queue_url.cache_info().currsize == 0),
    ("hospital.wechat_tokens", "_held"): (_fill_wechat_token, lambda: not sys.modules["hospital.wechat_tokens"]._held),
}


def test_every_cache_listed_as_forgotten_is_filled_and_checked_here():
    assert set(CACHES) == {(held.module, held.name) for held in snapshot.HELD if held.forget}


@pytest.mark.parametrize("hook", [snapshot.before_snapshot, snapshot.after_restore], ids=lambda hook: hook.__name__)
def test_after_each_hook_every_listed_cache_is_empty(hook, monkeypatch):
    monkeypatch.setattr(snapshot, "reseed_random", lambda: None)  # its own test below
    for fill, _ in CACHES.values():
        fill(monkeypatch)
    full = [key for key, (_, is_empty) in CACHES.items() if is_empty()]
    assert full == [], "filling did not fill these"

    hook()

    assert [key for key, (_, is_empty) in CACHES.items() if not is_empty()] == []


def test_the_next_use_after_a_restore_opens_a_new_connection_on_a_new_engine(monkeypatch):
    import sqlite3

    from hospital import aws, db

    _fill_engine(monkeypatch)
    old_engine, old_client = db.engine(), aws.client("sqs")
    old_session = aws._session
    pooled = old_engine.raw_connection()
    snapshotted = pooled.dbapi_connection
    pooled.close()  # back to the pool, as after a request

    snapshot.after_restore()

    with db.transaction() as conn:
        assert conn.connection.dbapi_connection is not snapshotted
    assert db.engine() is not old_engine
    with pytest.raises(sqlite3.ProgrammingError):  # closed, not left open behind the new engine
        snapshotted.execute("SELECT 1")
    assert aws.client("sqs") is not old_client
    assert aws._session is not None and aws._session is not old_session  # credentials resolved afresh
    snapshot.forget_container_state()


def test_a_module_never_imported_is_not_imported_to_be_forgotten(monkeypatch):
    monkeypatch.delitem(sys.modules, "hospital.payments.merchants", raising=False)

    snapshot.forget_container_state()

    assert "hospital.payments.merchants" not in sys.modules


# ---- random state --------------------------------------------------------------------------------

def test_random_is_reseeded_after_a_restore_and_openssl_gets_fresh_entropy(monkeypatch):
    import ssl

    mixed = []
    monkeypatch.setattr(ssl, "RAND_add", lambda data, entropy: mixed.append((data, entropy)))
    random.seed(20240101)  # as if seeded before the snapshot: every copy would draw the same numbers
    snapshotted = random.getstate()
    drawn_in_snapshot = [random.random() for _ in range(4)]

    random.setstate(snapshotted)
    snapshot.after_restore()

    assert random.getstate() != snapshotted
    assert [random.random() for _ in range(4)] != drawn_in_snapshot
    assert len(mixed) == 1 and len(mixed[0][0]) >= 32


# ---- every module-level cache of the layer is listed ---------------------------------------------

CONTAINER_CALLS = {"dict", "list", "set", "bytearray", "defaultdict", "OrderedDict", "deque", "Counter"}
MUTATORS = {"append", "add", "update", "setdefault", "pop", "popitem", "clear", "extend", "insert", "remove",
            "discard", "__setitem__"}
MEMOISERS = {"cache", "lru_cache"}


def _is_constant_name(name: str) -> bool:
    """A CONSTANT by its name, or a module's own dunder (__all__)."""
    return name.strip("_").isupper() or (name.startswith("__") and name.endswith("__"))


def _called_name(node: ast.expr) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id
    if isinstance(target, ast.Attribute):
        return target.attr
    return None


def _mutated_in_place(tree: ast.Module) -> set[str]:
    """Names changed in place anywhere in the module: item set or deleted, or a mutating method called."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)) \
                and isinstance(node.value, ast.Name):
            found.add(node.value.id)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in MUTATORS and isinstance(node.func.value, ast.Name):
            found.add(node.func.value.id)
    return found


def module_level_state(tree: ast.Module) -> set[str]:
    """Module-level names that hold state at run time: rebound by a function (`global`); a
    mutable container or an instance of a class of the module (unless a never-changed
    CONSTANT); a function memoised with functools.cache or lru_cache."""
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    changed = _mutated_in_place(tree)
    found = {name for node in ast.walk(tree) if isinstance(node, ast.Global) for name in node.names}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if any(_called_name(d) in MEMOISERS for d in node.decorator_list):
                found.add(node.name)
            continue
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        container = isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)) or (
            isinstance(value, ast.Call) and _called_name(value) in CONTAINER_CALLS | classes)
        for target in targets:
            if isinstance(target, ast.Name) and container and (
                    not _is_constant_name(target.id) or target.id in changed):
                found.add(target.id)
    return found


def layer_state() -> set[tuple[str, str]]:
    found = set()
    for path in sorted((LAYER / "hospital").rglob("*.py")):
        module = ".".join(path.relative_to(LAYER).with_suffix("").parts).removesuffix(".__init__")
        found |= {(module, name) for name in module_level_state(ast.parse(path.read_text(), str(path)))}
    return found


def test_every_module_level_cache_of_the_layer_is_listed_in_the_snapshot_module():
    listed = {(held.module, held.name) for held in snapshot.HELD}
    found = layer_state()
    assert found - listed == set(), "list these in hospital.snapshot.HELD: forgotten (and how) or kept (and why)"
    assert listed - found == set(), "hospital.snapshot.HELD lists what the layer no longer holds"


def test_the_scan_finds_each_kind_of_cache_and_passes_constants_by():
    tree = ast.parse("""
import functools
class _Ring:
    pass
TABLE = {"a": 1}
REGISTRY = {}
_seen: dict = {}
_ring = _Ring()
_built = None
_lock = object()

def declare(name, cls):
    REGISTRY[name] = cls

def build():
    global _built
    _built = 1

@functools.lru_cache(maxsize=8)
def lookup(key):
    return key
""")
    assert module_level_state(tree) == {"REGISTRY", "_seen", "_ring", "_built", "lookup"}
