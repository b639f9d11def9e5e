"""Request models of the sign-in API."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]


class CodeLogin(BaseModel):
    # defer_build: built when it first validates (a cold request pays for its own model only).
    model_config = ConfigDict(extra="forbid", defer_build=True)
    code: Code


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    refresh_token: Annotated[str, StringConstraints(min_length=20, max_length=256)]


class LogoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    refresh_token: Annotated[str, StringConstraints(min_length=20, max_length=256)] | None = None


# ---- back-office sign-in ----------------------------------------------------------------------------
# Passwords are taken as typed (no stripping); the policy checks new ones (hospital.auth.password_rules).
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Challenge = Annotated[str, StringConstraints(strip_whitespace=True, min_length=20, max_length=2048)]
TotpCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{6}$")]
RecoveryCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=64)]


class AdminLogin(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    username: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
    password: Password
    new_password: Password | None = None  # when an administrator set the password


class AdminChallenge(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    challenge: Challenge


class AdminTotpConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    challenge: Challenge
    code: TotpCode


class AdminVerify(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    challenge: Challenge
    code: TotpCode | None = None
    recovery_code: RecoveryCode | None = None


class AdminPasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    current_password: Password
    new_password: Password


class AdminRecoveryCodes(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    code: TotpCode
