"""Abnormal orders for finance: verified notifications that fit no order of ours (unknown
order, another amount, merchant or app), money taken after an order was closed, refunds that
ended abnormal or closed, and what the watchdog (hospital.payments.watchdog) found stuck.
Each is acknowledged to the platform (so it stops retrying) and kept here once (dedupe key)
until a person resolves it, or, for a stuck state, until the state clears by itself."""
from __future__ import annotations

import sqlalchemy as sa

from hospital.db import tables as t
from hospital.payments import anomaly_rules
from hospital.timeutil import iso_utc, utcnow


def record(conn, *, source: str, reason: str, dedupe_key: str, order_id: str | None = None,
           out_refund_no: str | None = None, provider_ref: str | None = None, amount_fen: int | None = None,
           details: dict | None = None) -> bool:
    import logging

    exists = conn.execute(sa.select(t.payment_anomalies.c.id)
                          .where(t.payment_anomalies.c.dedupe_key == dedupe_key)).first()
    if exists:
        return False
    conn.execute(t.payment_anomalies.insert().values(
        source=source, reason=reason, order_id=order_id, out_refund_no=out_refund_no, provider_ref=provider_ref,
        amount_fen=amount_fen, details=details or {}, dedupe_key=dedupe_key[:160], created_at=utcnow()))
    logging.getLogger("hospital.payments").warning("abnormal payment recorded", extra={
        "source": source, "reason": reason, "order_id": order_id, "out_refund_no": out_refund_no})
    return True


def view(row) -> dict:
    """An entry of the work list, with the actions finance may take on it (none once resolved;
    resolved_by is None where the system saw its condition clear)."""
    return {"id": row.id, "source": row.source, "reason": row.reason, "order_id": row.order_id,
            "out_refund_no": row.out_refund_no, "provider_ref": row.provider_ref, "amount_fen": row.amount_fen,
            "details": row.details, "created_at": iso_utc(row.created_at), "resolved_at": iso_utc(row.resolved_at),
            "resolved_by": row.resolved_by, "resolution": row.resolution,
            "actions": [] if row.resolved_at is not None else list(anomaly_rules.allowed(row.reason))}
