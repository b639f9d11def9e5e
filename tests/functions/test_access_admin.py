"""Roles, permissions and who holds them, managed from the back office (AD2, NF1): the super
admin makes and edits roles and gives them; a change counts from the holder's next request,
whatever their token carried; nobody grants a permission they do not hold; the last super
admin stays; a role held for one department reaches that department's data only; bad input
is refused naming the field and changes nothing; every change is in the audit log."""
from __future__ import annotations

import concurrent.futures
import contextlib
import uuid

import pytest
import sqlalchemy as sa

from hospital.auth import permissions as P
from hospital.auth import roles as R
from hospital.auth import sessions
from hospital.auth.tokens import Principal, issue_access_token
from hospital.db import engine, tables
from hospital.timeutil import utcnow
from tests.conftest import api_event, call

ROLES = "/admin/access/roles"


def new_user(*roles: str) -> tuple[int, str]:
    """A new active user holding `roles`, and a token of theirs issued before any later grant."""
    with engine().begin() as conn:
        user_id = conn.execute(tables.users.insert().values(status="active", created_at=utcnow())
                               ).inserted_primary_key[0]
    for role in roles:
        sessions.grant_role(user_id, role)
    return user_id, issue_access_token(Principal(user_id=user_id, roles=frozenset(roles)))


def access(functions, token, method, path, body=None, resource=None, params=None):
    return call(functions, "AccessAdminFunction", api_event(method, path, body=body, token=token, resource=resource,
                                                            path_parameters=params))


def role_call(functions, token, method, name, body=None):
    return access(functions, token, method, f"{ROLES}/{name}", body, "/admin/access/roles/{role}", {"role": name})


def holder_call(functions, token, method, user_id, role, body=None):
    return access(functions, token, method, f"/admin/access/users/{user_id}/roles/{role}", body,
                  "/admin/access/users/{user_id}/roles/{role}", {"user_id": str(user_id), "role": role})


def audit_search(functions, token):
    return call(functions, "AuditAdminFunction", api_event("GET", "/admin/audit/entries", token=token))


def role_rows(name: str) -> tuple:
    with engine().connect() as conn:
        role = conn.execute(sa.select(tables.roles).where(tables.roles.c.name == name)).first()
        held = set(conn.execute(sa.select(tables.role_permissions.c.permission)
                                .where(tables.role_permissions.c.role == name)).scalars())
    return role, held


def audits(action: str, target_id: str) -> list:
    with engine().connect() as conn:
        return conn.execute(sa.select(tables.audit_log).where(
            tables.audit_log.c.action == action, tables.audit_log.c.target_id == target_id)).all()


def a_role_name() -> str:
    return f"r_{uuid.uuid4().hex[:10]}"


def test_seeded_roles_are_listed_with_their_permissions_and_the_catalogue_is_served_AD2(db, functions):
    _, admin = new_user(R.SUPER_ADMIN)
    status, listed = access(functions, admin, "GET", ROLES)
    assert status == 200
    by_name = {role["name"]: role for role in listed["roles"]}
    for role, (_label, held) in P.SEEDED.items():
        assert by_name[role]["permissions"] == sorted(held) and by_name[role]["builtin"] is True
    status, catalogue = access(functions, admin, "GET", "/admin/access/permissions")
    assert status == 200 and {p["name"] for p in catalogue["permissions"]} == P.NAMES


def test_a_new_role_given_to_a_user_works_on_their_next_request_and_ends_as_fast_AD2_NF1(db, functions):
    """The holder's token predates every change: grants, edits and removals count at once."""
    _, admin = new_user(R.SUPER_ADMIN)
    user_id, token = new_user()
    name = a_role_name()
    assert audit_search(functions, token)[0] == 403
    status, made = access(functions, admin, "POST", ROLES,
                          {"name": name, "label": "Audit reader", "permissions": [P.AUDIT_READ]})
    assert status == 201 and made["permissions"] == [P.AUDIT_READ] and made["builtin"] is False
    status, holder = holder_call(functions, admin, "PUT", user_id, name, {})
    assert status == 200 and [r["role"] for r in holder["roles"]] == [name]
    assert audit_search(functions, token)[0] == 200

    assert role_call(functions, admin, "PUT", name, {"permissions": [P.LOGS_READ]})[0] == 200
    assert audit_search(functions, token)[0] == 403
    assert role_call(functions, admin, "PUT", name, {"permissions": [P.AUDIT_READ, P.LOGS_READ]})[0] == 200
    assert audit_search(functions, token)[0] == 200
    assert holder_call(functions, admin, "DELETE", user_id, name)[0] == 200
    assert audit_search(functions, token)[0] == 403

    assert len(audits("access.create_role", name)) == 1
    assert len(audits("access.update_role", name)) == 2
    assert [a.details["role"] for a in audits("auth.grant_role", str(user_id))] == [name]
    assert [a.details["role"] for a in audits("auth.revoke_role", str(user_id))] == [name]


def test_no_one_grants_a_permission_they_do_not_hold_AD2(db, functions):
    """A delegated administrator (access.manage without access.grant_any) gives only what they
    hold: not in a new role, not by editing one, not by handing out a role holding more."""
    _, admin = new_user(R.SUPER_ADMIN)
    delegate_role = a_role_name()
    assert access(functions, admin, "POST", ROLES, {"name": delegate_role, "label": "Finance lead", "permissions": [
        P.ACCESS_MANAGE, P.PAYMENTS_READ, P.SESSION_SELF]})[0] == 201
    _, delegate = new_user(delegate_role)
    clerk_id, _ = new_user()

    name = a_role_name()
    status, refused = access(functions, delegate, "POST", ROLES,
                             {"name": name, "label": "x", "permissions": [P.PAYMENTS_READ, P.AUDIT_READ]})
    assert status == 403 and refused["error"]["code"] == "not_yours_to_grant" and P.AUDIT_READ in \
        refused["error"]["message"]
    assert role_rows(name)[0] is None
    assert access(functions, delegate, "POST", ROLES,
                  {"name": name, "label": "Payments viewer", "permissions": [P.PAYMENTS_READ]})[0] == 201
    assert role_call(functions, delegate, "PUT", name, {"permissions": [P.PAYMENTS_MANAGE]})[0] == 403
    assert role_rows(name)[1] == {P.PAYMENTS_READ}
    assert holder_call(functions, delegate, "PUT", clerk_id, R.FINANCE, {})[0] == 403
    assert holder_call(functions, delegate, "PUT", clerk_id, name, {})[0] == 200
    with engine().connect() as conn:
        assert set(conn.execute(sa.select(tables.user_roles.c.role)
                                .where(tables.user_roles.c.user_id == clerk_id)).scalars()) == {name}


@pytest.mark.parametrize("body,field", [
    ({"name": "Bad Name", "label": "x", "permissions": []}, "name"),
    ({"name": "ok_name_1", "label": "x", "permissions": ["payments.steal"]}, "permissions"),
    ({"name": "ok_name_2", "label": "", "permissions": []}, "label"),
    ({"name": "ok_name_3", "label": "x", "permissions": [], "extra": 1}, "extra"),
    ({"name": "ok_name_4", "label": "x"}, "permissions"),
])
def test_a_malformed_role_is_refused_naming_the_field_and_nothing_is_made_AD2(db, functions, body, field):
    _, admin = new_user(R.SUPER_ADMIN)
    status, answer = access(functions, admin, "POST", ROLES, body)
    assert status == 400 and answer["error"]["field"] == field
    assert role_rows(body["name"])[0] is None


def test_roles_that_must_stay_are_kept_AD2(db, functions):
    _, admin = new_user(R.SUPER_ADMIN)
    before = {role: role_rows(role) for role in (R.PATIENT, R.SUPER_ADMIN, R.FINANCE)}
    status, answer = access(functions, admin, "POST", ROLES, {"name": R.FINANCE, "label": "x", "permissions": []})
    assert status == 409 and answer["error"]["code"] == "role_exists"
    status, answer = role_call(functions, admin, "DELETE", R.FINANCE)
    assert status == 409 and answer["error"]["code"] == "builtin_role"
    status, answer = role_call(functions, admin, "PUT", R.PATIENT, {"permissions": [P.SESSION_SELF]})
    assert status == 409 and answer["error"]["code"] == "builtin_role"
    status, answer = role_call(functions, admin, "PUT", R.SUPER_ADMIN, {"permissions": [P.ACCESS_MANAGE]})
    assert status == 409 and answer["error"]["field"] == "permissions"
    assert {role: role_rows(role) for role in before} == before
    assert role_call(functions, admin, "GET", "no_such_role")[0] == 404


def test_a_role_in_use_is_not_deleted_and_an_unused_one_is_AD2(db, functions):
    _, admin = new_user(R.SUPER_ADMIN)
    name = a_role_name()
    assert access(functions, admin, "POST", ROLES, {"name": name, "label": "x", "permissions": [P.LOGS_READ]})[0] == 201
    user_id, _ = new_user(name)
    status, answer = role_call(functions, admin, "DELETE", name)
    assert status == 409 and answer["error"]["code"] == "role_in_use"
    assert holder_call(functions, admin, "DELETE", user_id, name)[0] == 200
    assert role_call(functions, admin, "DELETE", name)[0] == 204
    assert role_rows(name) == (None, set())
    assert len(audits("access.delete_role", name)) == 1


@contextlib.contextmanager
def only_super_admins(keep: set[int]):
    """Every other super admin of the shared test database disabled for the block, and back."""
    with engine().begin() as conn:
        others = list(conn.execute(
            sa.select(tables.users.c.id).join(tables.user_roles, tables.user_roles.c.user_id == tables.users.c.id)
            .where(tables.user_roles.c.role == R.SUPER_ADMIN, tables.users.c.status == "active",
                   tables.users.c.id.not_in(keep))).scalars())
        if others:
            conn.execute(tables.users.update().where(tables.users.c.id.in_(others)).values(status="disabled"))
    try:
        yield
    finally:
        if others:
            with engine().begin() as conn:
                conn.execute(tables.users.update().where(tables.users.c.id.in_(others)).values(status="active"))


def test_the_last_super_admin_can_be_neither_demoted_nor_disabled_AD2(db, functions):
    admin_id, admin = new_user(R.SUPER_ADMIN)
    with only_super_admins({admin_id}):
        status, answer = holder_call(functions, admin, "DELETE", admin_id, R.SUPER_ADMIN)
        assert status == 409 and answer["error"]["code"] == "last_super_admin"
        status, answer = access(functions, admin, "POST", f"/admin/access/users/{admin_id}/disable", {},
                                "/admin/access/users/{user_id}/disable", {"user_id": str(admin_id)})
        assert status == 409 and answer["error"]["code"] == "last_super_admin"
        second_id, _ = new_user(R.SUPER_ADMIN)
        assert holder_call(functions, admin, "DELETE", second_id, R.SUPER_ADMIN)[0] == 200
        sessions.grant_role(second_id, R.SUPER_ADMIN)
        assert holder_call(functions, admin, "DELETE", admin_id, R.SUPER_ADMIN)[0] == 200
    with engine().connect() as conn:
        assert conn.execute(sa.select(tables.users.c.status).where(tables.users.c.id == admin_id)).scalar() == \
            "active"


def test_two_last_super_admins_demoting_each_other_at_once_leave_one_AD2(mysql_db, functions):
    first_id, first = new_user(R.SUPER_ADMIN)
    second_id, second = new_user(R.SUPER_ADMIN)
    with only_super_admins({first_id, second_id}):
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda args: holder_call(functions, args[0], "DELETE", args[1], R.SUPER_ADMIN),
                                    [(first, second_id), (second, first_id)]))
        # The second either waited on the first's lock and found itself the last (409), or came
        # after it and was no longer a super admin (403): never both removed.
        assert sorted(status for status, _ in answers) in ([200, 403], [200, 409])
        with engine().connect() as conn:
            left = conn.execute(sa.select(sa.func.count()).select_from(tables.user_roles).where(
                tables.user_roles.c.role == R.SUPER_ADMIN, tables.user_roles.c.user_id.in_([first_id, second_id]))
            ).scalar()
        assert left == 1


def test_only_a_role_of_department_work_is_given_for_one_department_NF1(db, functions):
    _, admin = new_user(R.SUPER_ADMIN)
    user_id, _ = new_user()
    status, answer = holder_call(functions, admin, "PUT", user_id, R.ED_NURSE, {"department": "ED01"})
    assert status == 400 and answer["error"]["field"] == "department"
    name = a_role_name()
    assert access(functions, admin, "POST", ROLES, {"name": name, "label": "Clinic scheduler", "permissions": [
        P.SESSION_SELF, P.OUTPATIENT_SCHEDULE]})[0] == 201
    status, holder = holder_call(functions, admin, "PUT", user_id, name, {"department": "0101"})
    assert status == 200 and holder["roles"] == [{**holder["roles"][0], "role": name, "department": "0101"}]
    # A role held for one department cannot become hospital-wide work behind the holder's back.
    status, answer = role_call(functions, admin, "PUT", name, {"permissions": [P.OUTPATIENT_SCHEDULE, P.AUDIT_READ]})
    assert status == 409 and answer["error"]["code"] == "role_held_by_department"


def test_sign_out_everywhere_and_disable_end_a_user_s_sessions_NF1(db, platform, functions):
    from tests.conftest import make_patient

    _, admin = new_user(R.SUPER_ADMIN)
    user, token = make_patient(platform)
    me = api_event("GET", "/auth/me", token=token)
    assert call(functions, "AuthFunction", me)[0] == 200
    status, answer = access(functions, admin, "DELETE", f"/admin/access/users/{user.user_id}/sessions", None,
                            "/admin/access/users/{user_id}/sessions", {"user_id": str(user.user_id)})
    assert status == 200 and answer["revoked_sessions"] == 1
    assert call(functions, "AuthFunction", me)[0] == 401
    status, answer = access(functions, admin, "POST", f"/admin/access/users/{user.user_id}/disable", {},
                            "/admin/access/users/{user_id}/disable", {"user_id": str(user.user_id)})
    assert status == 200 and answer["status"] == "disabled"
    assert access(functions, admin, "GET", "/admin/access/users/999999999", None, "/admin/access/users/{user_id}",
                  {"user_id": "999999999"})[0] == 404
    assert access(functions, admin, "GET", "/admin/access/users/x1", None, "/admin/access/users/{user_id}",
                  {"user_id": "x1"})[1]["error"]["field"] == "user_id"


def test_the_super_admin_makes_back_office_accounts_and_resets_or_unlocks_them_NF1(db, functions):
    _, admin = new_user(R.SUPER_ADMIN)
    username = f"clerk.{uuid.uuid4().hex[:8]}"
    status, made = access(functions, admin, "POST", "/admin/access/accounts",
                          {"username": username, "temporary_password": "Temp-Passw0rd-2026"})
    assert status == 201 and made["account"]["username"] == username
    assert made["account"]["must_change_password"] is True and made["account"]["second_factor"] is False
    user_id = made["user_id"]
    status, answer = access(functions, admin, "POST", "/admin/access/accounts",
                            {"username": username, "temporary_password": "Temp-Passw0rd-2026"})
    assert status == 409 and answer["error"]["field"] == "username"
    status, answer = access(functions, admin, "POST", "/admin/access/accounts",
                            {"username": f"x.{uuid.uuid4().hex[:8]}", "temporary_password": "short"})
    assert status == 400 and answer["error"]["field"] == "password"

    with engine().begin() as conn:
        conn.execute(tables.admin_accounts.update().where(tables.admin_accounts.c.user_id == user_id)
                     .values(failed_attempts=5, locked_until=utcnow().replace(year=2099)))
    params = {"user_id": str(user_id)}
    status, answer = access(functions, admin, "POST", f"/admin/access/users/{user_id}/unlock", {},
                            "/admin/access/users/{user_id}/unlock", params)
    assert status == 200 and answer["unlocked"] is True
    status, answer = access(functions, admin, "POST", f"/admin/access/users/{user_id}/password-reset",
                            {"temporary_password": "Another-Passw0rd-2026"},
                            "/admin/access/users/{user_id}/password-reset", params)
    assert status == 200 and answer["must_change_password"] is True
    assert access(functions, admin, "POST", f"/admin/access/users/{user_id}/second-factor-reset", {},
                  "/admin/access/users/{user_id}/second-factor-reset", params)[0] == 200
    assert [a.action for a in audits("auth.admin_account_created", str(user_id))] == ["auth.admin_account_created"]


def test_a_delegated_administrator_cannot_take_over_an_account_holding_more_than_they_do_NF1(db, functions):
    """Resetting someone's password is getting what they hold: refused unless one could grant it."""
    _, admin = new_user(R.SUPER_ADMIN)
    delegate_role = a_role_name()
    assert access(functions, admin, "POST", ROLES, {"name": delegate_role, "label": "Finance lead", "permissions": [
        P.ACCESS_MANAGE, P.PAYMENTS_READ, P.SESSION_SELF]})[0] == 201
    _, delegate = new_user(delegate_role)
    super_id, _ = new_user(R.SUPER_ADMIN)
    path, resource = f"/admin/access/users/{super_id}/password-reset", "/admin/access/users/{user_id}/password-reset"
    status, answer = access(functions, delegate, "POST", path, {"temporary_password": "Takeover-Passw0rd-1"},
                            resource, {"user_id": str(super_id)})
    assert status == 403 and answer["error"]["code"] == "not_yours_to_grant"
    status, answer = access(functions, delegate, "POST", "/admin/access/accounts",
                            {"username": f"t.{uuid.uuid4().hex[:8]}", "temporary_password": "Takeover-Passw0rd-1",
                             "user_id": super_id})
    assert status == 403
    with engine().connect() as conn:
        assert conn.execute(sa.select(tables.admin_accounts).where(
            tables.admin_accounts.c.user_id == super_id)).first() is None


def test_users_are_found_by_username_start_or_role_AD2(db, functions):
    _, admin = new_user(R.SUPER_ADMIN)
    tag = uuid.uuid4().hex[:6]
    access(functions, admin, "POST", "/admin/access/accounts",
           {"username": f"nurse_{tag}.wang", "temporary_password": "Temp-Passw0rd-2026"})
    access(functions, admin, "POST", "/admin/access/accounts",
           {"username": f"nurse{tag}x.zhao", "temporary_password": "Temp-Passw0rd-2026"})

    def find(**query):
        event = api_event("GET", "/admin/access/users", token=admin)
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
        return call(functions, "AccessAdminFunction", event)

    status, found = find(username=f"NURSE_{tag}")  # case-insensitive; "_" is a character, not a wildcard
    assert status == 200 and [u["account"]["username"] for u in found["users"]] == [f"nurse_{tag}.wang"]
    status, found = find(role=R.SUPER_ADMIN, limit="200")
    assert status == 200 and all(R.SUPER_ADMIN in {r["role"] for r in u["roles"]} for u in found["users"])
    status, refused = find()
    assert status == 400 and refused["error"]["field"] == "username"


def test_a_manager_limited_to_one_department_acts_on_that_department_only_NF1_AD2(db, functions):
    """A delegated administrator who schedules one department's clinics cannot spread that
    permission hospital-wide, nor move, take away or take over another department's grant."""
    _, admin = new_user(R.SUPER_ADMIN)
    managers, schedulers = a_role_name(), a_role_name()
    assert access(functions, admin, "POST", ROLES, {"name": managers, "label": "Access desk",
                                                    "permissions": [P.SESSION_SELF, P.ACCESS_MANAGE]})[0] == 201
    assert access(functions, admin, "POST", ROLES, {"name": schedulers, "label": "Scheduler",
                                                    "permissions": [P.SESSION_SELF, P.OUTPATIENT_SCHEDULE]})[0] == 201
    manager_id, manager = new_user(managers)
    assert holder_call(functions, admin, "PUT", manager_id, schedulers, {"department": "CARD"})[0] == 200
    other_id, _ = new_user()
    assert holder_call(functions, admin, "PUT", other_id, schedulers, {"department": "NEUR"})[0] == 200
    mine_id, _ = new_user()

    # Spreading it through a role held hospital-wide (their own) is refused.
    status, refused = role_call(functions, manager, "PUT", managers,
                                {"permissions": [P.SESSION_SELF, P.ACCESS_MANAGE, P.OUTPATIENT_SCHEDULE]})
    assert status == 403 and refused["error"]["code"] == "not_yours_to_grant"
    assert role_rows(managers)[1] == {P.SESSION_SELF, P.ACCESS_MANAGE}
    # Their own department: yes; hospital-wide or another's: no; another's grant: not moved, not taken.
    assert holder_call(functions, manager, "PUT", mine_id, schedulers, {"department": "CARD"})[0] == 200
    assert holder_call(functions, manager, "PUT", mine_id, schedulers, {})[0] == 403
    assert holder_call(functions, manager, "PUT", other_id, schedulers, {"department": "CARD"})[0] == 403
    assert holder_call(functions, manager, "DELETE", other_id, schedulers)[0] == 403
    status, _ = access(functions, manager, "POST", f"/admin/access/users/{other_id}/disable", {},
                       "/admin/access/users/{user_id}/disable", {"user_id": str(other_id)})
    assert status == 403
    with engine().connect() as conn:
        held = conn.execute(sa.select(tables.user_roles.c.department).where(
            tables.user_roles.c.user_id == other_id, tables.user_roles.c.role == schedulers)).scalar()
        status_of_other = conn.execute(sa.select(tables.users.c.status).where(tables.users.c.id == other_id)).scalar()
    assert (held, status_of_other) == ("NEUR", "active")
    assert holder_call(functions, manager, "DELETE", mine_id, schedulers)[0] == 200


def test_a_delegated_administrator_cannot_disable_enable_or_sign_out_a_super_admin_AD2(db, functions):
    _, admin = new_user(R.SUPER_ADMIN)
    managers = a_role_name()
    assert access(functions, admin, "POST", ROLES, {"name": managers, "label": "Access desk",
                                                    "permissions": [P.SESSION_SELF, P.ACCESS_MANAGE]})[0] == 201
    _, manager = new_user(managers)
    super_id, _ = new_user(R.SUPER_ADMIN)
    params = {"user_id": str(super_id)}
    for method, path in (("POST", "disable"), ("POST", "enable"), ("DELETE", "sessions")):
        status, answer = access(functions, manager, method, f"/admin/access/users/{super_id}/{path}",
                                {} if method == "POST" else None, f"/admin/access/users/{{user_id}}/{path}", params)
        assert status == 403 and answer["error"]["code"] == "not_yours_to_grant", path
