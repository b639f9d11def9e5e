"""The WeChat simulator, driven over real HTTP through the production adapter."""
from __future__ import annotations

import logging
import time

import pytest
import requests

from hospital.adapters.wechat import WeChatApi, WeChatError, WeChatUnavailable
from hospital.observability import bind_correlation_id, reset_correlation_id
from infra.simulators.wechat import WeChatSimulator

MINI, MINI_SECRET = "wx-rescue-mini-program", "mini-secret-123456"
OA, OA_SECRET = "wx-service-account", "oa-secret-654321"
STABLE = "/cgi-bin/stable_token"
TEMPLATE = "tmpl-rescue-dispatched"
DATA = {"thing1": "x"}


@pytest.fixture
def sim():
    with WeChatSimulator({MINI: MINI_SECRET, OA: OA_SECRET}, fault_timeout_seconds=2) as sim:
        yield sim


@pytest.fixture
def api(sim):
    return WeChatApi(sim.url)


@pytest.fixture
def correlation_id():
    token = bind_correlation_id("corr-test-1")
    yield "corr-test-1"
    reset_correlation_id(token)


def _errcode(call, *args, **kwargs):
    with pytest.raises(WeChatError) as info:
        call(*args, **kwargs)
    return info.value


def test_login_code_happy_path(sim, api):
    user = sim.mint_login_code(MINI, unionid="union-1")
    identity = api.code_to_session(MINI, MINI_SECRET, user["code"])
    assert identity == {"openid": user["openid"], "unionid": "union-1"}
    # Same user logs in again: same openid; a user without unionid gets None.
    again = sim.mint_login_code(MINI, openid=user["openid"])
    assert api.code_to_session(MINI, MINI_SECRET, again["code"])["openid"] == user["openid"]
    loner = sim.mint_login_code(MINI)
    assert api.code_to_session(MINI, MINI_SECRET, loner["code"])["unionid"] is None


def test_code_is_single_use_app_bound_and_expires(sim, api):
    code = sim.mint_login_code(MINI)["code"]
    api.code_to_session(MINI, MINI_SECRET, code)
    assert _errcode(api.code_to_session, MINI, MINI_SECRET, code).errcode == 40163
    other_app = sim.mint_login_code(OA)["code"]
    assert _errcode(api.code_to_session, MINI, MINI_SECRET, other_app).errcode == 40029
    stale = sim.mint_login_code(MINI)["code"]
    sim.advance_clock(301)
    assert _errcode(api.code_to_session, MINI, MINI_SECRET, stale).errcode == 40029


def test_wrong_credentials_refused(sim, api):
    code = sim.mint_login_code(MINI)["code"]
    assert _errcode(api.code_to_session, MINI, "wrong-secret", code).errcode == 40125
    assert _errcode(api.code_to_session, "wx-unknown", MINI_SECRET, code).errcode == 40013
    # A refused exchange does not burn the code.
    assert api.code_to_session(MINI, MINI_SECRET, code)["openid"]


def test_official_account_oauth(sim, api):
    minted = requests.post(f"{sim.url}/_sim/login-code", timeout=5, json={
        "app_id": OA, "openid": "oa-user-1", "unionid": "union-9", "scope": "snsapi_userinfo"}).json()
    assert api.oauth_code_to_identity(OA, OA_SECRET, minted["code"]) == {
        "openid": "oa-user-1", "unionid": "union-9", "scope": "snsapi_userinfo"}
    assert _errcode(api.oauth_code_to_identity, OA, OA_SECRET, minted["code"]).errcode == 40163


def test_stable_token_same_until_force_refresh(sim, api):
    token, expires_in = api.fetch_stable_token(MINI, MINI_SECRET)
    assert expires_in == 7200
    sim.advance_clock(100)
    again, expires_in = api.fetch_stable_token(MINI, MINI_SECRET)
    assert again == token
    assert 7099 <= expires_in <= 7100  # counts down
    fresh, expires_in = api.fetch_stable_token(MINI, MINI_SECRET, force_refresh=True)
    assert fresh != token
    assert expires_in == 7200
    assert requests.get(f"{sim.url}/_sim/stats", timeout=5).json()[STABLE] == 3
    # force_refresh ends the old token at once
    user = sim.mint_login_code(MINI)
    assert _errcode(api.send_subscribe_message, token, user["openid"], TEMPLATE, DATA).token_invalid


def test_subscribe_send_recorded(sim, api, correlation_id):
    user = sim.mint_login_code(MINI)
    token, _ = api.fetch_stable_token(MINI, MINI_SECRET)
    msgid = api.send_subscribe_message(token, user["openid"], TEMPLATE, {"thing1": "救护车已出发"},
                                       page="pages/rescue")
    listed = requests.get(f"{sim.url}/_sim/messages", params={"touser": user["openid"]}, timeout=5).json()
    [message] = listed["messages"]
    assert message["accepted"]
    assert message["result"]["msgid"] == msgid
    assert message["app_id"] == MINI
    assert message["template_id"] == TEMPLATE
    assert message["body"]["data"] == {"thing1": {"value": "救护车已出发"}}
    assert message["body"]["page"] == "pages/rescue"
    assert message["correlation_id"] == correlation_id
    requests.delete(f"{sim.url}/_sim/messages", timeout=5)
    assert sim.messages() == []


def test_refused_user_recorded_as_refused(sim, api):
    user = sim.mint_login_code(MINI)
    requests.post(f"{sim.url}/_sim/refuse", json={"openid": user["openid"]}, timeout=5)
    token, _ = api.fetch_stable_token(MINI, MINI_SECRET)
    error = _errcode(api.send_subscribe_message, token, user["openid"], TEMPLATE, DATA)
    assert error.errcode == 43101
    assert error.user_refused
    assert not error.token_invalid
    [message] = sim.messages(touser=user["openid"])
    assert not message["accepted"]
    assert message["result"]["errcode"] == 43101


def test_template_message_to_official_account_user(sim, api):
    user = sim.mint_login_code(OA)
    token, _ = api.fetch_stable_token(OA, OA_SECRET)
    msgid = api.send_template_message(token, user["openid"], TEMPLATE, DATA, url="https://h.example/r/1")
    assert sim.messages(template_id=TEMPLATE)[0]["result"]["msgid"] == msgid
    # openids are per app: the official account cannot message a mini-program openid
    mini_user = sim.mint_login_code(MINI)
    assert _errcode(api.send_template_message, token, mini_user["openid"], TEMPLATE, DATA).errcode == 40003


def test_invalid_and_expired_token(sim, api):
    user = sim.mint_login_code(MINI)
    error = _errcode(api.send_subscribe_message, "not-a-token", user["openid"], TEMPLATE, DATA)
    assert error.errcode == 40001
    assert error.token_invalid
    token, _ = api.fetch_stable_token(MINI, MINI_SECRET)
    sim.advance_clock(7201)
    error = _errcode(api.send_subscribe_message, token, user["openid"], TEMPLATE, DATA)
    assert error.errcode == 42001
    assert error.token_invalid
    assert [m["accepted"] for m in sim.messages()] == [False, False]


def test_http500_fault_is_unavailable(sim, api):
    requests.post(f"{sim.url}/_sim/faults", json={"path": STABLE, "mode": "http500", "count": 1}, timeout=5)
    with pytest.raises(WeChatUnavailable) as info:
        api.fetch_stable_token(MINI, MINI_SECRET)
    assert info.value.errcode is None
    assert info.value.status == 500
    assert api.fetch_stable_token(MINI, MINI_SECRET)[0]  # only the next call failed


def test_errcode_fault(sim, api):
    sim.inject_fault(STABLE, "errcode", errcode=-1)
    assert _errcode(api.fetch_stable_token, MINI, MINI_SECRET).errcode == -1


def test_timeout_fault_is_unavailable(sim):
    sim.inject_fault(STABLE, "timeout", seconds=1)
    started = time.monotonic()
    with pytest.raises(WeChatUnavailable):
        WeChatApi(sim.url, timeout=(1, 0.2)).fetch_stable_token(MINI, MINI_SECRET)
    assert time.monotonic() - started < 1


def test_logs_carry_no_codes_tokens_or_secrets(sim, api, caplog):
    caplog.set_level(logging.DEBUG, logger="hospital.external")
    user = sim.mint_login_code(MINI)
    api.code_to_session(MINI, MINI_SECRET, user["code"])
    token, _ = api.fetch_stable_token(MINI, MINI_SECRET)
    api.send_subscribe_message(token, user["openid"], TEMPLATE, DATA)
    sim.inject_fault("/sns/jscode2session", "timeout", seconds=1)
    with pytest.raises(WeChatUnavailable) as info:
        WeChatApi(sim.url, timeout=(1, 0.2)).code_to_session(MINI, MINI_SECRET, user["code"])
    assert MINI_SECRET not in str(info.value)
    assert info.value.__cause__ is None

    records = [r for r in caplog.records if r.name == "hospital.external"]
    operations = [r.external["operation"] for r in records]
    assert operations == ["code2session", "stable_token", "subscribe_send", "code2session"]
    assert records[0].external["status"] == 200
    assert records[-1].external["status"] is None
    dumped = " ".join(f"{r.getMessage()} {vars(r)}" for r in records)
    for raw in (user["code"], token, MINI_SECRET, user["openid"]):
        assert raw not in dumped
    assert records[2].external["touser"] == user["openid"][:3] + "***"
