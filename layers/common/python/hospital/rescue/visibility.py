"""Who sees which personal fields of a rescue case (EA3, ES1, NF1), and the audit record of
every answer or push that shows any of them (the patient's own reads included).

Each role sees only what its work needs: the dispatcher calls back and sends the ambulance,
the ED nurse prepares the department and gives phone guidance, the crew finds and calls the
caller, the super admin answers for the service; the front desk, finance and IT
administration need none. The patient sees their own cases (the caller's phone exists only
on cases a dispatcher took by phone, which have no patient). The README's visibility table
is this table; a test reads both and walks the routes with every role.

Pure rules, no I/O, except `record_shown`, which writes into the caller's transaction.
"""
from __future__ import annotations

import dataclasses

from hospital.auth import roles as R

LOCATION, ADDRESS, COMPLAINT, CALLER_PHONE = "location", "address_text", "complaint", "caller_phone"
FIELDS = (LOCATION, ADDRESS, COMPLAINT, CALLER_PHONE)
_ALL = frozenset(FIELDS)

BY_ROLE: dict[str, frozenset[str]] = {
    R.PATIENT: frozenset({LOCATION, ADDRESS, COMPLAINT}),  # their own cases only
    R.DISPATCHER: _ALL,
    R.ED_NURSE: _ALL,
    R.STAFF: _ALL,  # the crew of the case's dispatch only (see rescue.dispatch.CREW_GRACE)
    R.FRONT_DESK: frozenset(),  # sees no rescue case at all
    R.FINANCE: frozenset(),
    R.IT_ADMIN: frozenset(),
    R.SUPER_ADMIN: _ALL,
}
# The new-case alert goes live to the ED consoles (holders of rescue.console), which may see it all.
ED_ALERT_ROLES = frozenset({R.DISPATCHER, R.ED_NURSE})
# The WeChat alert of a new case tells the on-duty staff the start of the address, nothing
# else, so the crew on duty knows where to head before a dispatcher assigns anyone
# (rescue.notify).
ON_DUTY_ROLES = frozenset({R.STAFF, R.ED_NURSE})

VIEWED = "rescue.personal_data_viewed"
PUSHED = "rescue.personal_data_pushed"


def fields_for(roles, *, own_case: bool = False, assigned_crew: bool = False) -> frozenset[str]:
    """The personal fields a caller with `roles` may see of one case. The patient role counts
    only on the caller's own case, the staff role only for the crew assigned to it."""
    visible: frozenset[str] = frozenset()
    for role in roles:
        if (role == R.PATIENT and not own_case) or (role == R.STAFF and not assigned_crew):
            continue
        visible |= BY_ROLE.get(role, frozenset())
    return visible


def redact(view: dict, visible: frozenset[str]) -> dict:
    """The case view with every personal field outside `visible` set to None (the location
    history too: each entry keeps only what may be seen)."""
    out = {**view}
    for name in FIELDS:
        if name in out and name not in visible:
            out[name] = None
    if "location_history" in out:
        if LOCATION not in visible and ADDRESS not in visible:
            del out["location_history"]
        else:
            out["location_history"] = [_redact_point(point, visible) for point in out["location_history"]]
    return out


def _redact_point(point: dict, visible: frozenset[str]) -> dict:
    out = {**point}
    if LOCATION not in visible:
        out.update(latitude=None, longitude=None, accuracy_m=None)
    if ADDRESS not in visible:
        out["address_text"] = None
    return out


def shown(view: dict) -> list[str]:
    """The personal fields a view actually carries a value for."""
    present = {name for name in FIELDS if view.get(name) not in (None, "")}
    for point in view.get("location_history") or ():
        if point.get("latitude") is not None:
            present.add(LOCATION)
        if point.get("address_text"):
            present.add(ADDRESS)
    return [name for name in FIELDS if name in present]


def granting_roles(roles, visible: frozenset[str], *, own_case: bool = False, assigned_crew: bool = False) -> list[str]:
    """The caller's roles under which the shown fields are visible (for the audit record)."""
    return sorted(role for role in roles
                  if visible & fields_for({role}, own_case=own_case, assigned_crew=assigned_crew))


@dataclasses.dataclass(frozen=True)
class Disclosure:
    """Personal fields of a case pushed to people (for the audit record of the push)."""

    fields: list[str]
    roles: list[str]
    recipients: list[int]


def pushed(summary: dict, roles, recipients: list[int]) -> Disclosure | None:
    """The disclosure of pushing `summary` to `recipients`, or None if it showed nothing."""
    fields = shown(summary)
    return Disclosure(fields, sorted(roles), recipients) if fields and recipients else None


def record_pushed(conn, case_id: str, disclosure: Disclosure) -> None:
    record_shown(conn, None, case_id, disclosure.fields, disclosure.roles, action=PUSHED,
                 recipients=disclosure.recipients)


def record_shown(conn, actor, case_id: str | None, fields: list[str], roles: list[str], action: str = VIEWED,
                 recipients: list[int] | None = None, target_type: str = "rescue_case",
                 targets: list[str] | None = None) -> None:
    """One audit record: who (actor, or the recipients of a push), under which role, which
    case or person (or, for a list, `targets`), which fields; `audit_log.at` says when."""
    from hospital import audit

    details: dict = {"fields": fields, "roles": roles}
    if recipients is not None:
        details["recipients"] = sorted(set(recipients))
    if targets is not None:
        details["targets"] = targets
    audit.add(conn, actor, action, target_type, case_id, "ok", details)


def record_own(conn, patient, target_type: str, target_id: str | None, fields: list[str],
               targets: list[str] | None = None) -> None:
    """A patient's own record shown to them (a case, a list of cases, a rescue person)."""
    if fields:
        record_shown(conn, patient, target_id, fields, [R.PATIENT], target_type=target_type, targets=targets)
