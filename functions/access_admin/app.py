"""Back office: roles, their permissions and who holds them (AD2, NF1). The super admin makes
and edits roles, gives them to users (hospital-wide or for one department), takes them away,
disables accounts and signs users out everywhere. Every change is audited and counts from the
holder's next request; nobody grants a permission they do not hold."""
from hospital import settings, web
from hospital.auth import permissions

access_models = web.lazy("hospital.auth.access_models")
answers = web.lazy("hospital.auth.answers")

app = web.create_app("access_admin", needs=(
    settings.DATABASE, settings.SESSIONS, settings.PERSONAL_DATA, settings.WECHAT, settings.LIVE,
    settings.ADMIN_SIGN_IN))
MANAGE = permissions.ACCESS_MANAGE


@web.route(app, "/admin/access/permissions", methods=["GET"], permission=MANAGE,
           response=answers.PermissionCatalogue)
def list_permissions():
    """Every permission a role can hold, with what it reaches."""
    from hospital.auth import access

    return web.respond({"permissions": access.catalogue()})


@web.route(app, "/admin/access/roles", methods=["GET"], permission=MANAGE, response=answers.RoleList)
def list_roles():
    """Every role, built-in ones first, with its permissions and how many hold it."""
    from hospital.auth import access

    return web.respond({"roles": access.list_roles()})


@web.route(app, "/admin/access/roles", methods=["POST"], permission=MANAGE, body=access_models.NewRole,
           response=answers.Role, success=(201,), errors=(409,))
def create_role():
    """Make a role with a set of permissions; 201.

    Only permissions the caller holds can be given. 409 `role_exists` for a name already taken."""
    from hospital.auth import access

    body = web.body()
    return web.respond(access.create_role(web.principal(), body.name, body.label, body.permissions), status=201)


@web.route(app, "/admin/access/roles/{role}", methods=["GET"], permission=MANAGE,
           query=(web.Int("limit", default=100, low=1, high=500, description="how many holders to list"),),
           response=answers.RoleWithHolders)
def show_role(role):
    """One role, with the users holding it (by user id, up to limit)."""
    from hospital.auth import access

    return web.respond({**access.role(role), "users": access.holders(role, web.args().limit)})


@web.route(app, "/admin/access/roles/{role}", methods=["PUT"], permission=MANAGE, body=access_models.RoleChange,
           response=answers.Role, errors=(409,))
def update_role(role):
    """Change a role's label and/or its whole permission set; it counts from the holders' next request.

    Only permissions the caller holds can be added or removed. 409 for the patient role's
    permissions, the super admin role's core, or a permission its department-scoped holders cannot hold."""
    from hospital.auth import access

    body = web.body()
    return web.respond(access.update_role(web.principal(), role, body.label, body.permissions))


@web.route(app, "/admin/access/roles/{role}", methods=["DELETE"], permission=MANAGE, errors=(409,))
def delete_role(role):
    """Delete a role nobody holds.

    409 for a built-in role or one still held."""
    from hospital.auth import access

    access.delete_role(web.principal(), role)
    return web.respond(None, status=204)


@web.route(app, "/admin/access/users", methods=["GET"], permission=MANAGE,
           query=(web.Text("username", max_length=64, description="the start of a back-office username"),
                  web.Text("role", max_length=32, description="a role the users hold"),
                  web.Int("limit", default=50, low=1, high=200)),
           response=answers.UserList)
def find_users():
    """Users by the start of their back-office username and/or a role they hold, by user id.

    Name at least one of username and role."""
    from hospital.auth import access
    from hospital.errors import ValidationFailed

    args = web.args()
    if not args.username and not args.role:
        raise ValidationFailed("name a username (its start) or a role", field="username")
    return web.respond({"users": access.find_users(args.username, args.role, args.limit)})


@web.route(app, "/admin/access/users/{user_id}", methods=["GET"], permission=MANAGE, response=answers.User)
def show_user(user_id):
    """A user's status, the roles they hold and their back-office account."""
    from hospital.auth import access

    return web.respond(access.user(_user_id(user_id)))


@web.route(app, "/admin/access/users/{user_id}/roles/{role}", methods=["PUT"], permission=MANAGE,
           body=access_models.Assignment, response=answers.User)
def assign_role(user_id, role):
    """Give a user a role, hospital-wide or for one department; answers the user.

    Idempotent: giving it again with another department moves it there."""
    from hospital.auth import access

    body = web.body()
    view, _ = access.assign(web.principal(), _user_id(user_id), role, body.department)
    return web.respond(view)


@web.route(app, "/admin/access/users/{user_id}/roles/{role}", methods=["DELETE"], permission=MANAGE,
           response=answers.User, errors=(409,))
def unassign_role(user_id, role):
    """Take a role from a user; answers the user (also when they did not hold it).

    It ends at once for their calls and live connections. 409 `last_super_admin` for the last active one."""
    from hospital.auth import access

    access.unassign(web.principal(), _user_id(user_id), role)
    return web.respond(access.user(_user_id(user_id)))


@web.route(app, "/admin/access/users/{user_id}/disable", methods=["POST"], permission=MANAGE,
           response=answers.User, errors=(409,))
def disable_user(user_id):
    """Disable an account: every session ends and the user is off duty; answers the user.

    409 `last_super_admin` for the last active one."""
    from hospital.auth import access, sessions

    access.may_manage_account(web.principal(), _user_id(user_id))  # its rights would change hands
    sessions.set_disabled(_user_id(user_id), True, web.principal())
    return web.respond(access.user(_user_id(user_id)))


@web.route(app, "/admin/access/users/{user_id}/enable", methods=["POST"], permission=MANAGE,
           response=answers.User)
def enable_user(user_id):
    """Enable a disabled account again; answers the user."""
    from hospital.auth import access, sessions

    access.may_manage_account(web.principal(), _user_id(user_id))  # its rights would change hands
    sessions.set_disabled(_user_id(user_id), False, web.principal())
    return web.respond(access.user(_user_id(user_id)))


@web.route(app, "/admin/access/users/{user_id}/sessions", methods=["DELETE"], permission=MANAGE,
           response=answers.SessionsRevoked)
def sign_out_everywhere(user_id):
    """Sign a user out everywhere; answers how many sessions were open."""
    from hospital.auth import access, sessions

    access.may_manage_account(web.principal(), _user_id(user_id))  # 404 for no such user
    return web.respond({"revoked_sessions": sessions.revoke_sessions(_user_id(user_id), web.principal())})


@web.route(app, "/admin/access/accounts", methods=["POST"], permission=MANAGE, body=access_models.NewAccount,
           response=answers.User, success=(201,), errors=(404, 409))
def create_account():
    """Make a back-office account, for an existing user or a new one; 201 with the user.

    The temporary password must be changed at the first sign-in. 404 for no such user_id;
    409 for a username taken or a user who has an account already."""
    from hospital.auth import access, admin_accounts

    body = web.body()
    if body.user_id is not None:
        access.may_manage_account(web.principal(), body.user_id)
    made = admin_accounts.create_account(web.principal(), body.user_id, body.username, body.temporary_password)
    return web.respond(access.user(made["user_id"]), status=201)


@web.route(app, "/admin/access/users/{user_id}/password-reset", methods=["POST"], permission=MANAGE,
           body=access_models.PasswordReset, response=answers.PasswordResetDone)
def reset_password(user_id):
    """Set a temporary password, to be changed at the next sign-in; the account is unlocked.

    Every session of the user ends. 404 for a user without a back-office account."""
    from hospital.auth import access, admin_accounts

    body = web.body()
    access.may_manage_account(web.principal(), _user_id(user_id))
    return web.respond(admin_accounts.reset_password(web.principal(), _user_id(user_id), body.temporary_password))


@web.route(app, "/admin/access/users/{user_id}/second-factor-reset", methods=["POST"], permission=MANAGE,
           response=answers.SecondFactorReset)
def reset_second_factor(user_id):
    """Remove a user's TOTP secret and recovery codes: the next sign-in enrols a new one.

    Every session of the user ends."""
    from hospital.auth import access, admin_accounts

    access.may_manage_account(web.principal(), _user_id(user_id))
    return web.respond(admin_accounts.reset_second_factor(web.principal(), _user_id(user_id)))


@web.route(app, "/admin/access/users/{user_id}/unlock", methods=["POST"], permission=MANAGE,
           response=answers.Unlocked)
def unlock(user_id):
    """Open a locked account again and reset its failure count."""
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
