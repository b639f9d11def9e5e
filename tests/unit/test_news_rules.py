"""Whether a provider's news fits the order it names, pure: each mismatch reason of a payment
(unknown order, merchant, never sent to the provider, app, amount), of a refund (merchant,
amount) and of a mixed order, and repeated news (docs/wechatpay.md)."""
import dataclasses
import datetime as dt

import pytest

from hospital.adapters.payment_results import PaymentResult, RefundResult
from hospital.payments.news_rules import (
    mixed_fees,
    mixed_mismatch,
    payment_mismatch,
    payment_repeat,
    refund_mismatch,
)

MCHID, OTHER_MCHID, APPID = "1900000109", "1900000999", "wx-mini"


@dataclasses.dataclass(frozen=True)
class Order:
    mchid: str | None = MCHID
    appid: str | None = APPID
    amount_fen: int = 2500
    mix_trade_no: str | None = None
    ins_fund_fen: int | None = None
    ins_account_fen: int | None = None
    ins_other_fen: int | None = None
    cash_fen: int | None = None


def paid(**changes) -> PaymentResult:
    news = PaymentResult(source="wechatpay_v3", mchid=MCHID, appid=APPID, out_trade_no="o1", transaction_id="4200",
                         trade_state="SUCCESS", total_fen=2500, paid_at=dt.datetime(2026, 12, 1), signed_by=MCHID)
    return dataclasses.replace(news, **changes)


# ---- a payment --------------------------------------------------------------------------------


def test_news_that_fits_the_order_is_taken():
    assert payment_mismatch(Order(), paid()) is None


@pytest.mark.parametrize(("order", "news", "reason"), [
    (None, paid(), "unknown_order"),
    (Order(), paid(signed_by=OTHER_MCHID), "merchant_mismatch"),  # one merchant's news under another's key
    (Order(mchid=None), paid(), "never_sent_to_provider"),  # money for an order never opened at WeChat
    (Order(mchid=OTHER_MCHID), paid(signed_by=None), "merchant_mismatch"),  # opened at another merchant
    (Order(), paid(mchid=OTHER_MCHID, signed_by=None), "merchant_mismatch"),
    (Order(), paid(appid="wx-other"), "app_mismatch"),
    (Order(), paid(total_fen=2499), "amount_mismatch"),
    (Order(), paid(total_fen=2501), "amount_mismatch"),
], ids=["unknown-order", "signed-by-another", "never-sent", "order-at-another-merchant", "news-of-another-merchant",
        "another-app", "one-fen-less", "one-fen-more"])
def test_each_payment_mismatch_reason(order, news, reason):
    assert payment_mismatch(order, news) == reason


def test_the_signing_merchant_is_checked_before_anything_the_order_says():
    assert payment_mismatch(Order(mchid=None), paid(signed_by=OTHER_MCHID)) == "merchant_mismatch"


def test_a_credit_charge_names_no_merchant_and_pays_an_order_opened_at_none_OC1():
    credit = paid(source="credit", mchid="", appid="", signed_by=None, channel="credit")
    assert payment_mismatch(Order(mchid=None, appid=None), credit) is None
    assert payment_mismatch(Order(mchid=None, appid=None), dataclasses.replace(credit, total_fen=1)) == \
        "amount_mismatch"


def test_an_app_is_compared_only_when_both_name_one():
    assert payment_mismatch(Order(appid=None), paid(appid="wx-any")) is None
    assert payment_mismatch(Order(), paid(appid="")) is None


def test_repeated_news_of_a_paid_order_is_a_duplicate_or_a_second_transaction():
    assert payment_repeat(None, "4200") is None  # not paid yet
    assert payment_repeat("4200", "4200") == "duplicate"
    assert payment_repeat("4200", "4201") == "second_transaction"


# ---- a refund ---------------------------------------------------------------------------------


def refund(**changes) -> RefundResult:
    news = RefundResult(source="wechatpay_v3", out_refund_no="RF1", refund_status="SUCCESS", refund_fen=2500,
                        provider_refund_id="5000", mchid=MCHID, signed_by=MCHID)
    return dataclasses.replace(news, **changes)


@pytest.mark.parametrize(("order_mchid", "news", "by_provider", "reason"), [
    (MCHID, refund(), 2500, None),
    (MCHID, refund(mchid=None, signed_by=None), 2500, None),  # the worker's own answer names no merchant
    (MCHID, refund(signed_by=None), 2500, None),
    (MCHID, refund(signed_by=OTHER_MCHID), 2500, "merchant_mismatch"),
    (OTHER_MCHID, refund(), 2500, "merchant_mismatch"),
    (MCHID, refund(refund_fen=2499), 2500, "refund_amount_mismatch"),
    (MCHID, refund(refund_fen=2501), 2500, "refund_amount_mismatch"),
    (MCHID, refund(refund_fen=None), 2500, None),  # an answer without the amount
    (MCHID, refund(refund_fen=3000), 3000, None),  # a mixed refund: WeChat gives back its cash part only
    (OTHER_MCHID, refund(refund_fen=1), 2500, "merchant_mismatch"),  # the merchant first
], ids=["fits", "no-merchant-named", "unsigned", "signed-by-another", "order-at-another-merchant", "one-fen-less",
        "one-fen-more", "no-amount", "cash-part", "merchant-before-amount"])
def test_each_refund_mismatch_reason(order_mchid, news, by_provider, reason):
    assert refund_mismatch(order_mchid, news, by_provider) == reason


# ---- a mixed (medical-insurance) order ---------------------------------------------------------

MIXED = Order(amount_fen=10000, mix_trade_no="MX1", ins_fund_fen=5000, ins_account_fen=1500, ins_other_fen=500,
              cash_fen=3000)
FEES = {"total_fee": 10000, "med_ins_gov_fee": 5000, "med_ins_self_fee": 1500, "med_ins_other_fee": 500,
        "med_ins_cash_fee": 3000}


def test_a_mixed_order_fits_when_its_number_and_every_part_agree_OP2():
    assert mixed_fees(MIXED) == FEES
    assert mixed_mismatch(MIXED, "MX1", dict(FEES)) is None


@pytest.mark.parametrize(("order", "mix_trade_no", "fees", "reason"), [
    (None, "MX1", FEES, "unknown_order"),
    (MIXED, "MX2", FEES, "med_ins_mismatch"),
    (MIXED, "MX1", {**FEES, "total_fee": 10001}, "med_ins_mismatch"),
    (MIXED, "MX1", {**FEES, "med_ins_gov_fee": 4999, "med_ins_cash_fee": 3001}, "med_ins_mismatch"),  # same total
    (MIXED, "MX1", {**FEES, "med_ins_cash_fee": "3000"}, "med_ins_mismatch"),  # numbers kept as sent
], ids=["unknown-order", "another-mixed-order", "another-total", "another-split", "a-string-amount"])
def test_each_mixed_order_mismatch_OP2(order, mix_trade_no, fees, reason):
    assert mixed_mismatch(order, mix_trade_no, fees) == reason
