"""The consistency checks (AS4): one function per invariant of hospital.reconciliation.
consistency_rules, each returning the rows that break it (the latest ROWS_KEPT, newest first:
a fault is easiest to trace while it is recent) and how many there are, read in the caller's
transaction. None of them changes anything: a broken
invariant is a software fault to analyse, not something to repair here.

Rows carry identifiers, states, amounts and times only: order, refund, entry, case and
dispatch ids, never a personal field.
"""
from __future__ import annotations

import sqlalchemy as sa

from hospital.db import tables as t
from hospital.outpatient import registration_rules
from hospital.payments import ledger
from hospital.payments.order_rules import CONFIRMED, MONEY_TAKEN, REFUND_PENDING
from hospital.payments.refund_rules import OPEN, SUCCEEDED
from hospital.reconciliation import consistency_rules as rules
from hospital.rescue import case_store
from hospital.timeutil import iso_utc

KEEP = rules.ROWS_KEPT
# What the HIS confirmed: its receipt; for a registration's bill, the registration too.
RECEIPT, REG_NO = "$.receipt_no", "$.reg_no"
_HIS_CONFIRMED = (CONFIRMED, REFUND_PENDING)


def run_all(conn) -> list[dict]:
    """Every check, in order."""
    return [check(conn) for check in CHECKS]


def ledger_vs_orders(conn) -> dict:
    result = ledger.check(conn)
    return rules.finding(rules.LEDGER_VS_ORDERS, result["mismatch_count"], result["mismatches"])


def paid_without_his_record(conn) -> dict:
    o = t.payment_orders.c
    where = (o.status.in_(_HIS_CONFIRMED),
             sa.or_(o.his_confirmed_at.is_(None), _json(o.his_confirmation, RECEIPT).is_(None)))
    rows = _rows(conn, sa.select(o.id, o.kind, o.status, o.his_ref, o.paid_fen, o.paid_at, o.his_confirmed_at)
                 .where(*where).order_by(o.paid_at.desc()))
    return rules.finding(rules.PAID_WITHOUT_HIS_RECORD, _count(conn, t.payment_orders, where), [
        {"order_id": r.id, "kind": r.kind, "status": r.status, "his_ref": r.his_ref, "paid_fen": r.paid_fen,
         "paid_at": iso_utc(r.paid_at), "his_confirmed_at": iso_utc(r.his_confirmed_at)} for r in rows])


def registration_not_booked(conn) -> dict:
    """A registration's order the HIS confirmed, where the registration is not one that was
    booked (held, being cancelled, cancelled) or the HIS named no registration number."""
    o, g = t.payment_orders.c, t.registrations.c
    booked = (registration_rules.HELD, registration_rules.CANCEL_PENDING, registration_rules.CANCELLED)
    joined = t.registrations.join(t.payment_orders, o.id == g.order_id)
    where = (o.status.in_(_HIS_CONFIRMED),
             sa.or_(g.status.not_in(booked), sa.and_(g.reg_no.is_(None), _json(o.his_confirmation, REG_NO).is_(None))))
    rows = _rows(conn, sa.select(g.id, g.status, g.order_id, o.status.label("order_status"), g.visit_date)
                 .select_from(joined).where(*where).order_by(g.created_at.desc()))
    return rules.finding(rules.REGISTRATION_NOT_BOOKED, _count(conn, joined, where), [
        {"registration_id": r.id, "status": r.status, "order_id": r.order_id, "order_status": r.order_status,
         "visit_date": r.visit_date.isoformat()} for r in rows])


def refund_without_payment(conn) -> dict:
    """Refund rows of an order whose money was never taken, and refund entries of the ledger
    for an order the ledger holds no payment of."""
    o, r, e = t.payment_orders.c, t.payment_refunds.c, t.ledger_entries.c
    refunds_joined = t.payment_refunds.outerjoin(t.payment_orders, o.id == r.order_id)
    unpaid = (sa.or_(o.id.is_(None), o.status.not_in(MONEY_TAKEN), o.paid_fen <= 0),)
    paying = t.ledger_entries.alias("paying")
    paid_entry = sa.exists().where(paying.c.order_id == e.order_id, paying.c.entry_type == ledger.PAYMENT)
    orphan_entries = (e.entry_type == ledger.REFUND, ~paid_entry)
    refund_rows = _rows(conn, sa.select(r.id, r.order_id, r.out_refund_no, r.amount_fen, r.status,
                                        o.status.label("order_status"), o.paid_fen)
                        .select_from(refunds_joined).where(*unpaid).order_by(r.created_at.desc()))
    entry_rows = _rows(conn, sa.select(e.id, e.order_id, e.refund_id, e.amount_fen, e.channel)
                       .where(*orphan_entries).order_by(e.id.desc()))
    count = _count(conn, refunds_joined, unpaid) + _count(conn, t.ledger_entries, orphan_entries)
    return rules.finding(rules.REFUND_WITHOUT_PAYMENT, count, [
        *({"refund_id": x.id, "order_id": x.order_id, "out_refund_no": x.out_refund_no, "amount_fen": x.amount_fen,
           "status": x.status, "order_status": x.order_status, "order_paid_fen": x.paid_fen} for x in refund_rows),
        *({"ledger_entry_id": x.id, "order_id": x.order_id, "refund_id": x.refund_id, "amount_fen": x.amount_fen,
           "channel": x.channel} for x in entry_rows)])


def refunds_above_paid(conn) -> dict:
    """Orders that gave back, or are giving back, more than was paid: counted on the order,
    or asked for by its refunds that succeeded or are still open."""
    o, r = t.payment_orders.c, t.payment_refunds.c
    asked = (sa.select(r.order_id, sa.func.sum(r.amount_fen).label("asked_fen"))
             .where(r.status.in_((SUCCEEDED, *OPEN))).group_by(r.order_id).subquery())
    joined = t.payment_orders.outerjoin(asked, asked.c.order_id == o.id)
    where = (sa.or_(o.refunded_fen > o.paid_fen, sa.func.coalesce(asked.c.asked_fen, 0) > o.paid_fen),)
    rows = _rows(conn, sa.select(o.id, o.status, o.paid_fen, o.refunded_fen, asked.c.asked_fen)
                 .select_from(joined).where(*where).order_by(o.created_at.desc()))
    return rules.finding(rules.REFUNDS_ABOVE_PAID, _count(conn, joined, where), [
        {"order_id": x.id, "status": x.status, "paid_fen": x.paid_fen, "refunded_fen": x.refunded_fen,
         "refunds_fen": int(x.asked_fen or 0)} for x in rows])


def case_ended_with_open_dispatch(conn) -> dict:
    count, rows = case_store.open_dispatches_of_ended_cases(conn, KEEP)
    return rules.finding(rules.CASE_ENDED_WITH_OPEN_DISPATCH, count, [
        {"dispatch_id": x.id, "case_id": x.case_id, "vehicle_id": x.vehicle_id, "case_status": x.status,
         "dispatched_at": iso_utc(x.created_at), "case_updated_at": iso_utc(x.updated_at)} for x in rows])


CHECKS = (ledger_vs_orders, paid_without_his_record, registration_not_booked, refund_without_payment,
          refunds_above_paid, case_ended_with_open_dispatch)


def _json(column, path: str):
    # JSON_EXTRACT on MySQL/MariaDB and SQLite alike: NULL where the key (or the document) is missing.
    return sa.func.json_extract(column, path)


def _rows(conn, query) -> list:
    return conn.execute(query.limit(KEEP)).all()


def _count(conn, source, where) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(source).where(*where)).scalar_one()
