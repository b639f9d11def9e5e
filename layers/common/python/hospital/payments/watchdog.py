"""The watchdog of abnormal orders (AS1, a schedule every few minutes): what stayed stuck past
its threshold goes on finance's work list (payment_anomalies) once, and what it recorded and
has since cleared by itself is resolved by the system, with a note and an audit record.

It retries nothing: the payment sweeper queries, resends and refunds by policy; the watchdog
only sees what the sweeper could not settle in time (hospital.payments.anomaly_rules names
the states and decides). Its queries skip what is already recorded, so a backlog larger than
one batch is worked through over the next runs, and a run adds nothing twice. `run` is the
entry and opens one transaction: nothing outside the database is asked.
"""
from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa

from hospital import audit, settings
from hospital.db import tables as t
from hospital.db import transaction
from hospital.payments import anomalies
from hospital.payments import anomaly_rules as rules
from hospital.payments.order_rules import HIS_FAILED, PAID, PAYING
from hospital.payments.refund_rules import ABNORMAL, OPEN, PROCESSING, REQUESTED
from hospital.timeutil import iso_utc, utcnow

log = logging.getLogger("hospital.payments")
BATCH = 200
SOURCE = "watchdog"
CLEARED = "payments.anomaly_cleared"


def thresholds() -> rules.Thresholds:
    def seconds(setting) -> dt.timedelta:
        return dt.timedelta(seconds=setting.get())

    return rules.Thresholds(
        unsettled=seconds(settings.PAYMENT_WATCHDOG_UNSETTLED_SECONDS),
        unconfirmed=seconds(settings.PAYMENT_WATCHDOG_UNCONFIRMED_SECONDS),
        his_failed=seconds(settings.PAYMENT_WATCHDOG_HIS_FAILED_SECONDS),
        refund_unsent=seconds(settings.PAYMENT_WATCHDOG_REFUND_UNSENT_SECONDS),
        refund_processing=seconds(settings.PAYMENT_WATCHDOG_REFUND_PROCESSING_SECONDS))


def run(now: dt.datetime | None = None, limits: rules.Thresholds | None = None) -> dict:
    """Entry: clear what cleared, then record what is stuck. Returns the counts."""
    now = now or utcnow()
    at = rules.cutoffs(now, limits or thresholds())
    with transaction() as conn:
        cleared = clear(conn)
        recorded = {reason: 0 for reason in rules.WATCHED}
        for reason, values in [*stuck_orders(conn, at), *stuck_refunds(conn, at)]:
            if anomalies.record(conn, source=SOURCE, reason=reason, **values):
                recorded[reason] += 1
    if any(recorded.values()):
        log.warning("abnormal orders found", extra={"recorded": {k: v for k, v in recorded.items() if v}})
    return {"recorded": recorded, "cleared": cleared}


# ---- what is stuck ------------------------------------------------------------------------------

def _not_recorded(reason: str, subject):
    a = t.payment_anomalies.c
    return ~sa.exists().where(a.dedupe_key == sa.literal(rules.dedupe_prefix(reason)) + subject)


def stuck_orders(conn, at: rules.Cutoffs):
    """(reason, anomaly values) of each order stuck past its cutoff and not yet recorded."""
    o, r, a = t.payment_orders.c, t.payment_refunds.c, t.payment_anomalies.c
    refund_under_way = sa.exists().where(r.order_id == o.id, r.status.in_(OPEN))
    queries = [
        sa.select(t.payment_orders).where(o.status == PAYING, o.expires_at <= at.expired_before,
                                          _not_recorded(rules.PAYMENT_UNSETTLED, o.id)).order_by(o.expires_at),
        sa.select(t.payment_orders).where(o.status == PAID, o.paid_at <= at.paid_before,
                                          _not_recorded(rules.PAID_UNCONFIRMED, o.id)).order_by(o.paid_at),
        # Not when a refund is under way (its own reasons list it if it sticks) or when the order
        # is listed already (a refusal of its refund, say): one entry for one stuck order.
        sa.select(t.payment_orders).where(
            o.status == HIS_FAILED, o.refunded_fen < o.paid_fen, o.updated_at <= at.failed_before, ~refund_under_way,
            ~sa.exists().where(a.order_id == o.id, a.resolved_at.is_(None)),
            _not_recorded(rules.HIS_FAILED_UNREFUNDED, o.id)).order_by(o.updated_at),
    ]
    for query in queries:
        for order in conn.execute(query.limit(BATCH)).all():
            reason = rules.order_reason(order.status, expires_at=order.expires_at, paid_at=order.paid_at,
                                        updated_at=order.updated_at, paid_fen=order.paid_fen,
                                        refunded_fen=order.refunded_fen, refund_under_way=False, at=at)
            if reason is not None:
                yield reason, _order_values(reason, order)


def stuck_refunds(conn, at: rules.Cutoffs):
    """(reason, anomaly values) of each refund stuck past its cutoff and not yet recorded."""
    r, a = t.payment_refunds.c, t.payment_anomalies.c
    queries = [
        sa.select(t.payment_refunds).where(r.status == REQUESTED, r.created_at <= at.refund_unsent_before,
                                           _not_recorded(rules.REFUND_UNSENT, r.out_refund_no)),
        sa.select(t.payment_refunds).where(r.status == PROCESSING, r.created_at <= at.refund_processing_before,
                                           _not_recorded(rules.REFUND_STUCK, r.out_refund_no)),
        # Recorded when the provider said so, under its reason or as refused midway: only one
        # that no entry names is missing from the list.
        sa.select(t.payment_refunds).where(r.status == ABNORMAL,
                                           ~sa.exists().where(a.out_refund_no == r.out_refund_no)),
    ]
    for query in queries:
        for refund in conn.execute(query.order_by(r.created_at).limit(BATCH)).all():
            reason = rules.refund_reason(refund.status, created_at=refund.created_at, at=at)
            if reason is not None:
                yield reason, _refund_values(reason, refund)


def _order_values(reason: str, order) -> dict:
    details = {"status": order.status, "kind": order.kind, "his_ref": order.his_ref, "channel": order.channel,
               "paid_fen": order.paid_fen, "refunded_fen": order.refunded_fen, "paid_at": iso_utc(order.paid_at),
               "expires_at": iso_utc(order.expires_at), "his_attempts": order.his_attempts,
               "his_error": order.his_error}
    return {"order_id": order.id, "provider_ref": order.transaction_id,
            "amount_fen": order.paid_fen or order.amount_fen, "details": details,
            "dedupe_key": rules.dedupe_prefix(reason) + order.id}


def _refund_values(reason: str, refund) -> dict:
    details = {"status": refund.status, "route": refund.route, "refund_reason": refund.reason,
               "requested_at": iso_utc(refund.created_at), "attempts": refund.attempts,
               "last_error": refund.last_error}
    return {"order_id": refund.order_id, "out_refund_no": refund.out_refund_no,
            "provider_ref": refund.provider_refund_id, "amount_fen": refund.amount_fen, "details": details,
            "dedupe_key": rules.dedupe_prefix(reason) + refund.out_refund_no}


# ---- what cleared ---------------------------------------------------------------------------------

def _pages(conn, query, key, size: int):
    """Every row of `query` (ordered by `key`), `size` at a time: entries that still hold do not
    keep newer ones from being looked at."""
    after = None
    while True:
        rows = conn.execute((query if after is None else query.where(key > after)).limit(size)).all()
        yield from rows
        if len(rows) < size:
            return
        after = rows[-1].id


def clear(conn) -> int:
    """Open entries of a reason a state defines, whose order or refund has left that state:
    resolved by the system (no user), with the note saying why, each audited."""
    a, o, r = t.payment_anomalies.c, t.payment_orders.c, t.payment_refunds.c
    query = (sa.select(a.id, a.reason, o.status.label("order_status"), r.status.label("refund_status"))
             .select_from(t.payment_anomalies.outerjoin(t.payment_orders, o.id == a.order_id)
                          .outerjoin(t.payment_refunds, r.out_refund_no == a.out_refund_no))
             .where(a.resolved_at.is_(None), a.reason.in_(rules.WATCHED)).order_by(a.id))
    done = 0
    for row in _pages(conn, query, a.id, BATCH * 5):
        about, _ = rules.HOLDS_WHILE[row.reason]
        note = rules.cleared(row.reason, row.order_status if about == rules.ORDER else row.refund_status)
        if note is None:
            continue
        moved = conn.execute(t.payment_anomalies.update().where(a.id == row.id, a.resolved_at.is_(None))
                             .values(resolved_at=utcnow(), resolved_by=None, resolution=note)).rowcount
        if moved:
            audit.add(conn, None, CLEARED, "payment_anomaly", str(row.id), "ok", {"reason": row.reason, "note": note})
            done += 1
    return done
