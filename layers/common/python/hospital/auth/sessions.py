"""Sign-in with WeChat, session refresh and sign-out (ER1, NF1).

A WeChat identity is (app id, openid). The first sign-in through an app creates a user
with the patient role; staff and admin roles are granted to existing users. The unionid,
which would link one person's identities across our apps, is only stored hashed: linking
profiles needs the patient's explicit consent (ER8), handled by the rescue profile flow.

The public functions are entries: each opens its own transaction and, once it is committed,
ends what a shrunk right still holds (`rights_ended`). `principal_of` works in the caller's.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid

import sqlalchemy as sa

from hospital import audit, config, settings
from hospital.auth import roles as R
from hospital.auth.rights import rights_ended
from hospital.auth.tokens import (
    Principal,
    access_ttl,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
    refresh_ttl,
)
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Unauthenticated, UpstreamUnavailable, ValidationFailed
from hospital.observability import mask
from hospital.timeutil import utcnow

log = logging.getLogger("hospital.auth")

WECHAT_METHOD = ("wechat",)  # the "amr" of a WeChat session
MINI_PROGRAM = "mini_program"
OFFICIAL_ACCOUNT = "official_account"
_APP_ENV = {
    MINI_PROGRAM: settings.WECHAT_MINI_PROGRAM_APP_ID,
    OFFICIAL_ACCOUNT: settings.WECHAT_OFFICIAL_ACCOUNT_APP_ID,
}


def _wechat():
    from hospital.adapters.wechat import WeChatApi

    return WeChatApi(settings.WECHAT_API_BASE.get())


def app_credentials(channel: str) -> tuple[str, str]:
    app_id = _APP_ENV[channel].get()
    return app_id, config.secret_value(settings.WECHAT_SECRET_ARN, app_id)


def sign_in_with_wechat(channel: str, code: str) -> dict:
    """Exchange a WeChat login code (mini-program) or OAuth code (official account)."""
    from hospital.adapters.wechat import WeChatError, WeChatUnavailable

    app_id, app_secret = app_credentials(channel)
    api = _wechat()
    try:
        if channel == MINI_PROGRAM:
            identity = api.code_to_session(app_id, app_secret, code)
        else:
            identity = api.oauth_code_to_identity(app_id, app_secret, code)
    except WeChatUnavailable as exc:
        raise UpstreamUnavailable("WeChat did not answer; try again") from exc
    except WeChatError as exc:
        # 40029 invalid code, 40163 code used: the client must get a fresh code.
        log.info("wechat sign-in refused", extra={"errcode": exc.errcode, "app_id": app_id})
        raise ValidationFailed("the WeChat code is invalid or already used", field="code",
                               code="invalid_code") from exc
    return sign_in_identity(app_id, identity["openid"], identity.get("unionid"))


def sign_in_identity(app_id: str, openid: str, unionid: str | None = None) -> dict:
    """Entry: sessions for a WeChat identity that WeChat has vouched for. The user is found or
    made in one transaction (a second if a concurrent first sign-in won the unique key); the
    audit record and the sessions follow in their own."""
    from hospital.crypto import lookup_hash

    unionid_hash = lookup_hash(unionid, "unionid") if unionid else None
    now = utcnow()
    for _attempt in range(2):  # a concurrent first sign-in may win the unique key; then read it
        try:
            with transaction() as conn:
                principal = _user_for_identity(conn, app_id, openid, unionid_hash, now)
            break
        except sa.exc.IntegrityError:
            continue
    else:
        raise UpstreamUnavailable("sign-in collided with another; try again")
    log.info("signed in", extra={"user_id": principal.user_id, "app_id": app_id, "openid": mask(openid)})
    if principal.roles - {R.PATIENT}:
        audit.record(principal, "auth.sign_in", "user", str(principal.user_id), "ok", {"app_id": app_id})
    return issue(dataclasses.replace(principal, auth_method=WECHAT_METHOD))


def _user_for_identity(conn, app_id: str, openid: str, unionid_hash: str | None, now) -> Principal:
    """The user of a WeChat identity, made (a patient) at its first sign-in, in the caller's
    transaction. A concurrent first sign-in makes the insert fail on the unique key."""
    row = conn.execute(
        sa.select(t.wechat_identities.c.id, t.wechat_identities.c.user_id)
        .where(t.wechat_identities.c.app_id == app_id, t.wechat_identities.c.openid == openid)
    ).first()
    if row:
        conn.execute(
            t.wechat_identities.update().where(t.wechat_identities.c.id == row.id)
            .values(last_login_at=now, unionid_hash=unionid_hash or t.wechat_identities.c.unionid_hash)
        )
        user_id = row.user_id
    else:
        user_id = conn.execute(t.users.insert().values(status="active", created_at=now)).inserted_primary_key[0]
        conn.execute(t.user_roles.insert().values(user_id=user_id, role=R.PATIENT, granted_at=now))
        conn.execute(t.wechat_identities.insert().values(
            app_id=app_id, openid=openid, unionid_hash=unionid_hash,
            user_id=user_id, created_at=now, last_login_at=now,
        ))
    return _principal(conn, user_id, app_id)


def principal_of(conn, user_id: int, app_id: str | None) -> Principal:
    """The user as a caller: refused if the account is disabled or was merged into another."""
    return _principal(conn, user_id, app_id)


def issue(principal: Principal) -> dict:
    """Entry: fresh sessions (a new refresh-token family) for a principal, stored in a
    transaction of their own."""
    with transaction() as conn:
        return issue_in(conn, principal, uuid.uuid4().hex)


def issue_in(conn, principal: Principal, family_id: str) -> dict:
    """Fresh sessions in a new family, stored in the caller's transaction (a sign-in whose
    own changes commit with them)."""
    stored, answer = _session(principal, family_id=family_id)
    _store(conn, stored)
    return answer


def _principal(conn, user_id: int, app_id: str | None) -> Principal:
    status = conn.execute(sa.select(t.users.c.status).where(t.users.c.id == user_id)).scalar_one_or_none()
    if status != "active":
        raise Unauthenticated("this account is disabled", code="account_disabled")
    role_rows = conn.execute(sa.select(t.user_roles.c.role).where(t.user_roles.c.user_id == user_id)).scalars()
    return Principal(user_id=int(user_id), roles=frozenset(role_rows), app_id=app_id)


def _session(principal: Principal, family_id: str) -> tuple[dict, dict]:
    """A new access token and refresh token: (the refresh-token row to store, the answer).
    Signed before the row is stored: if signing fails, nothing was issued."""
    token, token_hash = new_refresh_token()
    now = utcnow()
    access_token = issue_access_token(dataclasses.replace(principal, session_id=family_id))
    stored = dict(user_id=principal.user_id, family_id=family_id, token_hash=token_hash,
                  app_id=principal.app_id, created_at=now, expires_at=now + refresh_ttl(),
                  auth_method=" ".join(principal.auth_method) if principal.auth_method else None)
    return stored, {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": access_ttl(),
        "refresh_token": token,
        "user": {"id": principal.user_id, "roles": sorted(principal.roles)},
    }


def _store(conn, stored: dict) -> None:
    conn.execute(t.refresh_tokens.insert().values(**stored))


REUSE_GRACE = dt.timedelta(seconds=10)


def refresh(refresh_token: str) -> dict:
    """Rotate a refresh token. Roles are re-read, so a revoked role ends at the next refresh.

    Marking the old token used and storing the new one happen in one transaction, so a
    failure on the way leaves the old token usable for the client's retry. A token used
    again within REUSE_GRACE (a client that sent its refresh twice) is refused without
    revoking anything; later reuse means a copy was stolen, and the family is revoked.
    A back-office session idle too long is revoked instead (401 `session_idle`).
    """
    from hospital.auth import admin_activity

    now = utcnow()
    with transaction() as conn:
        row = conn.execute(sa.select(t.refresh_tokens)
                           .where(t.refresh_tokens.c.token_hash == hash_refresh_token(refresh_token))).first()
        if row is None or row.expires_at <= now or row.revoked_at is not None:
            raise Unauthenticated("refresh token is invalid or expired", code="invalid_refresh_token")
        idle = (row.app_id == admin_activity.BACK_OFFICE
                and admin_activity.end_if_idle(conn, row.family_id, row.user_id, now))
        used = 0 if idle else conn.execute(
            t.refresh_tokens.update()
            .where(t.refresh_tokens.c.id == row.id, t.refresh_tokens.c.used_at.is_(None))
            .values(used_at=now)
        ).rowcount
        if used == 1:
            principal = dataclasses.replace(_principal(conn, row.user_id, row.app_id),
                                            auth_method=tuple(row.auth_method.split()) if row.auth_method else None)
            stored, answer = _session(principal, family_id=row.family_id)
            _store(conn, stored)
            return answer
        used_at = conn.execute(sa.select(t.refresh_tokens.c.used_at)
                               .where(t.refresh_tokens.c.id == row.id)).scalar_one()
    if idle:
        rights_ended(int(row.user_id), sessions=[row.family_id])
        raise admin_activity.idle_refusal()
    if used_at is not None and now - used_at < REUSE_GRACE:
        raise Unauthenticated("this refresh token was just rotated; use the new one",
                              code="refresh_token_rotated")
    # Someone presented a token that was rotated a while ago: treat the family as stolen.
    revoke_family(row.family_id)
    audit.record(None, "auth.refresh_token_reused", "user", str(row.user_id), "refused", {})
    raise Unauthenticated("refresh token was already used; sign in again", code="refresh_token_reused")


def revoke_family(family_id: str) -> None:
    """Entry: every session of a family revoked; after the commit its rights end."""
    with transaction() as conn:
        user_id = conn.execute(sa.select(t.refresh_tokens.c.user_id)
                               .where(t.refresh_tokens.c.family_id == family_id).limit(1)).scalar_one_or_none()
        conn.execute(
            t.refresh_tokens.update()
            .where(t.refresh_tokens.c.family_id == family_id, t.refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    if user_id is not None:
        rights_ended(int(user_id), sessions=[family_id])


def sign_out(principal: Principal, refresh_token: str | None) -> None:
    """Revoke the session family of the given refresh token, or all of the user's sessions.
    Access tokens and live connections of those sessions stop working at once."""
    with transaction() as conn:
        query = t.refresh_tokens.update().where(
            t.refresh_tokens.c.user_id == principal.user_id, t.refresh_tokens.c.revoked_at.is_(None))
        family = None
        if refresh_token:
            # Read first: MySQL refuses an UPDATE whose subquery reads the same table.
            family = conn.execute(sa.select(t.refresh_tokens.c.family_id).where(
                t.refresh_tokens.c.token_hash == hash_refresh_token(refresh_token),
                t.refresh_tokens.c.user_id == principal.user_id)).scalar_one_or_none()
            if family is None:
                raise ValidationFailed("no such session of yours", field="refresh_token",
                                       code="unknown_refresh_token")
            query = query.where(t.refresh_tokens.c.family_id == family)
        conn.execute(query.values(revoked_at=utcnow()))
    rights_ended(principal.user_id, sessions=None if family is None else [family])


def revoke_sessions(user_id: int, revoked_by: Principal | None = None) -> int:
    """Sign a user out everywhere (audited); returns how many sessions were open."""
    with transaction() as conn:
        count = conn.execute(t.refresh_tokens.update().where(
            t.refresh_tokens.c.user_id == user_id, t.refresh_tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())).rowcount
        audit.add(conn, revoked_by, "auth.revoke_sessions", "user", str(user_id), "ok", {"sessions": count})
    rights_ended(user_id)
    return count


def grant_role(user_id: int, role: str, granted_by: Principal | None = None, department: str | None = None) -> bool:
    """Give a user a role (hospital.auth.access.assign); False if they had it already so."""
    from hospital.auth import access

    return access.assign(granted_by, user_id, role, department)[1]


def revoke_role(user_id: int, role: str, revoked_by: Principal | None = None) -> bool:
    """Take a role away (hospital.auth.access.unassign); False if they did not hold it."""
    from hospital.auth import access

    return access.unassign(revoked_by, user_id, role)


def set_disabled(user_id: int, disabled: bool, changed_by: Principal | None = None) -> bool:
    """Disable an account (every session ends, off duty) or enable it again (audited).
    False if it was already so; a merged account is not touched."""
    from hospital.auth import access

    now = utcnow()
    with transaction() as conn:
        if disabled:
            access.keep_a_super_admin(conn, user_id)
        changed = conn.execute(t.users.update().where(
            t.users.c.id == user_id, t.users.c.status == ("active" if disabled else "disabled"))
            .values(status="disabled" if disabled else "active")).rowcount
        if changed and disabled:
            conn.execute(t.refresh_tokens.update().where(
                t.refresh_tokens.c.user_id == user_id, t.refresh_tokens.c.revoked_at.is_(None)).values(revoked_at=now))
            conn.execute(t.on_duty.delete().where(t.on_duty.c.user_id == user_id))
        audit.add(conn, changed_by, "auth.disable_user" if disabled else "auth.enable_user", "user", str(user_id),
                  "ok" if changed else "unchanged", {})
    if changed:
        rights_ended(user_id)
    return bool(changed)
