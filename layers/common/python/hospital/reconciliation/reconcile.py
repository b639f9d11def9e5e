"""Reconcile one day (AD1): every counterpart's statement against what we expect it to have
booked, then the run's findings stored in place of the day's earlier ones.

Entry: `run(day, trigger, ...)`, used by the scheduled function, the back office and the
operator command alike. One counterpart at a time: our side of it is loaded (a dict of the
day), its statement streamed through the matching, then dropped before the next, so memory
is one counterpart's day, never a statement.
"""
from __future__ import annotations

import collections
import datetime as dt
import logging
import tempfile

from hospital.adapters.wechatpay_v3 import BillNotReady
from hospital.db import engine
from hospital.errors import Conflict, ValidationFailed
from hospital.reconciliation import matching_rules as m
from hospital.reconciliation import our_side, runs, schedule_rules, statements
from hospital.reconciliation.sources import counterpart_statement
from hospital.timeutil import utcnow

log = logging.getLogger("hospital.reconciliation")


def run(day: dt.date, trigger: str, *, requested_by: int | None = None, bill_files: list[str] | None = None,
        now: dt.datetime | None = None) -> dict:
    """Reconcile `day`; with `bill_files`, the WeChat Pay part from those files instead of
    downloading (they must be of that day and cover every merchant we took money at that day).
    Returns the run's record: done, waiting (a statement is still being made) or failed.
    Conflict while another run holds the day."""
    now = now or utcnow()
    refusal = schedule_rules.date_refusal(day, now, with_file=bool(bill_files))
    if refusal:
        raise ValidationFailed(refusal, field="date")
    if bill_files:
        _check_files(bill_files, day)
    held = runs.claim(day, trigger, requested_by)
    if held is None:
        raise Conflict(f"the reconciliation of {day.isoformat()} is running now", code="run_in_progress",
                       field="date")
    inputs: list[statements.Input] = []
    try:
        with tempfile.TemporaryDirectory(prefix="reconcile-") as workdir:
            outcome = _reconcile(held, workdir, bill_files, inputs)
    except BillNotReady as exc:
        log.info("statement not ready, the day waits", extra={"bill_date": day.isoformat()})
        return runs.postpone(held, str(exc), [i.view() for i in inputs], now)
    except runs.LeaseLost:
        raise
    except Exception as exc:  # any failure is recorded on the run and retried later
        log.exception("reconciliation failed", extra={"bill_date": day.isoformat()})
        return runs.fail(held, f"{type(exc).__name__}: {exc}", [i.view() for i in inputs], now,
                         retry=not bill_files)
    view = runs.finish(held, outcome)
    from hospital import metrics

    metrics.emit("ReconciliationFindings", len(outcome.findings))  # an alarm: a day that does not match
    log.info("reconciliation done", extra={"bill_date": day.isoformat(), "counts": view["counts"]})
    return view


def _check_fetched(expected: dict[str, m.Ours], inputs: list[statements.Input]) -> None:
    """Every merchant we took money at that day must have been asked for its bill: one missing
    from the configuration would otherwise report its whole day missing at the provider."""
    fetched = {record.mchid for record in inputs if record.source == m.WECHATPAY}
    unknown = sorted({mine.mchid for mine in expected.values()} - fetched)
    if unknown:
        raise RuntimeError(f"merchants with trades that day are not configured: {', '.join(unknown)}")


def _check_files(bill_files: list[str], day: dt.date) -> None:
    """Bill files given by hand, read through once before the day is touched: each must read and
    add up, be of `day` (rows within the midnight window either side), and together they must
    cover every merchant we took money at or refunded through that day, since their run
    replaces the whole WeChat Pay part of the day."""
    from hospital.adapters.wechatpay_bill import BillError

    found: set[str] = set()
    for number, path in enumerate(bill_files, 1):
        try:
            merchants, strays = statements.bill_merchants_and_strays(path, day)
        except (BillError, UnicodeDecodeError) as exc:
            raise ValidationFailed(f"bill file {number} is not a WeChat Pay bill that adds up: {exc}",
                                   field="bill", code="invalid_bill") from None
        if strays:
            raise ValidationFailed(f"bill file {number} holds trades of {', '.join(sorted(strays))}, not of "
                                   f"{day.isoformat()}",
                                   field="bill", code="bill_of_another_day")
        found |= merchants
    with engine().connect() as conn:
        ours = our_side.merchants_of(conn, day)
    missing = sorted(ours - found)
    if missing:
        raise ValidationFailed(f"give the bill of every merchant of {day.isoformat()}: missing {', '.join(missing)}",
                               field="bill", code="merchant_bill_missing")


def _reconcile(held: runs.Claim, workdir: str, bill_files: list[str] | None,
               inputs: list[statements.Input]) -> runs.Outcome:
    day = held.day
    wechat: list[tuple[statements.Input, str | None]]
    if bill_files:
        wechat = [(statements.Input(m.WECHATPAY, f"file {i + 1}", "file"), path) for i, path in enumerate(bill_files)]
    else:
        wechat = statements.download_wechat_bills(day, workdir)
    inputs += [record for record, _ in wechat]
    findings: list[m.Finding] = []
    carried_out: dict[str, list[m.Ours]] = {}
    taken_now: dict[str, list[m.Ours]] = {}
    counts: dict = {"entries": {}, "matched": {}}
    # Short reads, each on its own connection and given back before the next step: a container
    # holds one connection, which renewing the lease needs too.
    with engine().connect() as conn:
        carried_in, taken_before = runs.carried_into(conn, day)
    for source in m.SOURCES:
        if source == m.WECHATPAY:
            entries = statements.chain(wechat)
        else:
            record = statements.Input(source, f"{source} {day.isoformat()}", "api")
            inputs.append(record)
            entries = counterpart_statement(source, day, record)
        with engine().connect() as conn:
            expected = our_side.expected(conn, source, day)
        if source == m.WECHATPAY and not bill_files:
            _check_fetched(expected, inputs)
        result = m.match(source, entries, expected, carried_in[source], taken_before[source])
        del expected
        with engine().connect() as conn:
            known = our_side.known(conn, source, [e.key for e in result.unexpected])
        more, took = m.settle(source, result.unexpected, known, day)
        findings += result.findings + more
        carried_out[source] = result.carried_out
        taken_now[source] = took
        counts["entries"][source] = result.entries
        counts["matched"][source] = result.matched
        runs.renew(held)
    # One finding per fingerprint: a stray trade on two merchants' bills is one discrepancy.
    findings = list({f.fingerprint: f for f in findings}.values())
    counts["findings"] = dict(collections.Counter(f.kind for f in findings))
    counts["carried_out"] = sum(len(v) for v in carried_out.values())
    return runs.Outcome(findings, carried_out, taken_now, [i.view() for i in inputs], counts)
