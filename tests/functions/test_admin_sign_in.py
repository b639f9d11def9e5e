"""Back-office sign-in (NF1: identity authentication, 等保 level 3) through functions/auth:
username and password (argon2id), a TOTP second factor enrolled at the first sign-in (RFC 6238,
codes computed here by pyotp from the secret), recovery codes each usable once, lock-out at the
5th failed step and not the 4th, the same answer for an unknown username as for a wrong
password, the idle timeout of back-office sessions, sign-out everywhere, a password change
ending the other sessions, the layer functions the back office's user management calls, and
`manage create-admin`. Every refusal answers its status and names the field, and changes
nothing but the failure count where a failed step counts."""
from __future__ import annotations

import datetime as dt
import io
import time
import uuid

import pyotp
import pytest
import sqlalchemy as sa

from hospital.auth import admin_accounts, admin_activity, sessions
from hospital.auth import roles as R
from hospital.auth.tokens import verify_access_token
from hospital.db import engine, tables
from hospital.timeutil import utcnow
from infra import manage
from tests.conftest import api_event, call, make_patient

PASSWORD = "Correct-horse-42"
A = tables.admin_accounts


def post(functions, path: str, body, token: str | None = None) -> tuple[int, dict]:
    return call(functions, "AuthFunction", api_event("POST", path, body=body, token=token))


def post_with_headers(functions, path: str, body) -> tuple[int, dict, dict]:
    import json

    invocation = functions.invoke("AuthFunction", api_event("POST", path, body=body))
    assert invocation.ok, invocation.error_payload
    return (invocation.result["statusCode"], json.loads(invocation.result["body"]),
            invocation.result.get("headers") or {})


def me(functions, token: str) -> tuple[int, dict]:
    return call(functions, "AuthFunction", api_event("GET", "/auth/me", token=token))


def new_username() -> str:
    return f"adm.{uuid.uuid4().hex[:10]}"


def account(user_id: int):
    with engine().connect() as conn:
        return conn.execute(sa.select(A).where(A.c.user_id == user_id)).one()


def set_account(user_id: int, **values) -> None:
    with engine().begin() as conn:
        conn.execute(A.update().where(A.c.user_id == user_id).values(**values))


def audit_of(user_id: int, action: str = "auth.admin_sign_in") -> list:
    log = tables.audit_log
    with engine().connect() as conn:
        return conn.execute(sa.select(log.c.result, log.c.details).where(
            log.c.action == action, log.c.target_id == str(user_id)).order_by(log.c.seq)).all()


def open_families(user_id: int) -> set[str]:
    rt = tables.refresh_tokens
    with engine().connect() as conn:
        return set(conn.execute(sa.select(rt.c.family_id).where(
            rt.c.user_id == user_id, rt.c.revoked_at.is_(None))).scalars())


def code_for(secret: str, user_id: int) -> str:
    """A code the server accepts now: of a step in the window not used yet. When all three are
    used (several sign-ins within one step), the account's last step is moved back instead."""
    now_step = int(time.time() // 30)
    last = account(user_id).last_totp_step
    for step in (now_step, now_step + 1):
        if last is None or step > last:
            return pyotp.TOTP(secret).at(step * 30)
    set_account(user_id, last_totp_step=now_step - 2)
    return pyotp.TOTP(secret).at(now_step * 30)


def make_account(*, roles=(R.IT_ADMIN,), temporary=False, user_id=None, password=PASSWORD) -> dict:
    return admin_accounts.create_account(None, user_id, new_username(), password, temporary=temporary, roles=roles)


def login(functions, username: str, password: str = PASSWORD, **extra) -> tuple[int, dict]:
    return post(functions, "/auth/admin/login", {"username": username, "password": password, **extra})


def enrolled(functions, roles=(R.IT_ADMIN,)) -> dict:
    """An account through its first sign-in: enrolment, confirmation; its secret, session, codes."""
    created = make_account(roles=roles)
    status, started = login(functions, created["username"])
    assert (status, started["second_factor"]) == (200, "enrol"), started
    status, enrolment = post(functions, "/auth/admin/totp/enrolment", {"challenge": started["challenge"]})
    assert status == 200, enrolment
    status, session = post(functions, "/auth/admin/totp/confirm",
                           {"challenge": started["challenge"], "code": pyotp.TOTP(enrolment["secret"]).now()})
    assert status == 200, session
    return {**created, "secret": enrolment["secret"], "enrolment": enrolment, "session": session}


def sign_in(functions, who: dict) -> dict:
    status, started = login(functions, who["username"])
    assert (status, started["second_factor"]) == (200, "totp"), started
    status, session = post(functions, "/auth/admin/login/verify",
                           {"challenge": started["challenge"], "code": code_for(who["secret"], who["user_id"])})
    assert status == 200, session
    return session


@pytest.fixture(autouse=True)
def _fresh_activity():
    admin_activity.forget_all()
    yield
    admin_activity.forget_all()


# ---- the whole flow ---------------------------------------------------------------------------------

def test_first_sign_in_enrols_totp_then_signs_in_with_a_code_NF1(db, functions):
    who = enrolled(functions)
    enrolment, session = who["enrolment"], who["session"]
    assert enrolment["otpauth_uri"].startswith(f"otpauth://totp/Hospital%20back%20office:{who['username']}?")
    assert f"secret={who['secret']}" in enrolment["otpauth_uri"]
    assert len(session["recovery_codes"]) == 10 and len(set(session["recovery_codes"])) == 10
    assert session["user"] == {"id": who["user_id"], "roles": [R.IT_ADMIN]}
    principal = verify_access_token(session["access_token"])
    assert (principal.app_id, principal.auth_method) == ("back_office", ("pwd", "otp"))
    assert me(functions, session["access_token"])[1]["app_id"] == "back_office"
    row = account(who["user_id"])
    assert row.totp_confirmed_at is not None and row.challenge_id is None and row.failed_attempts == 0
    assert who["secret"].encode() not in row.totp_secret_enc  # encrypted at rest

    later = sign_in(functions, who)
    assert verify_access_token(later["access_token"]).auth_method == ("pwd", "otp")
    assert "recovery_codes" not in later
    assert [r.result for r in audit_of(who["user_id"])] == ["ok", "ok"]


def test_the_refreshed_session_keeps_how_the_user_signed_in(db, functions, platform):
    who = enrolled(functions)
    status, refreshed = post(functions, "/auth/refresh", {"refresh_token": who["session"]["refresh_token"]})
    assert status == 200, refreshed
    principal = verify_access_token(refreshed["access_token"])
    assert (principal.app_id, principal.auth_method) == ("back_office", ("pwd", "otp"))
    issued = sessions.sign_in_identity(platform.mini_program_app_id, f"o-{uuid.uuid4().hex[:12]}")
    assert verify_access_token(issued["access_token"]).auth_method == ("wechat",)
    status, refreshed = post(functions, "/auth/refresh", {"refresh_token": issued["refresh_token"]})
    assert verify_access_token(refreshed["access_token"]).auth_method == ("wechat",)


def test_a_recovery_code_signs_in_once(db, functions):
    who = enrolled(functions)
    code = who["session"]["recovery_codes"][3]
    status, started = login(functions, who["username"])
    status, session = post(functions, "/auth/admin/login/verify",
                           {"challenge": started["challenge"], "recovery_code": code.upper().replace("-", " ")})
    assert status == 200, session
    assert session["recovery_codes_left"] == 9
    assert verify_access_token(session["access_token"]).auth_method == ("pwd", "recovery_code")

    status, started = login(functions, who["username"])
    before = account(who["user_id"])
    status, refused = post(functions, "/auth/admin/login/verify", {"challenge": started["challenge"],
                                                                   "recovery_code": code})
    assert (status, refused["error"]["code"], refused["error"]["field"]) == (401, "invalid_recovery_code",
                                                                             "recovery_code")
    after = account(who["user_id"])
    assert after.failed_attempts == before.failed_attempts + 1 and after.challenge_id == before.challenge_id


def test_regenerated_recovery_codes_replace_the_old_ones(db, functions):
    who = enrolled(functions)
    token, old = who["session"]["access_token"], who["session"]["recovery_codes"]
    status, refused = post(functions, "/auth/admin/recovery-codes", {"code": "000000"}, token=token)
    assert (status, refused["error"]["field"]) == (403, "code")
    status, fresh = post(functions, "/auth/admin/recovery-codes", {"code": code_for(who["secret"], who["user_id"])},
                         token=token)
    assert status == 200 and len(fresh["recovery_codes"]) == 10 and not set(fresh["recovery_codes"]) & set(old)
    status, started = login(functions, who["username"])
    status, refused = post(functions, "/auth/admin/login/verify", {"challenge": started["challenge"],
                                                                   "recovery_code": old[0]})
    assert status == 401
    status, session = post(functions, "/auth/admin/login/verify", {"challenge": started["challenge"],
                                                                   "recovery_code": fresh["recovery_codes"][0]})
    assert status == 200, session


# ---- refusals ------------------------------------------------------------------------------------------

def test_an_unknown_username_gets_the_same_answer_as_a_wrong_password_NF1(db, functions):
    who = make_account()
    wrong = login(functions, who["username"], "Wrong-password-42")
    unknown = login(functions, new_username(), "Wrong-password-42")
    assert wrong == unknown == (401, {"error": {"code": "invalid_credentials", "field": "password",
                                                "message": "the username or the password is wrong"}})
    # The username's case does not matter: one account.
    assert login(functions, who["username"].upper())[0] == 200


def test_lock_out_at_the_fifth_failure_not_the_fourth_and_open_after_the_lock_time_NF1(db, functions):
    who = make_account()
    for _ in range(4):
        assert login(functions, who["username"], "Wrong-password-42")[0] == 401
    assert account(who["user_id"]).locked_until is None
    status, locked, headers = post_with_headers(functions, "/auth/admin/login",
                                                {"username": who["username"], "password": "Wrong-password-42"})
    assert (status, locked["error"]["code"], locked["error"]["field"]) == (423, "account_locked", "username")
    assert "Beijing time" in locked["error"]["message"] and "super admin" in locked["error"]["message"]
    assert 14 * 60 < int(headers["Retry-After"]) <= 15 * 60
    row = account(who["user_id"])
    assert row.locked_until is not None
    # Locked: even the right password is refused, and the lock does not grow.
    status, again = login(functions, who["username"])
    assert (status, again["error"]["code"]) == (423, "account_locked")
    assert account(who["user_id"]).locked_until == row.locked_until
    assert [r.result for r in audit_of(who["user_id"])] == ["refused"] * 4 + ["locked", "refused"]

    set_account(who["user_id"], locked_until=utcnow() - dt.timedelta(seconds=1))  # the lock time has passed
    status, started = login(functions, who["username"])
    assert (status, started["second_factor"]) == (200, "enrol")


def test_failed_second_factors_count_with_passwords_and_a_sign_in_resets_the_count(db, functions):
    who = enrolled(functions)
    for _ in range(4):
        assert login(functions, who["username"], "Wrong-password-42")[0] == 401
    sign_in(functions, who)  # success: the count starts again
    assert account(who["user_id"]).failed_attempts == 0
    for _ in range(3):
        assert login(functions, who["username"], "Wrong-password-42")[0] == 401
    status, started = login(functions, who["username"])  # a right password alone does not reset it
    assert status == 200 and account(who["user_id"]).failed_attempts == 3
    assert post(functions, "/auth/admin/login/verify", {"challenge": started["challenge"], "code": "000000"})[0] == 401
    status, locked = post(functions, "/auth/admin/login/verify", {"challenge": started["challenge"],
                                                                  "code": "000001"})
    assert (status, locked["error"]["code"]) == (423, "account_locked")
    # The challenge died with the lock: unlocked, it is no longer good.
    admin_accounts.unlock(None, who["user_id"])
    status, refused = post(functions, "/auth/admin/login/verify", {"challenge": started["challenge"],
                                                                   "code": code_for(who["secret"], who["user_id"])})
    assert (status, refused["error"]["code"], refused["error"]["field"]) == (401, "invalid_challenge", "challenge")


@pytest.mark.parametrize("path,body,status,field", [
    ("/auth/admin/login", {"username": "someone"}, 400, "password"),
    ("/auth/admin/login", {"password": PASSWORD}, 400, "username"),
    ("/auth/admin/login", {"username": "x", "password": PASSWORD, "extra": 1}, 400, "extra"),
    ("/auth/admin/login", {"username": "x", "password": ""}, 400, "password"),
    ("/auth/admin/login/verify", {"challenge": "x" * 40, "code": "12345"}, 400, "code"),
    ("/auth/admin/login/verify", {"challenge": "x" * 40}, 400, "code"),
    ("/auth/admin/login/verify", {"challenge": "x" * 40, "code": "123456", "recovery_code": "abcd-efgh-jkmn"},
     400, "code"),
    ("/auth/admin/login/verify", {"challenge": "x" * 40, "code": "123456"}, 401, "challenge"),
    ("/auth/admin/totp/enrolment", {"challenge": "x" * 40}, 401, "challenge"),
    ("/auth/admin/totp/confirm", {"challenge": "x" * 40, "code": "abcdef"}, 400, "code"),
])
def test_bad_input_is_refused_naming_the_field(db, functions, path, body, status, field):
    who = make_account()
    before = account(who["user_id"])
    answer = post(functions, path, body)
    assert (answer[0], answer[1]["error"]["field"]) == (status, field), answer
    assert account(who["user_id"]) == before


def test_a_challenge_is_used_once_and_only_for_its_step(db, functions):
    who = enrolled(functions)
    status, started = login(functions, who["username"])
    # The step is named in the challenge: a "totp" challenge does not enrol a new secret.
    before = account(who["user_id"])
    status, refused = post(functions, "/auth/admin/totp/enrolment", {"challenge": started["challenge"]})
    assert (status, refused["error"]["code"], refused["error"]["field"]) == (401, "invalid_challenge", "challenge")
    assert account(who["user_id"]) == before
    status, _ = post(functions, "/auth/admin/login/verify",
                     {"challenge": started["challenge"], "code": code_for(who["secret"], who["user_id"])})
    assert status == 200
    status, refused = post(functions, "/auth/admin/login/verify",
                           {"challenge": started["challenge"], "code": code_for(who["secret"], who["user_id"])})
    assert (status, refused["error"]["code"]) == (401, "invalid_challenge")
    # A newer sign-in voids the older challenge.
    first = login(functions, who["username"])[1]["challenge"]
    second = login(functions, who["username"])[1]["challenge"]
    assert post(functions, "/auth/admin/login/verify",
                {"challenge": first, "code": code_for(who["secret"], who["user_id"])})[0] == 401
    assert post(functions, "/auth/admin/login/verify",
                {"challenge": second, "code": code_for(who["secret"], who["user_id"])})[0] == 200


def test_concurrent_uses_of_one_challenge_open_one_session(mysql_db, functions):
    import concurrent.futures

    from hospital.errors import AppError

    who = enrolled(functions)
    started = login(functions, who["username"])[1]
    code = code_for(who["secret"], who["user_id"])
    families = open_families(who["user_id"])

    def attempt(_):
        try:
            return admin_accounts.verify(started["challenge"], code=code)["access_token"]
        except AppError as exc:
            return exc.code

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(attempt, range(4)))
    assert sum(1 for r in results if r not in ("invalid_challenge", "invalid_code")) == 1, results
    assert len(open_families(who["user_id"]) - families) == 1


def test_a_totp_code_is_not_accepted_twice(db, functions):
    who = enrolled(functions)
    code = code_for(who["secret"], who["user_id"])
    started = login(functions, who["username"])[1]
    assert post(functions, "/auth/admin/login/verify", {"challenge": started["challenge"], "code": code})[0] == 200
    started = login(functions, who["username"])[1]
    status, refused = post(functions, "/auth/admin/login/verify", {"challenge": started["challenge"], "code": code})
    assert (status, refused["error"]["code"], refused["error"]["field"]) == (401, "invalid_code", "code")


def test_confirming_before_asking_for_a_secret_is_refused(db, functions):
    who = make_account()
    started = login(functions, who["username"])[1]
    before = account(who["user_id"])
    status, refused = post(functions, "/auth/admin/totp/confirm", {"challenge": started["challenge"], "code": "123456"})
    assert (status, refused["error"]["code"], refused["error"]["field"]) == (409, "enrolment_not_started", "challenge")
    assert account(who["user_id"]) == before


def test_a_disabled_user_cannot_sign_in(db, functions):
    who = enrolled(functions)
    sessions.set_disabled(who["user_id"], True)
    status, refused = login(functions, who["username"])
    assert (status, refused["error"]["code"]) == (401, "account_disabled")


# ---- sessions: idle timeout, sign-out everywhere, password change ---------------------------------------

def test_a_back_office_session_idle_too_long_is_refused_and_revoked_NF1(db, functions):
    who = enrolled(functions)
    token, refresh = who["session"]["access_token"], who["session"]["refresh_token"]
    family = verify_access_token(token).session_id
    activity = tables.admin_session_activity
    with engine().begin() as conn:  # 5 minutes ago: the next call records activity
        conn.execute(activity.update().where(activity.c.family_id == family)
                     .values(last_seen_at=utcnow() - dt.timedelta(minutes=5)))
    assert me(functions, token)[0] == 200
    with engine().connect() as conn:
        seen = conn.execute(sa.select(activity.c.last_seen_at).where(activity.c.family_id == family)).scalar_one()
    assert utcnow() - seen < dt.timedelta(minutes=1)

    with engine().begin() as conn:  # 31 minutes ago: idle
        conn.execute(activity.update().where(activity.c.family_id == family)
                     .values(last_seen_at=utcnow() - dt.timedelta(minutes=31)))
    admin_activity.forget_all()  # as another container would, or this one a minute later
    status, refused = me(functions, token)
    assert (status, refused["error"]["code"]) == (401, "session_idle")
    assert family not in open_families(who["user_id"])
    assert post(functions, "/auth/refresh", {"refresh_token": refresh})[0] == 401
    assert audit_of(who["user_id"], "auth.session_idle")


def test_an_idle_back_office_session_cannot_be_refreshed(db, functions):
    who = enrolled(functions)
    family = verify_access_token(who["session"]["access_token"]).session_id
    activity = tables.admin_session_activity
    with engine().begin() as conn:
        conn.execute(activity.update().where(activity.c.family_id == family)
                     .values(last_seen_at=utcnow() - dt.timedelta(minutes=31)))
    status, refused = post(functions, "/auth/refresh", {"refresh_token": who["session"]["refresh_token"]})
    assert (status, refused["error"]["code"]) == (401, "session_idle")
    assert family not in open_families(who["user_id"])


def test_sign_out_everywhere_ends_back_office_and_wechat_sessions_NF1(db, functions, platform):
    user, wechat_token = make_patient(platform)
    created = make_account(user_id=user.user_id)
    status, started = login(functions, created["username"])
    secret = post(functions, "/auth/admin/totp/enrolment", {"challenge": started["challenge"]})[1]["secret"]
    status, session = post(functions, "/auth/admin/totp/confirm",
                           {"challenge": started["challenge"], "code": pyotp.TOTP(secret).now()})
    second = sign_in(functions, {**created, "secret": secret})
    assert len(open_families(user.user_id)) == 3
    status, done = post(functions, "/auth/logout", {}, token=session["access_token"])
    assert (status, done) == (200, {"signed_out": True})
    assert open_families(user.user_id) == set()
    for token in (session["access_token"], second["access_token"], wechat_token):
        status, refused = me(functions, token)
        assert (status, refused["error"]["code"]) == (401, "session_revoked")


def test_a_password_change_ends_the_other_sessions(db, functions, platform):
    who = enrolled(functions)
    other = sign_in(functions, who)
    token = who["session"]["access_token"]
    before = account(who["user_id"])
    for body, status, field in (
            ({"current_password": PASSWORD, "new_password": "short"}, 400, "new_password"),
            ({"current_password": PASSWORD, "new_password": f"{who['username']}-X1"}, 400, "new_password"),
            ({"current_password": PASSWORD, "new_password": PASSWORD}, 400, "new_password"),
            ({"current_password": PASSWORD}, 400, "new_password"),
            ({"current_password": "Wrong-password-42", "new_password": "Another-horse-43"}, 403, "current_password")):
        answer = post(functions, "/auth/admin/password", body, token=token)
        assert (answer[0], answer[1]["error"]["field"]) == (status, field), answer
    after = account(who["user_id"])
    assert after.password_hash == before.password_hash and after.failed_attempts == 1  # the wrong current one
    assert me(functions, other["access_token"])[0] == 200

    status, changed = post(functions, "/auth/admin/password",
                           {"current_password": PASSWORD, "new_password": "Another-horse-43"}, token=token)
    assert (status, changed) == (200, {"changed": True, "sessions_ended": 1})
    assert me(functions, token)[0] == 200
    assert me(functions, other["access_token"])[1]["error"]["code"] == "session_revoked"
    assert login(functions, who["username"])[0] == 401
    assert login(functions, who["username"], "Another-horse-43")[0] == 200
    assert account(who["user_id"]).failed_attempts == 0 + 1  # the old password just tried

    # A WeChat session cannot change a back-office password.
    _, wechat_token = make_patient(platform)
    status, refused = post(functions, "/auth/admin/password",
                           {"current_password": PASSWORD, "new_password": "Another-horse-44"}, token=wechat_token)
    assert (status, refused["error"]["code"]) == (403, "back_office_session_required")


# ---- what user management calls, and the first super admin ----------------------------------------------

def test_a_temporary_password_is_replaced_at_the_next_sign_in(db, functions):
    who = enrolled(functions)
    sign_in(functions, who)  # a second session
    by = verify_access_token(enrolled(functions, roles=(R.SUPER_ADMIN,))["session"]["access_token"])
    reset = admin_accounts.reset_password(by, who["user_id"], "Temporary-pass-77")
    assert reset == {"user_id": who["user_id"], "must_change_password": True, "sessions_ended": 2}
    assert open_families(who["user_id"]) == set()
    status, refused = login(functions, who["username"], "Temporary-pass-77")
    assert (status, refused["error"]["code"], refused["error"]["field"]) == (403, "password_change_required",
                                                                             "new_password")
    status, refused = login(functions, who["username"], "Temporary-pass-77", new_password="weak")
    assert (status, refused["error"]["field"]) == (400, "new_password")
    assert account(who["user_id"]).must_change_password
    status, started = login(functions, who["username"], "Temporary-pass-77", new_password="Chosen-by-me-2026")
    assert (status, started["second_factor"]) == (200, "totp")
    assert not account(who["user_id"]).must_change_password
    assert login(functions, who["username"], "Chosen-by-me-2026")[0] == 200
    status, refused = login(functions, who["username"], "Chosen-by-me-2026", new_password="Chosen-again-2026")
    assert (status, refused["error"]["code"]) == (400, "password_change_not_due")
    assert audit_of(who["user_id"], "auth.admin_password_reset")[0].result == "ok"


def test_resetting_the_second_factor_enrols_again(db, functions):
    who = enrolled(functions)
    assert admin_accounts.reset_second_factor(None, who["user_id"])["sessions_ended"] == 1
    row = account(who["user_id"])
    assert (row.totp_secret_enc, row.totp_confirmed_at, row.last_totp_step) == (None, None, None)
    status, started = login(functions, who["username"])
    assert started["second_factor"] == "enrol"
    old_code = who["session"]["recovery_codes"][0]
    status, refused = post(functions, "/auth/admin/login/verify", {"challenge": started["challenge"],
                                                                   "recovery_code": old_code})
    assert (status, refused["error"]["code"]) == (401, "invalid_challenge")
    assert audit_of(who["user_id"], "auth.admin_second_factor_reset")


def test_unlock_opens_a_locked_account(db, functions):
    who = make_account()
    for _ in range(5):
        login(functions, who["username"], "Wrong-password-42")
    assert login(functions, who["username"])[0] == 423
    assert admin_accounts.unlock(None, who["user_id"]) == {"user_id": who["user_id"], "unlocked": True}
    assert admin_accounts.unlock(None, who["user_id"]) == {"user_id": who["user_id"], "unlocked": False}
    assert login(functions, who["username"])[0] == 200
    assert [r.result for r in audit_of(who["user_id"], "auth.admin_unlocked")] == ["ok", "unchanged"]


def test_create_account_refusals_change_nothing(db, platform):
    from hospital.errors import AppError

    who = make_account()
    user, _ = make_patient(platform)

    def count():
        with engine().connect() as conn:
            return (conn.execute(sa.select(sa.func.count()).select_from(A)).scalar_one(),
                    conn.execute(sa.select(sa.func.count()).select_from(tables.users)).scalar_one())

    before = count()
    for kwargs, status, field in (
            ({"user_id": None, "username": who["username"].upper(), "password": PASSWORD}, 409, "username"),
            ({"user_id": None, "username": "no spaces", "password": PASSWORD}, 400, "username"),
            ({"user_id": None, "username": "ab", "password": PASSWORD}, 400, "username"),
            ({"user_id": None, "username": new_username(), "password": "weakweakweak"}, 400, "password"),
            ({"user_id": 10**9, "username": new_username(), "password": PASSWORD}, 404, "user_id"),
            ({"user_id": who["user_id"], "username": new_username(), "password": PASSWORD}, 409, "user_id")):
        with pytest.raises(AppError) as refused:
            admin_accounts.create_account(None, **kwargs)
        assert (refused.value.status, refused.value.field) == (status, field), kwargs
    assert count() == before
    created = admin_accounts.create_account(None, user.user_id, new_username(), PASSWORD)
    assert created["user_id"] == user.user_id and account(user.user_id).must_change_password
    assert audit_of(user.user_id, "auth.admin_account_created")


def test_manage_create_admin_makes_the_first_super_admin(db, functions, monkeypatch, capsys):
    username = new_username()
    monkeypatch.setattr("sys.stdin", io.StringIO("weak\n"))
    assert manage.main(["create-admin", "--username", username, "--password-stdin"]) == 2
    assert "at least 12" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert manage.main(["create-admin", "--username", username, "--password-stdin"]) == 0
    assert "enrols the TOTP" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert manage.main(["create-admin", "--username", username.upper(), "--password-stdin"]) == 2
    assert "taken" in capsys.readouterr().err
    with engine().connect() as conn:
        row = conn.execute(sa.select(A.c.user_id, A.c.must_change_password).where(A.c.username == username)).one()
        roles = set(conn.execute(sa.select(tables.user_roles.c.role)
                                 .where(tables.user_roles.c.user_id == row.user_id)).scalars())
    assert roles == {R.SUPER_ADMIN} and not row.must_change_password
    status, started = login(functions, username)
    assert (status, started["second_factor"]) == (200, "enrol")


def test_manage_create_admin_reads_the_password_from_a_prompt(db, monkeypatch, capsys):
    answers = iter([PASSWORD, "Something-else-42"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    assert manage.main(["create-admin", "--username", new_username()]) == 2
    assert "differ" in capsys.readouterr().err


def test_back_office_work_needs_the_second_factor_session_where_the_policy_says_so_NF1(db, functions, monkeypatch):
    """BACK_OFFICE_SIGN_IN=second_factor (always so in prod): the same IT admin reaches the
    audit log from a password-and-TOTP session, not from a session without a second factor,
    and is told why; what a WeChat session is for (their own sessions) still works."""
    from hospital.auth.tokens import Principal, issue_access_token
    from tests.conftest import api_event, call

    who = enrolled(functions)
    wechat = issue_access_token(Principal(user_id=who["user_id"], roles=frozenset({R.IT_ADMIN}),
                                          auth_method=("wechat",)))
    monkeypatch.setenv("BACK_OFFICE_SIGN_IN", "second_factor")
    audit_log = api_event("GET", "/admin/audit/entries", token=wechat)
    status, refused = call(functions, "AuditAdminFunction", audit_log)
    assert status == 403 and refused["error"]["code"] == "second_factor_required"
    assert me(functions, wechat)[0] == 200
    back_office = who["session"]["access_token"]
    assert call(functions, "AuditAdminFunction", api_event("GET", "/admin/audit/entries", token=back_office))[0] == 200
    monkeypatch.setenv("BACK_OFFICE_SIGN_IN", "any")
    assert call(functions, "AuditAdminFunction", audit_log)[0] == 200


def test_a_username_without_an_account_locks_like_one_with_an_account_NF1(db, functions):
    """A lock-out must not tell which usernames exist: five failures under an unknown username
    answer exactly as five under a real one, 423 at the fifth, with the same message shape."""
    who, stranger = make_account(), new_username()
    answers = {}
    for name in (who["username"], stranger):
        seen = [login(functions, name, "Wrong-password-42") for _ in range(5)]
        assert [status for status, _ in seen] == [401] * 4 + [423]
        answers[name] = seen[-1][1]["error"]
        assert login(functions, name, "Wrong-password-42")[0] == 423
    assert {k: v for k, v in answers[who["username"]].items() if k != "message"} == \
        {k: v for k, v in answers[stranger].items() if k != "message"}


def test_a_right_password_is_refused_once_the_account_locked_meanwhile_NF1(db, functions, monkeypatch):
    """Guesses sent at once all pass the first look at the lock before any is counted: the
    right one, landing after the lock, is refused as the wrong ones are."""
    from hospital.auth import admin_accounts, passwords

    who = make_account()
    verify = passwords.verify

    def lock_while_verifying(stored, given):
        set_account(who["user_id"], locked_until=utcnow() + dt.timedelta(minutes=15))  # the others counted
        return verify(stored, given)

    monkeypatch.setattr(passwords, "verify", lock_while_verifying)
    with pytest.raises(Exception) as refused:
        admin_accounts.begin(who["username"], PASSWORD)
    assert getattr(refused.value, "code", None) == "account_locked"
    assert account(who["user_id"]).challenge_id is None
