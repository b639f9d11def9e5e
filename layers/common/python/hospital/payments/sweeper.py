"""The payments sweeper (a schedule, every minute): what no notification or message settled.

- Unpaid orders past their time are closed at the provider first (through their channel),
  then here, so a late tap cannot pay them; if the provider says the order was paid after
  all, the payment is applied instead.
- Orders being paid with no notification yet are queried (notifications are not guaranteed).
- Refunds the provider is still processing are queried until final; requested refunds whose
  message went missing are sent to the worker again.
- Paid orders the HIS has not confirmed are sent for confirmation again, and after the
  confirmation window refunded by policy.
Each item is independent: one failing (WeChat down) leaves the rest to go on. So `run` and
each of its steps are entries, with transactions of their own, none open while a provider or
the HIS is asked.
"""
from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa

from hospital import external_calls, settings
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import UpstreamUnavailable
from hospital.payments import his_confirmation, messages, orders, refund_records, refunds
from hospital.payments.channels import registry
from hospital.timeutil import utcnow
from hospital.unit_of_work import unit_of_work

log = logging.getLogger("hospital.payments")
BATCH = 50


def run(now: dt.datetime | None = None) -> dict:
    now = now or utcnow()
    done = {"closed": 0, "queried": 0, "refunds_followed": 0, "refunds_resent": 0, "his_resent": 0,
            "refunded_by_policy": 0, "errors": 0}
    o, r = t.payment_orders.c, t.payment_refunds.c
    quiet = now - dt.timedelta(seconds=settings.PAYMENT_QUERY_AFTER_SECONDS.get())
    with transaction() as conn:
        expired = conn.execute(sa.select(o.id).where(o.status.in_((orders.CREATED, orders.PAYING)),
                                                     o.expires_at <= now).limit(BATCH)).scalars().all()
        unnotified = conn.execute(sa.select(o.id).where(
            o.status == orders.PAYING, o.expires_at > now, o.updated_at <= quiet,
            sa.or_(o.checked_at.is_(None), o.checked_at <= quiet)).limit(BATCH)).scalars().all()
        processing = conn.execute(sa.select(r.id).where(
            r.status == refund_records.PROCESSING, r.updated_at <= quiet)
            .order_by(r.updated_at).limit(BATCH)).scalars().all()
        stuck_refunds = conn.execute(sa.select(r.id).where(
            r.status == refund_records.REQUESTED, r.updated_at <= now - dt.timedelta(minutes=5))
            .limit(BATCH)).scalars().all()
        unconfirmed = conn.execute(sa.select(o.id, o.paid_at).where(
            o.status == orders.PAID, o.updated_at <= now - dt.timedelta(minutes=5)).limit(BATCH)).all()
    window = dt.timedelta(seconds=settings.PAYMENT_HIS_CONFIRM_WINDOW_SECONDS.get())
    steps = ([(_close_expired, i, "closed") for i in expired] + [(query, i, "queried") for i in unnotified]
             + [(refunds.follow_up, i, "refunds_followed") for i in processing]
             + [(_resend_refund, i, "refunds_resent") for i in stuck_refunds]
             + [((_policy_refund if paid_at <= now - window else _resend_confirmation), i,
                 "refunded_by_policy" if paid_at <= now - window else "his_resent") for i, paid_at in unconfirmed])
    for step, item, counter in steps:
        try:
            if step(item) is not False:
                done[counter] += 1
        except Exception:  # the next run tries again; the others go on
            done["errors"] += 1
            log.exception("payments sweeper step failed", extra={"step": step.__name__, "item": item})
    return done


def _order(conn, order_id: str):
    return conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.id == order_id)).one()


def _close_expired(order_id: str) -> bool:
    with transaction() as conn:
        order = _order(conn, order_id)
    if order.status == orders.PAYING:
        with external_calls.concerning(order_id=order.id, user_id=order.user_id):
            if registry.for_order(order).close(order, lambda: query(order.id)):
                return False  # paid after all: it stays open here
    with transaction() as conn:
        return orders.try_move(conn, order.id, orders.CLOSED, closed_reason="expired")  # paid meanwhile?


def query(order_id: str) -> bool:
    """Entry (the sweeper's step, and finance's query of an abnormal order): ask the provider
    about an order; apply a payment it knows of. True if it was paid."""
    with transaction() as conn:
        order = _order(conn, order_id)
        conn.execute(t.payment_orders.update().where(t.payment_orders.c.id == order.id).values(checked_at=utcnow()))
    with external_calls.concerning(order_id=order.id, user_id=order.user_id):
        return registry.for_order(order).query(order)


def _resend_refund(refund_id: str) -> None:
    """A refund still `requested` minutes after it was asked for: its message is sent again, and
    counted as `resent` (a refund that keeps coming back here is stuck)."""
    with unit_of_work() as uow:
        uow.conn.execute(t.payment_refunds.update().where(t.payment_refunds.c.id == refund_id)
                         .values(updated_at=utcnow()))
        uow.publish(messages.RefundRequested(refund_id=refund_id))
        refund_records.moved(refund_records.refund_row(uow.conn, refund_id), "resent")


def _resend_confirmation(order_id: str) -> None:
    with unit_of_work() as uow:
        uow.conn.execute(t.payment_orders.update().where(t.payment_orders.c.id == order_id,
                                                         t.payment_orders.c.status == orders.PAID)
                         .values(updated_at=utcnow()))
        uow.publish(messages.PaymentPaid(order_id=order_id))


def _policy_refund(order_id: str) -> None:
    # One last try first: the HIS may be back.
    try:
        if his_confirmation.confirm(order_id) == orders.CONFIRMED:
            return
    except UpstreamUnavailable:
        pass
    his_confirmation.refund_by_policy(order_id, "the HIS did not confirm within the window", "his_unconfirmed")
