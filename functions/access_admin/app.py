"""Back office: roles, their permissions and who holds them (AD2, NF1). The super admin makes
and edits roles, gives them to users (hospital-wide or for one department), takes them away,
disables accounts and signs users out everywhere. Every change is audited and counts from the
holder's next request; nobody grants a permission they do not hold."""
from hospital import settings, web
from hospital.auth import permissions

app = web.create_app("access_admin", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.WECHAT, settings.LIVE,
    settings.ADMIN_SIGN_IN))
MANAGE = permissions.ACCESS_MANAGE


@web.route(app, "/admin/access/permissions", methods=["GET"], permission=MANAGE)
def list_permissions():
    from hospital.auth import access

    return web.respond({"permissions": access.catalogue()})


@web.route(app, "/admin/access/roles", methods=["GET"], permission=MANAGE)
def list_roles():
    from hospital.auth import access

    return web.respond({"roles": access.list_roles()})


@web.route(app, "/admin/access/roles", methods=["POST"], permission=MANAGE)
def create_role():
    from hospital.auth import access, access_models

    body = web.json_body(access_models.NewRole)
    return web.respond(access.create_role(web.principal(), body.name, body.label, body.permissions), status=201)


@web.route(app, "/admin/access/roles/{role}", methods=["GET"], permission=MANAGE)
def show_role(role):
    from hospital.auth import access

    return web.respond({**access.role(role),
                        "users": access.holders(role, web.query_int("limit", default=100, low=1, high=500))})


@web.route(app, "/admin/access/roles/{role}", methods=["PUT"], permission=MANAGE)
def update_role(role):
    from hospital.auth import access, access_models

    body = web.json_body(access_models.RoleChange)
    return web.respond(access.update_role(web.principal(), role, body.label, body.permissions))


@web.route(app, "/admin/access/roles/{role}", methods=["DELETE"], permission=MANAGE)
def delete_role(role):
    from hospital.auth import access

    access.delete_role(web.principal(), role)
    return web.respond(None, status=204)


@web.route(app, "/admin/access/users", methods=["GET"], permission=MANAGE)
def find_users():
    from hospital.auth import access
    from hospital.errors import ValidationFailed

    username, role = web.query("username"), web.query("role")
    if not username and not role:
        raise ValidationFailed("name a username (its start) or a role", field="username")
    return web.respond({"users": access.find_users(username, role,
                                                   web.query_int("limit", default=50, low=1, high=200))})


@web.route(app, "/admin/access/users/{user_id}", methods=["GET"], permission=MANAGE)
def show_user(user_id):
    from hospital.auth import access

    return web.respond(access.user(_user_id(user_id)))


@web.route(app, "/admin/access/users/{user_id}/roles/{role}", methods=["PUT"], permission=MANAGE)
def assign_role(user_id, role):
    from hospital.auth import access, access_models

    body = web.json_body(access_models.Assignment)
    view, _ = access.assign(web.principal(), _user_id(user_id), role, body.department)
    return web.respond(view)


@web.route(app, "/admin/access/users/{user_id}/roles/{role}", methods=["DELETE"], permission=MANAGE)
def unassign_role(user_id, role):
    from hospital.auth import access

    access.unassign(web.principal(), _user_id(user_id), role)
    return web.respond(access.user(_user_id(user_id)))


@web.route(app, "/admin/access/users/{user_id}/disable", methods=["POST"], permission=MANAGE)
def disable_user(user_id):
    from hospital.auth import access, sessions

    access.may_manage_account(web.principal(), _user_id(user_id))  # its rights would change hands
    sessions.set_disabled(_user_id(user_id), True, web.principal())
    return web.respond(access.user(_user_id(user_id)))


@web.route(app, "/admin/access/users/{user_id}/enable", methods=["POST"], permission=MANAGE)
def enable_user(user_id):
    from hospital.auth import access, sessions

    access.may_manage_account(web.principal(), _user_id(user_id))  # its rights would change hands
    sessions.set_disabled(_user_id(user_id), False, web.principal())
    return web.respond(access.user(_user_id(user_id)))


@web.route(app, "/admin/access/users/{user_id}/sessions", methods=["DELETE"], permission=MANAGE)
def sign_out_everywhere(user_id):
    from hospital.auth import access, sessions

    access.may_manage_account(web.principal(), _user_id(user_id))  # 404 for no such user
    return web.respond({"revoked_sessions": sessions.revoke_sessions(_user_id(user_id), web.principal())})


@web.route(app, "/admin/access/accounts", methods=["POST"], permission=MANAGE)
def create_account():
    from hospital.auth import access, access_models, admin_accounts

    body = web.json_body(access_models.NewAccount)
    if body.user_id is not None:
        access.may_manage_account(web.principal(), body.user_id)
    made = admin_accounts.create_account(web.principal(), body.user_id, body.username, body.temporary_password)
    return web.respond(access.user(made["user_id"]), status=201)


@web.route(app, "/admin/access/users/{user_id}/password-reset", methods=["POST"], permission=MANAGE)
def reset_password(user_id):
    from hospital.auth import access, access_models, admin_accounts

    body = web.json_body(access_models.PasswordReset)
    access.may_manage_account(web.principal(), _user_id(user_id))
    return web.respond(admin_accounts.reset_password(web.principal(), _user_id(user_id), body.temporary_password))


@web.route(app, "/admin/access/users/{user_id}/second-factor-reset", methods=["POST"], permission=MANAGE)
def reset_second_factor(user_id):
    from hospital.auth import access, admin_accounts

    access.may_manage_account(web.principal(), _user_id(user_id))
    return web.respond(admin_accounts.reset_second_factor(web.principal(), _user_id(user_id)))


@web.route(app, "/admin/access/users/{user_id}/unlock", methods=["POST"], permission=MANAGE)
def unlock(user_id):
    from hospital.auth import access, admin_accounts

    access.may_manage_account(web.principal(), _user_id(user_id))
    return web.respond(admin_accounts.unlock(web.principal(), _user_id(user_id)))


def _user_id(raw: str) -> int:
    from hospital import text
    from hospital.errors import ValidationFailed

    value = text.whole_number(raw, low=1, high=2**62)
    if value is None:
        raise ValidationFailed("user_id must be a whole number", field="user_id")
    return value
