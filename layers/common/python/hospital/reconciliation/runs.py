"""The store of reconciliation runs: one writer per day, the run's record, its findings and
what it carried over midnight.

One writer: a run first takes the day's lease (a conditional UPDATE of the day's row, atomic on
MySQL and SQLite); a second run of the day while the lease holds is refused. The run writes
its results in one transaction that begins by checking it still holds the lease (and keeps the
row locked until commit), so a run whose lease ran out and was taken by another cannot write
over it. A run that crashes leaves its lease to expire; the day is then run again whole
(nothing of a run is written until its last transaction, so nothing is half written).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable, Mapping

import sqlalchemy as sa

from hospital.db import tables as t
from hospital.db import transaction
from hospital.reconciliation import matching_rules as m
from hospital.reconciliation import schedule_rules
from hospital.timeutil import iso_utc, utcnow

LEASE = dt.timedelta(minutes=20)
RUNNING, WAITING, DONE, FAILED = "running", "waiting", "done", "failed"
CARRIED, TAKEN = "carried", "taken"

_d = t.reconciliation_days.c
_f = t.reconciliation_findings.c
_c = t.reconciliation_carry_overs.c


class LeaseLost(RuntimeError):
    """Another run took the day while this one worked: its results are not written."""


@dataclasses.dataclass(frozen=True)
class Claim:
    day: dt.date
    token: str
    run_id: int


@dataclasses.dataclass
class Outcome:
    findings: list[m.Finding]
    carried: dict[str, list[m.Ours]]     # source -> ours expected on the next day
    taken: dict[str, list[m.Ours]]       # source -> ours of the next day already booked
    inputs: list[dict]
    counts: dict


def claim(day: dt.date, trigger: str, requested_by: int | None = None) -> Claim | None:
    """Take the day's lease and open its run; None while another run holds the day."""
    now = utcnow()
    token = uuid.uuid4().hex
    try:
        with transaction() as conn:
            conn.execute(t.reconciliation_days.insert().values(bill_date=day, status=WAITING, updated_at=now))
    except sa.exc.IntegrityError:
        pass  # the day has been run or claimed before
    with transaction() as conn:
        taken = conn.execute(t.reconciliation_days.update().where(
            _d.bill_date == day, sa.or_(_d.status != RUNNING, _d.lease_until.is_(None), _d.lease_until < now))
            .values(status=RUNNING, lease_token=token, lease_until=now + LEASE, attempts=_d.attempts + 1,
                    next_try_at=None, updated_at=now)).rowcount
        if not taken:
            return None
        # A run that died holding the day (its lease ran out) is over.
        conn.execute(t.reconciliation_runs.update().where(
            t.reconciliation_runs.c.bill_date == day, t.reconciliation_runs.c.status == RUNNING)
            .values(status="abandoned", error="its lease ran out before it finished", finished_at=now))
        run_id = conn.execute(t.reconciliation_runs.insert().values(
            bill_date=day, trigger=trigger, requested_by=requested_by, status=RUNNING, started_at=now)
        ).inserted_primary_key[0]
        conn.execute(t.reconciliation_days.update().where(_d.bill_date == day).values(last_run_id=run_id))
    return Claim(day, token, int(run_id))


def _hold(conn, held: Claim, **values) -> None:
    """Update the day's row if `held` still holds it (locking it until commit), else LeaseLost."""
    if not conn.execute(t.reconciliation_days.update().where(
            _d.bill_date == held.day, _d.lease_token == held.token)
            .values(updated_at=utcnow(), **values)).rowcount:
        raise LeaseLost(f"the run of {held.day} lost its lease")


def renew(held: Claim) -> None:
    with transaction() as conn:
        _hold(conn, held, lease_until=utcnow() + LEASE)


def carried_into(conn, day: dt.date) -> tuple[dict[str, dict[str, m.Ours]], dict[str, frozenset[str]]]:
    """What the day before carried into `day` (by source, by key) and what it took from it."""
    carried: dict[str, dict[str, m.Ours]] = {source: {} for source in m.SOURCES}
    taken: dict[str, set[str]] = {source: set() for source in m.SOURCES}
    for row in conn.execute(sa.select(t.reconciliation_carry_overs).where(_c.into_date == day)):
        if row.direction == TAKEN:
            taken.setdefault(row.source, set()).add(row.trade_key)
        else:
            carried.setdefault(row.source, {})[row.trade_key] = m.Ours(
                row.kind, row.trade_key, row.order_id, row.amount_fen, row.status, row.from_date, False, False,
                row.mchid, row.appid)
    return carried, {source: frozenset(keys) for source, keys in taken.items()}


def finish(held: Claim, outcome: Outcome) -> dict:
    """Write the day's findings (replacing the open ones of earlier runs), its carry-overs and
    the run's record, if `held` still holds the day."""
    now = utcnow()
    with transaction() as conn:
        _hold(conn, held, status=DONE, lease_token=None, lease_until=None, attempts=0, next_try_at=None)
        _replace_findings(conn, held, outcome.findings, now)
        if _replace_carry_overs(conn, held, outcome.carried, outcome.taken):
            # The next day was reconciled against other carry-overs: it runs again.
            conn.execute(t.reconciliation_days.update().where(
                _d.bill_date == held.day + dt.timedelta(days=1), _d.status == DONE)
                .values(status=WAITING, next_try_at=now, updated_at=now))
        conn.execute(t.reconciliation_runs.update().where(t.reconciliation_runs.c.id == held.run_id).values(
            status=DONE, inputs=outcome.inputs, counts=outcome.counts, finished_at=now))
    return run_view(held.run_id)


def postpone(held: Claim, reason: str, inputs: list[dict], now: dt.datetime | None = None) -> dict:
    """A statement is not ready yet: the day waits and is tried again later."""
    return _stop(held, WAITING, reason, inputs, now)


def fail(held: Claim, error: str, inputs: list[dict], now: dt.datetime | None = None, *, retry: bool = True) -> dict:
    """The run failed; the schedule tries the day again later unless `retry` is False (a run
    from a file given by hand, which only its giver can repeat)."""
    return _stop(held, FAILED, error, inputs, now, retry)


def _stop(held: Claim, status: str, error: str, inputs: list[dict], now: dt.datetime | None,
          retry: bool = True) -> dict:
    now = now or utcnow()
    with transaction() as conn:
        attempts = conn.execute(sa.select(_d.attempts).where(_d.bill_date == held.day)).scalar_one()
        _hold(conn, held, status=status, lease_token=None, lease_until=None,
              next_try_at=now + schedule_rules.retry_after(status, attempts) if retry else None)
        conn.execute(t.reconciliation_runs.update().where(t.reconciliation_runs.c.id == held.run_id).values(
            status=status, error=error[:300], inputs=inputs, finished_at=utcnow()))
    return run_view(held.run_id)


def _replace_findings(conn, held: Claim, findings: Iterable[m.Finding], now: dt.datetime) -> None:
    new = {f.fingerprint: f for f in findings}
    old = {row.fingerprint: row for row in conn.execute(
        sa.select(_f.id, _f.fingerprint, _f.status).where(_f.bill_date == held.day))}
    gone = [row.id for key, row in old.items() if key not in new and row.status == "open"]
    for start in range(0, len(gone), 500):
        # status open again: one resolved meanwhile stays, with its note
        conn.execute(t.reconciliation_findings.delete().where(_f.id.in_(gone[start:start + 500]), _f.status == "open"))
    again = [{"b_id": old[key].id, "run_id": held.run_id, "ours_fen": f.ours_fen, "theirs_fen": f.theirs_fen,
              "order_id": f.order_id, "detail": f.detail[:300], "updated_at": now}
             for key, f in new.items() if key in old]
    if again:
        # A resolved finding whose amounts are not the ones it was resolved on is open again.
        conn.execute(t.reconciliation_findings.update().where(_f.id == sa.bindparam("b_id")).values(
            status=sa.case((sa.and_(_f.ours_fen.is_not_distinct_from(sa.bindparam("ours_fen")),
                                    _f.theirs_fen.is_not_distinct_from(sa.bindparam("theirs_fen"))), _f.status),
                           else_="open"),
            run_id=sa.bindparam("run_id"), ours_fen=sa.bindparam("ours_fen"), theirs_fen=sa.bindparam("theirs_fen"),
            order_id=sa.bindparam("order_id"), detail=sa.bindparam("detail"), updated_at=sa.bindparam("updated_at")),
            again)
    fresh = [{"bill_date": held.day, "fingerprint": key, "run_id": held.run_id, "kind": f.kind, "source": f.source,
              "trade": f.trade, "trade_key": f.key[:64], "order_id": f.order_id, "ours_fen": f.ours_fen,
              "theirs_fen": f.theirs_fen, "detail": f.detail[:300], "status": "open", "created_at": now,
              "updated_at": now}
             for key, f in new.items() if key not in old]
    for start in range(0, len(fresh), 1000):
        conn.execute(t.reconciliation_findings.insert(), fresh[start:start + 1000])


def _replace_carry_overs(conn, held: Claim, carried: Mapping[str, list[m.Ours]],
                         taken: Mapping[str, list[m.Ours]]) -> bool:
    """Replace what the day carries into the next; True if that changed."""
    into = held.day + dt.timedelta(days=1)
    before = {(r.source, r.trade_key, r.direction, r.amount_fen) for r in conn.execute(
        sa.select(_c.source, _c.trade_key, _c.direction, _c.amount_fen).where(_c.into_date == into))}
    conn.execute(t.reconciliation_carry_overs.delete().where(_c.into_date == into))
    rows = [{"into_date": into, "source": source, "trade_key": mine.key, "direction": direction,
             "from_date": held.day, "kind": mine.kind, "order_id": mine.order_id, "amount_fen": mine.amount_fen,
             "status": mine.status, "mchid": mine.mchid, "appid": mine.appid, "run_id": held.run_id}
            for direction, by_source in ((CARRIED, carried), (TAKEN, taken))
            for source, trades in by_source.items() for mine in trades]
    if rows:
        conn.execute(t.reconciliation_carry_overs.insert(), rows)
    return before != {(r["source"], r["trade_key"], r["direction"], r["amount_fen"]) for r in rows}


def run_view(run_id: int) -> dict:
    with transaction() as conn:
        return view_of(conn, run_id)


def view_of(conn, run_id: int) -> dict:
    row = conn.execute(sa.select(t.reconciliation_runs).where(t.reconciliation_runs.c.id == run_id)).one()
    return {"run_id": row.id, "date": row.bill_date.isoformat(), "trigger": row.trigger, "status": row.status,
            "requested_by": row.requested_by, "inputs": row.inputs or [], "counts": row.counts or {},
            "error": row.error, "started_at": iso_utc(row.started_at), "finished_at": iso_utc(row.finished_at)}


def due(now: dt.datetime) -> list[dt.date]:
    """The days the scheduled run should run now, oldest first: the days whose bills are ready
    and which were never run; days waiting or failed whose next try has come; days left running
    by a run that died (its lease ran out). A day waits while the day before it is not done
    (what midnight carries from one to the other must be known first)."""
    owed = schedule_rules.first_due(now)
    oldest = schedule_rules.oldest_downloadable(schedule_rules.beijing_now(now).date())
    with transaction() as conn:
        seen = set(conn.execute(sa.select(_d.bill_date).where(_d.bill_date.in_(owed))).scalars())
        days = {day for day in owed if day not in seen}
        days |= set(conn.execute(sa.select(_d.bill_date).where(
            _d.bill_date >= oldest, _d.attempts < schedule_rules.MAX_ATTEMPTS, sa.or_(
                sa.and_(_d.status.in_((WAITING, FAILED)), _d.next_try_at.is_not(None), _d.next_try_at <= now),
                sa.and_(_d.status == RUNNING, _d.lease_until < now)))).scalars())
        unfinished = set(conn.execute(sa.select(_d.bill_date).where(
            _d.bill_date.in_([day - dt.timedelta(days=1) for day in days]), _d.status != DONE)).scalars())
    return sorted(day for day in days if day - dt.timedelta(days=1) not in unfinished or
                  day - dt.timedelta(days=1) in days)
