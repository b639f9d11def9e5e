"""The signed token that carries a back-office sign-in from the password to the second factor.

It names the user, the step ("totp" or "enrol") and its own id; it lasts 5 minutes. The
account keeps the id of the one challenge it last issued, and a sign-in that succeeds clears
it, so a challenge is used once and a newer sign-in voids the older one.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from hospital import config, settings
from hospital.errors import Unauthenticated

ISSUER = "hospital-backend"
AUDIENCE = "hospital-admin-sign-in"  # never accepted as a session token (that audience differs)
TTL_SECONDS = 300
TOTP, ENROL = "totp", "enrol"


@dataclasses.dataclass(frozen=True)
class Challenge:
    user_id: int
    step: str
    challenge_id: str


def new_id() -> str:
    return uuid.uuid4().hex


def issue(user_id: int, step: str, challenge_id: str, now: dt.datetime | None = None) -> str:
    import jwt

    now = now or dt.datetime.now(dt.UTC)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": str(user_id), "step": step, "jti": challenge_id,
              "iat": now, "exp": now + dt.timedelta(seconds=TTL_SECONDS)}
    return jwt.encode(claims, _key(), algorithm="HS256")


def read(token: str, step: str) -> Challenge:
    """The challenge a token carries, for this step; 401 naming `challenge` if it is not one."""
    import jwt

    try:
        claims = jwt.decode(token, _key(), algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER,
                            options={"require": ["exp", "iat", "sub", "aud", "iss", "jti"]}, leeway=5)
        user_id = int(claims["sub"])
    except jwt.ExpiredSignatureError as exc:
        raise Unauthenticated("this sign-in took longer than 5 minutes; start again with your password",
                              field="challenge", code="challenge_expired") from exc
    except (jwt.PyJWTError, TypeError, ValueError) as exc:
        raise invalid() from exc
    if claims.get("step") != step:
        raise invalid()
    return Challenge(user_id, step, str(claims["jti"]))


def invalid() -> Unauthenticated:
    return Unauthenticated("this sign-in step is not valid (used, replaced or altered); start again with your "
                           "password", field="challenge", code="invalid_challenge")


def _key() -> str:
    return config.secret_value(settings.APP_SECRET_ARN, "session_signing_key")
