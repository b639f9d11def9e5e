"""Finance's view of money: abnormal orders (the actions on them, resolving included, are
hospital.payments.anomaly_actions'), an order with refunds and ledger, refunds by hand, the
ledger check. Every call is written to the audit log, in the transaction of what it read or
changed: each function is an entry and opens that one transaction (the ledger of an order is
read by ledger.entries, in its own)."""
from __future__ import annotations

import sqlalchemy as sa

from hospital import audit
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import NotFound
from hospital.payments import anomalies as anomaly_log
from hospital.payments import ledger, orders, refunds
from hospital.unit_of_work import unit_of_work


def anomalies(principal, state: str, limit: int) -> dict:
    a = t.payment_anomalies.c
    query = sa.select(t.payment_anomalies).order_by(a.created_at.desc()).limit(limit)
    if state == "open":
        query = query.where(a.resolved_at.is_(None))
    elif state == "resolved":
        query = query.where(a.resolved_at.is_not(None))
    with transaction() as conn:
        rows = conn.execute(query).all()
        audit.add(conn, principal, "payments.anomalies_viewed", "report", None, "ok",
                  {"state": state, "count": len(rows)})
    return {"items": [anomaly_log.view(r) for r in rows]}


def order(principal, order_id: str) -> dict:
    with transaction() as conn:
        row = conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.id == order_id)).first()
        if row is None:
            raise NotFound("no such order", field="order_id")
        refund_rows = conn.execute(sa.select(t.payment_refunds).where(t.payment_refunds.c.order_id == order_id)).all()
        audit.add(conn, principal, "payments.order_viewed", "payment_order", order_id, "ok")
    return {**orders.view(row), "user_id": row.user_id, "mchid": row.mchid, "api_version": row.api_version,
            "his_error": row.his_error, "refunds": [orders.refund_view(r) for r in refund_rows],
            "ledger": ledger.entries(order_id)}


def refund(principal, order_id: str, amount_fen: int, reason: str) -> dict:
    with unit_of_work() as uow:
        row = orders.locked(uow.conn, order_id)
        if row is None:
            raise NotFound("no such order", field="order_id")
        created = refunds.request(uow, row, amount_fen, f"finance:{reason}"[:48], requested_by=principal.user_id)
        audit.add(uow.conn, principal, "payments.refund_requested", "payment_order", order_id, "ok",
                  {"amount_fen": amount_fen, "reason": reason, "out_refund_no": created["out_refund_no"]})
    return created


def ledger_check(principal) -> dict:
    with transaction() as conn:
        result = ledger.check(conn)
        audit.add(conn, principal, "payments.ledger_checked", "report", None, "ok",
                  {"balanced": result["balanced"], "orders": result["orders"]})
    return result
