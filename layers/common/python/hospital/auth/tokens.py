"""The backend's own session tokens.

Access tokens are short-lived signed JWTs (HS256, key from Secrets Manager) checked
without a database read on every call. Refresh tokens are opaque random strings stored
only as hashes; each use rotates them, and a reused one revokes its whole family (a
stolen copy stops working for both holders).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets
import uuid

from hospital import config, settings
from hospital.errors import Unauthenticated

ISSUER = "hospital-backend"
AUDIENCE = "hospital-api"


@dataclasses.dataclass(frozen=True)
class Principal:
    user_id: int
    roles: frozenset[str]
    app_id: str | None = None
    # The refresh-token family the access token was issued in (revoking it ends the session
    # everywhere), and when the access token runs out; None for principals not from a token.
    session_id: str | None = None
    expires_at: dt.datetime | None = dataclasses.field(default=None, compare=False)
    # What the user may do now, read with their standing (hospital.auth.standing): the token
    # carries roles for the client's information only.
    permissions: frozenset[str] = frozenset()
    grants: tuple = dataclasses.field(default=(), compare=False)  # hospital.auth.permissions.Grant
    # Held through a role, but not usable in this session (back-office work needs a second factor).
    withheld: frozenset[str] = frozenset()
    # How the user signed in, as the token's "amr" claim: ("wechat",), ("pwd", "otp"), ...
    auth_method: tuple[str, ...] | None = None

    def has_any(self, roles) -> bool:
        return bool(self.roles & frozenset(roles))

    def may(self, permission: str) -> bool:
        return permission in self.permissions

    def departments(self, permission: str) -> frozenset[str] | None:
        """Where the caller may use `permission`: None for everywhere, else these departments."""
        from hospital.auth.permissions import departments

        return departments(self.grants, permission)


def access_ttl() -> int:
    return settings.SESSION_TTL_SECONDS.get()


def refresh_ttl() -> dt.timedelta:
    return dt.timedelta(days=settings.REFRESH_TTL_DAYS.get())


def _signing_key() -> str:
    return config.secret_value(settings.APP_SECRET_ARN, "session_signing_key")


def issue_access_token(principal: Principal, now: dt.datetime | None = None) -> str:
    import jwt

    now = now or dt.datetime.now(dt.UTC)
    claims: dict = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(principal.user_id),
        "roles": sorted(principal.roles),
        "app": principal.app_id,
        "iat": now,
        "exp": now + dt.timedelta(seconds=access_ttl()),
        "jti": uuid.uuid4().hex,
    }
    if principal.session_id:
        claims["sid"] = principal.session_id
    if principal.auth_method:
        claims["amr"] = list(principal.auth_method)
    return jwt.encode(claims, _signing_key(), algorithm="HS256")


def verify_access_token(token: str) -> Principal:
    import jwt

    try:
        claims = jwt.decode(
            token,
            _signing_key(),
            algorithms=["HS256"],  # pinned: never let the token choose its algorithm
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            leeway=5,
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("session expired; refresh it", code="session_expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthenticated("session token is invalid", code="invalid_session") from exc
    try:
        user_id = int(claims["sub"])
    except (TypeError, ValueError) as exc:
        raise Unauthenticated("session token is invalid", code="invalid_session") from exc
    session_id = claims.get("sid")
    amr = claims.get("amr")
    return Principal(user_id=user_id, roles=frozenset(claims.get("roles") or ()), app_id=claims.get("app"),
                     session_id=str(session_id) if session_id else None,
                     expires_at=dt.datetime.fromtimestamp(int(claims["exp"]), dt.UTC),
                     auth_method=tuple(str(method) for method in amr) if isinstance(amr, list) else None)


def new_refresh_token() -> tuple[str, str]:
    """(token for the client, hash we store)."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    # High-entropy random token: a plain SHA-256 is enough, no slow password hash needed.
    return hashlib.sha256(token.encode()).hexdigest()
