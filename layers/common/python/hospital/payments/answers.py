"""What the payment routes answer with (hospital.api_contract): orders with their refunds, the
opened payment of each channel, credit care, and finance's abnormal orders, ledger and debts.
Times are ISO-8601 UTC, money integer fen."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from hospital.answer_base import Answer


class Order(Answer):
    order_id: str
    kind: str = Field(description="registration or outpatient")
    his_ref: str = Field(description="the HIS bill this order pays")
    description: str
    amount_fen: int = Field(description="the HIS bill's amount")
    status: str = Field(description="created, paying, paid, confirmed, his_failed, refund_pending, refunded, "
                                    "closed")
    channel: str | None = Field(description="wechat, med_ins or credit, once a payment was opened")
    paid_fen: int
    refunded_fen: int
    transaction_id: str | None
    paid_at: str | None
    expires_at: str = Field(description="when an unpaid order is closed")
    created_at: str


class Refund(Answer):
    refund_id: str
    out_refund_no: str
    route: str = Field(description="the channel the money goes back by: wechat, med_ins or credit")
    amount_fen: int
    reason: str
    status: str = Field(description="requested, processing, succeeded, closed or abnormal")
    created_at: str
    finished_at: str | None


class OrderWithRefunds(Order):
    refunds: list[Refund]


class OrderPage(Answer):
    items: list[Order]


class PaymentParams(Answer):
    """What the page hands to wx.requestPayment, signed by our merchant key."""

    appId: str
    timeStamp: str
    nonceStr: str
    package: str
    signType: str
    paySign: str


class WeChatPayment(Answer):
    order: Order
    request_payment: PaymentParams


class InsuranceSplit(Answer):
    fund_fen: int | None = Field(description="paid by the pooled insurance fund")
    account_fen: int | None = Field(description="paid from the patient's personal insurance account")
    other_fen: int | None
    cash_fen: int | None = Field(description="left for the patient to pay with WeChat Pay")


class InsurancePayment(Answer):
    order: Order
    mix_trade_no: str | None
    split: InsuranceSplit


# Paying answers by channel: WeChat Pay the parameters to pay with, medical insurance the
# settled split, credit care the order itself (charged at once).
PayAnswer = WeChatPayment | InsurancePayment | OrderWithRefunds


class Debt(Answer):
    order_id: str
    amount_fen: int
    reversed_fen: int = Field(description="given back by refunds of the order")
    status: str = Field(description="open, overdue, settled or reversed")
    due_date: str | None
    settled_by: str | None = Field(description="patient or provider")
    settled_at: str | None
    created_at: str


class CreditCare(Answer):
    """The caller's credit care: the enrolment's fields are absent when not enrolled."""

    enrolled: bool
    enrolment_id: str | None = None
    status: str | None = Field(None, description="the provider's word on the enrolment (ours when it is silent)")
    limit_fen: int | None = None
    available_fen: int | None = Field(None, description="the provider's; null when it could not be asked")
    overdue_fen: int | None = Field(None, description="the provider's; null when it could not be asked")
    enrolled_at: str | None = None
    debts: list[Debt]


class CreditWithdrawal(Answer):
    enrolled: bool
    withdrawn_at: str


class DebtForFinance(Debt):
    user_id: int


class DebtPage(Answer):
    items: list[DebtForFinance]


class Anomaly(Answer):
    id: int
    source: str
    reason: str
    order_id: str | None
    out_refund_no: str | None
    provider_ref: str | None
    amount_fen: int | None
    details: dict[str, Any] | None
    created_at: str
    resolved_at: str | None
    resolved_by: int | None = Field(description="null where the system saw the condition clear")
    resolution: str | None
    actions: list[str] = Field(description="the actions finance may take on it (none once resolved)")


class AnomalyPage(Answer):
    items: list[Anomaly]


class Resolved(Answer):
    resolved: bool


class RefundAsked(Answer):
    refund: Refund
    repeated: bool = Field(description="true when this action was asked before: the same refund")


class RefundStanding(Answer):
    out_refund_no: str
    amount_fen: int
    status: str


class Standing(Answer):
    """How the order and its refunds stand after the action."""

    order_status: str
    paid_fen: int
    refunded_fen: int
    refunds: list[RefundStanding]


class AnomalyActionResult(Answer):
    action: str
    outcome: Resolved | RefundAsked | Standing
    anomaly: Anomaly


class LedgerEntry(Answer):
    entry_type: str = Field(description="payment or refund")
    channel: str
    amount_fen: int = Field(description="above 0 received from the patient, below 0 paid back")
    provider_ref: str | None
    refund_id: str | None


class OrderForFinance(OrderWithRefunds):
    user_id: int
    mchid: str | None
    api_version: str | None = Field(description="v3 or v2, the WeChat Pay API of the merchant")
    his_error: str | None
    ledger: list[LedgerEntry]


class LedgerMismatch(Answer):
    order_id: str
    order_paid_fen: int
    ledger_paid_fen: int
    order_refunded_fen: int
    ledger_refunded_fen: int


class LedgerCheck(Answer):
    balanced: bool
    orders: int = Field(description="orders with money or ledger entries")
    mismatch_count: int
    mismatches: list[LedgerMismatch] = Field(description="the first 100")
    paid_fen: int
    refunded_fen: int
