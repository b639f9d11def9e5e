"""Request bodies of the reconciliation back office."""
from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, field_validator

from hospital import timeutil


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)

    date: dt.date

    @field_validator("date")
    @classmethod
    def _plausible(cls, value: dt.date) -> dt.date:
        if not timeutil.is_plausible_date(value):
            raise ValueError(f"must be a date from {timeutil.EARLIEST_DATE} to {timeutil.LATEST_DATE}")
        return value
