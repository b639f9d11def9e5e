"""Request models of the rescue API (validated at the edge; 400 names the field)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from hospital.request_fields import ExplicitYes, PlausibleInstant, multiline_text, single_line_text
from hospital.text import MAX_ID

PublicId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
# Free text a crew or the ED reads: no hidden characters (hospital.text); notes may run over lines.
if TYPE_CHECKING:  # each is a str with constraints: a type checker sees the str
    Address = str
    Complaint = str
    PersonName = str
    Notes = str
else:
    Address = single_line_text(max_length=200)
    Complaint = multiline_text(max_length=500)
    PersonName = single_line_text(max_length=50)
    Notes = multiline_text(max_length=500)

COORD_SYSTEMS = ("wgs84", "gcj02", "bd09")


class _Strict(BaseModel):
    # defer_build: a model's validator is built when it first validates, so a cold request pays
    # for its own model only, not for every model of the module.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, defer_build=True)


class Location(_Strict):
    latitude: float = Field(ge=-90, le=90, strict=True)
    longitude: float = Field(ge=-180, le=180, strict=True)
    # wx.getLocation gives WGS-84 by default, map components GCJ-02: we store which.
    coord_system: Literal["wgs84", "gcj02", "bd09"]
    accuracy_m: float | None = Field(default=None, gt=0, le=100_000, strict=True)


class CaseIntake(_Strict):
    hospital_card_id: PublicId | None = None
    rescue_person_id: PublicId | None = None
    location: Location
    address_text: Address | None = None
    complaint: Complaint | None = None


RELATIONS = ("self", "spouse", "parent", "child", "sibling", "relative", "friend", "other")
# Mainland mobile, or a landline with area code.
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")]


class RescuePersonIn(_Strict):
    """One of "my rescue persons" (ER10): who may need help, and what a crew must know."""

    name: PersonName
    relation: Literal["self", "spouse", "parent", "child", "sibling", "relative", "friend", "other"]
    phone: Phone | None = None
    notes: Notes | None = None


class LocationCorrection(_Strict):
    """The caller moves the pin while the case is open (ER5)."""

    location: Location
    address_text: Address | None = None


class Cancellation(_Strict):
    # Codes, not free text: a reason typed in distress may carry health details we need not keep.
    reason: Literal["recovered", "mistaken_call", "own_transport", "duplicate", "other"]


class PhoneIntake(_Strict):
    """A 120 phone call entered by the dispatcher (ER5)."""

    caller_phone: Phone
    address_text: Address
    complaint: Complaint
    location: Location | None = None


class Decision(_Strict):
    dispatch: StrictBool
    # Codes, so statistics can count them and no free-text health details are kept.
    reason: Literal["life_threatening", "urgent", "non_urgent_transport", "advice_given",
                    "own_transport", "not_an_emergency", "duplicate", "other"]


class DispatchOrder(_Strict):
    vehicle_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,32}$")]
    # JSON whole numbers only: true is not user 1, "5" not user 5.
    crew_user_ids: Annotated[list[Annotated[int, Field(strict=True, gt=0, le=MAX_ID)]],
                             Field(min_length=1, max_length=6)]


class TripStep(_Strict):
    node: Literal["en_route", "on_scene", "patient_contact", "left_scene", "at_hospital", "handed_over",
                  "back_in_service"]
    with_patient: StrictBool | None = None  # on left_scene: transporting, or leaving without the patient


class Empty(_Strict):
    pass


class GpsPoint(_Strict):
    latitude: float = Field(ge=-90, le=90, strict=True)
    longitude: float = Field(ge=-180, le=180, strict=True)
    coord_system: Literal["wgs84", "gcj02", "bd09"]
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000, strict=True)
    speed_mps: float | None = Field(default=None, ge=0, le=200, strict=True)
    heading: float | None = Field(default=None, ge=0, lt=360, strict=True)
    device_time: PlausibleInstant


class PositionBatch(_Strict):
    points: Annotated[list[GpsPoint], Field(min_length=1, max_length=120)]


class GuidanceStart(_Strict):
    mode: Literal["voice", "video", "phone"]


class GuidanceEnd(_Strict):
    # A reference to where the call recording is kept (object key or PBX call id), never the media.
    recording_ref: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_./:-]{1,256}$")] | None = None


class Duty(_Strict):
    on_duty: StrictBool  # on duty: new cases reach this person by WeChat subscribe message


class ProfileLinkConsent(_Strict):
    # Only an explicit yes links: anything else is a 400 naming this field.
    consent: ExplicitYes
