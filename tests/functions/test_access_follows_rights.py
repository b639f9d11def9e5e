"""Access ends when the right ends (NF1, ER8): an access token is good for 15 minutes, but a
disabled account, a removed role, a signed-out session or a user merged into another profile
stops acting at once, for writes and reads alike."""
import uuid

import sqlalchemy as sa

from hospital.auth import sessions
from hospital.db import engine, tables
from tests.conftest import api_event, call
from tests.functions.test_rescue_dispatch import CALL, d

LOCATION = {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "gcj02"}


def signed_in(platform, role=None, app_id=None, unionid=None):
    """A real session (sign-in, then a refresh so the access token carries a granted role)."""
    issued = sessions.sign_in_identity(app_id or platform.mini_program_app_id, f"o-acc-{uuid.uuid4().hex[:10]}",
                                       unionid)
    if role:
        sessions.grant_role(issued["user"]["id"], role)
        issued = sessions.refresh(issued["refresh_token"])
    return issued


def intake(functions, token):
    return call(functions, "RescueApiFunction", api_event("POST", "/rescue/cases", body={"location": LOCATION},
                                                         token=token))


def cases_of(user_id):
    with engine().connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(tables.rescue_cases)
                            .where(tables.rescue_cases.c.patient_user_id == user_id)).scalar_one()


def test_a_disabled_account_stops_at_once_and_writes_nothing_NF1(db, platform, functions):
    patient = signed_in(platform)
    assert intake(functions, patient["access_token"])[0] == 201
    sessions.set_disabled(patient["user"]["id"], True)
    status, body = intake(functions, patient["access_token"])
    assert status == 401
    assert body["error"]["code"] == "account_disabled"
    status, _ = call(functions, "RescueApiFunction", api_event("GET", "/rescue/cases", token=patient["access_token"]))
    assert status == 401
    assert cases_of(patient["user"]["id"]) == 1
    # Enabled again, the account signs in afresh (its sessions were ended with the disabling).
    assert sessions.set_disabled(patient["user"]["id"], False)
    status, _ = call(functions, "AuthFunction", api_event("POST", "/auth/refresh",
                                                         body={"refresh_token": patient["refresh_token"]}))
    assert status == 401


def test_a_removed_role_stops_at_once_NF1(db, platform, functions):
    dispatcher = signed_in(platform, "dispatcher")
    assert d(functions, dispatcher["access_token"], "POST", body=CALL)[0] == 201
    sessions.revoke_role(dispatcher["user"]["id"], "dispatcher")
    status, body = d(functions, dispatcher["access_token"], "POST", body=CALL)
    assert status == 403
    assert body["error"]["code"] == "forbidden"
    # The roles it still holds go on working with the same token.
    assert call(functions, "RescueApiFunction", api_event("GET", "/rescue/cases",
                                                         token=dispatcher["access_token"]))[0] == 200
    with engine().connect() as conn:
        audited = conn.execute(sa.select(tables.audit_log.c.details).where(
            tables.audit_log.c.action == "auth.revoke_role",
            tables.audit_log.c.target_id == str(dispatcher["user"]["id"]))).scalar_one()
    assert audited == {"role": "dispatcher"}


def test_a_signed_out_session_stops_at_once_and_other_sessions_go_on_NF1(db, platform, functions):
    first = signed_in(platform)
    second = sessions.sign_in_identity(platform.mini_program_app_id, _openid_of(first["user"]["id"]))
    status, _ = call(functions, "AuthFunction", api_event("POST", "/auth/logout",
                                                         body={"refresh_token": first["refresh_token"]},
                                                         token=first["access_token"]))
    assert status == 200
    status, body = intake(functions, first["access_token"])
    assert status == 401
    assert body["error"]["code"] == "session_revoked"
    assert intake(functions, second["access_token"])[0] == 201


def test_a_merged_user_s_token_is_refused_so_no_case_is_lost_from_the_profile_ER8(db, platform, functions):
    unionid = f"u-{uuid.uuid4().hex[:10]}"
    account = signed_in(platform, app_id=platform.official_account_app_id, unionid=unionid)
    mini = signed_in(platform, unionid=unionid)
    status, linked = call(functions, "RescueApiFunction", api_event("POST", "/rescue/profile-link",
                                                                   body={"consent": True},
                                                                   token=mini["access_token"]))
    assert status == 200
    # A request still in flight with the old token: refused, nothing created for the retired user.
    status, body = intake(functions, mini["access_token"])
    assert status == 401
    assert body["error"]["code"] in ("session_revoked", "account_merged")
    assert cases_of(mini["user"]["id"]) == 0
    # With the tokens the link gave, the case lands in the profile and stays in its history.
    status, case = intake(functions, linked["access_token"])
    assert status == 201
    listed = call(functions, "RescueApiFunction", api_event("GET", "/rescue/cases", token=account["access_token"]))[1]
    assert case["case_id"] in [c["case_id"] for c in listed["items"]]


def test_a_merged_user_without_a_session_claim_is_refused_ER8(db, platform, functions):
    """Tokens are checked against the account itself too, not only against their session."""
    from hospital.auth.tokens import Principal, issue_access_token

    mini = signed_in(platform)
    with engine().begin() as conn:
        conn.execute(tables.users.update().where(tables.users.c.id == mini["user"]["id"]).values(status="merged"))
    token = issue_access_token(Principal(user_id=mini["user"]["id"], roles=frozenset({"patient"})))
    from hospital.auth import standing

    standing.forget(mini["user"]["id"])
    status, body = intake(functions, token)
    assert status == 401
    assert body["error"]["code"] == "account_merged"


def _openid_of(user_id):
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.wechat_identities.c.openid)
                            .where(tables.wechat_identities.c.user_id == user_id)).scalar_one()


def test_operators_end_rights_from_the_command_line_and_each_change_is_audited_NF1(db, platform, functions, capsys):
    from infra import manage

    dispatcher = signed_in(platform, "dispatcher")
    user_id = str(dispatcher["user"]["id"])
    assert manage.main(["revoke-role", user_id, "dispatcher"]) == 0
    assert d(functions, dispatcher["access_token"], "POST", body=CALL)[0] == 403
    assert manage.main(["revoke-role", user_id, "pilot"]) == 2  # no such role
    assert manage.main(["revoke-sessions", user_id]) == 0
    assert intake(functions, dispatcher["access_token"])[1]["error"]["code"] == "session_revoked"
    assert manage.main(["disable-user", user_id]) == 0
    assert manage.main(["enable-user", user_id]) == 0
    printed = capsys.readouterr().out
    assert "role dispatcher revoked" in printed
    assert "session(s) revoked" in printed
    assert "enabled" in printed
    with engine().connect() as conn:
        actions = conn.execute(sa.select(tables.audit_log.c.action).where(
            tables.audit_log.c.target_id == user_id).order_by(tables.audit_log.c.id)).scalars().all()
    assert actions[-4:] == ["auth.revoke_role", "auth.revoke_sessions", "auth.disable_user", "auth.enable_user"]


def test_secrets_read_from_secrets_manager_never_reach_the_logs_at_debug_NF5(platform, caplog):
    """The SDK logs whole answers at DEBUG; its loggers are held at WARNING."""
    import logging

    from hospital import config, settings

    config.clear_caches()
    caplog.set_level(logging.DEBUG)
    merchants = config.secret(settings.WECHATPAY_SECRET_ARN)["merchants"]
    apiv3_key = next(m["apiv3_key"] for m in merchants if m.get("api", "v3") == "v3")
    assert apiv3_key not in caplog.text


def test_an_intake_checks_the_account_in_its_own_transaction_whatever_is_cached_ER8(db, platform, functions):
    """Another container may still hold the caller's standing from before the link: the
    intake reads the account itself, so no case lands on the retired user."""
    from hospital.auth import standing
    from hospital.auth.tokens import Principal, issue_access_token

    mini = signed_in(platform)
    token = issue_access_token(Principal(user_id=mini["user"]["id"], roles=frozenset({"patient"})))
    assert intake(functions, token)[0] == 201  # this container now holds an "active" standing
    with engine().begin() as conn:  # the link, as another container commits it
        conn.execute(tables.users.update().where(tables.users.c.id == mini["user"]["id"]).values(status="merged"))
    assert standing._cache, "the standing is still cached here"
    status, body = intake(functions, token)
    assert status == 401
    assert body["error"]["code"] == "account_merged"
    assert cases_of(mini["user"]["id"]) == 1


def test_a_role_removed_elsewhere_stops_writes_at_once_and_reads_within_the_cache_bound_NF1(
        db, platform, functions, monkeypatch):
    """A change made elsewhere (another container, an operator's command) is seen by the next
    write at once (writes read the account afresh), and by reads once this container's
    cached standing is older than STANDING_CACHE_SECONDS."""
    import time

    monkeypatch.setenv("STANDING_CACHE_SECONDS", "1")
    dispatcher = signed_in(platform, "dispatcher")
    case_id = d(functions, dispatcher["access_token"], "POST", body=CALL)[1]["case_id"]
    assert d(functions, dispatcher["access_token"], "GET", case_id)[0] == 200  # standing now cached here
    with engine().begin() as conn:  # removed elsewhere: this container is not told
        conn.execute(tables.user_roles.delete().where(tables.user_roles.c.user_id == dispatcher["user"]["id"],
                                                      tables.user_roles.c.role == "dispatcher"))
    assert d(functions, dispatcher["access_token"], "POST", case_id, "/accept", {})[0] == 403
    time.sleep(1.1)
    assert d(functions, dispatcher["access_token"], "GET", case_id)[0] == 403
