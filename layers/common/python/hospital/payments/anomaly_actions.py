"""Finance's safe actions on an abnormal order (AS1): ask the provider again, retry the HIS,
refund, or resolve with a note.

Each goes the way the system itself goes: the provider is asked through the order's channel
(hospital.payments.sweeper.query, the refund worker's own steps), the HIS through
his_confirmation.confirm, money back through refunds.request under a reason derived from the
entry (so its out_refund_no is too). Doing one twice, or twice at once, does it once: a
payment or a refund's news is applied once, an order the HIS confirmed is not confirmed again,
the second refund finds the first. Which action fits which entry is
hospital.payments.anomaly_rules' to say; a resolved entry takes none (409, as does an action
its reason does not allow). Resolving records a note and never moves money.

Every action is audited with the caller and its outcome, refusals and failures included:
`refund` and `resolve` in the transaction of their change; the provider's and the HIS's
answers after they came, since no transaction is held open while they are asked. So `act`,
`resolve` and the actions they run are entries, each opening transactions of its own.
"""
from __future__ import annotations

import sqlalchemy as sa

from hospital import audit, text
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import AppError, Conflict, NotFound, ValidationFailed
from hospital.payments import anomalies, his_confirmation, orders, refunds, results, sweeper
from hospital.payments import anomaly_rules as rules
from hospital.payments.channels import registry
from hospital.payments.order_rules import PAID, Refusal
from hospital.payments.refund_rules import ABNORMAL, PROCESSING, REQUESTED
from hospital.timeutil import utcnow
from hospital.unit_of_work import unit_of_work

ACTION = "payments.anomaly_action"
RESOLVED = "payments.anomaly_resolved"
TARGET = "payment_anomaly"


def act(principal, anomaly_id: str, action: str, note: str | None = None, amount_fen: int | None = None) -> tuple:
    """Entry: `action` on the entry; returns (answer, done_later): done_later when the money
    goes back later (a refund requested, the worker carries it out)."""
    problem = rules.body_problem(action, note, amount_fen)
    if problem is not None:
        raise ValidationFailed(problem[1], field=problem[0])
    number = _number(anomaly_id)
    if action == rules.RESOLVE and note is not None:  # a note is what body_problem required
        return {"action": action, "outcome": {"resolved": True}, "anomaly": resolve(principal, anomaly_id, note)}, False
    with transaction() as conn:
        entry = conn.execute(sa.select(t.payment_anomalies).where(t.payment_anomalies.c.id == number)).first()
    if entry is None:
        raise NotFound("no such abnormal order", field="anomaly_id")
    try:
        _refuse(rules.action_refusal(entry.reason, action, entry.resolved_at is not None))
        if action == rules.REFUND_ACTION:
            outcome = refund(principal, entry, note, amount_fen)  # audited in its own transaction
        else:
            outcome = (query_provider if action == rules.QUERY_PROVIDER else retry_his)(entry)
            audit.record(principal, ACTION, TARGET, str(number), "ok",
                         {"action": action, "reason": entry.reason, "note": note, "outcome": outcome})
    except AppError as exc:
        audit.record(principal, ACTION, TARGET, str(number), "refused" if exc.status < 500 else "error",
                     {"action": action, "reason": entry.reason, "note": note, "error": exc.code})
        raise
    return {"action": action, "outcome": outcome, "anomaly": anomalies.view(entry)}, action == rules.REFUND_ACTION


def resolve(principal, anomaly_id: str, note: str) -> dict:
    """Entry: the entry is resolved with finance's note (once: a second time is 409). Nothing
    else changes."""
    number = _number(anomaly_id)
    a = t.payment_anomalies.c
    with transaction() as conn:
        done = conn.execute(t.payment_anomalies.update().where(a.id == number, a.resolved_at.is_(None))
                            .values(resolved_at=utcnow(), resolved_by=principal.user_id, resolution=note)).rowcount
        row = conn.execute(sa.select(t.payment_anomalies).where(a.id == number)).first()
        if row is None:
            raise NotFound("no such abnormal order", field="anomaly_id")
        if done:
            audit.add(conn, principal, RESOLVED, TARGET, str(number), "ok", {"reason": row.reason, "resolution": note})
    if not done:
        audit.record(principal, RESOLVED, TARGET, str(number), "refused", {"error": "already_resolved"})
        _refuse(rules.action_refusal(row.reason, rules.RESOLVE, resolved=True))
    return anomalies.view(row)


# ---- the actions ---------------------------------------------------------------------------------

def query_provider(entry) -> dict:
    """Entry: ask the provider what it knows of the entry's refund, or of its order: whether an
    order being paid (or closed) was paid, and how its open refunds stand."""
    with transaction() as conn:
        order, named_refund = _order_of(conn, entry), _refund_of(conn, entry)
    if order is None:
        raise Conflict("this abnormal order names no order of ours", code="nothing_to_query")
    if named_refund is not None:
        _ask_about_refund(order, named_refund)
    elif rules.asks_the_payment(order.status):
        sweeper.query(order.id)
    elif not rules.nothing_to_ask(order.status):
        for open_refund in _open_refunds(order.id):
            _ask_about_refund(order, open_refund)
    return _standing(order.id)


def retry_his(entry) -> dict:
    """Entry: the HIS is told of the paid order again (it refuses: the money goes back, as on
    any refusal; it is down: 503, and nothing changed)."""
    with transaction() as conn:
        order = _order_of(conn, entry)
    if order is None:
        raise Conflict("this abnormal order names no order of ours", code="nothing_to_confirm")
    his_confirmation.confirm(order.id)
    return _standing(order.id)


def refund(principal, entry, note: str | None, amount_fen: int | None) -> dict:
    """Entry: the entry's order gives money back, by default all that can still be refunded,
    under the entry's own refund reason: asking again finds that refund instead of a second.
    A paid order the HIS has not confirmed is failed and refunded in full (the HIS is no longer
    told of it), as the sweeper does when the HIS never confirms."""
    reason = rules.refund_reason_of(entry.id)
    with unit_of_work() as uow:
        order = orders.locked(uow.conn, entry.order_id) if entry.order_id else None
        if order is None:
            raise Conflict("this abnormal order names no order of ours", code="nothing_to_refund")
        number = refunds.out_refund_no(order.id, reason)
        existing = _refund_row(uow.conn, number)
        if existing is not None:  # asked before: the same refund (another amount is refused)
            created = refunds.request(uow, order, existing.amount_fen if amount_fen is None else amount_fen, reason,
                                      requested_by=principal.user_id)
        else:
            amount = rules.refund_amount(order.status, order.paid_fen, refunds.refundable(uow.conn, order), amount_fen)
            if isinstance(amount, Refusal):
                raise Conflict(amount.message, code=amount.code, field=amount.field)
            if order.status == PAID:
                his_confirmation.fail_and_refund(uow, order.id, "refunded by finance before the HIS confirmed",
                                                 reason, requested_by=principal.user_id)
                created = orders.refund_view(_refund_row(uow.conn, number))
            else:
                created = refunds.request(uow, order, amount, reason, requested_by=principal.user_id)
        outcome = {"refund": created, "repeated": existing is not None}
        audit.add(uow.conn, principal, ACTION, TARGET, str(entry.id), "ok",
                  {"action": rules.REFUND_ACTION, "reason": entry.reason, "note": note, "order_id": order.id,
                   "out_refund_no": created["out_refund_no"], "amount_fen": created["amount_fen"],
                   "repeated": existing is not None})
    return outcome


def _ask_about_refund(order, row) -> None:
    if row.status == REQUESTED:
        refunds.process(row.id)  # what the worker does; idempotent by out_refund_no
    elif row.status == PROCESSING:
        refunds.follow_up(row.id)
    elif row.status == ABNORMAL:
        # The provider may have finished it since (the card unfrozen): its word is applied once.
        answer = registry.for_order(order).follow_up(order, row)
        if answer is not None:
            results.apply_refund(answer)


# ---- reads ------------------------------------------------------------------------------------------

def _order_of(conn, entry):
    if not entry.order_id:
        return None
    return conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.id == entry.order_id)).first()


def _refund_of(conn, entry):
    return _refund_row(conn, entry.out_refund_no) if entry.out_refund_no else None


def _refund_row(conn, out_refund_no: str):
    return conn.execute(sa.select(t.payment_refunds).where(t.payment_refunds.c.out_refund_no == out_refund_no)).first()


def _open_refunds(order_id: str) -> list:
    with transaction() as conn:
        return conn.execute(sa.select(t.payment_refunds).where(
            t.payment_refunds.c.order_id == order_id,
            t.payment_refunds.c.status.in_((REQUESTED, PROCESSING, ABNORMAL)))).all()


def _standing(order_id: str) -> dict:
    """How the order and its refunds stand after the action."""
    with transaction() as conn:
        order = conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.id == order_id)).one()
        refund_rows = conn.execute(sa.select(t.payment_refunds).where(t.payment_refunds.c.order_id == order_id)
                                   .order_by(t.payment_refunds.c.created_at)).all()
    return {"order_status": order.status, "paid_fen": order.paid_fen, "refunded_fen": order.refunded_fen,
            "refunds": [{"out_refund_no": r.out_refund_no, "amount_fen": r.amount_fen, "status": r.status}
                        for r in refund_rows]}


def _number(anomaly_id: str) -> int:
    number = text.whole_number(anomaly_id, low=0, high=text.MAX_ID)
    if number is None:
        raise ValidationFailed("anomaly_id must be a whole number", field="anomaly_id")
    return number


def _refuse(refusal: Refusal | None) -> None:
    if refusal is not None:
        raise Conflict(refusal.message, code=refusal.code, field=refusal.field)
