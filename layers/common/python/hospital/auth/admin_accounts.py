"""Back-office sign-in (等保 level 3): username and password, then a TOTP second factor.

An admin account is one more way in for a user, who holds roles as before; staff on the
ambulance keep WeChat sign-in. The steps:

1. `begin(username, password)`: the password checked (argon2id); the answer is a challenge
   (hospital.auth.challenges) for the second factor, "totp", or "enrol" when none is set up.
2. `enrol(challenge)` makes a TOTP secret (shown once, with its otpauth:// URI for a QR code);
   `confirm(challenge, code)` checks a code of it, hands out 10 recovery codes and a session.
3. `verify(challenge, code | recovery_code)`: a session.

A session is the WeChat sign-in's answer (sessions.issue_in) with app id "back_office" and the
token's "amr" saying how the user signed in. Every failed step (password, TOTP, recovery code)
counts; ADMIN_LOCKOUT_ATTEMPTS in a row lock the account for ADMIN_LOCKOUT_MINUTES (423), and
only a whole sign-in resets the count (a correct password alone does not: it would let the
second factor be guessed without end). An unknown username is checked against a dummy hash and
answered as a wrong password. Every failure, lock-out and success is audited
("auth.admin_sign_in"), and so is every change made by an admin through the functions below.

Entries open their own transactions; those that open several do so because the password hash
is checked and the TOTP secret decrypted with no transaction open, and a failure is counted in
a transaction of its own, after which the refusal is raised.
"""
from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from collections.abc import Iterable

import sqlalchemy as sa

from hospital import audit, settings
from hospital.auth import admin_activity, challenges, password_rules, passwords, sessions, totp
from hospital.auth import roles as R
from hospital.auth.tokens import Principal
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import AppError, Conflict, Forbidden, Locked, NotFound, Unauthenticated, ValidationFailed
from hospital.timeutil import SHANGHAI, utcnow

a = t.admin_accounts
SIGN_IN = "auth.admin_sign_in"
PASSWORD_AND_TOTP = ("pwd", "otp")
PASSWORD_AND_RECOVERY_CODE = ("pwd", "recovery_code")


def _secret_context(user_id: int) -> str:
    return f"admin_accounts.totp_secret_enc:{user_id}"


# ---- signing in ------------------------------------------------------------------------------

def begin(username: str, password: str, new_password: str | None = None) -> dict:
    """Step 1: the password. A temporary password (set by an admin) must be replaced here,
    with `new_password`, before the second factor."""
    name = password_rules.normal_username(username)
    now = utcnow()
    with transaction() as conn:
        row = _by_username(conn, name)
    if row is None:
        _unknown_username(name, password, now)
    _refuse_if_locked(row, now)
    if not passwords.verify(row.password_hash, password):
        _failed(row.user_id, "password", _wrong_credentials())
    changes: dict = {}
    if row.must_change_password:
        if new_password is None:
            raise Forbidden("this password was set by an administrator: choose a new one (new_password)",
                            field="new_password", code="password_change_required")
        _check_new_password(new_password, row.username, password)
        changes = _password_values(new_password, now, must_change=False)
    elif new_password is not None:
        raise ValidationFailed("no password change is due; change it after signing in",
                               field="new_password", code="password_change_not_due")
    elif passwords.needs_rehash(row.password_hash):
        changes = {"password_hash": passwords.hash_password(password)}  # to the current parameters
    step = challenges.ENROL if row.totp_confirmed_at is None else challenges.TOTP
    challenge_id = challenges.new_id()
    with transaction() as conn:
        if not _active(conn, row.user_id):
            raise Unauthenticated("this account is disabled", code="account_disabled")
        _still_unlocked(conn, row.user_id, now)
        conn.execute(a.update().where(a.c.user_id == row.user_id).values(challenge_id=challenge_id, **changes))
        if "must_change_password" in changes:
            audit.add(conn, None, "auth.admin_password_changed", "user", str(row.user_id), "ok",
                      {"at_sign_in": True})
    return {"second_factor": step, "challenge": challenges.issue(row.user_id, step, challenge_id),
            "expires_in": challenges.TTL_SECONDS}


def enrol(challenge: str) -> dict:
    """Step 2 for an account without a second factor: a new TOTP secret (a second call replaces
    the first, until one is confirmed)."""
    found, row = _challenged(challenge, challenges.ENROL)
    secret = totp.new_secret()
    from hospital.crypto import encrypt

    blob = encrypt(secret, _secret_context(row.user_id))
    with transaction() as conn:
        done = conn.execute(a.update().where(
            a.c.user_id == row.user_id, a.c.challenge_id == found.challenge_id, a.c.totp_confirmed_at.is_(None))
            .values(totp_secret_enc=blob)).rowcount
        if not done:
            raise challenges.invalid()
        audit.add(conn, None, "auth.admin_totp_enrolment", "user", str(row.user_id), "started", {})
    return {"secret": secret, "otpauth_uri": totp.otpauth_uri(secret, row.username), "issuer": totp.ISSUER,
            "digits": 6, "period": 30}


def confirm(challenge: str, code: str) -> dict:
    """Step 2, second half: a code of the new secret confirms it; the answer is the session and
    10 recovery codes, shown this once."""
    found, row = _challenged(challenge, challenges.ENROL)
    if row.totp_secret_enc is None:
        raise Conflict("ask for a secret first (POST /auth/admin/totp/enrolment)", field="challenge",
                       code="enrolment_not_started")
    step = _matching_step(row, code)
    if step is None:
        _failed(row.user_id, "totp", _wrong_code("code"))
    codes = totp.new_recovery_codes()
    hashes = [totp.recovery_code_hash(one) for one in codes]
    now = utcnow()
    with transaction() as conn:
        done = conn.execute(a.update().where(
            a.c.user_id == row.user_id, a.c.challenge_id == found.challenge_id, a.c.totp_confirmed_at.is_(None),
            a.c.totp_secret_enc == row.totp_secret_enc)  # not a secret replaced meanwhile
            .values(totp_confirmed_at=now, last_totp_step=step, failed_attempts=0, challenge_id=None)).rowcount
        if not done:
            raise challenges.invalid()
        _replace_recovery_codes(conn, row.user_id, hashes, now)
        answer = _open_session(conn, row.user_id, PASSWORD_AND_TOTP, now, {"second_factor": "totp_enrolled"})
    return {**answer, "recovery_codes": codes}


def verify(challenge: str, code: str | None = None, recovery_code: str | None = None) -> dict:
    """Step 3: a TOTP code, or one of the recovery codes (each works once); the answer is the
    session (with how many recovery codes are left, when one was used)."""
    if (code is None) == (recovery_code is None):
        raise ValidationFailed("send either code (from the authenticator app) or recovery_code", field="code")
    found, row = _challenged(challenge, challenges.TOTP)
    now = utcnow()
    if code is not None:
        step = _matching_step(row, code)
        if step is None:
            _failed(row.user_id, "totp", _wrong_code("code"))
        with transaction() as conn:
            done = conn.execute(a.update().where(
                a.c.user_id == row.user_id, a.c.challenge_id == found.challenge_id,
                sa.or_(a.c.last_totp_step.is_(None), a.c.last_totp_step < step))
                .values(last_totp_step=step, failed_attempts=0, challenge_id=None)).rowcount
            if not done:
                raise challenges.invalid()
            return _open_session(conn, row.user_id, PASSWORD_AND_TOTP, now, {"second_factor": "totp"})
    assert recovery_code is not None
    code_hash = totp.recovery_code_hash(recovery_code)
    with transaction() as conn:
        used = conn.execute(t.admin_recovery_codes.update().where(
            t.admin_recovery_codes.c.user_id == row.user_id, t.admin_recovery_codes.c.code_hash == code_hash,
            t.admin_recovery_codes.c.used_at.is_(None)).values(used_at=now)).rowcount
        if used:
            done = conn.execute(a.update().where(a.c.user_id == row.user_id, a.c.challenge_id == found.challenge_id)
                                .values(failed_attempts=0, challenge_id=None)).rowcount
            if not done:
                raise challenges.invalid()  # rolls the code's use back
            left = _recovery_codes_left(conn, row.user_id)
            answer = _open_session(conn, row.user_id, PASSWORD_AND_RECOVERY_CODE, now,
                                   {"second_factor": "recovery_code", "recovery_codes_left": left})
            return {**answer, "recovery_codes_left": left}
    _failed(row.user_id, "recovery_code", _wrong_code("recovery_code"))
    raise AssertionError("unreachable")  # _failed raises


def _open_session(conn, user_id: int, method: tuple[str, ...], now: dt.datetime, details: dict) -> dict:
    principal = sessions.principal_of(conn, user_id, admin_activity.BACK_OFFICE)
    principal = Principal(user_id=principal.user_id, roles=principal.roles, app_id=principal.app_id,
                          auth_method=method)
    family_id = uuid.uuid4().hex
    answer = sessions.issue_in(conn, principal, family_id)
    admin_activity.start(conn, family_id, user_id, now)
    audit.add(conn, principal, SIGN_IN, "user", str(user_id), "ok", {"amr": list(method), **details})
    return answer


def _challenged(token: str, step: str):
    """The challenge and its account, read afresh: refused if it is not the account's current
    one, if the account is locked, or if the step no longer fits it."""
    found = challenges.read(token, step)
    with transaction() as conn:
        row = conn.execute(sa.select(a).where(a.c.user_id == found.user_id)).first()
    if row is None or row.challenge_id != found.challenge_id:
        raise challenges.invalid()
    if (step == challenges.TOTP) != (row.totp_confirmed_at is not None):
        raise challenges.invalid()
    _refuse_if_locked(row, utcnow())
    return found, row


def _matching_step(row, code: str) -> int | None:
    from hospital.crypto import decrypt_text

    if row.totp_secret_enc is None:
        return None
    secret = decrypt_text(row.totp_secret_enc, _secret_context(row.user_id))
    assert secret is not None
    return totp.matching_step(secret, code, time.time(), row.last_totp_step)


def _failed(user_id: int, reason: str, refusal: AppError) -> None:
    """Counts a failed step and raises: `refusal`, or 423 at the failure that locks the account.
    An account locked meanwhile counts nothing more."""
    now = utcnow()
    limit = settings.ADMIN_LOCKOUT_ATTEMPTS.get()
    locked_until = None
    with transaction() as conn:
        counted = conn.execute(a.update().where(
            a.c.user_id == user_id, sa.or_(a.c.locked_until.is_(None), a.c.locked_until <= now))
            .values(failed_attempts=a.c.failed_attempts + 1)).rowcount
        count, already_until = conn.execute(
            sa.select(a.c.failed_attempts, a.c.locked_until).where(a.c.user_id == user_id)).one()
        if not counted:
            locked_until = already_until
        elif count >= limit:
            locked_until = now + dt.timedelta(minutes=settings.ADMIN_LOCKOUT_MINUTES.get())
            conn.execute(a.update().where(a.c.user_id == user_id)
                         .values(locked_until=locked_until, failed_attempts=0, challenge_id=None))
        audit.add(conn, None, SIGN_IN, "user", str(user_id), "locked" if counted and locked_until else "refused",
                  {"reason": reason, "failed_attempts": count if counted else None})
    if locked_until is not None:
        raise _locked(locked_until, now)
    raise refusal


def _unknown_username(name: str, password: str, now: dt.datetime) -> None:
    """A sign-in under a username without an account: answered as one with an account would
    be, in the same time, down to the lock-out after ADMIN_LOCKOUT_ATTEMPTS failures. Raises."""
    from hospital.crypto import lookup_hash

    u = t.admin_unknown_usernames
    key = lookup_hash(name, "admin_username")
    with transaction() as conn:
        seen = conn.execute(sa.select(u).where(u.c.name_hash == key)).first()
    if seen is not None and seen.locked_until is not None and seen.locked_until > now:
        audit.record(None, SIGN_IN, "admin_account", None, "refused", {"reason": "locked"})
        raise _locked(seen.locked_until, now)
    passwords.verify_dummy(password)
    locked_until = None
    with transaction() as conn:
        if seen is None:
            try:
                with conn.begin_nested():
                    conn.execute(u.insert().values(name_hash=key, failed_attempts=0, updated_at=now))
            except sa.exc.IntegrityError:
                pass  # a concurrent attempt made it
        conn.execute(u.update().where(u.c.name_hash == key).values(
            failed_attempts=sa.case((sa.or_(u.c.locked_until.is_(None), u.c.locked_until <= now),
                                     u.c.failed_attempts + 1), else_=u.c.failed_attempts),
            updated_at=now))
        count, already = conn.execute(sa.select(u.c.failed_attempts, u.c.locked_until)
                                      .where(u.c.name_hash == key)).one()
        if already is not None and already > now:
            locked_until = already
        elif count >= settings.ADMIN_LOCKOUT_ATTEMPTS.get():
            locked_until = now + dt.timedelta(minutes=settings.ADMIN_LOCKOUT_MINUTES.get())
            conn.execute(u.update().where(u.c.name_hash == key).values(locked_until=locked_until,
                                                                       failed_attempts=0))
        audit.add(conn, None, SIGN_IN, "admin_account", None, "locked" if locked_until else "refused",
                  {"reason": "unknown_username"})
    if locked_until is not None:
        raise _locked(locked_until, now)
    raise _wrong_credentials()


def _still_unlocked(conn, user_id: int, now: dt.datetime) -> None:
    """In the transaction that acts on a right password: the account row locked and read again.
    Guesses sent at once all pass the first look at the lock before any of them is counted;
    a right one that lands after the lock is refused exactly like the wrong ones then."""
    locked_until = conn.execute(sa.select(a.c.locked_until).where(a.c.user_id == user_id)
                                .with_for_update()).scalar_one()
    if locked_until is not None and locked_until > now:
        raise _locked(locked_until, now)


def _refuse_if_locked(row, now: dt.datetime) -> None:
    if row.locked_until is not None and row.locked_until > now:
        audit.record(None, SIGN_IN, "user", str(row.user_id), "refused", {"reason": "locked"})
        raise _locked(row.locked_until, now)


def _locked(until: dt.datetime, now: dt.datetime) -> Locked:
    shown = until.replace(tzinfo=dt.UTC).astimezone(SHANGHAI)
    return Locked(f"too many failed attempts: this account is locked until {shown:%Y-%m-%d %H:%M:%S} Beijing time; "
                  "try again then, or ask a super admin to unlock it",
                  retry_after=math.ceil((until - now).total_seconds()), field="username")


def _wrong_credentials() -> Unauthenticated:
    return Unauthenticated("the username or the password is wrong", field="password", code="invalid_credentials")


def _wrong_code(field: str) -> Unauthenticated:
    what = "code" if field == "code" else "recovery code"
    return Unauthenticated(f"the {what} is wrong or was already used", field=field, code=f"invalid_{field}")


# ---- a signed-in admin's own account ---------------------------------------------------------------

def change_password(principal: Principal, current_password: str, new_password: str) -> dict:
    """A new password for the caller (back-office session only); every other session ends."""
    row = _own_account(principal)
    _check_new_password(new_password, row.username, None)
    if not passwords.verify(row.password_hash, current_password):
        _failed(row.user_id, "password", Forbidden("the current password is wrong", field="current_password",
                                                   code="wrong_password"))
    if passwords.verify(row.password_hash, new_password):
        raise ValidationFailed("the new password is the current one", field="new_password", code="weak_password")
    now = utcnow()
    values = _password_values(new_password, now, must_change=False)
    with transaction() as conn:
        _still_unlocked(conn, row.user_id, now)
        conn.execute(a.update().where(a.c.user_id == row.user_id).values(failed_attempts=0, **values))
        ended = _end_sessions(conn, row.user_id, keep=principal.session_id)
        audit.add(conn, principal, "auth.admin_password_changed", "user", str(row.user_id), "ok",
                  {"sessions_ended": len(ended)})
    if ended:
        sessions.rights_ended(row.user_id, sessions=ended)
    return {"changed": True, "sessions_ended": len(ended)}


def regenerate_recovery_codes(principal: Principal, code: str) -> dict:
    """10 new recovery codes for the caller, replacing the old ones; needs a current TOTP code."""
    row = _own_account(principal)
    step = _matching_step(row, code)
    if step is None:
        _failed(row.user_id, "totp", Forbidden("the code is wrong or was already used", field="code",
                                               code="invalid_code"))
    codes = totp.new_recovery_codes()
    hashes = [totp.recovery_code_hash(one) for one in codes]
    now = utcnow()
    with transaction() as conn:
        done = conn.execute(a.update().where(a.c.user_id == row.user_id, sa.or_(
            a.c.last_totp_step.is_(None), a.c.last_totp_step < step)).values(last_totp_step=step)).rowcount
        if not done:
            raise Forbidden("the code is wrong or was already used", field="code", code="invalid_code")
        _replace_recovery_codes(conn, row.user_id, hashes, now)
        audit.add(conn, principal, "auth.admin_recovery_codes", "user", str(row.user_id), "ok",
                  {"codes": len(codes)})
    return {"recovery_codes": codes}


def _own_account(principal: Principal):
    if principal.app_id != admin_activity.BACK_OFFICE:
        raise Forbidden("sign in to the back office with your username and password for this",
                        code="back_office_session_required")
    with transaction() as conn:
        row = conn.execute(sa.select(a).where(a.c.user_id == principal.user_id)).first()
    if row is None or row.totp_confirmed_at is None:
        raise Forbidden("you have no back-office account", code="no_admin_account")
    _refuse_if_locked(row, utcnow())
    return row


# ---- what the back office's user management calls ----------------------------------------------------

def create_account(by: Principal | None, user_id: int | None, username: str, password: str, *,
                   temporary: bool = True, roles: Iterable[str] = ()) -> dict:
    """An admin account for a user (a new user if `user_id` is None), audited. A password set by
    someone else is `temporary`: it must be changed at the first sign-in. `roles` are granted
    in the same transaction (the first super admin)."""
    name = password_rules.normal_username(username)
    refusal = password_rules.username_refusal(name)
    if refusal:
        raise ValidationFailed(refusal, field="username", code="invalid_username")
    refusal = password_rules.password_refusal(password, name)
    if refusal:
        raise ValidationFailed(refusal, field="password", code="weak_password")
    unknown = sorted(set(roles) - R.ALL)
    if unknown:
        raise ValidationFailed(f"unknown role {unknown[0]!r}", field="role")
    password_hash = passwords.hash_password(password)
    now = utcnow()
    try:
        with transaction() as conn:
            if _by_username(conn, name) is not None:
                raise Conflict(f"the username {name!r} is taken", field="username", code="username_taken")
            if user_id is None:
                user_id = int(conn.execute(t.users.insert().values(status="active", created_at=now))
                              .inserted_primary_key[0])
            elif not conn.execute(sa.select(t.users.c.id).where(t.users.c.id == user_id)).first():
                raise NotFound(f"no user {user_id}", field="user_id")
            elif conn.execute(sa.select(a.c.user_id).where(a.c.user_id == user_id)).first():
                raise Conflict(f"user {user_id} already has a back-office account", field="user_id",
                               code="account_exists")
            conn.execute(a.insert().values(
                user_id=user_id, username=name, failed_attempts=0, created_at=now,
                created_by=by.user_id if by else None,
                **_password_values(password, now, must_change=temporary, password_hash=password_hash)))
            held = set(conn.execute(sa.select(t.user_roles.c.role).where(t.user_roles.c.user_id == user_id)).scalars())
            for role in sorted(set(roles) - held):
                conn.execute(t.user_roles.insert().values(
                    user_id=user_id, role=role, granted_at=now, granted_by=by.user_id if by else None))
            audit.add(conn, by, "auth.admin_account_created", "user", str(user_id), "ok",
                      {"username": name, "temporary_password": temporary, "roles": sorted(set(roles))})
    except sa.exc.IntegrityError as exc:  # a concurrent creation won the unique key
        raise Conflict(f"the username {name!r} is taken", field="username", code="username_taken") from exc
    return {"user_id": user_id, "username": name}


def reset_password(by: Principal | None, user_id: int, temporary: str) -> dict:
    """A temporary password, to be changed at the next sign-in; the account is unlocked and every
    session of the user ends."""
    with transaction() as conn:
        row = _account(conn, user_id)
    refusal = password_rules.password_refusal(temporary, row.username)
    if refusal:
        raise ValidationFailed(refusal, field="temporary", code="weak_password")
    now = utcnow()
    values = _password_values(temporary, now, must_change=True)
    with transaction() as conn:
        conn.execute(a.update().where(a.c.user_id == user_id).values(
            failed_attempts=0, locked_until=None, challenge_id=None, **values))
        ended = _end_sessions(conn, user_id)
        audit.add(conn, by, "auth.admin_password_reset", "user", str(user_id), "ok", {"sessions_ended": len(ended)})
    sessions.rights_ended(user_id)
    return {"user_id": user_id, "must_change_password": True, "sessions_ended": len(ended)}


def reset_second_factor(by: Principal | None, user_id: int) -> dict:
    """The TOTP secret and recovery codes removed: the next sign-in enrols a new one. Every
    session of the user ends."""
    with transaction() as conn:
        _account(conn, user_id)
        conn.execute(a.update().where(a.c.user_id == user_id).values(
            totp_secret_enc=None, totp_confirmed_at=None, last_totp_step=None, challenge_id=None))
        conn.execute(t.admin_recovery_codes.delete().where(t.admin_recovery_codes.c.user_id == user_id))
        ended = _end_sessions(conn, user_id)
        audit.add(conn, by, "auth.admin_second_factor_reset", "user", str(user_id), "ok",
                  {"sessions_ended": len(ended)})
    sessions.rights_ended(user_id)
    return {"user_id": user_id, "second_factor": challenges.ENROL, "sessions_ended": len(ended)}


def unlock(by: Principal | None, user_id: int) -> dict:
    """A locked account open again, its failure count back to zero; False if it was not locked."""
    now = utcnow()
    with transaction() as conn:
        _account(conn, user_id)
        unlocked = conn.execute(a.update().where(a.c.user_id == user_id, a.c.locked_until > now)
                                .values(locked_until=None, failed_attempts=0)).rowcount
        if not unlocked:
            conn.execute(a.update().where(a.c.user_id == user_id).values(failed_attempts=0))
        audit.add(conn, by, "auth.admin_unlocked", "user", str(user_id), "ok" if unlocked else "unchanged", {})
    return {"user_id": user_id, "unlocked": bool(unlocked)}


# ---- helpers that take the caller's connection ---------------------------------------------------

def _by_username(conn, name: str):
    if password_rules.username_refusal(name):
        return None  # cannot exist; looked up anyway would cost the same, but answers the same
    return conn.execute(sa.select(a).where(a.c.username == name)).first()


def _account(conn, user_id: int):
    row = conn.execute(sa.select(a).where(a.c.user_id == user_id)).first()
    if row is None:
        raise NotFound(f"user {user_id} has no back-office account", field="user_id")
    return row


def _active(conn, user_id: int) -> bool:
    return conn.execute(sa.select(t.users.c.status).where(t.users.c.id == user_id)).scalar_one_or_none() == "active"


def _check_new_password(new_password: str, username: str, current_password: str | None) -> None:
    refusal = password_rules.password_refusal(new_password, username)
    if refusal:
        raise ValidationFailed(refusal, field="new_password", code="weak_password")
    if current_password is not None and new_password == current_password:
        raise ValidationFailed("the new password is the current one", field="new_password", code="weak_password")


def _password_values(password: str, now: dt.datetime, *, must_change: bool, password_hash: str | None = None) -> dict:
    return {"password_hash": password_hash or passwords.hash_password(password), "password_changed_at": now,
            "must_change_password": must_change}


def _replace_recovery_codes(conn, user_id: int, hashes: list[str], now: dt.datetime) -> None:
    conn.execute(t.admin_recovery_codes.delete().where(t.admin_recovery_codes.c.user_id == user_id))
    conn.execute(t.admin_recovery_codes.insert(),
                 [{"user_id": user_id, "code_hash": one, "created_at": now} for one in hashes])


def _recovery_codes_left(conn, user_id: int) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(t.admin_recovery_codes).where(
        t.admin_recovery_codes.c.user_id == user_id, t.admin_recovery_codes.c.used_at.is_(None))).scalar_one()


def _end_sessions(conn, user_id: int, keep: str | None = None) -> list[str]:
    """Revokes the user's open sessions (all but `keep`); returns their families."""
    open_ = sa.and_(t.refresh_tokens.c.user_id == user_id, t.refresh_tokens.c.revoked_at.is_(None))
    if keep:
        open_ = sa.and_(open_, t.refresh_tokens.c.family_id != keep)
    families = sorted(set(conn.execute(sa.select(t.refresh_tokens.c.family_id).where(open_)).scalars()))
    if families:
        conn.execute(t.refresh_tokens.update().where(open_).values(revoked_at=utcnow()))
    return families
