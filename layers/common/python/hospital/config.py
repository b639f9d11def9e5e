"""Secrets from Secrets Manager, and the database URL.

Plain settings come from the environment that template.yaml declares (declared and checked in
hospital.settings); secrets come from Secrets Manager by the ARN a setting names (fetched once
per container and cached for a few minutes), never from the repo.
"""
from __future__ import annotations

import json
import threading
import time

from hospital import settings
from hospital.settings import ConfigError

__all__ = ["ConfigError", "clear_caches", "database_url", "secret", "secret_value"]


_SECRET_TTL = 300.0  # seconds: a rotated or newly filled secret reaches warm containers
_secrets: dict[str, tuple[float, dict]] = {}
_secrets_lock = threading.Lock()


def secret(arn: settings.Text, *, fresh: bool = False) -> dict:
    """The JSON object stored in the Secrets Manager secret whose ARN setting is `arn`,
    cached per container for a few minutes."""
    now = time.monotonic()
    arn_env = arn.name
    with _secrets_lock:
        cached = _secrets.get(arn_env)
    if cached and not fresh and now - cached[0] < _SECRET_TTL:
        return cached[1]
    from hospital.aws import client

    value = client("secretsmanager").get_secret_value(SecretId=arn.get())["SecretString"]
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = {"value": value}
    if not isinstance(parsed, dict):
        raise ConfigError(f"secret behind {arn_env} must be a JSON object")
    with _secrets_lock:
        _secrets[arn_env] = (now, parsed)
    return parsed


def secret_value(arn: settings.Text, key: str) -> str:
    data = secret(arn)
    if not data.get(key):
        data = secret(arn, fresh=True)  # filled in since we cached it?
    if not data.get(key):
        raise ConfigError(f"secret behind {arn.name} has no {key!r}")
    return str(data[key])


def database_url() -> str:
    """DATABASE_URL wins (local runs, tests); on AWS the URL sits in a secret."""
    url = settings.DATABASE_URL.get_optional()
    if url:
        return url
    if settings.DATABASE_SECRET_ARN.get_optional():
        return secret_value(settings.DATABASE_SECRET_ARN, "url")  # SecretString {"url": "mysql+pymysql://..."}
    raise ConfigError("set DATABASE_URL or DATABASE_SECRET_ARN")


def clear_caches() -> None:
    """Forget cached secrets (tests)."""
    with _secrets_lock:
        _secrets.clear()
