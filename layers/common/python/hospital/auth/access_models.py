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
