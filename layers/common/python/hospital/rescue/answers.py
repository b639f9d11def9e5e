"""What the rescue routes answer with (hospital.api_contract): the case as the patient, the
consoles and the back office see it, the ambulance's track, rescue persons, the profile link,
guidance sessions and the dispatch records. Times are ISO-8601 UTC; a personal field the
caller may not see (hospital.rescue.visibility) is null."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from hospital.answer_base import Answer
from hospital.auth.answers import Session

# ---- the case -------------------------------------------------------------------------------


class CaseLocation(Answer):
    latitude: float
    longitude: float
    accuracy_m: float | None
    coord_system: str | None = Field(description="wgs84, gcj02 or bd09, as the caller's device reported it")


class ReportedLocation(Answer):
    latitude: float | None = Field(description="null for a phone call taken without coordinates, or when hidden")
    longitude: float | None
    accuracy_m: float | None
    coord_system: str | None
    source: str = Field(description="intake, or who corrected it (patient)")
    reported_at: str
    address_text: str | None


class TimelineNode(Answer):
    node: str = Field(description="call_received, alerted, acknowledged, accepted, dispatched, en_route, ...")
    at: str
    source: str
    actor_role: str | None
    details: dict[str, Any] = Field(description="what the node records; its keys depend on the node")


class Case(Answer):
    """A case as its patient sees it; the other views add to it."""

    case_id: str
    status: str = Field(description="received, alerted, accepted, decided, dispatched, ..., completed or cancelled")
    source: str = Field(description="mini_program or phone")
    created_at: str
    hospital_card_id: str | None
    rescue_person_id: str | None
    location: CaseLocation | None = Field(description="the newest reported location")
    address_text: str | None
    complaint: str | None
    timeline: list[TimelineNode]
    location_history: list[ReportedLocation] | None = Field(
        default=None, description="every reported location, intake first; present once the location was corrected")


class TriageLink(Answer):
    """How the case's delivery to the ED triage system stands."""

    status: str = Field(description="pending until a first delivery was tried")
    version: int | None
    triage_ref: str | None
    attempts: int
    error: str | None
    updated_at: str | None


class DispatchSummary(Answer):
    dispatch_id: str
    vehicle_id: str
    created_at: str
    closed_at: str | None = Field(description="when the vehicle was back in service")


class ConsoleCase(Case):
    """A case as the dispatchers, the ED and the assigned crew see it."""

    caller_phone: str | None = Field(description="only on cases taken by phone, for the roles that may see it")
    triage: TriageLink
    dispatches: list[DispatchSummary]


class AdminCase(Case):
    """A case as the back office sees it."""

    caller_phone: str | None
    caller_details_visible: bool = Field(description="whether the caller's role may see the caller's phone")
    triage: TriageLink


class CaseSummary(Answer):
    case_id: str
    status: str
    source: str
    created_at: str
    rescue_person_id: str | None
    address_text: str | None


class CasePage(Answer):
    items: list[CaseSummary]
    next_cursor: str | None = Field(description="give it as `cursor` for the next page; null on the last page")


class OpenCase(Answer):
    """A case not yet completed or cancelled, as the ED consoles list it."""

    case_id: str
    status: str
    source: str
    created_at: str
    acknowledged_at: str | None = Field(description="when the ED first acknowledged the alert; null until then")
    address_text: str | None = Field(description="the address as the case view shows it, for the roles that may see it")


class OpenCases(Answer):
    items: list[OpenCase] = Field(description="oldest first")


# ---- the ambulance --------------------------------------------------------------------------


class Position(Answer):
    latitude: float
    longitude: float
    coord_system: Literal["gcj02"] = Field(description="converted once on arrival to what WeChat's maps draw")
    accuracy_m: float | None
    speed_mps: float | None
    heading: float | None
    device_time: str
    server_time: str


class Ambulance(Answer):
    vehicle_id: str
    dispatch_closed: bool
    latest: Position | None
    track: list[Position] | None = Field(default=None, description="the points after `since`, only when it is given")


class PositionsTaken(Answer):
    accepted: int
    dropped: dict[str, int] = Field(description="points dropped, by reason")


# ---- the patient's own records ----------------------------------------------------------------


class Person(Answer):
    person_id: str
    name: str
    relation: str = Field(description="self, spouse, parent, child, sibling, relative, friend or other")
    phone: str | None
    notes: str | None
    created_at: str
    updated_at: str


class Persons(Answer):
    items: list[Person]
    limit: int = Field(description="the most rescue persons one patient may keep")


class ProfileLinkStatus(Answer):
    service_account_profile: bool = Field(description="whether the caller has a service-account profile to reuse")
    linked: bool
    consented_at: str | None


class ProfileLinked(Session):
    """Fresh sessions for the profile the caller now acts as (the old ones ended)."""

    linked_to: int = Field(description="the service-account profile's user id")


class ProfileUnlinked(Session):
    unlinked_to: int = Field(description="the caller's own user id again")
    returned: dict[str, int] = Field(description="records taken back, by kind")


# ---- the consoles and the crew ------------------------------------------------------------------


class GuidanceStarted(Answer):
    session_id: str
    case_id: str
    mode: str = Field(description="voice, video or phone")
    started_at: str


class GuidanceEnded(Answer):
    session_id: str
    case_id: str
    mode: str
    duration_s: float
    recording_ref: str | None


class DutyStatus(Answer):
    user_id: int
    on_duty: bool


# ---- the back office -----------------------------------------------------------------------------


class DispatchRecord(Answer):
    dispatch_id: str
    case_id: str
    vehicle_id: str
    source: str
    received_at: str
    dispatched_at: str
    closed_at: str | None
    outcome: str = Field(description="the case's status")
    call_to_dispatch: float | None = Field(description="seconds; null while a time point is missing")
    turn_out: float | None
    travel: float | None
    on_scene: float | None
    transport: float | None
    handover: float | None


class IntervalSummary(Answer):
    n: int
    median_s: float | None
    p90_s: float | None


class Intervals(Answer):
    call_to_dispatch: IntervalSummary
    turn_out: IntervalSummary
    travel: IntervalSummary
    on_scene: IntervalSummary
    transport: IntervalSummary
    handover: IntervalSummary


class DispatchRecords(Answer):
    from_: str = Field(alias="from")
    to: str
    count: int
    per_day: dict[str, int] = Field(description="dispatches by the local (Asia/Shanghai) day the case came in")
    per_vehicle: dict[str, int]
    intervals: Intervals
    records: list[DispatchRecord]
