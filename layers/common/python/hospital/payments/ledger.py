"""The ledger: every money movement as an immutable entry (OP2, OR3). Entries are only ever
inserted; each has a dedupe key naming the event it records, so a repeated notification or a
resumed worker cannot book the same money twice. The database refuses UPDATE and DELETE.

Balance rule, checked by `check()`: for every order, the payment entries add up to the
order's paid_fen and the refund entries to minus its refunded_fen.
"""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from hospital.db import tables as t
from hospital.db import transaction
from hospital.timeutil import utcnow

PAYMENT, REFUND = "payment", "refund"


def book(conn, *, order_id: str, entry_type: str, channel: str, amount_fen: int, dedupe_key: str,
         provider_ref: str | None = None, refund_id: str | None = None, occurred_at: dt.datetime | None = None) -> bool:
    """Insert one entry in the caller's transaction; False if that event is already booked."""
    if (entry_type == PAYMENT) != (amount_fen > 0):
        raise ValueError("payments are positive amounts, refunds negative")
    exists = conn.execute(sa.select(t.ledger_entries.c.id).where(t.ledger_entries.c.dedupe_key == dedupe_key)).first()
    if exists:
        return False
    conn.execute(t.ledger_entries.insert().values(
        order_id=order_id, refund_id=refund_id, entry_type=entry_type, channel=channel, amount_fen=amount_fen,
        provider_ref=provider_ref, dedupe_key=dedupe_key, occurred_at=occurred_at or utcnow(), created_at=utcnow()))
    return True


def entries(order_id: str) -> list[dict]:
    with transaction() as conn:
        rows = conn.execute(sa.select(t.ledger_entries).where(t.ledger_entries.c.order_id == order_id)
                            .order_by(t.ledger_entries.c.id)).all()
    return [{"entry_type": r.entry_type, "channel": r.channel, "amount_fen": r.amount_fen,
             "provider_ref": r.provider_ref, "refund_id": r.refund_id} for r in rows]


def check(conn) -> dict:
    """Orders whose ledger does not match them (should be none), and the totals, read in the
    caller's transaction."""
    booked = (sa.select(
        t.ledger_entries.c.order_id,
        sa.func.sum(sa.case((t.ledger_entries.c.entry_type == PAYMENT, t.ledger_entries.c.amount_fen),
                            else_=0)).label("paid"),
        sa.func.sum(sa.case((t.ledger_entries.c.entry_type == REFUND, -t.ledger_entries.c.amount_fen),
                            else_=0)).label("refunded"))
        .group_by(t.ledger_entries.c.order_id).subquery())
    o = t.payment_orders.c
    rows = conn.execute(sa.select(o.id, o.paid_fen, o.refunded_fen, booked.c.paid, booked.c.refunded)
                        .select_from(t.payment_orders.outerjoin(booked, booked.c.order_id == o.id))
                        .where(sa.or_(o.paid_fen != 0, o.refunded_fen != 0, booked.c.order_id.is_not(None)))).all()
    mismatches = [{"order_id": r.id, "order_paid_fen": r.paid_fen, "ledger_paid_fen": int(r.paid or 0),
                   "order_refunded_fen": r.refunded_fen, "ledger_refunded_fen": int(r.refunded or 0)}
                  for r in rows if (r.paid_fen, r.refunded_fen) != (int(r.paid or 0), int(r.refunded or 0))]
    return {"balanced": not mismatches, "orders": len(rows), "mismatch_count": len(mismatches),
            "mismatches": mismatches[:100],
            "paid_fen": sum(int(r.paid or 0) for r in rows),
            "refunded_fen": sum(int(r.refunded or 0) for r in rows)}
