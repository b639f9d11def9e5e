"""Sign-in and sessions (ER1, NF1): WeChat codes, or a back-office username, password and TOTP
code, in; the backend's own tokens out."""
from hospital import settings, web
from hospital.auth import permissions

answers = web.lazy("hospital.auth.answers")
models = web.lazy("hospital.auth.models")

app = web.create_app("auth", needs=(
    settings.DATABASE, settings.SESSIONS, settings.ADMIN_SIGN_IN, settings.PERSONAL_DATA, settings.WECHAT,
    settings.LIVE))


@web.route(app, "/auth/wechat/mini-program", methods=["POST"], public=True, body=models.CodeLogin,
           response=answers.Session, errors=(401,))
def mini_program_login():
    """Sign in with a mini-program login code (wx.login).

    The first sign-in makes a patient account. 400 `invalid_code` for a code WeChat refuses
    (ask for a fresh one); 401 for a disabled account; 503 when WeChat does not answer."""
    from hospital.auth import sessions

    body = web.body()
    return web.respond(sessions.sign_in_with_wechat(sessions.MINI_PROGRAM, body.code))


@web.route(app, "/auth/wechat/oauth", methods=["POST"], public=True, body=models.CodeLogin,
           response=answers.Session, errors=(401,))
def official_account_login():
    """Sign in with an official account's OAuth code.

    The first sign-in makes a patient account. 400 `invalid_code` for a code WeChat refuses
    (ask for a fresh one); 401 for a disabled account; 503 when WeChat does not answer."""
    from hospital.auth import sessions

    body = web.body()
    return web.respond(sessions.sign_in_with_wechat(sessions.OFFICIAL_ACCOUNT, body.code))


@web.route(app, "/auth/refresh", methods=["POST"], public=True, body=models.RefreshRequest,
           response=answers.Session, errors=(401,))
def refresh():
    """Exchange a refresh token for a new session; the old refresh token is used up.

    Roles are read afresh. 401 `refresh_token_rotated` when the same token was sent again just
    now (use the newer one); a token reused later ends its whole session family."""
    from hospital.auth import sessions

    body = web.body()
    return web.respond(sessions.refresh(body.refresh_token))


@web.route(app, "/auth/logout", methods=["POST"], permission=permissions.SESSION_SELF, body=models.LogoutRequest,
           response=answers.SignedOut)
def logout():
    """Sign out the session of the given refresh token, or every session of the caller without one.

    Access tokens and live connections of those sessions stop working at once."""
    from hospital.auth import sessions

    body = web.body()
    sessions.sign_out(web.principal(), body.refresh_token)
    return web.respond({"signed_out": True})


@web.route(app, "/auth/me", methods=["GET"], permission=permissions.SESSION_SELF, response=answers.Me)
def me():
    """The caller: their roles and what they may do in this session."""
    caller = web.principal()
    return web.respond({"user_id": caller.user_id, "roles": sorted(caller.roles), "app_id": caller.app_id,
                        "permissions": sorted(caller.permissions), "needs_second_factor": sorted(caller.withheld)})


# ---- back-office sign-in: password, then TOTP (hospital.auth.admin_accounts) --------------------------

@web.route(app, "/auth/admin/login", methods=["POST"], public=True, body=models.AdminLogin,
           response=answers.SignInChallenge, errors=(401, 403, 423))
def admin_login():
    """Back-office sign-in, step 1: username and password; answers a challenge for the second factor.

    403 `password_change_required` for a password an administrator set: send it again with
    new_password. Failed steps count: too many in a row lock the account (423, Retry-After)."""
    from hospital.auth import admin_accounts

    body = web.body()
    return web.respond(admin_accounts.begin(body.username, body.password, body.new_password))


@web.route(app, "/auth/admin/totp/enrolment", methods=["POST"], public=True, body=models.AdminChallenge,
           response=answers.TotpEnrolment, errors=(401, 423))
def admin_totp_enrolment():
    """Back-office sign-in, step 2 without a second factor: a new TOTP secret to set up.

    Asking again replaces the secret, until one is confirmed."""
    from hospital.auth import admin_accounts

    body = web.body()
    return web.respond(admin_accounts.enrol(body.challenge))


@web.route(app, "/auth/admin/totp/confirm", methods=["POST"], public=True, body=models.AdminTotpConfirm,
           response=answers.EnrolledSession, errors=(401, 409, 423))
def admin_totp_confirm():
    """Back-office sign-in, step 2 completed: a code of the new secret; answers the session and recovery codes.

    409 `enrolment_not_started` before a secret was asked for. The recovery codes are shown this once."""
    from hospital.auth import admin_accounts

    body = web.body()
    return web.respond(admin_accounts.confirm(body.challenge, body.code))


@web.route(app, "/auth/admin/login/verify", methods=["POST"], public=True, body=models.AdminVerify,
           response=answers.VerifiedSession, errors=(401, 423))
def admin_login_verify():
    """Back-office sign-in, step 3: a TOTP code, or a recovery code; answers the session.

    Send exactly one of code and recovery_code; each code works once."""
    from hospital.auth import admin_accounts

    body = web.body()
    return web.respond(admin_accounts.verify(body.challenge, body.code, body.recovery_code))


@web.route(app, "/auth/admin/password", methods=["POST"], permission=permissions.SESSION_SELF,
           body=models.AdminPasswordChange, response=answers.PasswordChanged, errors=(423,))
def admin_password():
    """Change the caller's back-office password; every other session of theirs ends.

    Needs a back-office session. A wrong current password counts as a failed sign-in step."""
    from hospital.auth import admin_accounts

    body = web.body()
    return web.respond(admin_accounts.change_password(web.principal(), body.current_password, body.new_password))


@web.route(app, "/auth/admin/recovery-codes", methods=["POST"], permission=permissions.SESSION_SELF,
           body=models.AdminRecoveryCodes, response=answers.RecoveryCodes, errors=(423,))
def admin_recovery_codes():
    """Replace the caller's recovery codes with 10 new ones; needs a current TOTP code.

    Needs a back-office session. A wrong code counts as a failed sign-in step."""
    from hospital.auth import admin_accounts

    body = web.body()
    return web.respond(admin_accounts.regenerate_recovery_codes(web.principal(), body.code))
