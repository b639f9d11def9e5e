"""Request models of the patient's links to other systems."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

CardId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class ConsentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    service: Literal["cloud_imaging", "physical_exam", "insurance_voucher"]
    card_id: CardId | None = None  # imaging and exams: the bound card (its person) the consent covers
    # The insurance e-voucher: the insurance platform's auth code, which names the person.
    auth_code: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class ConsultationLinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    dept_code: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    doctor_code: Annotated[str, StringConstraints(min_length=1, max_length=32)]


class CardRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    card_id: CardId
