"""Request bodies of the outpatient routes (validated at the edge; 400 names the field)."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from hospital.outpatient import identity_rules
from hospital.outpatient.registration_rules import hospital_day
from hospital.request_fields import ExplicitYes, single_line_text
from hospital.timeutil import utcnow

PublicId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
HisCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Mobile = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^1[3-9]\d{9}$")]


def _identity_number(value: str) -> str:
    value = identity_rules.normalise(value)
    why = identity_rules.problem(value, hospital_day(utcnow()))  # a birth today counts in the hospital's day
    if why:
        raise ValueError(why)
    return value


IdNumber = Annotated[str, AfterValidator(_identity_number)]
if TYPE_CHECKING:  # a str with constraints: a type checker sees the str
    PersonName = str
    Reason = str
else:
    PersonName = single_line_text(max_length=50)
    Reason = single_line_text(max_length=100)


class _Strict(BaseModel):
    # defer_build: a model's validator is built when it first validates, so a cold request pays
    # for its own model only, not for every model of the module.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class CardBinding(_Strict):
    """The patient's own words for the HIS archive to be found by: all three must match it."""

    name: PersonName
    id_no: IdNumber
    phone: Mobile
    consent: ExplicitYes  # the patient agreed to link the hospital's record to this WeChat user


class NewRegistration(_Strict):
    card_id: PublicId
    doctor_code: HisCode
    visit_date: dt.date
    slot_id: HisCode


class RegistrationCancellation(_Strict):
    reason: Reason | None = None


class NewSuspension(_Strict):
    doctor_code: HisCode
    visit_date: dt.date
    slot_ids: list[HisCode] = Field(default_factory=list, max_length=48)  # none: every slot of the day
    reason: Reason
