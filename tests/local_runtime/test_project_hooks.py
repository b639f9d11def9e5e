"""The project's start-up hook (infra/local/hooks.py) as the tests' platform runs it: `make run`'s
start-up with the options tests need, and partners' callbacks aimed at the API wherever it listens."""
from __future__ import annotations

import json

from infra import devenv
from infra.local import hooks

DEFAULT_PORTS = {devenv.WECHAT_PORT, devenv.TRIAGE_PORT, devenv.WECHATPAY_PORT, devenv.HIS_PORT,
                 devenv.CREDIT_PORT, devenv.MED_INS_PORT}


def test_the_platform_is_the_local_runtime_with_its_simulators(platform):
    runtime = platform.runtime
    started = runtime.ctx.services
    assert set(started) == {"wechat", "triage", "wechatpay", "his", "credit", "medical_insurance", "imaging", "exam",
                            "internet_hospital"}
    assert (platform.wechat, platform.triage, platform.wechatpay, platform.his, platform.credit,
            platform.insurance) == tuple(started[name] for name in (
                "wechat", "triage", "wechatpay", "his", "credit", "medical_insurance"))
    assert (platform.host, platform.live, platform.api) == (runtime.host, runtime.websocket, runtime.api)
    assert runtime.ctx.parameters["WeChatPayApiBase"] == platform.wechatpay.url


def test_the_platform_takes_free_ports_fast_retries_and_no_database_of_its_own(platform):
    started = platform.runtime.ctx.services
    assert {simulator.port for simulator in started.values()}.isdisjoint(DEFAULT_PORTS)
    assert platform.wechatpay.retry_scale == 0.00003
    assert platform.runtime.ctx.env["DATABASE_URL"] == ""   # nothing migrated, no .local/ SQLite made
    assert platform.runtime.pollers == []
    assert platform.runtime.control is None


def test_partners_call_back_the_api_where_it_listens(platform):
    assert platform.api.url != "http://127.0.0.1:3000"
    assert platform.credit.callback_url == f"{platform.api.url}/callbacks/credit"
    assert platform.insurance.callback_url == f"{platform.api.url}/callbacks/medical-insurance"
    assert set(devenv.CALLBACK_PATHS) <= set(platform.runtime.ctx.services)


def test_sample_events_take_codes_from_the_runtimes_wechat_simulator(platform):
    event = {"body": '{"code": "${WECHAT_LOGIN_CODE}"}'}
    filled = hooks.prepare_event(event, platform.runtime.ctx)
    assert "${" not in filled["body"]
    assert hooks.prepare_event({"plain": 1}, platform.runtime.ctx) == {"plain": 1}


def test_the_api_reference_is_served_beside_the_api_from_the_code(platform):
    import requests

    from infra.openapi import document

    page = requests.get(f"{platform.api.url}/docs", timeout=10)
    assert page.status_code == 200 and "/docs/swagger-ui-bundle.js" in page.text and "//cdn" not in page.text
    script = requests.get(f"{platform.api.url}/docs/swagger-ui-bundle.js", timeout=10)
    assert script.status_code == 200 and len(script.content) > 100_000
    served = requests.get(f"{platform.api.url}/openapi.json", timeout=30)
    assert served.status_code == 200 and served.json() == json.loads(json.dumps(document()))
    assert requests.post(f"{platform.api.url}/docs", timeout=10).status_code == 403  # pages answer GET only
