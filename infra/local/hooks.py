"""Project start-up steps of the local runtime (`make run`, `make invoke`, LocalRuntime).

`before_start(ctx)` runs once per start, after the AWS endpoint is up and before the
template's resources are created and the functions are imported:

- migrates the database (DATABASE_URL, or the embedded SQLite file under .local/);
- starts the WeChat API simulator (:7001) and the ED triage simulator (:7002), unless
  WECHAT_API_BASE / TRIAGE_API_BASE point at real endpoints, and stores the credentials
  they accept in the template's secrets.

`prepare_event(event)` fills the ${...} placeholders of events/*.json (a signed-in local
patient, one of their cases, fresh WeChat codes) for `make invoke`.

ctx (see infra.local.runtime.HookContext): repo_root, env, aws_endpoint_url, region,
account_id, env_overrides, secret_overrides, parameters, on_stop(fn).
"""
from __future__ import annotations

import json
import logging

log = logging.getLogger("infra.local.hooks")
_simulators: dict = {}


def before_start(ctx) -> None:
    from infra import devenv

    devenv.migrate(ctx.env["DATABASE_URL"])
    if ctx.env.get("WECHAT_API_BASE"):
        log.info("WeChat API at %s: no simulator", ctx.env["WECHAT_API_BASE"])
    else:
        simulator = devenv.start_wechat_simulator(int(ctx.env.get("LOCAL_WECHAT_PORT", devenv.WECHAT_PORT)))
        _started(ctx, "wechat", simulator)
        ctx.parameters["WeChatApiBase"] = simulator.url
        ctx.secret_overrides["WeChatSecret"] = devenv.wechat_secret_string()
    if ctx.env.get("TRIAGE_API_BASE"):
        log.info("ED triage system at %s: no simulator", ctx.env["TRIAGE_API_BASE"])
    else:
        simulator = devenv.start_triage_simulator(int(ctx.env.get("LOCAL_TRIAGE_PORT", devenv.TRIAGE_PORT)))
        _started(ctx, "triage", simulator)
        ctx.parameters["TriageApiBase"] = simulator.url
        ctx.secret_overrides["TriageSecret"] = devenv.triage_secret_string()


def _started(ctx, name: str, simulator) -> None:
    _simulators[name] = simulator
    ctx.on_stop(simulator.stop)
    ctx.on_stop(lambda: _simulators.pop(name, None))


def prepare_event(event):
    from infra import devenv

    text = json.dumps(event, ensure_ascii=False)
    if "${" not in text:
        return event
    return json.loads(devenv.fill_placeholders(text, simulator=_simulators.get("wechat")))
