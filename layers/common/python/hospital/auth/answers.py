"""What the sign-in and access-management routes answer with (hospital.api_contract): sessions,
the back-office sign-in's steps, roles, users and what they hold. Times are ISO-8601 UTC."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from hospital.answer_base import Answer

# ---- sessions (hospital.auth.sessions) -------------------------------------------------------------


class SessionUser(Answer):
    id: int
    roles: list[str] = Field(description="the roles held at sign-in, for the client's information; "
                                         "what the user may do is read afresh on every call")


class Session(Answer):
    access_token: str = Field(description="a short-lived bearer token for the Authorization header")
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="seconds until the access token runs out")
    refresh_token: str = Field(description="used once, at POST /auth/refresh, for the next session")
    user: SessionUser


class EnrolledSession(Session):
    recovery_codes: list[str] = Field(description="10 one-time codes for when the authenticator is lost; "
                                                  "shown this once")


class VerifiedSession(Session):
    recovery_codes_left: int | None = Field(
        default=None, description="how many recovery codes are left; only when one was used to sign in")


class SignedOut(Answer):
    signed_out: bool


class Me(Answer):
    user_id: int
    roles: list[str]
    app_id: str | None = Field(description="the app the session was signed in through (back_office for "
                                           "the back office), None for a session of no app")
    permissions: list[str] = Field(description="what the caller may do in this session")
    needs_second_factor: list[str] = Field(
        description="permissions held through a role but usable only in a back-office session")


# ---- back-office sign-in (hospital.auth.admin_accounts) --------------------------------------------


class SignInChallenge(Answer):
    second_factor: Literal["totp", "enrol"] = Field(
        description="totp: send a code to /auth/admin/login/verify; enrol: set one up first")
    challenge: str = Field(description="carries the sign-in to its next step; used once")
    expires_in: int = Field(description="seconds the challenge stays valid")


class TotpEnrolment(Answer):
    secret: str = Field(description="the new TOTP secret (base32), shown until one is confirmed")
    otpauth_uri: str = Field(description="the secret as an otpauth:// URI, for a QR code")
    issuer: str
    digits: int
    period: int = Field(description="seconds per code")


class PasswordChanged(Answer):
    changed: bool
    sessions_ended: int = Field(description="the caller's other sessions, ended")


class RecoveryCodes(Answer):
    recovery_codes: list[str] = Field(description="10 new one-time codes, replacing the old ones; shown this once")


# ---- access management (hospital.auth.access) ------------------------------------------------------


class PermissionInfo(Answer):
    name: str
    description: str
    reach: Literal["own", "hospital", "department"] = Field(
        description="own: the caller's own data; hospital: hospital-wide work; department: a department's "
                    "data, narrowed by a role's department")


class PermissionCatalogue(Answer):
    permissions: list[PermissionInfo]


class Role(Answer):
    name: str
    label: str
    builtin: bool = Field(description="a built-in role, which cannot be deleted")
    permissions: list[str]
    holders: int = Field(description="how many users hold the role")
    updated_at: str
    updated_by: int | None = Field(description="the user who last changed it; None for the seed or an operator")


class RoleList(Answer):
    roles: list[Role]


class Grant(Answer):
    role: str
    department: str | None = Field(description="the one department the role is limited to; None: hospital-wide")
    granted_at: str
    granted_by: int | None


class AdminAccount(Answer):
    username: str
    second_factor: bool = Field(description="whether a TOTP second factor is set up")
    must_change_password: bool = Field(description="a temporary password, to be changed at the next sign-in")
    locked_until: str | None
    failed_attempts: int


class User(Answer):
    user_id: int
    status: Literal["active", "disabled", "merged"]
    roles: list[Grant]
    account: AdminAccount | None = Field(description="the back-office sign-in, if the user has one")


class RoleWithHolders(Role):
    users: list[User] = Field(description="the holders, by user id, up to limit")


class UserList(Answer):
    users: list[User]


class SessionsRevoked(Answer):
    revoked_sessions: int = Field(description="how many sessions were open")


class PasswordResetDone(Answer):
    user_id: int
    must_change_password: bool
    sessions_ended: int


class SecondFactorReset(Answer):
    user_id: int
    second_factor: Literal["enrol"] = Field(description="the next sign-in enrols a new second factor")
    sessions_ended: int


class Unlocked(Answer):
    user_id: int
    unlocked: bool = Field(description="False when the account was not locked")
