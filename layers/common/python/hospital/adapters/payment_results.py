"""What a payment provider tells us about a payment or a refund, in our terms.

Each payment adapter turns its provider's answers (notifications, query answers, answers to
our calls) into these; hospital.payments applies them and never reads a provider's own
fields. Amounts are integer fen, times naive UTC.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class PaymentResult:
    source: str              # wechatpay_v3, wechatpay_v2, query_v3, ...
    mchid: str               # the WeChat Pay merchant the money came to; "" when none (credit)
    appid: str
    out_trade_no: str
    transaction_id: str
    trade_state: str         # SUCCESS, or anything else (not paid yet, closed ...)
    total_fen: int
    paid_at: dt.datetime     # naive UTC
    channel: str = "wechat"  # the channel recorded on the order it pays
    signed_by: str | None = None  # the merchant whose key verified a notification


@dataclass(frozen=True)
class RefundResult:
    source: str
    out_refund_no: str
    refund_status: str       # SUCCESS, CLOSED, ABNORMAL, PROCESSING
    refund_fen: int | None
    provider_refund_id: str | None
    finished_at: dt.datetime | None = None
    mchid: str | None = None      # the merchant a notification names
    signed_by: str | None = None  # the merchant whose key verified it


def fen(value) -> int:
    """An amount as a notification carries it: a JSON whole number, or a string of ASCII
    digits. A bool, a float or other digits ("٣") are not amounts: ValueError."""
    if isinstance(value, bool):
        raise ValueError("not an amount")  # not TypeError: callers answer ValueError as a malformed notification
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        from hospital import text

        number = text.whole_number(value, low=0, high=text.MAX_ID)  # ASCII digits only
        if number is not None:
            return number
    raise ValueError("not an amount in fen")
