"""The payment-channel registry, without a database: which channel serves an order or a new
payment, what a request must carry, how each channel's refunds are split and checked, and
that an unknown channel is refused by name."""
from types import SimpleNamespace

import pytest

from hospital.adapters.wechatpay_v2 import MerchantV2
from hospital.adapters.wechatpay_v3 import MerchantV3
from hospital.errors import Conflict, ValidationFailed
from hospital.payments.channels import registry
from hospital.payments.channels.base import PaymentChannel, PayRequest
from hospital.payments.channels.credit import CreditCare
from hospital.payments.channels.med_ins import MedicalInsurance
from hospital.payments.channels.wechatpay_v2 import WeChatPayV2
from hospital.payments.channels.wechatpay_v3 import WeChatPayV3

V3 = MerchantV3("1900000109", ("wx-mini",), "SERIAL", private_key=None, apiv3_key=b"k" * 32)
V2 = MerchantV2("1900000110", ("wx-mini",), "k" * 32)


def order(**values):
    row = {"id": "o1", "channel": None, "mchid": None, "paid_fen": 10000, "cash_fen": None}
    return SimpleNamespace(**{**row, **values})


def refund(**values):
    return SimpleNamespace(**{"amount_fen": 10000, "cash_fen": None, **values})


def test_every_channel_the_registry_holds_implements_the_whole_interface():
    assert registry.NAMES == ("wechat", "med_ins", "credit")
    for channel in registry.CHANNELS:
        assert isinstance(channel, PaymentChannel) and not getattr(type(channel), "__abstractmethods__", None)


def test_an_order_on_credit_or_insurance_is_served_by_its_recorded_channel():
    assert isinstance(registry.for_order(order(channel="credit")), CreditCare)
    assert isinstance(registry.for_order(order(channel="med_ins", mchid="1900000109")), MedicalInsurance)


def test_wechat_pay_is_served_by_the_api_the_merchant_speaks():
    assert isinstance(registry.for_merchant("wechat", V3), WeChatPayV3)
    assert isinstance(registry.for_merchant("wechat", V2), WeChatPayV2)
    assert (WeChatPayV3.api, WeChatPayV2.api) == ("v3", "v2")


def test_an_order_recording_a_channel_nobody_serves_is_refused_by_name():
    with pytest.raises(registry.UnknownChannel, match="'bank_x'"):
        registry.for_order(order(channel="bank_x"))
    with pytest.raises(registry.UnknownChannel, match="'bank_x'"):
        registry.named("bank_x")


def test_an_order_that_records_no_channel_is_a_wechat_pay_order():
    assert registry.name_of(order(channel=None)) == "wechat"
    assert registry.name_of(order(channel="credit")) == "credit"


@pytest.mark.parametrize("name", ["paypal", "wechat_v3", ""])
def test_a_payment_naming_an_unknown_channel_is_400_naming_the_field(name):
    with pytest.raises(ValidationFailed) as refused:
        registry.check_request(PayRequest(name, "127.0.0.1"))
    assert refused.value.field == "channel" and refused.value.code == "invalid_field"
    assert "wechat, med_ins, credit" in refused.value.message


def test_an_insurance_payment_needs_the_auth_code_and_the_others_need_nothing_more():
    with pytest.raises(ValidationFailed) as refused:
        registry.check_request(PayRequest("med_ins", "127.0.0.1"))
    assert refused.value.field == "auth_code"
    registry.check_request(PayRequest("med_ins", "127.0.0.1", "AC-1"))
    registry.check_request(PayRequest("wechat", "127.0.0.1"))
    registry.check_request(PayRequest("credit", "127.0.0.1"))


def test_a_mixed_order_is_refunded_whole_split_into_cash_and_insurance():
    mixed = order(channel="med_ins", cash_fen=1000)
    with pytest.raises(Conflict) as refused:
        registry.named("med_ins").refund_parts(mixed, 5000)
    assert refused.value.code == "refund_must_be_full"
    assert registry.named("med_ins").refund_parts(mixed, 10000) == {"cash_fen": 1000, "insurance_fen": 9000}
    assert registry.named("wechat").refund_parts(order(channel="wechat"), 5000) == {}
    assert registry.named("credit").refund_parts(order(channel="credit"), 5000) == {}


def test_what_the_provider_itself_refunds_is_the_cash_part_of_a_mixed_refund_and_all_of_any_other():
    assert registry.named("med_ins").refunded_by_provider(refund(cash_fen=1000)) == 1000
    assert registry.named("wechat").refunded_by_provider(refund()) == 10000
    assert registry.named("credit").refunded_by_provider(refund()) == 10000


def test_implementations_sharing_a_name_book_alike():
    # `named` answers with the first implementation of a name for these: they must not differ.
    rules = ("check", "refund_parts", "refunded_by_provider", "refund_succeeded", "finish_refund")
    for name in registry.NAMES:
        same_name = [type(c) for c in registry.CHANNELS if c.name == name]
        for rule in rules:
            assert len({getattr(cls, rule) for cls in same_name}) == 1, (name, rule)
