"""Request models of the back office's access management."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
PermissionName = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class NewRole(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    name: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    label: Label
    permissions: Annotated[list[PermissionName], "the whole set"]


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    label: Label | None = None
    permissions: list[PermissionName] | None = None


class Assignment(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    # None: hospital-wide; a department code limits a department-reach role to it.
    department: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)] | None = None


Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class NewAccount(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    # Set by the super admin and told to the user, who must change it at the first sign-in.
    temporary_password: Password
    # An existing user (one who signed in with WeChat) gets the account; none: a new user.
    user_id: Annotated[int, "users.id"] | None = None


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    temporary_password: Password
