"""Which payment channel serves an order or a new payment: the one place that knows them all.

An order records the name of its channel (payment_orders.channel, payment_refunds.route).
WeChat Pay has two implementations under one name, one per API a merchant may speak; the one
that serves an order is the one its merchant speaks now (hospital.payments.merchants), so a
merchant moved from v2 to v3 carries its open orders on through v3. What does not depend on
the merchant's API (what a request needs, how a refund's news is booked) is asked of the
channel by name (`named`).

A new channel is one module with a PaymentChannel, and its line in CHANNELS.
"""
from __future__ import annotations

from hospital.errors import ValidationFailed
from hospital.payments import merchants
from hospital.payments.channels import credit, med_ins, wechatpay_v2, wechatpay_v3
from hospital.payments.channels.base import PaymentChannel, PayRequest

CHANNELS: tuple[PaymentChannel, ...] = (
    wechatpay_v3.WeChatPayV3(),
    wechatpay_v2.WeChatPayV2(),
    med_ins.MedicalInsurance(),
    credit.CreditCare(),
)
NAMES = tuple(dict.fromkeys(channel.name for channel in CHANNELS))
# An order that records no channel counts as WeChat Pay's.
UNRECORDED = wechatpay_v3.WeChatPayV3.name

_SERVING = {(channel.name, channel.api): channel for channel in CHANNELS}


class UnknownChannel(LookupError):
    """An order or refund records a channel no implementation serves."""


def name_of(order) -> str:
    """The channel an order records."""
    return order.channel or UNRECORDED


def named(name: str) -> PaymentChannel:
    """The channel recorded as `name`, for what does not depend on a merchant's API.
    Implementations sharing a name differ only in the API they speak, so the first registered
    answers for all (tests/unit/test_payment_channels.py holds them to that)."""
    for channel in CHANNELS:
        if channel.name == name:
            return channel
    raise UnknownChannel(f"no payment channel is called {str(name)[:24]!r}")


def check_request(request: PayRequest) -> None:
    """Refuse, before anything is read, a payment naming no channel of ours or lacking what its
    channel needs (400 naming the field)."""
    if request.channel not in NAMES:
        raise ValidationFailed(f"channel must be one of {', '.join(NAMES)}", field="channel", code="invalid_field")
    named(request.channel).check(request)


def for_payment(name: str, order) -> PaymentChannel:
    """The channel a patient asked to pay `order` with (a name check_request accepted)."""
    return _serving(name, order)


def for_order(order) -> PaymentChannel:
    """The channel an order is being paid, or was paid, with."""
    return _serving(name_of(order), order)


def for_merchant(name: str, merchant) -> PaymentChannel:
    """The implementation of `name` for a merchant, by the WeChat Pay API it speaks."""
    api = merchants.api_version(merchant)
    channel = _SERVING.get((name, api))
    if channel is None:
        raise UnknownChannel(f"no payment channel {str(name)[:24]!r} for a WeChat Pay {api} merchant")
    return channel


def _serving(name: str, order) -> PaymentChannel:
    channel = _SERVING.get((name, None))
    if channel is not None:
        return channel  # serves whatever the merchant speaks, or needs no merchant
    if not any(known == name for known, _ in _SERVING):
        raise UnknownChannel(f"no payment channel is called {str(name)[:24]!r}")
    return for_merchant(name, merchants.for_order(order))
