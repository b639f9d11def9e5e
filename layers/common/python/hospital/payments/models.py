"""Request bodies of the payment routes."""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hospital.request_fields import ExplicitYes, multiline_text

# Finance's own words on how an abnormal order was settled, read by other staff later.
if TYPE_CHECKING:  # a str with constraints: a type checker sees the str
    ResolutionNote = str
else:
    ResolutionNote = multiline_text(max_length=200, min_length=2, strip=False)


class _Strict(BaseModel):
    # defer_build: a model's validator is built when it first validates, so a cold request pays
    # for its own model only, not for every model of the module.
    model_config = ConfigDict(extra="forbid", defer_build=True)


class NewOrder(_Strict):
    kind: Literal["registration", "outpatient"]
    his_ref: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class PayOrder(_Strict):
    # The channel's name; which names exist is the channel registry's to say (an unknown one: 400).
    channel: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,15}$")] = "wechat"
    # med_ins: the code the insurance mini-program returned after the patient authorised.
    auth_code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{4,128}$")] | None = None


class CreditEnrolment(_Strict):
    consent: ExplicitYes  # the patient ticked the agreement: nothing is enrolled without it
    consent_version: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,32}$")]


class RefundRequest(_Strict):
    # Integer fen only: a float or a yuan string is refused, never rounded.
    amount_fen: int = Field(strict=True, ge=1, le=100_000_000)
    reason: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_:-]{0,39}$")]


class Resolution(_Strict):
    resolution: ResolutionNote


class AnomalyAction(_Strict):
    # The names are hospital.payments.anomaly_rules.ACTIONS (a unit test holds them equal); which
    # of them an entry allows, and what else its body needs, are the rules' to say.
    action: Literal["query_provider", "retry_his", "refund", "resolve"]
    note: ResolutionNote | None = None  # required to resolve; kept with every action in the audit log
    # A refund's amount in integer fen; by default all that can still be refunded.
    amount_fen: int | None = Field(default=None, strict=True, ge=1, le=100_000_000)
