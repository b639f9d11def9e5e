"""Whether a provider's news fits the order it names: pure rules (plain data in, a decision
out, no I/O; importable without the database). The news comes as the adapters' results
(hospital.adapters.payment_results); hospital.payments.payment_news, results and
medical_insurance apply the verdicts (news that does not fit changes no order: it is recorded
for finance and acknowledged).
"""
from __future__ import annotations

from typing import Protocol

from hospital.adapters.payment_results import PaymentResult, RefundResult

UNKNOWN_ORDER = "unknown_order"
MERCHANT_MISMATCH = "merchant_mismatch"
NEVER_SENT_TO_PROVIDER = "never_sent_to_provider"
APP_MISMATCH = "app_mismatch"
AMOUNT_MISMATCH = "amount_mismatch"
REFUND_AMOUNT_MISMATCH = "refund_amount_mismatch"
MED_INS_MISMATCH = "med_ins_mismatch"
DUPLICATE, SECOND_TRANSACTION = "duplicate", "second_transaction"


class OrderTerms(Protocol):
    """What an order recorded that a payment must match."""

    @property
    def mchid(self) -> str | None: ...  # the merchant it was opened at (None: never sent to one)
    @property
    def appid(self) -> str | None: ...
    @property
    def amount_fen(self) -> int: ...


class MixedTerms(Protocol):
    """What a mixed (medical-insurance) order recorded of its split."""

    @property
    def mix_trade_no(self) -> str | None: ...
    @property
    def amount_fen(self) -> int: ...
    @property
    def ins_fund_fen(self) -> int | None: ...
    @property
    def ins_account_fen(self) -> int | None: ...
    @property
    def ins_other_fen(self) -> int | None: ...
    @property
    def cash_fen(self) -> int | None: ...


def payment_mismatch(order: OrderTerms | None, news: PaymentResult) -> str | None:
    """Why news that an order is paid does not fit it, or None if it does."""
    if order is None:
        return UNKNOWN_ORDER
    if news.signed_by is not None and news.mchid != news.signed_by:
        return MERCHANT_MISMATCH  # news of one merchant signed with another's key
    if news.mchid and order.mchid is None:
        # Money that came to one of our merchants pays only an order we opened there (which
        # recorded the merchant); a credit charge names no merchant.
        return NEVER_SENT_TO_PROVIDER
    if order.mchid is not None and order.mchid != news.mchid:
        return MERCHANT_MISMATCH
    if order.appid is not None and news.appid and order.appid != news.appid:
        return APP_MISMATCH
    if order.amount_fen != news.total_fen:
        return AMOUNT_MISMATCH
    return None


def payment_repeat(order_transaction_id: str | None, news_transaction_id: str) -> str | None:
    """News of an order already paid: the same transaction again is a duplicate; another one
    means it was paid twice at the provider. None: the order was not paid yet."""
    if order_transaction_id is None:
        return None
    return DUPLICATE if order_transaction_id == news_transaction_id else SECOND_TRANSACTION


def refund_mismatch(order_mchid: str | None, news: RefundResult, refunded_by_provider: int) -> str | None:
    """Why news of a refund does not fit it: another merchant named (or signing), or another
    amount than the provider itself gives back of it (`refunded_by_provider`, its channel's say)."""
    if news.mchid is not None and (news.mchid != (news.signed_by or news.mchid) or news.mchid != order_mchid):
        return MERCHANT_MISMATCH
    if news.refund_fen is not None and news.refund_fen != refunded_by_provider:
        return REFUND_AMOUNT_MISMATCH
    return None


def mixed_fees(order: MixedTerms) -> dict:
    """A mixed order's split as WeChat's mixed-order news states it."""
    return {"total_fee": order.amount_fen, "med_ins_gov_fee": order.ins_fund_fen,
            "med_ins_self_fee": order.ins_account_fen, "med_ins_other_fee": order.ins_other_fen,
            "med_ins_cash_fee": order.cash_fen}


def mixed_mismatch(order: MixedTerms | None, mix_trade_no: object, fees: dict) -> str | None:
    """Why news of a mixed order does not fit it: no such order, another mixed order number,
    or any part of the split different."""
    if order is None:
        return UNKNOWN_ORDER
    if order.mix_trade_no != mix_trade_no or fees != mixed_fees(order):
        return MED_INS_MISMATCH
    return None
