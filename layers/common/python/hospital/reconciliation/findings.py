"""Finance's view of reconciliation: runs, findings by date, kind and status, a CSV export, and
resolving a finding with a note. Every call is written to the audit log in the transaction
of what it read or changed. Resolving a finding records a decision and never edits money: a
correction is a refund or a ledger entry made through the payment paths.
"""
from __future__ import annotations

import csv
import datetime as dt
import io

import sqlalchemy as sa

from hospital import audit, text
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, NotFound, ValidationFailed
from hospital.reconciliation import runs
from hospital.timeutil import iso_utc, utcnow

STATUSES = ("open", "resolved")
CSV_COLUMNS = ("id", "date", "kind", "source", "trade", "trade_key", "order_id", "ours_fen", "theirs_fen",
               "detail", "status", "resolution", "resolved_at")
# Lambda answers at most 6 MB: a day with more findings is exported by kind or source.
CSV_LIMIT = 20_000

_f = t.reconciliation_findings.c
_r = t.reconciliation_runs.c


def view(row) -> dict:
    return {"id": row.id, "date": row.bill_date.isoformat(), "kind": row.kind, "source": row.source,
            "trade": row.trade, "trade_key": row.trade_key, "order_id": row.order_id, "ours_fen": row.ours_fen,
            "theirs_fen": row.theirs_fen, "detail": row.detail, "status": row.status, "run_id": row.run_id,
            "resolution": row.resolution, "resolved_by": row.resolved_by, "resolved_at": iso_utc(row.resolved_at),
            "created_at": iso_utc(row.created_at), "updated_at": iso_utc(row.updated_at)}


def _query(day: dt.date | None, kind: str | None, status: str | None, source: str | None):
    query = sa.select(t.reconciliation_findings)
    if day is not None:
        query = query.where(_f.bill_date == day)
    if kind is not None:
        query = query.where(_f.kind == kind)
    if status is not None:
        query = query.where(_f.status == status)
    if source is not None:
        query = query.where(_f.source == source)
    return query


def listing(principal, day: dt.date | None, kind: str | None, status: str | None, source: str | None,
            limit: int, before: int | None) -> dict:
    """Newest first; `before`: the id the previous page ended at."""
    query = _query(day, kind, status, source).order_by(_f.id.desc()).limit(limit)
    if before is not None:
        query = query.where(_f.id < before)
    with transaction() as conn:
        rows = conn.execute(query).all()
        totals = dict(conn.execute(
            _query(day, None, status, source).with_only_columns(_f.kind, sa.func.count())
            .group_by(_f.kind)).all()) if day is not None else None
        audit.add(conn, principal, "reconciliation.findings_viewed", "report", day.isoformat() if day else None,
                  "ok", {"kind": kind, "status": status, "source": source, "count": len(rows)})
    page = {"items": [view(r) for r in rows], "next_before": rows[-1].id if len(rows) == limit else None}
    if totals is not None:
        page["totals_by_kind"] = {k: int(n) for k, n in totals.items()}
    return page


def detail(principal, finding_id: str) -> dict:
    number = _id(finding_id)
    with transaction() as conn:
        row = conn.execute(sa.select(t.reconciliation_findings).where(_f.id == number)).first()
        if row is None:
            raise NotFound("no such finding", field="finding_id")
        order = None
        if row.order_id:
            o = t.payment_orders.c
            found = conn.execute(sa.select(o.id, o.status, o.channel, o.amount_fen, o.paid_fen, o.refunded_fen,
                                           o.paid_at, o.his_confirmed_at, o.mchid)
                                 .where(o.id == row.order_id)).first()
            if found is not None:
                order = {"order_id": found.id, "status": found.status, "channel": found.channel,
                         "amount_fen": found.amount_fen, "paid_fen": found.paid_fen,
                         "refunded_fen": found.refunded_fen, "paid_at": iso_utc(found.paid_at),
                         "his_confirmed_at": iso_utc(found.his_confirmed_at), "mchid": found.mchid}
        audit.add(conn, principal, "reconciliation.finding_viewed", "reconciliation_finding", str(number), "ok")
        return {**view(row), "order": order, "run": runs.view_of(conn, row.run_id)}


def export_csv(principal, day: dt.date, kind: str | None, status: str | None, source: str | None
               ) -> tuple[str, bool]:
    """The findings of a day as CSV, UTF-8 with a byte-order mark (so spreadsheet programs
    read the Chinese of the details right), and whether CSV_LIMIT cut it short."""
    with transaction() as conn:
        rows = conn.execute(_query(day, kind, status, source).order_by(_f.id).limit(CSV_LIMIT + 1)).all()
        truncated = len(rows) > CSV_LIMIT
        rows = rows[:CSV_LIMIT]
        audit.add(conn, principal, "reconciliation.findings_exported", "report", day.isoformat(), "ok",
                  {"kind": kind, "status": status, "source": source, "count": len(rows), "truncated": truncated})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        item = view(row)
        writer.writerow([_cell(item[c]) for c in CSV_COLUMNS])
    return "\ufeff" + out.getvalue(), truncated


def _cell(value) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    if value is None:
        return ""
    value = str(value)
    first = value.lstrip(" \t\r\n")[:1]
    return "'" + value if first in ("=", "+", "-", "@") and not _is_number(value) else value


def _is_number(value: str) -> bool:
    return value.lstrip("-").isdigit()


def resolve(principal, finding_id: str, note: str) -> dict:
    number = _id(finding_id)
    with transaction() as conn:
        done = conn.execute(t.reconciliation_findings.update().where(_f.id == number, _f.status == "open").values(
            status="resolved", resolved_at=utcnow(), resolved_by=principal.user_id, resolution=note,
            updated_at=utcnow())).rowcount
        row = conn.execute(sa.select(t.reconciliation_findings).where(_f.id == number)).first()
        if row is None:
            raise NotFound("no such finding", field="finding_id")
        if not done:
            raise Conflict("this finding is already resolved", code="already_resolved")
        audit.add(conn, principal, "reconciliation.finding_resolved", "reconciliation_finding", str(number), "ok",
                  {"kind": row.kind, "date": row.bill_date.isoformat(), "note": note})
    return view(row)


def run_listing(principal, day: dt.date | None, limit: int) -> dict:
    query = sa.select(_r.id).order_by(_r.id.desc()).limit(limit)
    if day is not None:
        query = query.where(_r.bill_date == day)
    with transaction() as conn:
        items = [runs.view_of(conn, run_id) for run_id in conn.execute(query).scalars()]
        audit.add(conn, principal, "reconciliation.runs_viewed", "report", day.isoformat() if day else None, "ok",
                  {"count": len(items)})
    return {"items": items}


def run_detail(principal, run_id: str) -> dict:
    number = text.whole_number(run_id, low=0, high=text.MAX_ID)
    if number is None:
        raise ValidationFailed("run_id must be a whole number", field="run_id")
    with transaction() as conn:
        if conn.execute(sa.select(_r.id).where(_r.id == number)).first() is None:
            raise NotFound("no such run", field="run_id")
        audit.add(conn, principal, "reconciliation.run_viewed", "reconciliation_run", str(number), "ok")
        return runs.view_of(conn, number)


def _id(finding_id: str) -> int:
    number = text.whole_number(finding_id, low=0, high=text.MAX_ID)
    if number is None:
        raise ValidationFailed("finding_id must be a whole number", field="finding_id")
    return number


def start(principal, day: dt.date, *, bill_text: bytes | None = None, bill_files: list[str] | None = None,
          trigger: str = "back_office") -> dict:
    """Reconcile `day` now, from the downloads, from a bill file uploaded as `bill_text` or from
    `bill_files` on disk (the operator command, whose principal is None); audited with its
    outcome, a refusal too."""
    import os
    import tempfile

    from hospital.errors import AppError
    from hospital.reconciliation import reconcile

    requested_by = getattr(principal, "user_id", None)
    details: dict = {"date": day.isoformat(), "trigger": trigger,
                     "upload_bytes": len(bill_text) if bill_text is not None else None,
                     "bill_files": len(bill_files) if bill_files else None}
    try:
        if bill_text is None:
            result = reconcile.run(day, trigger, requested_by=requested_by, bill_files=bill_files)
        else:
            with tempfile.TemporaryDirectory(prefix="bill-upload-") as workdir:
                path = os.path.join(workdir, "bill.csv")
                with open(path, "wb") as handle:
                    handle.write(bill_text)
                result = reconcile.run(day, "upload", requested_by=requested_by, bill_files=[path])
    except AppError as exc:
        audit.record(principal, "reconciliation.run_requested", "report", day.isoformat(), "refused",
                     {**details, "code": exc.code})
        raise
    audit.record(principal, "reconciliation.run_requested", "reconciliation_run", str(result["run_id"]),
                 result["status"], details)
    return result
