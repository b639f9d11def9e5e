"""What a container holds that a Lambda SnapStart snapshot must not carry, and the one function
that forgets it.

With SnapStart (python3.12 and newer, published versions: template.yaml's SnapStart switch),
Lambda runs a function's init once, snapshots the execution environment's memory, and starts
later cold starts from copies of it, each holding what the modules held then, for as long as the
version serves. `register_hooks` (once per process, from hospital.chalice_app.create_app) has
the runtime call `before_snapshot` and, in every copy, `after_restore`; both empty what HELD
lists as forgotten (`forget_container_state`), and the latter also reseeds the random generators.
`before_snapshot` first imports the libraries the layer otherwise loads on first use (PRIMED),
so their import time is in the snapshot rather than in a restored copy's first request.
The tests call `forget_container_state` to start like a fresh container. A new cache is added to
HELD and nowhere else; tests/unit/test_snapshot.py scans the layer for module-level containers,
memoised functions and names rebound at run time, and fails on one HELD does not list.

Forgotten, before the snapshot and after each restore:
- hospital.db.engine._engine: the engine and its pool. A pooled connection's socket would be
  shared by every copy, and its server session is long gone when a copy starts.
- hospital.config._secrets: secret values (the database URL, signing, hashing and partner keys).
- hospital.crypto._keys: KMS data keys in plaintext, current and unwrapped.
- hospital.aws._client, hospital.live._management: boto3 clients, with their credentials and
  pooled HTTPS connections; hospital.aws._session, the SDK session they are made from, with
  the credentials it resolved.
- hospital.adapters.http_sessions._sessions: partners' requests sessions and their TCP/TLS pools.
- hospital.payments.merchants._cache, _last_reread: WeChat Pay merchants parsed from their
  secret, private and API keys included.
- hospital.auth.standing._cache: users' roles and status, stale by the time a copy starts (and
  in tests, user ids of one database mean other users in the next).
- hospital.auth.admin_activity._seen: back-office sessions this container found active in the
  last minute; a copy starting later must ask the database whether they went idle.
- hospital.messaging._queue_url: queue URLs read from SQS; not secret, but read from outside
  (the tests move between endpoints).
- hospital.wechat_tokens._held: the WeChat access token last read, a credential; a copy reads
  the current one from the database.

Kept: code, the same in every container, holding nothing read from outside:
- hospital.messages.REGISTRY, hospital.messages._field_types: declared message classes and
  their type hints.
- hospital.adapters.http_sessions._retry_class: a class built on first use.
- hospital.audit._statements, hospital.outbox._marks_statement: SQL statements built on first use
  (values are bound at execution), no connection and no value.
- hospital.auth.passwords._hasher, _dummy_hash: argon2's hasher and the hash of a fixed phrase
  (checked for unknown usernames, so they cost a real check); nothing secret.
- hospital.snapshot._registered: the hooks stay registered in every copy.
- hospital.outbox._owed: ids of outbox rows this container sent and has yet to mark, per
  database; no secret, and a copy that writes one writes the truth (the row was sent). Empty at
  init, which sends nothing.

Nothing to forget elsewhere: settings are read from the environment at each use;
WeChat Pay v2 client-certificate files are written to /tmp by invocations, which come after the
snapshot. Random state: `random` (botocore's and urllib3's retry jitter) is reseeded after a
restore, and fresh entropy goes into the OpenSSL generator behind TLS handshakes (the ssl
module); os.urandom, and so secrets, uuid4 and hospital.crypto's nonces, reads the kernel's
generator, which is reseeded when a snapshot is restored.
"""
from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import random
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

log = logging.getLogger("hospital.snapshot")


@dataclasses.dataclass(frozen=True)
class Held:
    """A module-level name holding state at run time; `forget` is the attribute path, in the
    module, of what empties it (None: kept on purpose), and `why` says what it holds."""

    module: str
    name: str
    forget: str | None
    why: str


HELD: tuple[Held, ...] = (
    Held("hospital.db.engine", "_engine", "reset_engine", "engine and pooled database connections"),
    Held("hospital.config", "_secrets", "clear_caches", "secret values"),
    Held("hospital.crypto", "_keys", "forget_keys", "KMS data keys in plaintext"),
    Held("hospital.aws", "_client", "reset_clients", "boto3 clients: credentials, pooled connections"),
    Held("hospital.aws", "_session", "reset_clients", "the SDK session: the credentials it resolved"),
    Held("hospital.live", "_management", "_management.cache_clear", "a boto3 client: credentials, connections"),
    Held("hospital.adapters.http_sessions", "_sessions", "close_all", "partners' sessions and connection pools"),
    Held("hospital.payments.merchants", "_cache", "clear_cache", "merchants' private and API keys"),
    Held("hospital.payments.merchants", "_last_reread", "clear_cache", "when the merchants' secret was read"),
    Held("hospital.auth.standing", "_cache", "forget_all", "users' roles and status as last read"),
    Held("hospital.auth.admin_activity", "_seen", "forget_all", "back-office sessions last found active"),
    Held("hospital.health", "_last", "forget", "the last health answer: stale in a copy"),
    Held("hospital.messaging", "_queue_url", "_queue_url.cache_clear", "queue URLs read from SQS"),
    Held("hospital.wechat_tokens", "_held", "forget_held", "the WeChat access token last read"),
    Held("hospital.outbox", "_owed", None, "ids of sent rows awaiting their mark: no secret, true in any copy"),
    Held("hospital.auth.standing", "_standing_query", None, "SQL statements built from code"),
    Held("hospital.live", "_listeners_query", None, "an SQL statement built from code"),
    Held("hospital.messages", "REGISTRY", None, "declared message classes: code"),
    Held("hospital.messages", "_field_types", None, "message classes' type hints: code"),
    Held("hospital.adapters.http_sessions", "_retry_class", None, "a class built from code"),
    Held("hospital.audit", "_statements", None, "statements built from code"),
    Held("hospital.auth.passwords", "_hasher", None, "argon2's hasher: its parameters, code"),
    Held("hospital.auth.passwords", "_dummy_hash", None, "the hash of a known phrase: no secret"),
    Held("hospital.outbox", "_marks_statement", None, "statements built from code"),
    Held("hospital.api_contract", "resolve", None, "models a route names: code"),
    Held("hospital.api_contract", "_adapter", None, "validators of answer models: code"),
    Held("hospital.snapshot", "_registered", None, "the hooks stay registered in every copy"),
)

# Loaded on first use to keep on-demand cold starts short; a snapshot holds them for free.
PRIMED = ("sqlalchemy", "pymysql", "botocore.session", "requests", "pydantic",
          "cryptography.hazmat.primitives.ciphers.aead")

_registered = False
_lock = threading.Lock()


def forget_container_state() -> None:
    """Empty everything HELD lists as forgotten. A module is looked up among those imported, not
    imported here: one never imported holds nothing, importing it would lengthen the init, and
    the platform does not import the domains (hospital.payments)."""
    done: set[tuple[str, str]] = set()
    for held in HELD:
        if held.forget is None or (held.module, held.forget) in done:
            continue
        done.add((held.module, held.forget))
        module = sys.modules.get(held.module)
        if module is not None:
            _attribute(module, held.forget)()


def _attribute(module: types.ModuleType, path: str) -> Callable[[], object]:
    found: Any = module
    for name in path.split("."):
        found = getattr(found, name)
    return found


def reseed_random() -> None:
    """New seeds for the generators whose state a snapshot copies into every restored container."""
    import ssl

    random.seed()  # from os.urandom
    ssl.RAND_add(os.urandom(32), 32.0)


def before_snapshot() -> None:
    for name in PRIMED:
        importlib.import_module(name)
    forget_container_state()
    log.info("container state forgotten before the snapshot")


def after_restore() -> None:
    forget_container_state()
    reseed_random()
    log.info("container state forgotten and random generators reseeded after a restore")


def register_hooks() -> None:
    """Have Lambda's runtime run the hooks; once per process, however many apps it makes (the
    local runtime makes every function's)."""
    global _registered
    with _lock:
        if _registered:
            return
        _registered = True
        runtime_hooks = _runtime_hooks()
        if runtime_hooks is not None:
            runtime_hooks.register_before_snapshot(before_snapshot)
            runtime_hooks.register_after_restore(after_restore)


def _runtime_hooks():
    """Lambda's snapshot_restore_py, or None where there is none: the python3.11 runtime (no
    SnapStart) or a local run without it; registering there would reach nobody."""
    try:
        import snapshot_restore_py
    except ImportError:
        return None
    return snapshot_restore_py
