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
