"""HIS_ADAPTER: a hospital's own HIS module, named "package.module:factory". The factory is
called with no arguments and returns an object with every operation of His; it reads its own
settings and secrets. Nothing is cached here: the module is imported once by Python itself."""
from __future__ import annotations

import importlib
from typing import cast

from hospital.adapters.his.interface import OPERATIONS, His
from hospital.settings import ConfigError


def load(spec: str) -> His:
    """The object HIS_ADAPTER's factory makes; ConfigError naming what is wrong otherwise."""
    module_name, _, factory_name = spec.partition(":")
    if not module_name or not factory_name:
        raise ConfigError(f"HIS_ADAPTER={spec!r} must be package.module:factory")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"HIS_ADAPTER: cannot import {module_name} ({exc})") from exc
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise ConfigError(f"HIS_ADAPTER: {module_name} has no callable {factory_name}")
    adapter = factory()
    missing = [name for name in OPERATIONS if not callable(getattr(adapter, name, None))]
    if missing:
        raise ConfigError(f"HIS_ADAPTER: {spec} made a {type(adapter).__name__} without {', '.join(missing)}")
    return cast(His, adapter)
