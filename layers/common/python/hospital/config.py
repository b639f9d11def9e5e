"""Configuration from environment variables and Secrets Manager.

Plain settings come from the environment that template.yaml declares; secrets come from
Secrets Manager by ARN (fetched once per container and cached), never from the repo.
"""
from __future__ import annotations

import json
import os
import threading
import time


class ConfigError(RuntimeError):
    """A required setting is missing or malformed; the function cannot start work."""


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise ConfigError(f"environment variable {name} is not set")
    return value


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name} must be an integer") from exc


_SECRET_TTL = 300.0  # seconds: a rotated or newly filled secret reaches warm containers
_secrets: dict[str, tuple[float, dict]] = {}
_secrets_lock = threading.Lock()


def secret(arn_env: str, *, fresh: bool = False) -> dict:
    """The JSON object stored in the Secrets Manager secret named by env var `arn_env`,
    cached per container for a few minutes."""
    now = time.monotonic()
    with _secrets_lock:
        cached = _secrets.get(arn_env)
    if cached and not fresh and now - cached[0] < _SECRET_TTL:
        return cached[1]
    from hospital.aws import client

    value = client("secretsmanager").get_secret_value(SecretId=env(arn_env))["SecretString"]
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = {"value": value}
    if not isinstance(parsed, dict):
        raise ConfigError(f"secret behind {arn_env} must be a JSON object")
    with _secrets_lock:
        _secrets[arn_env] = (now, parsed)
    return parsed


def secret_value(arn_env: str, key: str) -> str:
    data = secret(arn_env)
    if not data.get(key):
        data = secret(arn_env, fresh=True)  # filled in since we cached it?
    if not data.get(key):
        raise ConfigError(f"secret behind {arn_env} has no {key!r}")
    return str(data[key])


def database_url() -> str:
    """DATABASE_URL wins (local runs, tests); on AWS the URL sits in a secret."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    if os.environ.get("DATABASE_SECRET_ARN"):
        return secret_value("DATABASE_SECRET_ARN", "url")  # SecretString {"url": "mysql+pymysql://..."}
    raise ConfigError("set DATABASE_URL or DATABASE_SECRET_ARN")


def clear_caches() -> None:
    """Forget cached secrets (tests)."""
    with _secrets_lock:
        _secrets.clear()
