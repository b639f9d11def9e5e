"""Each function declares exactly the settings groups its code can read, and a function whose
settings are missing or malformed fails its init with a message naming each one.

What a function can read is found statically: every layer module its app.py imports, at module
level or inside a handler, and everything those import in turn; a module reads a setting where
it names `settings.<SETTING>`.
"""
from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys

import pytest

from hospital import config, settings

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers/common/python"
APPS = sorted((ROOT / "functions").glob("*/app.py"))
SETTING_OF = {name: value for name, value in vars(settings).items()
              if isinstance(value, settings.Text | settings.Number)}
GROUP_OF = {setting: group for group in settings.GROUPS for setting in group.settings}
GROUP_NAME = {id(value): name for name, value in vars(settings).items() if isinstance(value, settings.Group)}


def module_path(name: str) -> pathlib.Path | None:
    base = LAYER / name.replace(".", "/")
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imports_of(tree: ast.AST) -> set[str]:
    """Layer modules a tree imports, wherever the import statement stands."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("hospital")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hospital"):
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names
                      if module_path(f"{node.module}.{alias.name}")}
    return {name for name in found if module_path(name)}


def settings_named(tree: ast.AST) -> set[str]:
    return {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "settings"
            and node.attr in SETTING_OF}


def reach(app: pathlib.Path) -> dict[str, str]:
    """Setting name -> the first layer module found reading it, for one function."""
    seen: set[str] = set()
    todo = sorted(imports_of(ast.parse(app.read_text())))
    read: dict[str, str] = {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        tree = ast.parse(module_path(name).read_text())
        for setting in settings_named(tree):
            read.setdefault(setting, name)
        todo += sorted(imports_of(tree) - seen)
    return read


def declared(app: pathlib.Path) -> set[str]:
    """The groups named in the app's create_app(..., needs=(...))."""
    tree = ast.parse(app.read_text())
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and getattr(node.func, "attr", getattr(node.func, "id", None)) == "create_app"]
    assert len(calls) == 1, f"{app}: one create_app call"
    [needs] = [keyword.value for keyword in calls[0].keywords if keyword.arg == "needs"]
    assert isinstance(needs, ast.Tuple), f"{app}: needs=(settings.GROUP, ...)"
    return {element.attr for element in needs.elts if isinstance(element, ast.Attribute)}


def group_names_for(setting_names) -> set[str]:
    return {GROUP_NAME[id(GROUP_OF[SETTING_OF[name]])] for name in setting_names}


def test_every_setting_is_in_exactly_one_group():
    members = [setting for group in settings.GROUPS for setting in group.settings]
    assert sorted(s.name for s in members) == sorted(s.name for s in SETTING_OF.values())
    assert len(members) == len(set(members))


@pytest.mark.parametrize("app", APPS, ids=[app.parent.name for app in APPS])
def test_a_function_declares_exactly_the_groups_its_code_reads(app):
    read = reach(app)
    needed = group_names_for(read)
    missing = {group: sorted(f"{name} (read in {read[name]})" for name in read
                             if group_names_for([name]) == {group}) for group in needed - declared(app)}
    assert missing == {}, f"{app.parent.name} reads these but does not declare their groups"
    assert declared(app) - needed == set(), f"{app.parent.name} declares groups its code never reads"


def test_the_scan_sees_imports_inside_handlers_and_through_other_modules():
    # rescue_events imports its consumer inside the handler; the outbox's queues come through it.
    read = reach(ROOT / "functions/rescue_events/app.py")
    assert "TRIAGE_QUEUE_URL" in read
    assert "DATABASE_URL" in read


# ---- the check itself ------------------------------------------------------------------------------

@pytest.fixture
def environment(monkeypatch):
    for setting in SETTING_OF.values():
        monkeypatch.delenv(setting.name, raising=False)
    return monkeypatch


def test_a_missing_setting_stops_the_start_naming_it_and_what_it_is_for(environment):
    environment.setenv("DATABASE_URL", "sqlite://")
    with pytest.raises(config.ConfigError) as refused:
        settings.check("rescue_events", (settings.DATABASE, settings.LIVE))
    assert str(refused.value) == ("rescue_events cannot start: LIVE_API_ENDPOINT is not set "
                                  "(the WebSocket API's connection-management endpoint)")


def test_every_problem_is_named_at_once(environment):
    environment.setenv("DB_POOL_SIZE", "ten")
    environment.setenv("LIVE_API_ENDPOINT", "wss//nowhere")
    environment.setenv("TRIAGE_SECRET_ARN", "triage-key")
    with pytest.raises(config.ConfigError) as refused:
        settings.check("fn", (settings.DATABASE, settings.LIVE, settings.TRIAGE))
    message = str(refused.value)
    assert "DB_POOL_SIZE='ten' must be a whole number" in message
    assert "set DATABASE_URL or DATABASE_SECRET_ARN" in message
    assert "LIVE_API_ENDPOINT='wss//nowhere' must be an http(s) URL" in message
    assert "TRIAGE_API_BASE is not set" in message
    assert "TRIAGE_SECRET_ARN='triage-key' must be an ARN" in message


def test_either_database_setting_is_enough(environment):
    environment.setenv("DATABASE_SECRET_ARN", "arn:aws:secretsmanager:cn-north-1:123456789012:secret:db-AbCdEf")
    settings.check("fn", (settings.DATABASE,))
    environment.delenv("DATABASE_SECRET_ARN")
    environment.setenv("DATABASE_URL", "mysql+pymysql://app@db/hospital")
    settings.check("fn", (settings.DATABASE,))


def test_defaults_stand_in_for_unset_settings_and_bounds_hold(environment):
    assert settings.SESSION_TTL_SECONDS.get() == 900
    assert settings.WECHAT_API_BASE.get() == "https://api.weixin.qq.com"
    environment.setenv("SESSION_TTL_SECONDS", "30")
    with pytest.raises(config.ConfigError, match="SESSION_TTL_SECONDS=30 must be at least 60"):
        settings.SESSION_TTL_SECONDS.get()
    environment.setenv("PII_CIPHER", "DES")
    with pytest.raises(config.ConfigError, match="PII_CIPHER='DES' must be one of AES-GCM, SM4-GCM"):
        settings.PII_CIPHER.get()


def test_an_unset_optional_setting_reads_as_none_and_a_set_one_is_checked(environment):
    assert settings.DATABASE_URL.get_optional() is None
    environment.setenv("DATABASE_SECRET_ARN", "not-an-arn")
    with pytest.raises(config.ConfigError, match="must be an ARN"):
        settings.DATABASE_SECRET_ARN.get_optional()


def test_a_function_without_its_settings_fails_its_init_with_the_message():
    environ = {key: value for key, value in os.environ.items() if key not in {s.name for s in SETTING_OF.values()}}
    environ["PYTHONPATH"] = f"{LAYER}{os.pathsep}{ROOT}"
    done = subprocess.run([sys.executable, "-c", "import runpy; runpy.run_path('functions/rescue_events/app.py')"],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "ConfigError: rescue_events cannot start: set DATABASE_URL or DATABASE_SECRET_ARN" in done.stderr
