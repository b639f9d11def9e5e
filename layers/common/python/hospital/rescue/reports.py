"""Back-office view of rescue (EA1, EA2, EA3): dispatch records with the intervals of the
EMS time points, counts per day and vehicle, median and 90th percentile, CSV export; the
full case for admins, with the caller's personal details only for roles allowed to see
them, each such view audited.

Both functions are entries: a report is one read; the full case is read and decrypted by
case_store.load, and what it showed is audited in a transaction of its own.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import math

from hospital.db import transaction
from hospital.errors import ValidationFailed
from hospital.rescue import case_store, views, visibility
from hospital.timeutil import SHANGHAI, iso_utc

# (name, from node, to node): the intervals of the spec, in seconds.
INTERVALS = (
    ("call_to_dispatch", "call_received", "dispatched"),
    ("turn_out", "dispatched", "en_route"),
    ("travel", "en_route", "on_scene"),
    ("on_scene", "on_scene", "left_scene"),
    ("transport", "left_scene", "at_hospital"),
    ("handover", "at_hospital", "handed_over"),
)


def dispatch_records(date_from: dt.date, date_to: dt.date, vehicle_id: str | None = None,
                     outcome: str | None = None) -> dict:
    """Dispatches whose case was received between the two local (Asia/Shanghai) dates, inclusive."""
    if date_to < date_from:
        raise ValidationFailed("to must not be before from", field="to")
    if (date_to - date_from).days > 366:
        raise ValidationFailed("ask for at most one year at a time", field="to")
    start = dt.datetime.combine(date_from, dt.time(), SHANGHAI).astimezone(dt.UTC).replace(tzinfo=None)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(), SHANGHAI).astimezone(dt.UTC) \
        .replace(tzinfo=None)
    open_only = outcome == "open"
    with transaction() as conn:
        rows = case_store.dispatches_of_cases_received(
            conn, start, end, vehicle_id=vehicle_id, status=None if open_only else outcome,
            status_not_in=("completed", "cancelled") if open_only else ())
        times = case_store.first_node_times(conn, [r.case_id for r in rows])
    records = []
    for r in rows:
        at = times.get(r.case_id, {})
        records.append({
            "dispatch_id": r.id, "case_id": r.case_id, "vehicle_id": r.vehicle_id, "source": r.source,
            "received_at": iso_utc(r.received_at), "dispatched_at": iso_utc(r.created_at),
            "closed_at": iso_utc(r.closed_at), "outcome": r.status,
            **{name: _seconds(at.get(a), at.get(b)) for name, a, b in INTERVALS},
        })
    return {"from": date_from.isoformat(), "to": date_to.isoformat(), "count": len(records),
            "per_day": _count_by(records, lambda rec: _local_day(rec["received_at"])),
            "per_vehicle": _count_by(records, lambda rec: rec["vehicle_id"]),
            "intervals": {name: _summary([rec[name] for rec in records]) for name, _, _ in INTERVALS},
            "records": records}


def _seconds(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
    return None if start is None or end is None else round((end - start).total_seconds(), 1)


def _local_day(iso: str) -> str:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(SHANGHAI).date().isoformat()


def _count_by(records, key) -> dict[str, int]:
    counts: dict[str, int] = {}
    for rec in records:
        counts[key(rec)] = counts.get(key(rec), 0) + 1
    return dict(sorted(counts.items()))


def _summary(values: list[float | None]) -> dict:
    """n, median and 90th percentile (nearest rank: a value that was actually observed)."""
    present = sorted(v for v in values if v is not None)
    if not present:
        return {"n": 0, "median_s": None, "p90_s": None}
    return {"n": len(present), "median_s": _nearest_rank(present, 0.5), "p90_s": _nearest_rank(present, 0.9)}


def _nearest_rank(ordered: list[float], q: float) -> float:
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


CSV_COLUMNS = ("dispatch_id", "case_id", "vehicle_id", "source", "received_at", "dispatched_at", "closed_at",
               "outcome", *(name for name, _, _ in INTERVALS))


def as_csv(report: dict) -> str:
    out = io.StringIO()
    out.write("\ufeff")  # Excel, which finance and the ED open these in, needs the BOM to read UTF-8
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(report["records"])
    return out.getvalue()


def case_for_admin(actor, case_id: str) -> dict:
    """The full case and timeline (EA2), with the personal fields the actor's role may see
    (rescue.visibility: none for an IT admin); a view that shows any is audited (EA3)."""
    visible = visibility.fields_for(actor.roles)
    data = case_store.load(case_id, caller_phone=visibility.CALLER_PHONE in visible)
    view = views.case_view(data)
    view["caller_phone"] = data.caller_phone
    view = visibility.redact(view, visible)
    fields = visibility.shown(view)
    if fields:
        with transaction() as conn:
            visibility.record_shown(conn, actor, case_id, fields, visibility.granting_roles(actor.roles, visible))
    view["caller_details_visible"] = visibility.CALLER_PHONE in visible
    from hospital.rescue import triage_link

    with transaction() as conn:
        view["triage"] = triage_link.status_of(conn, case_id)
    return view
