"""Configuration from environment variables and Secrets Manager.

Plain settings come from the environment that template.yaml declares; secrets come from
Secrets Manager by ARN (fetched once per container and cached), never from the repo.
"""
from __future__ import annotations

import functools
import json
import os


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


@functools.lru_cache(maxsize=None)
def secret(arn_env: str) -> dict:
    """The JSON object stored in the Secrets Manager secret named by env var `arn_env`."""
    from hospital.aws import client

    value = client("secretsmanager").get_secret_value(SecretId=env(arn_env))["SecretString"]
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = {"value": value}
    if not isinstance(parsed, dict):
        raise ConfigError(f"secret behind {arn_env} must be a JSON object")
    return parsed


def secret_value(arn_env: str, key: str) -> str:
    data = secret(arn_env)
    if not data.get(key):
        raise ConfigError(f"secret behind {arn_env} has no {key!r}")
    return str(data[key])


def database_url() -> str:
    """DATABASE_URL wins (local runs, tests); on AWS the URL sits in a secret."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    if os.environ.get("DATABASE_SECRET_ARN"):
        return secret_value("DATABASE_SECRET_ARN", "url")
    raise ConfigError("set DATABASE_URL or DATABASE_SECRET_ARN")


def clear_caches() -> None:
    """Forget cached secrets (tests, and after a rotation)."""
    secret.cache_clear()
