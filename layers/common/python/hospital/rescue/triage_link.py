"""The link to the ED triage system (ER7).

Every change of a case that the ED cares about (new, location corrected, status moved) puts
a "triage" message on its own queue; its consumer pushes the case's whole current picture,
versioned by the case's latest timeline node id, so a late or repeated push can never
overwrite newer data at the ED. Transport failures are retried with growing delays and end
in the DLQ; a refusal (4xx) is not retried. The delivery status is kept on the case, so a
failed link is visible to dispatchers and the back office, not silent.

`deliver` (the consumer's entry) reads the case, pushes it with no transaction open, and
records the result in a transaction of its own; `status_of` reads in the caller's.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa

from hospital import config, geo, settings
from hospital.db import tables as t
from hospital.db import transaction
from hospital.rescue import case_store, views
from hospital.timeutil import iso_utc

log = logging.getLogger("hospital.triage")
MAX_RECEIVES = 8  # the TriageQueue's maxReceiveCount: the last try marks the link failed


def _api():
    from hospital.adapters.triage import TriageApi

    return TriageApi(settings.TRIAGE_API_BASE.get(), config.secret_value(settings.TRIAGE_SECRET_ARN, "api_key"))


def payload(case_id: str) -> dict | None:
    """Entry: the case as the ED receives it; None while it has no coordinates (a phone call
    entered without them: the push waits for the first location). The case is read and
    decrypted by case_store.load, its version and vehicle in a short read of their own."""
    data = case_store.load(case_id, caller_phone=True)
    view = views.case_view(data)
    loc = view["location"]
    if loc is None:
        return None
    point = geo.to_gcj02(geo.Point(loc["latitude"], loc["longitude"], loc["coord_system"]))
    with transaction() as conn:
        version, vehicle = version_and_vehicle(conn, case_id)
    body = {
        "case_id": case_id, "version": int(version), "status": view["status"], "received_at": view["created_at"],
        "caller_phone": data.caller_phone,
        "complaint": view["complaint"],
        "location": {"latitude": point.latitude, "longitude": point.longitude, "coord_system": geo.GCJ02,
                     "accuracy_m": loc["accuracy_m"], "address_text": view["address_text"]},
    }
    if vehicle is not None:
        body["vehicle"] = {"vehicle_id": vehicle.vehicle_id, "plate_number": vehicle.plate}
    return body


# Built once: a statement object costs more CPU to build than to run (its cache key is computed
# anew for each new object); values are bound at execution.
_LATEST_VEHICLE = (sa.select(t.dispatches.c.vehicle_id, t.vehicles.c.plate)
                   .join(t.vehicles, t.vehicles.c.id == t.dispatches.c.vehicle_id)
                   .where(t.dispatches.c.case_id == sa.bindparam("case_id"))
                   .order_by(t.dispatches.c.created_at.desc()).limit(1))


def version_and_vehicle(conn, case_id: str):
    """The case's version (its latest timeline node id) and its latest dispatch's vehicle, if any."""
    version = case_store.timeline_version(conn, case_id)
    assert version is not None  # a stored case has its first node
    vehicle = conn.execute(_LATEST_VEHICLE, {"case_id": case_id}).first()
    return version, vehicle


def deliver(case_id: str, receive_count: int) -> str:
    """Entry: push the case's current picture; returns the delivery status. Raises on a
    transport failure so the message is retried (TriageUnavailable). The result is recorded
    after the push, in a transaction of its own."""
    from hospital.adapters.triage import TriageError

    body = payload(case_id)
    if body is None:
        with transaction() as conn:
            record_result(conn, case_id, None, status="no_location")
        return "no_location"
    try:
        answer = _api().push_case(body)
    except TriageError as exc:
        if not exc.retryable:
            with transaction() as conn:
                record_result(conn, case_id, body["version"], status="rejected",
                              error=f"{exc.status}: {exc.code or 'refused'}")
            log.error("triage system refused the case", extra={"case_id": case_id, "status": exc.status})
            return "rejected"
        final = receive_count >= MAX_RECEIVES
        with transaction() as conn:
            record_result(conn, case_id, body["version"], status="failed" if final else "retrying",
                          error=f"{exc.status or 'unreachable'}: {type(exc).__name__}")
        raise
    with transaction() as conn:
        record_result(conn, case_id, body["version"], status="delivered", ref=answer.get("triage_ref"))
    return "delivered"


def record_result(conn, case_id: str, version: int | None, *, status: str, ref: str | None = None,
                  error: str | None = None) -> None:
    """A push's result, unless a newer version's is already recorded (case_store keeps the order)."""
    case_store.record_triage_delivery(conn, case_id, version, status=status, ref=ref, error=error)


def status_of(conn, case_id: str) -> dict:
    """How the link stands for a case, read in the caller's transaction."""
    row = case_store.triage_delivery(conn, case_id)
    return {"status": row.status or "pending", "version": row.version, "triage_ref": row.ref,
            "attempts": row.attempts, "error": row.error, "updated_at": iso_utc(row.updated_at)}
