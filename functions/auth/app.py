"""Sign-in and sessions (ER1, NF1): WeChat codes, or a back-office username, password and TOTP
code, in; the backend's own tokens out."""
from hospital import settings, web
from hospital.auth import permissions

app = web.create_app("auth", needs=(
    settings.DATABASE, settings.SESSIONS, settings.ADMIN_SIGN_IN, settings.PERSONAL_DATA, settings.WECHAT,
    settings.LIVE))


@web.route(app, "/auth/wechat/mini-program", methods=["POST"], public=True)
def mini_program_login():
    from hospital.auth import models, sessions

    body = web.json_body(models.CodeLogin)
    return web.respond(sessions.sign_in_with_wechat(sessions.MINI_PROGRAM, body.code))


@web.route(app, "/auth/wechat/oauth", methods=["POST"], public=True)
def official_account_login():
    from hospital.auth import models, sessions

    body = web.json_body(models.CodeLogin)
    return web.respond(sessions.sign_in_with_wechat(sessions.OFFICIAL_ACCOUNT, body.code))


@web.route(app, "/auth/refresh", methods=["POST"], public=True)
def refresh():
    from hospital.auth import models, sessions

    body = web.json_body(models.RefreshRequest)
    return web.respond(sessions.refresh(body.refresh_token))


@web.route(app, "/auth/logout", methods=["POST"], permission=permissions.SESSION_SELF)
def logout():
    from hospital.auth import models, sessions

    body = web.json_body(models.LogoutRequest)
    sessions.sign_out(web.principal(), body.refresh_token)
    return web.respond({"signed_out": True})


@web.route(app, "/auth/me", methods=["GET"], permission=permissions.SESSION_SELF)
def me():
    caller = web.principal()
    return web.respond({"user_id": caller.user_id, "roles": sorted(caller.roles), "app_id": caller.app_id,
                        "permissions": sorted(caller.permissions), "needs_second_factor": sorted(caller.withheld)})


# ---- back-office sign-in: password, then TOTP (hospital.auth.admin_accounts) --------------------------

@web.route(app, "/auth/admin/login", methods=["POST"], public=True)
def admin_login():
    from hospital.auth import admin_accounts, models

    body = web.json_body(models.AdminLogin)
    return web.respond(admin_accounts.begin(body.username, body.password, body.new_password))


@web.route(app, "/auth/admin/totp/enrolment", methods=["POST"], public=True)
def admin_totp_enrolment():
    from hospital.auth import admin_accounts, models

    body = web.json_body(models.AdminChallenge)
    return web.respond(admin_accounts.enrol(body.challenge))


@web.route(app, "/auth/admin/totp/confirm", methods=["POST"], public=True)
def admin_totp_confirm():
    from hospital.auth import admin_accounts, models

    body = web.json_body(models.AdminTotpConfirm)
    return web.respond(admin_accounts.confirm(body.challenge, body.code))


@web.route(app, "/auth/admin/login/verify", methods=["POST"], public=True)
def admin_login_verify():
    from hospital.auth import admin_accounts, models

    body = web.json_body(models.AdminVerify)
    return web.respond(admin_accounts.verify(body.challenge, body.code, body.recovery_code))


@web.route(app, "/auth/admin/password", methods=["POST"], permission=permissions.SESSION_SELF)
def admin_password():
    from hospital.auth import admin_accounts, models

    body = web.json_body(models.AdminPasswordChange)
    return web.respond(admin_accounts.change_password(web.principal(), body.current_password, body.new_password))


@web.route(app, "/auth/admin/recovery-codes", methods=["POST"], permission=permissions.SESSION_SELF)
def admin_recovery_codes():
    from hospital.auth import admin_accounts, models

    body = web.json_body(models.AdminRecoveryCodes)
    return web.respond(admin_accounts.regenerate_recovery_codes(web.principal(), body.code))
