"""WeChat sign-in, refresh rotation and sign-out (ER1, NF1), against the WeChat simulator."""
import concurrent.futures
import datetime as dt

import pytest
import sqlalchemy as sa

from hospital.auth import sessions
from hospital.auth.permissions import SEEDED
from hospital.auth.tokens import verify_access_token
from hospital.db import engine, tables
from hospital.errors import NotFound, Unauthenticated, ValidationFailed


def _login(platform, channel=sessions.MINI_PROGRAM, openid=None):
    app_id = platform.mini_program_app_id if channel == sessions.MINI_PROGRAM else platform.official_account_app_id
    code = platform.wechat.mint_login_code(app_id, openid=openid)["code"]
    return sessions.sign_in_with_wechat(channel, code)


def test_first_sign_in_creates_a_patient_and_the_next_finds_them_ER1(db, platform):
    first = _login(platform, openid="o-same-person")
    again = _login(platform, openid="o-same-person")
    assert first["user"]["id"] == again["user"]["id"]
    assert first["user"]["roles"] == ["patient"]
    assert verify_access_token(first["access_token"]).user_id == first["user"]["id"]
    with engine().connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(tables.wechat_identities)
                            .where(tables.wechat_identities.c.openid == "o-same-person")).scalar_one()
    assert rows == 1


def test_official_account_oauth_is_a_separate_identity_until_consent_ER1_ER8(db, platform):
    mp = _login(platform, sessions.MINI_PROGRAM, openid="o-mp-1")
    oa = _login(platform, sessions.OFFICIAL_ACCOUNT, openid="o-oa-1")
    assert mp["user"]["id"] != oa["user"]["id"]
    assert verify_access_token(oa["access_token"]).app_id == platform.official_account_app_id


def test_used_or_unknown_code_is_400_on_field_code_ER1(db, platform):
    code = platform.wechat.mint_login_code(platform.mini_program_app_id)["code"]
    sessions.sign_in_with_wechat(sessions.MINI_PROGRAM, code)
    for bad in (code, "never-issued"):
        with pytest.raises(ValidationFailed) as err:
            sessions.sign_in_with_wechat(sessions.MINI_PROGRAM, bad)
        assert err.value.field == "code"


def _age_use(refresh_token, seconds):
    from hospital.auth.tokens import hash_refresh_token

    where = tables.refresh_tokens.c.token_hash == hash_refresh_token(refresh_token)
    with engine().begin() as conn:
        used_at = conn.execute(sa.select(tables.refresh_tokens.c.used_at).where(where)).scalar_one()
        conn.execute(tables.refresh_tokens.update().where(where)
                     .values(used_at=used_at - dt.timedelta(seconds=seconds)))


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family_NF1(db, platform):
    issued = _login(platform)
    rotated = sessions.refresh(issued["refresh_token"])
    assert rotated["refresh_token"] != issued["refresh_token"]
    assert verify_access_token(rotated["access_token"]).app_id == platform.mini_program_app_id
    with pytest.raises(Unauthenticated) as err:
        sessions.refresh(issued["refresh_token"])  # a double send, seconds later: refused, nothing revoked
    assert err.value.code == "refresh_token_rotated"
    _age_use(issued["refresh_token"], 60)
    with pytest.raises(Unauthenticated) as err:
        sessions.refresh(issued["refresh_token"])  # replayed a minute later: a stolen copy
    assert err.value.code == "refresh_token_reused"
    with pytest.raises(Unauthenticated):
        sessions.refresh(rotated["refresh_token"])  # the legitimate holder is signed out too


def test_a_failure_during_refresh_leaves_the_old_token_usable_NF1(db, platform, monkeypatch):
    from hospital import config

    issued = _login(platform)
    monkeypatch.setenv("APP_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing")
    config.clear_caches()
    with pytest.raises(Exception):  # noqa: B017 - whatever a missing secret raises; the retry below is the point
        sessions.refresh(issued["refresh_token"])  # the signing key cannot be read
    monkeypatch.undo()
    config.clear_caches()
    assert sessions.refresh(issued["refresh_token"])["access_token"]  # the retry works


def test_concurrent_refreshes_of_one_token_sign_nobody_out_NF1(db, platform):
    issued = _login(platform)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: _try_refresh(issued["refresh_token"]), range(4)))
    winners = [o for o in outcomes if isinstance(o, dict)]
    assert len(winners) == 1
    assert {o for o in outcomes if not isinstance(o, dict)} <= {"refresh_token_rotated"}
    assert sessions.refresh(winners[0]["refresh_token"])["access_token"]


def _try_refresh(token):
    try:
        return sessions.refresh(token)
    except Unauthenticated as exc:
        return exc.code


def test_sign_out_ends_refresh_NF1(db, platform):
    issued = _login(platform)
    other = _login(platform)
    with pytest.raises(ValidationFailed):  # someone else's session, or a mistyped one
        sessions.sign_out(verify_access_token(issued["access_token"]), other["refresh_token"])
    sessions.sign_out(verify_access_token(issued["access_token"]), issued["refresh_token"])
    with pytest.raises(Unauthenticated):
        sessions.refresh(issued["refresh_token"])
    assert sessions.refresh(other["refresh_token"])["access_token"]


def test_granted_role_appears_at_next_refresh_and_is_audited_NF1(db, platform):
    from hospital.auth.tokens import Principal

    issued = _login(platform)
    admin = Principal(user_id=issued["user"]["id"] + 10_000, roles=frozenset({"super_admin"}),
                      permissions=SEEDED["super_admin"][1])
    assert sessions.grant_role(issued["user"]["id"], "dispatcher", granted_by=admin) is True
    assert sessions.grant_role(issued["user"]["id"], "dispatcher", granted_by=admin) is False
    with engine().connect() as conn:
        audited = conn.execute(sa.select(tables.audit_log.c.actor_user_id, tables.audit_log.c.result)
                               .where(tables.audit_log.c.action == "auth.grant_role",
                                      tables.audit_log.c.target_id == str(issued["user"]["id"]))
                               .order_by(tables.audit_log.c.id)).all()
    assert [tuple(r) for r in audited] == [(admin.user_id, "ok"), (admin.user_id, "unchanged")]
    refreshed = sessions.refresh(issued["refresh_token"])
    assert set(refreshed["user"]["roles"]) == {"patient", "dispatcher"}
    with pytest.raises(NotFound):
        sessions.grant_role(issued["user"]["id"], "emperor")


def test_wechat_down_is_503_not_a_sign_in_failure(db, platform):
    platform.wechat.inject_fault("/sns/jscode2session", "http500", count=1)
    from hospital.errors import UpstreamUnavailable

    with pytest.raises(UpstreamUnavailable):
        _login(platform)


def test_a_wechat_secret_filled_in_after_deployment_is_used_without_a_restart(db, platform):
    """Deployment creates the WeChat secret empty; operators fill it in later."""
    from hospital import config, settings
    from hospital.aws import client

    arn = settings.WECHAT_SECRET_ARN.get()
    sm = client("secretsmanager")
    original = sm.get_secret_value(SecretId=arn)["SecretString"]
    try:
        sm.put_secret_value(SecretId=arn, SecretString="{}")
        config.clear_caches()
        with pytest.raises(config.ConfigError):
            _login(platform)  # this container has now read the empty secret
        sm.put_secret_value(SecretId=arn, SecretString=original)
        assert _login(platform)["access_token"]  # a missing key is looked up again, not cached
    finally:
        sm.put_secret_value(SecretId=arn, SecretString=original)
        config.clear_caches()
