"""After the money: the HIS must record the payment (the write-back is what makes a
registration paid). Run by the payment-events consumer for each paid order.

- The HIS confirms: the order is confirmed, keeping what the HIS answered (its receipt; for a
  registration fee, the registration and queue numbers).
- The HIS refuses (bill cancelled, paid by another order, other amount): the order is
  his_failed and its money goes back by a refund, in the same transaction.
- The HIS is down or slow: the message fails and comes back with backoff; the sweeper
  republishes what stays paid, and after PAYMENT_HIS_CONFIRM_WINDOW_SECONDS (2 h) refunds it
  by policy and flags it for finance. A paid order is never left paid-and-forgotten.

`confirm` (the consumer's and the sweeper's entry) reads the order, asks the HIS with no
transaction open, then records the answer in a transaction of its own; `refund_by_policy`
(its entry and the sweeper's) opens one unit of work for `fail_and_refund`.
"""
from __future__ import annotations

import dataclasses
import logging

import sqlalchemy as sa

from hospital import external_calls
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import UpstreamUnavailable
from hospital.payments import anomalies, orders, refunds
from hospital.payments.channels import registry
from hospital.timeutil import iso_utc, utcnow
from hospital.unit_of_work import unit_of_work

log = logging.getLogger("hospital.payments")


def confirm(order_id: str) -> str:
    """Entry: the HIS told of a paid order; returns the order's status after it."""
    from hospital.adapters import his

    with transaction() as conn:
        order = conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.id == order_id)).first()
    if order is None or order.status != orders.PAID:
        return getattr(order, "status", "unknown")
    try:
        with external_calls.concerning(order_id=order.id, user_id=order.user_id):
            confirmed = his.client().confirm_payment(
                bill_no=order.his_ref, pay_order_no=order.id, transaction_id=order.transaction_id or "",
                amount_fen=order.paid_fen, channel=registry.name_of(order), paid_at=iso_utc(order.paid_at))
    except his.HisRefused as exc:
        return refund_by_policy(order.id, f"{exc.code}: {exc.message}"[:200], "his_refused")
    except UpstreamUnavailable as exc:
        with transaction() as conn:
            note_his_unavailable(conn, order.id, exc.message)
        raise
    with transaction() as conn:
        moved = orders.try_move(conn, order.id, orders.CONFIRMED, his_confirmed_at=utcnow(), his_error=None,
                                his_attempts=order.his_attempts + 1,
                                his_confirmation={k: v for k, v in dataclasses.asdict(confirmed).items()
                                                  if v is not None})
    log.info("payment confirmed with the HIS", extra={"order_id": order.id, "moved": moved})
    return orders.CONFIRMED


def note_his_unavailable(conn, order_id: str, error: str) -> None:
    """One more try that did not reach the HIS, and why (the message comes back later)."""
    conn.execute(t.payment_orders.update().where(t.payment_orders.c.id == order_id).values(
        his_attempts=t.payment_orders.c.his_attempts + 1, his_error=error[:200], updated_at=utcnow()))


def refund_by_policy(order_id: str, error: str, reason: str) -> str:
    """Entry: the HIS will not (or could not in time) take the payment: all of it goes back."""
    with unit_of_work() as uow:
        left_as = fail_and_refund(uow, order_id, error, reason)
    if left_as is not None:
        return left_as
    log.warning("payment refunded by policy", extra={"order_id": order_id, "reason": reason})
    return orders.HIS_FAILED


def fail_and_refund(uow, order_id: str, error: str, reason: str, requested_by: int | None = None) -> str | None:
    """In the caller's unit of work: the order moves to his_failed and a refund of all its money
    is requested (unconfirmed ones flagged for finance, unless finance itself asked:
    `requested_by`). Returns None when done, else the status the order was left in (it could
    not move: confirmed or failed meanwhile)."""
    order = orders.locked(uow.conn, order_id)
    if not orders.try_move(uow.conn, order.id, orders.HIS_FAILED, his_error=error):
        return order.status
    order = orders.locked(uow.conn, order_id)
    refunds.request(uow, order, order.paid_fen, reason, requested_by=requested_by)
    if reason != "his_refused" and requested_by is None:
        anomalies.record(uow.conn, source="his_confirmation", reason="refunded_unconfirmed", order_id=order.id,
                         provider_ref=order.transaction_id, amount_fen=order.paid_fen,
                         dedupe_key=f"his:unconfirmed:{order.id}", details={"error": error})
    return None
