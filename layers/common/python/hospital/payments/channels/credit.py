"""Credit care (OC1, OC2), paying on credit: the provider approves a charge (idempotent by the
order id, the charge number) and the order is paid, with a debt beside it that stays open
until the provider settles it; a refund reverses (that part of) the debt. The enrolments and
debts are hospital.payments.credit_care.

`pay`, `query` and `_charge` are entries: the enrolment read, the claim, the charge (asked
with no transaction open) and the recording of its answer each stand on their own.
"""
from __future__ import annotations

from hospital.adapters import credit
from hospital.db import transaction
from hospital.errors import Conflict
from hospital.payments import credit_care, orders, payment_news
from hospital.payments.channels.base import PaymentChannel, PayRequest, RefundRefused
from hospital.timeutil import utcnow


class CreditCare(PaymentChannel):
    name = credit_care.CHANNEL

    def pay(self, principal, order, request: PayRequest) -> dict:
        with transaction() as conn:
            enrolment = credit_care.active_enrolment(conn, principal.user_id)
        if enrolment is None:
            raise Conflict("enrol in credit care first", code="not_enrolled", field="channel")
        # Claim the order for credit first (created -> paying, channel credit): a WeChat payment
        # cannot start meanwhile, and one that is open stops this one. Paying both ways could take
        # the money twice.
        with transaction() as conn:
            claimed = orders.try_move(conn, order.id, orders.PAYING, channel=self.name)
        if not claimed:
            raise Conflict("a payment of this order is already open; finish it or let it expire",
                           code="payment_in_progress")
        with transaction() as conn:
            claimed_order = orders.own(conn, principal, order.id)
        if self._charge(claimed_order, enrolment) != "paid":
            raise Conflict("the credit provider declined this charge (limit or status)", code="credit_declined")
        return orders.get_view(principal, order.id)

    def query(self, order) -> bool:
        """A credit payment whose outcome we never learnt (an outage or a crash after the
        charge): asked again with the same charge number."""
        with transaction() as conn:
            enrolment = credit_care.latest_enrolment(conn, order.user_id)
        if enrolment is None:
            with transaction() as conn:  # give the claim back, unless the order was closed meanwhile
                orders.try_move(conn, order.id, orders.CREATED, channel=None)
            return False
        return self._charge(order, enrolment) in ("paid", "duplicate")

    def _charge(self, order, enrolment) -> str:
        """Charge the claimed order and apply the answer: paid, or the order is given back
        (created). An outage leaves it claimed: the sweeper asks again (query)."""
        try:
            charge = credit.client().charge(enrolment.provider_enrolment_id, order.id, order.amount_fen,
                                            order.description)
        except credit.CreditRefused:
            charge = {"status": "declined"}
        now = utcnow()
        result = credit.charge_result(charge, order.id, order.amount_fen, now, self.name)
        if result is None:
            with transaction() as conn:  # give the claim back, unless the sweeper closed the order meanwhile
                orders.try_move(conn, order.id, orders.CREATED, channel=None)
            return "declined"

        def record_debt(conn, paid_order) -> None:
            credit_care.record_debt(conn, paid_order, enrolment, charge["charge_id"], charge.get("due_date"), now)

        return payment_news.apply_payment(result, on_paid=record_debt)

    def refund(self, order, refund):
        try:
            answer = credit.client().reverse(order.id, refund.out_refund_no, refund.amount_fen)
        except credit.CreditRefused as exc:
            raise RefundRefused(f"{exc.code}: {exc.message}") from None
        return credit.reversal_result(answer, refund.out_refund_no, refund.amount_fen)

    def follow_up(self, order, refund):
        return None  # reversals are idempotent by out_refund_no: asked again

    def refund_succeeded(self, conn, order, refund, provider_ref, at, now) -> str:
        outcome = super().refund_succeeded(conn, order, refund, provider_ref, at, now)
        credit_care.on_refunded(conn, order.id, refund.amount_fen, now)  # the debt shrinks with it
        return outcome
