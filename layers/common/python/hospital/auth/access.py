"""Roles, their permissions and who holds them (AD2, NF1): the back office's access management.

Each public function is an entry: one transaction, audited in it, and once it is committed
the holders' cached standing is dropped, so the change counts from their next request. `by`
is the acting principal; None is an operator at the command line (python -m infra.manage),
who has the database already and is not checked.

The rules: nobody gives (or takes away) a permission they do not hold themselves, unless they
hold access.grant_any; a department-reach permission held only for some departments is given
only for those; the patient role is the public's and is not edited; the super admin role
keeps access management; the last active super admin keeps the role and the account.
"""
from __future__ import annotations

import re

import sqlalchemy as sa

from hospital import audit
from hospital.auth import permissions as P
from hospital.auth import roles as R
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, Forbidden, NotFound, ValidationFailed
from hospital.timeutil import iso_utc, utcnow

ROLE_NAME = re.compile(r"[a-z][a-z0-9_]{2,31}")
DEPARTMENT = re.compile(r"[A-Za-z0-9_.-]{1,32}")


# ---- reading ------------------------------------------------------------------------------

def catalogue() -> list[dict]:
    return [{"name": p.name, "description": p.description, "reach": p.reach} for p in P.CATALOGUE]


def list_roles() -> list[dict]:
    with transaction() as conn:
        rows = conn.execute(sa.select(t.roles).order_by(t.roles.c.builtin.desc(), t.roles.c.name)).all()
        held = _permissions_of(conn, [row.name for row in rows])
        holders = dict(conn.execute(sa.select(t.user_roles.c.role, sa.func.count())
                                    .group_by(t.user_roles.c.role)).all())
    return [_role_view(row, held.get(row.name, frozenset()), holders.get(row.name, 0)) for row in rows]


def role(name: str) -> dict:
    with transaction() as conn:
        row = _role_row(conn, name)
        count = conn.execute(sa.select(sa.func.count()).select_from(t.user_roles)
                             .where(t.user_roles.c.role == name)).scalar_one()
        return _role_view(row, _permissions_of(conn, [name]).get(name, frozenset()), count)


def holders(role_name: str, limit: int) -> list[dict]:
    """The users holding a role, with everything they hold."""
    with transaction() as conn:
        _role_row(conn, role_name)
        user_ids = list(conn.execute(sa.select(t.user_roles.c.user_id).where(t.user_roles.c.role == role_name)
                                     .order_by(t.user_roles.c.user_id).limit(limit)).scalars())
        return [_user_view(conn, user_id) for user_id in user_ids]


def find_users(username: str | None, role_name: str | None, limit: int) -> list[dict]:
    """Users with a back-office account whose username starts with `username`, and/or holding
    `role_name`; by user id."""
    query = sa.select(t.users.c.id).order_by(t.users.c.id).limit(limit)
    if username:
        query = query.join(t.admin_accounts, t.admin_accounts.c.user_id == t.users.c.id).where(
            t.admin_accounts.c.username.startswith(username.lower(), autoescape=True))
    if role_name:
        query = query.join(t.user_roles, t.user_roles.c.user_id == t.users.c.id).where(
            t.user_roles.c.role == role_name)
    with transaction() as conn:
        return [_user_view(conn, user_id) for user_id in conn.execute(query).scalars()]


def user(user_id: int) -> dict:
    with transaction() as conn:
        return _user_view(conn, user_id)


# ---- roles --------------------------------------------------------------------------------

def create_role(by, name: str, label: str, wanted: list[str]) -> dict:
    if not ROLE_NAME.fullmatch(name):
        raise ValidationFailed("a role name is 3 to 32 of a-z, 0-9 and _, starting with a letter", field="name")
    wanted_set = _known(wanted)
    _may_give(by, wanted_set, at=())  # nobody holds it yet
    now = utcnow()
    with transaction() as conn:
        if conn.execute(sa.select(t.roles.c.name).where(t.roles.c.name == name)).first():
            raise Conflict(f"there is already a role {name}", field="name", code="role_exists")
        conn.execute(t.roles.insert().values(name=name, label=label, builtin=False, created_at=now, updated_at=now,
                                             updated_by=_actor(by)))
        _write_permissions(conn, name, wanted_set)
        audit.add(conn, by, "access.create_role", "role", name, "ok",
                  {"label": label, "permissions": sorted(wanted_set)})
        return _role_view(conn.execute(sa.select(t.roles).where(t.roles.c.name == name)).one(), wanted_set, 0)


def update_role(by, name: str, label: str | None, wanted: list[str] | None) -> dict:
    """A new label and/or a new permission set (the whole set, not a difference)."""
    with transaction() as conn:
        row = _role_row(conn, name, for_update=True)
        before = _permissions_of(conn, [name]).get(name, frozenset())
        after = before if wanted is None else _known(wanted)
        if name == R.PATIENT and after != before:
            raise Conflict("the patient role is what every patient holds: its permissions are not edited here",
                           field="role", code="builtin_role")
        if name == R.SUPER_ADMIN and not after >= P.SUPER_ADMIN_CORE:
            raise Conflict("the super admin role keeps access.manage and access.grant_any", field="permissions",
                           code="super_admin_core")
        held_at = set(conn.execute(sa.select(t.user_roles.c.department).where(t.user_roles.c.role == name))
                      .scalars())
        _may_give(by, before ^ after, at=held_at)  # the change reaches every holder
        scoped = conn.execute(sa.select(sa.func.count()).select_from(t.user_roles).where(
            t.user_roles.c.role == name, t.user_roles.c.department.is_not(None))).scalar_one()
        if scoped and P.scope_refusal(after):
            raise Conflict(f"{scoped} holder(s) have this role for one department only, and "
                           f"{P.scope_refusal(after)}", field="permissions", code="role_held_by_department")
        conn.execute(t.roles.update().where(t.roles.c.name == name).values(
            label=label if label is not None else row.label, updated_at=utcnow(), updated_by=_actor(by)))
        if after != before:
            _write_permissions(conn, name, after)
        audit.add(conn, by, "access.update_role", "role", name, "ok" if after != before or label else "unchanged",
                  {"added": sorted(after - before), "removed": sorted(before - after), "label": label})
        holder_ids = list(conn.execute(sa.select(t.user_roles.c.user_id).where(t.user_roles.c.role == name)).scalars())
        count = len(holder_ids)
        result = _role_view(conn.execute(sa.select(t.roles).where(t.roles.c.name == name)).one(), after, count)
    _changed(holder_ids, shrank=bool(before - after))
    return result


def delete_role(by, name: str) -> None:
    with transaction() as conn:
        row = _role_row(conn, name, for_update=True)
        if row.builtin:
            raise Conflict("a built-in role cannot be deleted", field="role", code="builtin_role")
        count = conn.execute(sa.select(sa.func.count()).select_from(t.user_roles)
                             .where(t.user_roles.c.role == name)).scalar_one()
        if count:
            raise Conflict(f"{count} user(s) hold this role: take it from them first", field="role",
                           code="role_in_use")
        held = _permissions_of(conn, [name]).get(name, frozenset())
        _may_give(by, held, at=())  # nobody holds it
        conn.execute(t.role_permissions.delete().where(t.role_permissions.c.role == name))
        conn.execute(t.roles.delete().where(t.roles.c.name == name))
        audit.add(conn, by, "access.delete_role", "role", name, "ok", {"permissions": sorted(held)})


# ---- holders ------------------------------------------------------------------------------

def assign(by, user_id: int, role_name: str, department: str | None = None) -> tuple[dict, bool]:
    """Give a user a role, hospital-wide or for one department (a second call changes the
    department). Returns (the user's access, changed)."""
    if department is not None and not DEPARTMENT.fullmatch(department):
        raise ValidationFailed("a department code is 1 to 32 of letters, digits, _ . -", field="department")
    with transaction() as conn:
        # Locked: an edit of the role (a hospital-wide permission added) or its deletion waits.
        _role_row(conn, role_name, for_update=True)
        _user_row(conn, user_id)
        held = _permissions_of(conn, [role_name]).get(role_name, frozenset())
        if department is not None and P.scope_refusal(held):
            raise ValidationFailed(P.scope_refusal(held) or "", field="department", code="not_by_department")
        current = conn.execute(sa.select(t.user_roles).where(
            t.user_roles.c.user_id == user_id, t.user_roles.c.role == role_name).with_for_update()).first()
        # Where it is given, and where a grant it replaces was: both must be the granter's to give.
        _may_give(by, held, at={department} | ({current.department} if current is not None else set()))
        if current is None:
            conn.execute(t.user_roles.insert().values(user_id=user_id, role=role_name, department=department,
                                                      granted_at=utcnow(), granted_by=_actor(by)))
        elif current.department != department:
            conn.execute(t.user_roles.update().where(
                t.user_roles.c.user_id == user_id, t.user_roles.c.role == role_name).values(
                department=department, granted_at=utcnow(), granted_by=_actor(by)))
        changed = current is None or current.department != department
        audit.add(conn, by, "auth.grant_role", "user", str(user_id), "ok" if changed else "unchanged",
                  {"role": role_name, "department": department})
        view = _user_view(conn, user_id)
    _changed([user_id], shrank=current is not None and current.department is None and department is not None)
    return view, changed


def unassign(by, user_id: int, role_name: str) -> bool:
    """Take a role away: it ends at once for the user's calls and live connections, and
    someone left with no permission to be on duty is off duty. False if they did not hold it."""
    with transaction() as conn:
        _role_row(conn, role_name)
        held = _permissions_of(conn, [role_name]).get(role_name, frozenset())
        current = conn.execute(sa.select(t.user_roles.c.department).where(
            t.user_roles.c.user_id == user_id, t.user_roles.c.role == role_name)).first()
        _may_give(by, held, at={current.department} if current is not None else set())
        if role_name == R.SUPER_ADMIN:
            keep_a_super_admin(conn, user_id)
        removed = conn.execute(t.user_roles.delete().where(
            t.user_roles.c.user_id == user_id, t.user_roles.c.role == role_name)).rowcount
        still_on_duty = conn.execute(
            sa.select(sa.literal(1)).select_from(t.user_roles.join(
                t.role_permissions, t.role_permissions.c.role == t.user_roles.c.role))
            .where(t.user_roles.c.user_id == user_id, t.role_permissions.c.permission == P.STAFF_DUTY)).first()
        if not still_on_duty:
            conn.execute(t.on_duty.delete().where(t.on_duty.c.user_id == user_id))
        audit.add(conn, by, "auth.revoke_role", "user", str(user_id), "ok" if removed else "unchanged",
                  {"role": role_name})
    _changed([user_id], shrank=bool(removed))
    return bool(removed)


def may_manage_account(by, user_id: int) -> None:
    """Forbidden unless `by` may manage the user's account (reset their password or second
    factor, unlock it): taking over an account is getting what it holds, so only someone who
    could grant every permission the user holds may. NotFound for no such user."""
    with transaction() as conn:
        _user_row(conn, user_id)
        held = conn.execute(
            sa.select(t.role_permissions.c.permission, t.user_roles.c.department).select_from(
                t.user_roles.join(t.role_permissions, t.role_permissions.c.role == t.user_roles.c.role))
            .where(t.user_roles.c.user_id == user_id)).all()
    for permission, department in held:
        _may_give(by, {permission}, at={department})


def keep_a_super_admin(conn, user_id: int) -> None:
    """In the caller's transaction, before `user_id` stops acting as a super admin (their role
    taken away, their account disabled): refused if no other active super admin would be left.
    The super admins' rows are locked, so two of them removing each other at once cannot
    both succeed."""
    active = set(conn.execute(
        sa.select(t.user_roles.c.user_id)
        .select_from(t.user_roles.join(t.users, t.users.c.id == t.user_roles.c.user_id))
        .where(t.user_roles.c.role == R.SUPER_ADMIN, t.users.c.status == "active")
        .with_for_update()).scalars())
    if active == {user_id}:
        raise Conflict("this is the last active super admin: make another one first", field="user_id",
                       code="last_super_admin")


# ---- steps --------------------------------------------------------------------------------


def _may_give(by, wanted, *, at) -> None:
    """Forbidden unless `by` may give (or take away) every permission of `wanted` where it is
    or will be held: `at` are those departments, None for hospital-wide. One who holds a
    permission for some departments only acts on grants of it in those departments."""
    if by is None:
        return
    refused = P.ungrantable(by.permissions, wanted)
    if refused:
        raise Forbidden(f"you may not grant {refused[0]}: you do not hold it yourself", code="not_yours_to_grant")
    if P.ACCESS_GRANT_ANY in by.permissions:
        return
    for permission in sorted(p for p in wanted if P.BY_NAME[p].reach == P.DEPARTMENT):
        reach = by.departments(permission)
        if reach is not None and any(department is None or department not in reach for department in at):
            raise Forbidden(f"you hold {permission} for {', '.join(sorted(reach))} only: act on it there only",
                            code="not_yours_to_grant")


def _known(wanted: list[str]) -> frozenset[str]:
    unknown = sorted(set(wanted) - P.NAMES)
    if unknown:
        raise ValidationFailed(f"no such permission {unknown[0]}", field="permissions", code="unknown_permission")
    return frozenset(wanted)


def _write_permissions(conn, name: str, wanted: frozenset[str]) -> None:
    conn.execute(t.role_permissions.delete().where(t.role_permissions.c.role == name))
    if wanted:
        conn.execute(t.role_permissions.insert(), [{"role": name, "permission": p} for p in sorted(wanted)])


def _permissions_of(conn, names: list[str]) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for row in conn.execute(sa.select(t.role_permissions).where(t.role_permissions.c.role.in_(names))):
        found.setdefault(row.role, set()).add(row.permission)
    return {name: frozenset(held) for name, held in found.items()}


def _role_row(conn, name: str, *, for_update: bool = False):
    query = sa.select(t.roles).where(t.roles.c.name == name)
    row = conn.execute(query.with_for_update() if for_update else query).first()
    if row is None:
        raise NotFound(f"no such role {name}", field="role")
    return row


def _user_row(conn, user_id: int):
    row = conn.execute(sa.select(t.users.c.id, t.users.c.status).where(t.users.c.id == user_id)).first()
    if row is None:
        raise NotFound("no such user", field="user_id")
    return row


def _user_view(conn, user_id: int) -> dict:
    row = _user_row(conn, user_id)
    held = conn.execute(sa.select(t.user_roles).where(t.user_roles.c.user_id == user_id)
                        .order_by(t.user_roles.c.role)).all()
    account = conn.execute(sa.select(t.admin_accounts).where(t.admin_accounts.c.user_id == user_id)).first()
    return {"user_id": int(row.id), "status": row.status,
            "roles": [{"role": r.role, "department": r.department, "granted_at": iso_utc(r.granted_at),
                       "granted_by": r.granted_by} for r in held],
            # The back-office sign-in, if the user has one (never its secrets).
            "account": None if account is None else {
                "username": account.username, "second_factor": account.totp_confirmed_at is not None,
                "must_change_password": bool(account.must_change_password),
                "locked_until": iso_utc(account.locked_until), "failed_attempts": account.failed_attempts}}


def _role_view(row, held: frozenset[str], holder_count: int) -> dict:
    return {"name": row.name, "label": row.label, "builtin": bool(row.builtin), "permissions": sorted(held),
            "holders": holder_count, "updated_at": iso_utc(row.updated_at), "updated_by": row.updated_by}


def _actor(by) -> int | None:
    return getattr(by, "user_id", None)


def _changed(user_ids: list[int], *, shrank: bool) -> None:
    """After the commit: the holders' standing is read afresh at their next request here (and
    within STANDING_CACHE_SECONDS in other containers); a right that shrank ends their live
    connections."""
    from hospital.auth import standing
    from hospital.auth.rights import rights_ended

    if len(user_ids) > 1:
        standing.forget_all()
    for user_id in user_ids:
        if shrank:
            rights_ended(user_id)
        else:
            standing.forget(user_id)
