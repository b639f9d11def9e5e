"""Project start-up steps of the local runtime (`make run`, `make invoke`, LocalRuntime).

`before_start(ctx)` runs once per start, after the AWS endpoint is up and before the
template's resources are created and the functions are imported:

- migrates the database (DATABASE_URL, or the embedded SQLite file under .local/);
- starts the WeChat API simulator, unless WECHAT_API_BASE points at a real endpoint, and
  stores the app secrets it accepts in the template's WeChat secret.

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
        return
    port = int(ctx.env.get("LOCAL_WECHAT_PORT", devenv.WECHAT_PORT))
    simulator = devenv.start_wechat_simulator(port)
    _simulators["wechat"] = simulator
    ctx.on_stop(simulator.stop)
    ctx.on_stop(lambda: _simulators.pop("wechat", None))
    ctx.parameters["WeChatApiBase"] = simulator.url
    ctx.secret_overrides["WeChatSecret"] = devenv.wechat_secret_string()


def prepare_event(event):
    from infra import devenv

    text = json.dumps(event, ensure_ascii=False)
    if "${" not in text:
        return event
    return json.loads(devenv.fill_placeholders(text, simulator=_simulators.get("wechat")))
