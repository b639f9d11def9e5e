"""Sign-in and sessions (ER1, NF1): WeChat codes in, the backend's own tokens out."""
from hospital import settings, web
from hospital.auth import permissions

app = web.create_app("auth", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.WECHAT, settings.LIVE))


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
    return web.respond({"user_id": caller.user_id, "roles": sorted(caller.roles), "app_id": caller.app_id})
