"""The rescue cases' store: the only code that reads or writes `rescue_cases`,
`rescue_events` (the timeline) and `rescue_locations` (location corrections), and the only
code that knows how their personal fields are encrypted (each bound to its column and case).

Functions that write take the caller's connection (a unit of work's), so the caller decides
the transaction; they never open one. Personal fields are sealed with `seal` before that
transaction opens and revealed after it closes: a KMS call then holds no lock.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

import sqlalchemy as sa

from hospital import crypto
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, NotFound
from hospital.rescue.timeline import NODES, TERMINAL, derive_status, refusal, status_after
from hospital.timeutil import utcnow


def _context(case_id: str, column: str) -> str:
    return f"rescue_cases.{column}:{case_id}"


def _encrypt(text: str | None, case_id: str, column: str) -> bytes | None:
    return None if text is None else crypto.encrypt(text, _context(case_id, column))


def _point(location) -> str:
    """What is stored of a location; its coordinate system is a column of its own."""
    return json.dumps({"latitude": location.latitude, "longitude": location.longitude,
                       "accuracy_m": location.accuracy_m})


@dataclasses.dataclass(frozen=True)
class Sealed:
    """Personal fields of one case, encrypted for it (a case row or a location correction)."""

    case_id: str
    location: bytes | None = dataclasses.field(default=None, repr=False)
    address: bytes | None = dataclasses.field(default=None, repr=False)
    complaint: bytes | None = dataclasses.field(default=None, repr=False)
    caller_phone: bytes | None = dataclasses.field(default=None, repr=False)


def seal(case_id: str, *, location=None, address_text: str | None = None, complaint: str | None = None,
         caller_phone: str | None = None) -> Sealed:
    """Encrypt a case's personal fields; `location` has latitude, longitude and accuracy_m."""
    return Sealed(
        case_id=case_id,
        location=crypto.encrypt(_point(location), _context(case_id, "location")) if location is not None else None,
        address=_encrypt(address_text, case_id, "address"),
        complaint=_encrypt(complaint, case_id, "complaint"),
        caller_phone=_encrypt(caller_phone, case_id, "caller_phone"),
    )


# --- writing -------------------------------------------------------------------------------

# Built once: a statement object costs more CPU to build than to run (its cache key is computed
# anew for each new object), so the statements of the intake and the queues' consumers are
# module constants and their values are bound at execution. Each INSERT is always given the
# same columns: its compiled form is cached per set of columns.
_INSERT_CASE = t.rescue_cases.insert()
_INSERT_NODE = t.rescue_events.insert()
_LOCK_STATUS = (sa.select(t.rescue_cases.c.status).where(t.rescue_cases.c.id == sa.bindparam("case_id"))
                .with_for_update())
_MOVE_STATUS = (t.rescue_cases.update().where(t.rescue_cases.c.id == sa.bindparam("case_id"))
                .values(status=sa.bindparam("new_status"), updated_at=sa.bindparam("now")))


def insert_case(conn, sealed: Sealed, *, source: str, coord_system: str | None, legal_basis: str,
                created_at: dt.datetime, first_node: dict, patient_user_id: int | None = None,
                intake_user_id: int | None = None, card_id: str | None = None,
                rescue_person_id: str | None = None, idempotency_key: str | None = None) -> None:
    """A new case with its first timeline node (`node`, `source`, `actor_user_id`,
    `actor_role`, `details`, `at`); its status is the one that node puts it in. A second case
    of one patient with the same idempotency key raises IntegrityError."""
    conn.execute(_INSERT_CASE, {
        "id": sealed.case_id,
        "patient_user_id": patient_user_id,
        "source": source,
        "card_id": card_id,
        "rescue_person_id": rescue_person_id,
        "coord_system": coord_system,
        "location_enc": sealed.location,
        "address_enc": sealed.address,
        "complaint_enc": sealed.complaint,
        "caller_phone_enc": sealed.caller_phone,
        "intake_user_id": intake_user_id,
        "legal_basis": legal_basis,
        "status": derive_status([first_node["node"]]),
        "idempotency_key": idempotency_key,
        "created_at": created_at,
        "updated_at": created_at,
    })
    _insert_node(conn, sealed.case_id, **first_node)


def _insert_node(conn, case_id: str, node: str, *, source: str, actor_user_id=None, actor_role=None,
                 details: dict | None = None, dedupe_key: str | None = None, at=None) -> None:
    conn.execute(_INSERT_NODE, {
        "case_id": case_id, "node": node, "occurred_at": at or utcnow(), "actor_user_id": actor_user_id,
        "actor_role": actor_role, "source": source, "details": details or {}, "dedupe_key": dedupe_key})


def append_node(conn, case_id: str, node: str, *, dedupe_key: str | None = None, **fields) -> bool:
    """Append a timeline node and move the case status; False if `dedupe_key` was seen before.
    Refused (409) when the state machine does not allow the node; 404 for no such case.

    The case row is locked first, so writers of one case queue up instead of deadlocking
    (each node insert would otherwise take a shared lock on the case through its foreign
    key, and then both would wait to update the status).
    """
    current = conn.execute(_LOCK_STATUS, {"case_id": case_id}).scalar_one_or_none()
    if current is None:
        raise NotFound(f"rescue case {case_id} does not exist")
    why_not = refusal(node, current)
    if why_not:
        raise Conflict(why_not, code="illegal_transition")
    if dedupe_key is None:
        _insert_node(conn, case_id, node, **fields)
    else:
        try:  # a savepoint, so a repeated key leaves the caller's transaction usable
            with conn.begin_nested():
                _insert_node(conn, case_id, node, dedupe_key=dedupe_key, **fields)
        except sa.exc.IntegrityError:
            return False
    # The stored status is the timeline's (every status-moving node comes through here, under
    # the row lock), so one step from it is the status of the whole timeline.
    status = status_after(current, node)
    if status != current:
        conn.execute(_MOVE_STATUS, {"case_id": case_id, "new_status": status, "now": utcnow()})
    return True


def append_informative_node(conn, case_id: str, node: str, **fields) -> None:
    """Append a node that moves no status, without the lock and the state check: a fact that
    must be on record whatever the case has become meanwhile (guidance ended on a closed case)."""
    if NODES.get(node, "unknown") is not None:
        raise ValueError(f"{node!r} moves a case's status: append it with append_node")
    _insert_node(conn, case_id, node, **fields)


def insert_location(conn, sealed: Sealed, *, coord_system: str, source: str, reported_at: dt.datetime) -> int:
    """A location correction kept beside every earlier one; returns its id."""
    return int(conn.execute(t.rescue_locations.insert().values(
        case_id=sealed.case_id, location_enc=sealed.location, coord_system=coord_system,
        address_enc=sealed.address, source=source, reported_at=reported_at)).inserted_primary_key[0])


def _record_triage_statement():
    """A delivery's result: one without a version is always recorded, one with a version unless
    a newer version's is; a None version or ref keeps the stored one."""
    c = t.rescue_cases.c
    version = sa.bindparam("version", type_=c.triage_version.type)
    ref = sa.bindparam("ref", type_=c.triage_ref.type)
    newer_or_same = sa.or_(c.triage_version.is_(None), version.is_(None), c.triage_version <= version)
    return t.rescue_cases.update().where(c.id == sa.bindparam("case_id"), newer_or_same).values(
        triage_status=sa.bindparam("delivery_status"), triage_version=sa.func.coalesce(version, c.triage_version),
        triage_ref=sa.func.coalesce(ref, c.triage_ref), triage_attempts=c.triage_attempts + 1,
        triage_error=sa.bindparam("error"), triage_updated_at=sa.bindparam("now"))


_RECORD_TRIAGE = _record_triage_statement()


def record_triage_delivery(conn, case_id: str, version: int | None, *, status: str, ref: str | None,
                           error: str | None) -> None:
    """Keep the newest delivery's status: a late result for an older version changes nothing."""
    conn.execute(_RECORD_TRIAGE, {"case_id": case_id, "version": version, "delivery_status": status, "ref": ref,
                                  "error": error, "now": utcnow()})


def patient_case_ids(conn, user_id: int) -> list[str]:
    return list(conn.execute(sa.select(t.rescue_cases.c.id).where(
        t.rescue_cases.c.patient_user_id == user_id)).scalars())


def move_patient_cases(conn, from_user_id: int, to_user_id: int, only: list[str] | None = None) -> int:
    """Hand a patient's cases (all, or `only` these) to another user; returns how many moved."""
    query = t.rescue_cases.update().where(t.rescue_cases.c.patient_user_id == from_user_id)
    if only is not None:
        query = query.where(t.rescue_cases.c.id.in_(only))
    return conn.execute(query.values(patient_user_id=to_user_id)).rowcount


# --- reading -------------------------------------------------------------------------------

_EXISTS = sa.select(t.rescue_cases.c.id).where(t.rescue_cases.c.id == sa.bindparam("case_id"))
_OWNED = _EXISTS.where(t.rescue_cases.c.patient_user_id == sa.bindparam("user_id"))
_CASE_FOR_KEY = sa.select(t.rescue_cases.c.id).where(t.rescue_cases.c.patient_user_id == sa.bindparam("user_id"),
                                                     t.rescue_cases.c.idempotency_key == sa.bindparam("key"))
_HAS_NODE = sa.select(t.rescue_events.c.id).where(t.rescue_events.c.case_id == sa.bindparam("case_id"),
                                                  t.rescue_events.c.dedupe_key == sa.bindparam("dedupe_key"))
_TIMELINE_VERSION = (sa.select(sa.func.max(t.rescue_events.c.id))
                     .where(t.rescue_events.c.case_id == sa.bindparam("case_id")))


def exists(conn, case_id: str) -> bool:
    return conn.execute(_EXISTS, {"case_id": case_id}).first() is not None


def is_owned_by(conn, case_id: str, user_id: int) -> bool:
    return conn.execute(_OWNED, {"case_id": case_id, "user_id": user_id}).first() is not None


def case_id_for_key(conn, user_id: int, idempotency_key: str) -> str | None:
    """The case a patient's earlier request with this Idempotency-Key created, if any."""
    return conn.execute(_CASE_FOR_KEY, {"user_id": user_id, "key": idempotency_key}).scalar_one_or_none()


def has_node(conn, case_id: str, *, dedupe_key: str) -> bool:
    return conn.execute(_HAS_NODE, {"case_id": case_id, "dedupe_key": dedupe_key}).first() is not None


def timeline_version(conn, case_id: str) -> int | None:
    """The id of the case's newest node: it grows with every change of the case."""
    return conn.execute(_TIMELINE_VERSION, {"case_id": case_id}).scalar_one()


def cases_still_received(conn, created_from: dt.datetime, created_until: dt.datetime, limit: int) -> list[str]:
    """Cases created in [created_from, created_until] that nothing has moved past `received`
    (not even alerted), oldest first."""
    return list(conn.execute(
        sa.select(t.rescue_cases.c.id)
        .where(t.rescue_cases.c.status == "received",
               t.rescue_cases.c.created_at <= created_until,
               t.rescue_cases.c.created_at >= created_from)
        .order_by(t.rescue_cases.c.created_at).limit(limit)).scalars().all())


@dataclasses.dataclass(frozen=True)
class TriageDelivery:
    """Where the case's link to the ED triage system stands (None: never tried)."""

    status: str | None
    version: int | None
    ref: str | None
    attempts: int
    error: str | None
    updated_at: dt.datetime | None


_TRIAGE_DELIVERY = sa.select(
    t.rescue_cases.c.triage_status, t.rescue_cases.c.triage_version, t.rescue_cases.c.triage_ref,
    t.rescue_cases.c.triage_attempts, t.rescue_cases.c.triage_error, t.rescue_cases.c.triage_updated_at,
).where(t.rescue_cases.c.id == sa.bindparam("case_id"))


def triage_delivery(conn, case_id: str) -> TriageDelivery:
    return TriageDelivery(*conn.execute(_TRIAGE_DELIVERY, {"case_id": case_id}).one())


@dataclasses.dataclass(frozen=True)
class ReportedLocation:
    """Where the case was reported to be: at intake, then each correction."""

    point: dict | None  # latitude, longitude, accuracy_m; None for a call without coordinates
    coord_system: str | None
    source: str
    reported_at: dt.datetime
    address_text: str | None


@dataclasses.dataclass(frozen=True)
class CaseData:
    """A case as stored, decrypted: its row, its timeline and every reported location."""

    case_id: str
    status: str
    source: str
    created_at: dt.datetime
    card_id: str | None
    rescue_person_id: str | None
    complaint: str | None
    locations: list[ReportedLocation]  # intake first, then the corrections in order
    nodes: list[dict]  # timeline rows, oldest first
    caller_phone: str | None = None  # only when asked for


@dataclasses.dataclass(frozen=True)
class AlertBrief:
    """What a staff member's WeChat alert tells of a case: when it came in and where (the newest
    address given, as the case view shows it). Read sealed; `address_text()` decrypts."""

    case_id: str
    created_at: dt.datetime
    intake_address: bytes | None
    latest_address: bytes | None

    def address_text(self) -> str | None:
        context = _context(self.case_id, "address")
        return crypto.decrypt_text(self.latest_address, context) or crypto.decrypt_text(self.intake_address, context)


_CASE_BRIEF = (sa.select(t.rescue_cases.c.created_at, t.rescue_cases.c.address_enc)
               .where(t.rescue_cases.c.id == sa.bindparam("case_id")))
_LATEST_ADDRESS = (sa.select(t.rescue_locations.c.address_enc)
                   .where(t.rescue_locations.c.case_id == sa.bindparam("case_id"))
                   .order_by(t.rescue_locations.c.id.desc()).limit(1))


_CREATED_AT = sa.select(t.rescue_cases.c.created_at).where(t.rescue_cases.c.id == sa.bindparam("case_id"))


def created_at(conn, case_id: str) -> dt.datetime:
    """In the caller's transaction: when the case was taken in."""
    return conn.execute(_CREATED_AT, {"case_id": case_id}).scalar_one()


def alert_brief(conn, case_id: str) -> AlertBrief:
    """In the caller's transaction: two narrow reads instead of the whole case and timeline."""
    case = conn.execute(_CASE_BRIEF, {"case_id": case_id}).first()
    if case is None:
        raise NotFound("no such rescue case", field="case_id")
    latest = conn.execute(_LATEST_ADDRESS, {"case_id": case_id}).scalar_one_or_none()
    return AlertBrief(case_id, case.created_at, case.address_enc, latest)


_CASE = sa.select(t.rescue_cases).where(t.rescue_cases.c.id == sa.bindparam("case_id"))
_OWNED_CASE = _CASE.where(t.rescue_cases.c.patient_user_id == sa.bindparam("owner_user_id"))
_NODES = (sa.select(t.rescue_events).where(t.rescue_events.c.case_id == sa.bindparam("case_id"))
          .order_by(t.rescue_events.c.id))
_CORRECTIONS = (sa.select(t.rescue_locations).where(t.rescue_locations.c.case_id == sa.bindparam("case_id"))
                .order_by(t.rescue_locations.c.id))


def load(case_id: str, *, owner_user_id: int | None = None, caller_phone: bool = False) -> CaseData:
    """The case (only if `owner_user_id` owns it, when given; else 404), decrypted after its
    read transaction closes. The caller's phone is decrypted only when asked for."""
    with transaction() as conn:
        if owner_user_id is None:
            case = conn.execute(_CASE, {"case_id": case_id}).first()
        else:
            case = conn.execute(_OWNED_CASE, {"case_id": case_id, "owner_user_id": owner_user_id}).first()
        if case is None:
            raise NotFound("no such rescue case", field="case_id")
        events = conn.execute(_NODES, {"case_id": case_id}).all()
        corrections = conn.execute(_CORRECTIONS, {"case_id": case_id}).all()

    def located(blob, coord_system, source, at, address) -> ReportedLocation:
        return ReportedLocation(
            point=json.loads(crypto.decrypt(blob, _context(case_id, "location"))) if blob is not None else None,
            coord_system=coord_system, source=source, reported_at=at,
            address_text=crypto.decrypt_text(address, _context(case_id, "address")))

    locations = [located(case.location_enc, case.coord_system, "intake", case.created_at, case.address_enc)]
    locations += [located(c.location_enc, c.coord_system, c.source, c.reported_at, c.address_enc)
                  for c in corrections]
    return CaseData(
        case_id=case.id, status=case.status, source=case.source, created_at=case.created_at,
        card_id=case.card_id, rescue_person_id=case.rescue_person_id,
        complaint=crypto.decrypt_text(case.complaint_enc, _context(case_id, "complaint")),
        locations=locations, nodes=[e._asdict() for e in events],
        caller_phone=(crypto.decrypt_text(case.caller_phone_enc, _context(case_id, "caller_phone"))
                      if caller_phone else None),
    )


class _SealedAddress:
    """A listed case whose address stays sealed until it is shown (address_text)."""

    case_id: str
    sealed_address: bytes | None

    @property
    def has_address(self) -> bool:
        return self.sealed_address is not None

    def address_text(self) -> str | None:
        return crypto.decrypt_text(self.sealed_address, _context(self.case_id, "address"))


@dataclasses.dataclass(frozen=True)
class CaseListing(_SealedAddress):
    """One case in a patient's list. The address stays sealed until `address_text()`, so
    the list is read (and its audit written) in one transaction and decrypted after it."""

    case_id: str
    status: str
    source: str
    created_at: dt.datetime
    rescue_person_id: str | None
    sealed_address: bytes | None = dataclasses.field(repr=False)


def patient_cases(conn, user_id: int, limit: int, after: tuple[dt.datetime, str] | None = None) -> list[CaseListing]:
    """A patient's cases newest first, at most `limit`; `after` is the (created_at, id) of the
    last case of the previous page (keyset paging)."""
    c = t.rescue_cases.c
    query = sa.select(t.rescue_cases).where(c.patient_user_id == user_id)
    if after is not None:
        at, last_id = after
        query = query.where(sa.or_(c.created_at < at, sa.and_(c.created_at == at, c.id < last_id)))
    rows = conn.execute(query.order_by(c.created_at.desc(), c.id.desc()).limit(limit)).all()
    return [CaseListing(r.id, r.status, r.source, r.created_at, r.rescue_person_id, r.address_enc) for r in rows]


def first_node_times(conn, case_ids: list[str]) -> dict[str, dict[str, dt.datetime]]:
    """First time each node was reached, per case."""
    out: dict[str, dict[str, dt.datetime]] = {}
    for chunk in range(0, len(case_ids), 500):
        for case_id, node, at in conn.execute(
                sa.select(t.rescue_events.c.case_id, t.rescue_events.c.node, sa.func.min(t.rescue_events.c.occurred_at))
                .where(t.rescue_events.c.case_id.in_(case_ids[chunk:chunk + 500]))
                .group_by(t.rescue_events.c.case_id, t.rescue_events.c.node)):
            out.setdefault(case_id, {})[node] = at
    return out


def dispatches_of_cases_received(conn, received_from: dt.datetime, received_before: dt.datetime, *,
                                 vehicle_id: str | None = None, status: str | None = None,
                                 status_not_in: tuple[str, ...] = ()) -> list:
    """Every dispatch of the cases received in [received_from, received_before), in dispatch
    order, with its case's status, received time and source (the back office's records)."""
    query = (sa.select(t.dispatches.c.id, t.dispatches.c.case_id, t.dispatches.c.vehicle_id,
                       t.dispatches.c.created_at, t.dispatches.c.closed_at, t.rescue_cases.c.status,
                       t.rescue_cases.c.created_at.label("received_at"), t.rescue_cases.c.source)
             .join(t.rescue_cases, t.rescue_cases.c.id == t.dispatches.c.case_id)
             .where(t.rescue_cases.c.created_at >= received_from, t.rescue_cases.c.created_at < received_before))
    if vehicle_id:
        query = query.where(t.dispatches.c.vehicle_id == vehicle_id)
    if status_not_in:
        query = query.where(t.rescue_cases.c.status.not_in(status_not_in))
    elif status:
        query = query.where(t.rescue_cases.c.status == status)
    return conn.execute(query.order_by(t.dispatches.c.created_at)).all()


def open_dispatches_of_ended_cases(conn, limit: int) -> tuple[int, list]:
    """(how many, the latest `limit`) dispatches still open (no back_in_service) whose case has
    ended, completed or cancelled: a broken invariant (the state machine completes a
    dispatched case only once its vehicle is back in service)."""
    where = (t.rescue_cases.c.status.in_(sorted(TERMINAL)), t.dispatches.c.closed_at.is_(None))
    joined = t.dispatches.join(t.rescue_cases, t.rescue_cases.c.id == t.dispatches.c.case_id)
    count = conn.execute(sa.select(sa.func.count()).select_from(joined).where(*where)).scalar_one()
    rows = conn.execute(sa.select(t.dispatches.c.id, t.dispatches.c.case_id, t.dispatches.c.vehicle_id,
                                  t.dispatches.c.created_at, t.rescue_cases.c.status, t.rescue_cases.c.updated_at)
                        .select_from(joined).where(*where).order_by(t.dispatches.c.created_at.desc()).limit(limit)).all()
    return count, rows


@dataclasses.dataclass(frozen=True)
class OpenCase(_SealedAddress):
    """One open case in the ED consoles' list: its newest address stays sealed until
    `address_text()`, so the list and its audit record share one transaction."""

    case_id: str
    status: str
    source: str
    created_at: dt.datetime
    acknowledged_at: dt.datetime | None
    sealed_address: bytes | None = dataclasses.field(repr=False)


def open_cases(conn, limit: int) -> list[OpenCase]:
    """The cases not yet completed or cancelled, oldest first (the longest waiting leads), at
    most `limit`, each with its first acknowledgement and its address as the case view shows
    it (the newest location's, else the intake's)."""
    c = t.rescue_cases.c
    rows = conn.execute(sa.select(c.id, c.status, c.source, c.created_at, c.address_enc)
                        .where(c.status.not_in(sorted(TERMINAL)))
                        .order_by(c.created_at, c.id).limit(limit)).all()
    ids = [r.id for r in rows]
    acknowledged: dict[str, dt.datetime] = {}
    corrected: dict[str, bytes | None] = {}
    if ids:
        e, loc = t.rescue_events.c, t.rescue_locations.c
        acknowledged = dict(conn.execute(sa.select(e.case_id, sa.func.min(e.occurred_at))
                                         .where(e.case_id.in_(ids), e.node == "acknowledged")
                                         .group_by(e.case_id)).all())
        for case_id, address in conn.execute(sa.select(loc.case_id, loc.address_enc)
                                             .where(loc.case_id.in_(ids))
                                             .order_by(loc.id)):
            corrected[case_id] = address  # the last one read is the newest
    return [OpenCase(r.id, r.status, r.source, r.created_at, acknowledged.get(r.id),
                     corrected.get(r.id) or r.address_enc) for r in rows]
