"""Consistency reports (AS4): every check run together and the report stored, daily by the
schedule and on demand from the back office; stored reports listed and read. A broken
invariant is logged as a warning naming the checks, for the alarms; the back office's calls
are audited, and a caller sees only the checks consistency_rules gives its roles.

Each function is an entry and opens one transaction: the checks only read, so one
transaction sees the tables as of one moment and the report is written beside it.
"""
from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa

from hospital import audit
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import NotFound, ValidationFailed
from hospital.reconciliation import consistency
from hospital.reconciliation import consistency_rules as rules
from hospital.timeutil import iso_utc, utcnow

log = logging.getLogger("hospital.reconciliation")
SCHEDULE, BACK_OFFICE = "schedule", "back_office"
_REPORT_ID = frozenset("0123456789abcdef")


def run_scheduled() -> dict:
    """Entry (the daily schedule): run, store, warn when something is broken."""
    with transaction() as conn:
        report = _run_and_store(conn, SCHEDULE, None)
    return {"report_id": report["report_id"], "broken": report["broken"]}


def run_now(principal) -> dict:
    """Entry: run every check now for the back office, store the report, answer what the
    caller may see of it."""
    with transaction() as conn:
        report = _run_and_store(conn, BACK_OFFICE, principal.user_id)
        audit.add(conn, principal, "consistency.checked", "consistency_report", report["report_id"], "ok",
                  {"broken": report["broken"]})
    return _shown(report, principal.roles)


def list_reports(principal, limit: int) -> dict:
    """Entry: the latest stored reports, newest first, without their rows."""
    c = t.consistency_reports.c
    with transaction() as conn:
        rows = conn.execute(sa.select(t.consistency_reports).order_by(c.started_at.desc(), c.id).limit(limit)).all()
        audit.add(conn, principal, "consistency.reports_viewed", "report", None, "ok", {"count": len(rows)})
    items = []
    for row in rows:
        shown = _shown(_report(row), principal.roles)
        items.append({**shown, "findings": [{k: v for k, v in f.items() if k != "rows"} for f in shown["findings"]]})
    return {"items": items}


def get_report(principal, report_id: str) -> dict:
    """Entry: one stored report with the rows that broke each check."""
    if len(report_id) != 32 or not set(report_id) <= _REPORT_ID:
        raise ValidationFailed("report_id must be a report's id (32 lowercase hex characters)", field="report_id")
    with transaction() as conn:
        row = conn.execute(sa.select(t.consistency_reports).where(t.consistency_reports.c.id == report_id)).first()
        if row is None:
            raise NotFound("no such report", field="report_id")
        audit.add(conn, principal, "consistency.report_viewed", "consistency_report", report_id, "ok")
    return _shown(_report(row), principal.roles)


def _run_and_store(conn, source: str, requested_by: int | None) -> dict:
    started = utcnow()
    findings = consistency.run_all(conn)
    broken = rules.broken(findings)
    report_id = uuid.uuid4().hex
    conn.execute(t.consistency_reports.insert().values(
        id=report_id, source=source, requested_by=requested_by, started_at=started, finished_at=utcnow(),
        broken=len(broken), findings=findings))
    if broken:
        log.warning("consistency checks found broken invariants", extra={
            "report_id": report_id, "broken": broken, "counts": {f["check"]: f["count"] for f in findings
                                                                 if f["check"] in broken}})
    else:
        log.info("consistency checks found nothing broken", extra={"report_id": report_id})
    return {"report_id": report_id, "source": source, "requested_by": requested_by, "started_at": iso_utc(started),
            "broken": broken, "findings": findings}


def _report(row) -> dict:
    return {"report_id": row.id, "source": row.source, "requested_by": row.requested_by,
            "started_at": iso_utc(row.started_at), "broken": rules.broken(row.findings), "findings": row.findings}


def _shown(report: dict, roles) -> dict:
    findings = rules.shown(report["findings"], roles)
    return {**report, "broken": rules.broken(findings), "findings": findings}
