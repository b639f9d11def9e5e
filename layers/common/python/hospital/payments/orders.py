"""Payment orders: one per HIS bill being paid, with an explicit state machine (its states and
which move may follow which are pure rules: hospital.payments.order_rules).

A refund of a paid order the HIS has not confirmed yet leaves it paid (the confirmation goes
on); only a confirmed order waits in refund_pending.

Every move is one guarded UPDATE (`WHERE status IN (...)`, the states order_rules says the
move may follow), so of two racing moves one wins and the other sees it lost. The amount
always comes from the HIS bill, never from the client. An order is open (and blocks a second
order for the same bill) until closed or refunded.

The entries (create, get_view, list_own) open one transaction each, `create` only after the
HIS was asked for the bill; everything else here works in the caller's.
"""
from __future__ import annotations

import datetime as dt
import logging
import uuid

import sqlalchemy as sa

from hospital import external_calls, money, settings
from hospital.db import tables as t
from hospital.db import transaction
from hospital.errors import Conflict, Forbidden, NotFound, UpstreamUnavailable, ValidationFailed
from hospital.payments import order_rules

# The states and the transition table are the pure rules' (order_rules); every caller knows
# them by these names.
from hospital.payments.order_rules import ALLOWED_FROM as ALLOWED_FROM
from hospital.payments.order_rules import CLOSED as CLOSED
from hospital.payments.order_rules import CONFIRMED as CONFIRMED
from hospital.payments.order_rules import CREATED as CREATED
from hospital.payments.order_rules import HIS_FAILED as HIS_FAILED
from hospital.payments.order_rules import MONEY_TAKEN as MONEY_TAKEN
from hospital.payments.order_rules import OPEN as OPEN
from hospital.payments.order_rules import PAID as PAID
from hospital.payments.order_rules import PAYING as PAYING
from hospital.payments.order_rules import REFUND_PENDING as REFUND_PENDING
from hospital.payments.order_rules import REFUNDED as REFUNDED
from hospital.timeutil import iso_utc, utcnow

log = logging.getLogger("hospital.payments")

KINDS = ("registration", "outpatient")


def ttl() -> dt.timedelta:
    """How long a patient has to pay before the order (and its WeChat prepay) is closed."""
    return dt.timedelta(seconds=settings.PAYMENT_ORDER_TTL_SECONDS.get())


class TransitionRefused(Conflict):
    """An order was not in a state the move may follow, where the caller knew it would be."""

    code = "illegal_transition"


def move(conn, order_id: str, to: str, **values) -> None:
    """Guarded transition of an order whose state the caller knows (it holds the row lock and
    checked the state): a refusal here is a broken assumption, so it raises and the whole
    transaction rolls back, rather than leaving the order behind unnoticed."""
    if not try_move(conn, order_id, to, **values):
        raise TransitionRefused(f"order {order_id} cannot move to {to} from where it is")


def try_move(conn, order_id: str, to: str, **values) -> bool:
    """Guarded transition that may lose a race; False if the order was not in a state `to` may
    follow. The caller says what a refusal means (another payment won, it was closed meanwhile)."""
    sources = order_rules.entered_from(to)  # ValueError for a state we do not have
    if order_rules.frees_the_bill(to):
        values["open_his_ref"] = None  # the bill may be paid again by a new order
    result = conn.execute(t.payment_orders.update().where(
        t.payment_orders.c.id == order_id, t.payment_orders.c.status.in_(sources))
        .values(status=to, updated_at=utcnow(), **values))
    return result.rowcount == 1


def locked(conn, order_id: str):
    """The order row, locked for this transaction (None if unknown)."""
    return conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.id == order_id)
                        .with_for_update()).first()


@external_calls.concerning_caller
def create(principal, kind: str, his_ref: str) -> tuple[dict, bool]:
    """An order for the caller's HIS bill (the amount is the HIS's). Asking again for a bill
    with an open order of the caller's returns that order. Returns (order, created)."""
    from hospital.adapters import his

    if kind not in KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(KINDS)}", field="kind")
    try:
        bill = his.client().bill(his_ref)
    except his.HisRefused as exc:
        if exc.code == "E_NO_BILL":
            raise NotFound("the HIS has no such bill", field="his_ref") from None
        raise UpstreamUnavailable(f"the HIS refused the bill query ({exc.code})") from None
    except money.MoneyError:
        raise UpstreamUnavailable("the HIS bill has an amount we cannot read") from None
    with transaction() as conn:
        row, created = open_order(conn, principal, kind, his_ref, bill, utcnow())
    return view(row), created


def open_order(conn, principal, kind: str, his_ref: str, bill, now, *, pay_by: dt.datetime | None = None):
    """In the caller's transaction: the caller's open order for the HIS bill, or a new one,
    payable for ttl() or until `pay_by` if sooner (a slot the HIS holds only so long).
    Returns (the order row, whether it is new)."""
    if not _holds_card(conn, principal.user_id, bill.patient_id):
        raise NotFound("the HIS has no such bill", field="his_ref")  # not theirs: do not confirm it exists
    if bill.bill_type != kind:
        raise ValidationFailed(f"bill {his_ref} is a {bill.bill_type} bill, not {kind}", field="kind")
    existing = conn.execute(sa.select(t.payment_orders).where(
        t.payment_orders.c.kind == kind, t.payment_orders.c.open_his_ref == his_ref)).first()
    if existing is not None:
        if existing.user_id != principal.user_id:
            raise Conflict("another order for this bill is open", code="bill_order_open")
        return existing, False
    if bill.status != "unpaid":
        raise Conflict(f"the bill is {bill.status}", code=f"bill_{bill.status}", field="his_ref")
    try:
        amount = money.check_order_amount(bill.amount_fen)
    except money.MoneyError:
        raise Conflict("the bill's amount cannot be paid online", code="amount_out_of_range") from None
    order_id = uuid.uuid4().hex
    try:
        conn.execute(t.payment_orders.insert().values(
            id=order_id, user_id=principal.user_id, kind=kind, his_ref=his_ref, his_patient_id=bill.patient_id,
            description=bill.title[:128], amount_fen=amount, open_his_ref=his_ref, status=CREATED,
            expires_at=min(now + ttl(), pay_by or now + ttl()), created_at=now, updated_at=now))
    except sa.exc.IntegrityError:
        raise Conflict("another order for this bill was opened at the same moment",
                       code="bill_order_open") from None
    return conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.id == order_id)).one(), True


def _holds_card(conn, user_id: int, his_patient_id: str) -> bool:
    return conn.execute(sa.select(t.patient_cards.c.id).where(
        t.patient_cards.c.user_id == user_id, t.patient_cards.c.his_patient_id == his_patient_id,
        t.patient_cards.c.unbound_at.is_(None))).first() is not None


def own(conn, principal, order_id: str):
    """The caller's order, read in the caller's transaction; 404 for anyone else's."""
    row = conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.id == order_id)).first()
    if row is None or row.user_id != principal.user_id:
        raise NotFound("no such order", field="order_id")
    return row


def get_view(principal, order_id: str) -> dict:
    with transaction() as conn:
        row = own(conn, principal, order_id)
        refunds = conn.execute(sa.select(t.payment_refunds).where(t.payment_refunds.c.order_id == order_id)
                               .order_by(t.payment_refunds.c.created_at)).all()
    return {**view(row), "refunds": [refund_view(r) for r in refunds]}


def list_own(principal, limit: int = 20) -> dict:
    with transaction() as conn:
        rows = conn.execute(sa.select(t.payment_orders).where(t.payment_orders.c.user_id == principal.user_id)
                            .order_by(t.payment_orders.c.created_at.desc()).limit(limit)).all()
    return {"items": [view(r) for r in rows]}


def view(row) -> dict:
    return {"order_id": row.id, "kind": row.kind, "his_ref": row.his_ref, "description": row.description,
            "amount_fen": row.amount_fen, "status": row.status, "channel": row.channel,
            "paid_fen": row.paid_fen, "refunded_fen": row.refunded_fen, "transaction_id": row.transaction_id,
            "paid_at": iso_utc(row.paid_at), "expires_at": iso_utc(row.expires_at),
            "created_at": iso_utc(row.created_at)}


def refund_view(row) -> dict:
    return {"refund_id": row.id, "out_refund_no": row.out_refund_no, "route": row.route,
            "amount_fen": row.amount_fen, "reason": row.reason, "status": row.status,
            "created_at": iso_utc(row.created_at), "finished_at": iso_utc(row.finished_at)}


def ensure_payable(row, principal) -> None:
    if row.user_id != principal.user_id:
        raise Forbidden("not your order")
    refused = order_rules.payable_refusal(row.status, row.expires_at, utcnow())
    if refused is not None:
        raise Conflict(refused.message, code=refused.code)
