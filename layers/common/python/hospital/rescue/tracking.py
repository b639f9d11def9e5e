"""Ambulance tracking (ER6): the crew's app posts batches of GPS points; they are converted
once to GCJ-02 (what WeChat's maps draw), physically impossible jumps and device times
outside the dispatch (before it began, or ahead of the server's clock) are dropped and
counted, and the patient of the case can read the latest position and the track since a
time, so a missed live push loses nothing.

The newest position is pushed to the patient and the ED consoles straight after the points
are committed, not through the rescue-events queue: a push is only a hint (the track is in
the database and readable), so it needs no outbox, and the queue hop cost each point three
SQS calls and a consumer run, which at a hundred ambulances was most of the work.

The push carries the vehicle's newest point as the batch stored it, and goes to the listeners
read in the points' own transaction: no read after the commit, nothing to decrypt. Batches of
one vehicle are stored one at a time (its row lock), each newer than the last, but their pushes
travel apart, so a client shows the newest device_time it has heard of.

The entries (`record_positions`, `ambulance_for_patient`, `ambulance_for_console`) open one transaction each, push and
decrypt what they show after it closed; `store_batch` and the readers take the caller's
connection.
"""
from __future__ import annotations

import datetime as dt
import json
import logging

import sqlalchemy as sa

from hospital import crypto, geo
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Forbidden, NotFound
from hospital.rescue import case_store
from hospital.timeutil import iso_utc, utcnow

POSITION_MESSAGE = "rescue.vehicle_position"
log = logging.getLogger("hospital.rescue")


def _ctx(vehicle_id: str) -> str:
    return f"vehicle_positions.location:{vehicle_id}"


def record_positions(staff, vehicle_id: str, batch) -> dict:
    """Store the plausible points of a batch; only the crew of the vehicle's open dispatch may post."""
    from hospital import live

    incoming = [geo.TrackPoint(p.latitude, p.longitude, p.coord_system, p.accuracy_m, p.speed_mps, p.heading,
                               p.device_time) for p in batch.points]
    now = utcnow()
    listening: list = []
    with transaction() as conn:
        case_id, kept, dropped = store_batch(conn, staff, vehicle_id, incoming, now)
        channels = [live.case_channel(case_id), live.ED_CONSOLE]
        if kept:
            listening = live.listeners(conn, channels)
    if listening:
        _push(case_id, vehicle_id, kept[-1], now, listening, channels)
    reasons: dict[str, int] = {}
    for _, reason in dropped:
        reasons[reason] = reasons.get(reason, 0) + 1
    return {"accepted": len(kept), "dropped": reasons}


# Built once, as every post runs them: a statement costs more CPU to build than to run (its
# cache key is computed anew for each new object); the values are bound at execution.
_LOCK_VEHICLE = sa.select(t.vehicles.c.id).where(t.vehicles.c.id == sa.bindparam("vehicle_id")).with_for_update()
_CREWED_OPEN_DISPATCH = (
    sa.select(t.dispatches.c.id, t.dispatches.c.case_id, t.dispatches.c.created_at)
    .join(t.dispatch_crew, t.dispatch_crew.c.dispatch_id == t.dispatches.c.id)
    .where(t.dispatches.c.vehicle_id == sa.bindparam("vehicle_id"), t.dispatches.c.closed_at.is_(None),
           t.dispatch_crew.c.user_id == sa.bindparam("user_id")))
_LAST_POINT = (
    sa.select(t.vehicle_positions)
    .where(t.vehicle_positions.c.vehicle_id == sa.bindparam("vehicle_id"),
           t.vehicle_positions.c.dispatch_id == sa.bindparam("dispatch_id"),
           t.vehicle_positions.c.device_time <= sa.bindparam("not_after"))
    .order_by(t.vehicle_positions.c.device_time.desc(), t.vehicle_positions.c.id.desc())
    .limit(1))
_INSERT_POSITION = t.vehicle_positions.insert()
_COUNT_DROPPED = (t.vehicles.update().where(t.vehicles.c.id == sa.bindparam("vehicle_id"))
                  .values(dropped_points=t.vehicles.c.dropped_points + sa.bindparam("dropped")))


def store_batch(conn, staff, vehicle_id: str, incoming: list[geo.TrackPoint], now):
    """In the caller's transaction, under the vehicle's row lock: the batch's plausible points
    for the open dispatch the poster crews. Returns (the case's id, the points kept in time
    order, the points dropped with their reasons)."""
    vehicle = conn.execute(_LOCK_VEHICLE, {"vehicle_id": vehicle_id}).first()  # one batch of a vehicle at a time
    if vehicle is None:
        raise NotFound("no such vehicle", field="vehicle_id")
    dispatch = conn.execute(_CREWED_OPEN_DISPATCH, {"vehicle_id": vehicle_id, "user_id": staff.user_id}).first()
    if dispatch is None:
        raise Forbidden("only the crew of this vehicle's open dispatch may post its positions",
                        code="not_vehicle_crew")
    not_before, not_after = geo.time_window(_aware(dispatch.created_at), _aware(now))
    kept, dropped = geo.filter_track(_last_point(conn, vehicle_id, dispatch.id, not_after), incoming,
                                     not_before=not_before, not_after=not_after)
    for point in kept:
        gcj = geo.to_gcj02(point.point)
        conn.execute(_INSERT_POSITION, {
            "vehicle_id": vehicle_id, "dispatch_id": dispatch.id,
            "location_enc": crypto.encrypt(json.dumps({"latitude": gcj.latitude, "longitude": gcj.longitude}),
                                           _ctx(vehicle_id)),
            "reported_coord_system": point.coord_system, "accuracy_m": point.accuracy_m,
            "speed_mps": point.speed_mps, "heading": point.heading, "device_time": _naive_utc(point.device_time),
            "server_time": now})
    if dropped:
        conn.execute(_COUNT_DROPPED, {"vehicle_id": vehicle_id, "dropped": len(dropped)})
    return dispatch.case_id, kept, dropped


def _push(case_id: str, vehicle_id: str, newest: geo.TrackPoint, stored_at: dt.datetime, listening: list,
          channels: list[str]) -> None:
    """The newest point just stored, live to the case's patient and the ED consoles, with no
    transaction open. Never fails the caller: the points are stored and readable over HTTP."""
    from hospital import live

    gcj = geo.to_gcj02(newest.point)
    position = {"latitude": gcj.latitude, "longitude": gcj.longitude, "coord_system": geo.GCJ02,
                "accuracy_m": newest.accuracy_m, "speed_mps": newest.speed_mps, "heading": newest.heading,
                "device_time": iso_utc(_naive_utc(newest.device_time)), "server_time": iso_utc(stored_at)}
    try:
        live.deliver(listening, {"type": POSITION_MESSAGE, "case_id": case_id, "vehicle_id": vehicle_id,
                                 "position": position}, channels)
    except Exception as exc:  # noqa: BLE001 - a lost hint, not lost data
        log.warning("live position push failed", extra={"case_id": case_id, "error": type(exc).__name__})


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _aware(stored: dt.datetime) -> dt.datetime:
    return stored.replace(tzinfo=dt.UTC)


def _shown_until() -> dt.datetime:
    """The newest device time shown: a point stored further ahead (kept before such points
    were refused) is never the patient's latest position."""
    return utcnow() + geo.MAX_AHEAD_OF_SERVER


def _last_point(conn, vehicle_id: str, dispatch_id: str, not_after: dt.datetime) -> geo.TrackPoint | None:
    """The dispatch's newest plausible point: each dispatch starts afresh, so the end of the
    vehicle's previous trip cannot make this one look out of order or like a jump."""
    row = conn.execute(_LAST_POINT, {"vehicle_id": vehicle_id, "dispatch_id": dispatch_id,
                                     "not_after": _naive_utc(not_after)}).first()
    if row is None:
        return None
    loc = json.loads(crypto.decrypt(row.location_enc, _ctx(vehicle_id)))
    return geo.TrackPoint(loc["latitude"], loc["longitude"], geo.GCJ02, row.accuracy_m, row.speed_mps, row.heading,
                          _aware(row.device_time))


def ambulance_for_patient(principal, case_id: str, since: dt.datetime | None = None) -> dict:
    """The case's ambulance: latest position, and the track since `since` when asked.
    Only the patient who owns the case; 404 otherwise (and when nothing was dispatched)."""
    with transaction() as conn:
        if not case_store.is_owned_by(conn, case_id, principal.user_id):
            raise NotFound("no such rescue case", field="case_id")
        dispatch, latest, track = _latest_dispatch_track(conn, case_id, since)
    return _ambulance(dispatch, latest, track, since)


def ambulance_for_console(case_id: str, since: dt.datetime | None = None) -> dict:
    """The same for the ED consoles and dispatchers (who may see every case): the track they
    draw after a reload or a lost connection, where the live pushes were missed."""
    with transaction() as conn:
        if not case_store.exists(conn, case_id):
            raise NotFound("no such rescue case", field="case_id")
        dispatch, latest, track = _latest_dispatch_track(conn, case_id, since)
    return _ambulance(dispatch, latest, track, since)


def _latest_dispatch_track(conn, case_id: str, since: dt.datetime | None):
    """In the caller's transaction: the case's newest dispatch, its latest position and its
    points after `since` (none unless asked); 404 when nothing was dispatched."""
    dispatch = conn.execute(sa.select(t.dispatches).where(t.dispatches.c.case_id == case_id)
                            .order_by(t.dispatches.c.created_at.desc()).limit(1)).first()
    if dispatch is None:
        raise NotFound("no ambulance has been dispatched to this case yet", field="case_id")
    query = sa.select(t.vehicle_positions).where(t.vehicle_positions.c.dispatch_id == dispatch.id,
                                                 t.vehicle_positions.c.device_time <= _shown_until())
    latest = conn.execute(query.order_by(t.vehicle_positions.c.device_time.desc()).limit(1)).first()
    track = []
    if since is not None:
        track = conn.execute(query.where(t.vehicle_positions.c.device_time > _naive_utc(since))
                             .order_by(t.vehicle_positions.c.device_time).limit(2000)).all()
    return dispatch, latest, track


def _ambulance(dispatch, latest, track, since) -> dict:
    """Decrypted after the read closed."""
    return {
        "vehicle_id": dispatch.vehicle_id,
        "dispatch_closed": dispatch.closed_at is not None,
        "latest": _point(latest) if latest is not None else None,
        **({"track": [_point(r) for r in track]} if since is not None else {}),
    }


def _point(row) -> dict:
    loc = json.loads(crypto.decrypt(row.location_enc, _ctx(row.vehicle_id)))
    return {"latitude": loc["latitude"], "longitude": loc["longitude"], "coord_system": geo.GCJ02,
            "accuracy_m": row.accuracy_m, "speed_mps": row.speed_mps, "heading": row.heading,
            "device_time": iso_utc(row.device_time), "server_time": iso_utc(row.server_time)}
