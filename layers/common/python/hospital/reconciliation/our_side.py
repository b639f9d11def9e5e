"""Our side of a day, as each counterpart should have booked it (matching_rules.Ours), read
from our orders and refunds in one streamed query per kind (a day may hold a million).

- WeChat Pay: payments of WeChat orders (their amount) and the cash part of mixed insurance
  orders, on the day the provider took the money (paid_at is the provider's success time);
  refunds routed to WeChat (the cash part of a mixed refund) on the day they were asked for.
- Medical insurance: the insurance part (fund + account + other) of mixed orders, and of their
  refunds; the key is our order id / out_refund_no, as we sent them to the platform.
- Credit: orders charged on credit, the day they were charged; their reversals.
- HIS: every payment the HIS confirmed, on the day it confirmed it, at the order's amount.

Days are Beijing days; times in the database are naive UTC.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import sqlalchemy as sa

from hospital.db import tables as t
from hospital.reconciliation import matching_rules as m

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
STREAM = {"stream_results": True, "yield_per": 5000}

_o = t.payment_orders.c
_r = t.payment_refunds.c
# What passes through WeChat Pay: its own orders and refunds, and the cash part of insurance ones.
_WECHAT_PAYMENT = sa.or_(_o.channel == "wechat", sa.and_(_o.channel == "med_ins", _o.cash_fen > 0))
_WECHAT_REFUND = sa.or_(_r.route == "wechat", sa.and_(_r.route == "med_ins", _r.cash_fen > 0))


def bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """A Beijing day as naive UTC [start, end)."""
    start = dt.datetime.combine(day, dt.time(), BEIJING).astimezone(dt.UTC).replace(tzinfo=None)
    return start, start + dt.timedelta(days=1)


def _beijing(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC).astimezone(BEIJING)


def _ours(kind: str, key: str, order_id: str, amount: int, status: str, at: dt.datetime, mchid: str = "",
          appid: str = "") -> m.Ours:
    local = _beijing(at)
    late, early = m.windows(local)
    return m.Ours(kind, key, order_id, amount, status, local.date(), late, early, mchid, appid)


class _Booked(NamedTuple):
    """What a counterpart books of our payments or refunds: the amount, the time it books them
    by, which ones, and the merchant and app id where its statement names them."""

    amount: Any
    at: Any
    where: Any
    merchant: tuple[Any, ...] = ()


def _payments(source: str) -> _Booked:
    if source == m.HIS:
        return _Booked(_o.amount_fen, _o.his_confirmed_at, _o.his_confirmed_at.is_not(None))
    if source == m.WECHATPAY:
        return _Booked(sa.case((_o.channel == "med_ins", _o.cash_fen), else_=_o.amount_fen), _o.paid_at,
                       sa.and_(_o.paid_at.is_not(None), _WECHAT_PAYMENT),
                       (sa.func.coalesce(_o.mchid, ""), sa.func.coalesce(_o.appid, "")))
    if source == m.MEDICAL_INSURANCE:
        amount = (sa.func.coalesce(_o.ins_fund_fen, 0) + sa.func.coalesce(_o.ins_account_fen, 0)
                  + sa.func.coalesce(_o.ins_other_fen, 0))
        return _Booked(amount, _o.paid_at, sa.and_(_o.paid_at.is_not(None), _o.channel == "med_ins", amount > 0))
    # credit: the charge is the payment
    return _Booked(_o.amount_fen, _o.paid_at, sa.and_(_o.paid_at.is_not(None), _o.channel == "credit"))


# Refunds a provider has had: accepted (processing, succeeded), ended abnormal, or answered with
# its number. One still `requested` was never sent or its answer is not in; one closed without a
# provider number was refused on the spot: no provider books those.
def _sent(refunds=t.payment_refunds.c):
    return sa.or_(refunds.status.in_(("processing", "succeeded", "abnormal")), refunds.provider_refund_id.is_not(None))


def _refunds(source: str) -> _Booked | None:
    if source == m.HIS:
        return None
    if source == m.WECHATPAY:
        return _Booked(sa.case((_r.route == "med_ins", _r.cash_fen), else_=_r.amount_fen), _r.created_at,
                       sa.and_(_WECHAT_REFUND, _sent()),
                       (sa.func.coalesce(_o.mchid, ""), sa.func.coalesce(_o.appid, "")))
    if source == m.MEDICAL_INSURANCE:
        return _Booked(_r.insurance_fen, _r.created_at, sa.and_(_r.route == "med_ins", _r.insurance_fen > 0, _sent()))
    return _Booked(_r.amount_fen, _r.created_at, sa.and_(_r.route == "credit", _sent()))


def merchants_of(conn, day: dt.date) -> set[str]:
    """The WeChat Pay merchants we took money at, or refunded through, on `day`."""
    start, end = bounds(day)
    mchid = sa.func.coalesce(_o.mchid, "")
    paid = sa.select(mchid).distinct().where(_o.paid_at >= start, _o.paid_at < end, _WECHAT_PAYMENT)
    refunded = (sa.select(mchid).distinct().select_from(t.payment_refunds.join(t.payment_orders, _o.id == _r.order_id))
                .where(_r.created_at >= start, _r.created_at < end, _WECHAT_REFUND, _sent()))
    return set(conn.execute(paid).scalars()) | set(conn.execute(refunded).scalars())


# The part of its day a trade falls in, as expected() asks the database for it: comparing
# there saves reading a million times back (a DATETIME is the dearest column to parse).
MIDDLE, LATE, EARLY = 0, 1, 2


def expected(conn, source: str, day: dt.date) -> dict[str, m.Ours]:
    """What `source` should have booked on `day`, by key. A busy day holds a million: each
    amount, status, merchant and app id is kept once (not once per row)."""
    start, end = bounds(day)
    late_from, early_until = end - m.CARRY_WINDOW, start + m.CARRY_WINDOW
    same: dict = {}
    found: dict[str, m.Ours] = {}
    for kind, key, order_id, amount, status, part, mchid, appid in _read(
            conn, source, lambda at: sa.and_(at >= start, at < end),
            lambda at: sa.case((at >= late_from, LATE), (at < early_until, EARLY), else_=MIDDLE)):
        found[key] = m.Ours(kind, key, order_id, same.setdefault(amount, amount), same.setdefault(status, status),
                            day, part == LATE, part == EARLY, same.setdefault(mchid, mchid),
                            same.setdefault(appid, appid))
    return found


def known(conn, source: str, keys: Iterable[str]) -> dict[str, m.Ours]:
    """Ours of any day among `keys` (the entries a statement had that the day did not expect)."""
    wanted = list(dict.fromkeys(keys))
    found: dict[str, m.Ours] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        for kind, key, order_id, amount, status, at, mchid, appid in _read(conn, source, None, lambda at: at, chunk):
            found[key] = _ours(kind, key, order_id, amount, status, at, mchid, appid)
    return found


def _read(conn, source: str, when, time, keys: list[str] | None = None) -> Iterator[tuple]:
    """(kind, key, order id, amount, status, time(the time booked), mchid, appid) of each
    trade booked `when` (or among `keys`)."""
    booked = _payments(source)
    query = sa.select(_o.id, booked.amount, _o.status, time(booked.at), *booked.merchant).where(booked.where)
    if when is not None:
        query = query.where(when(booked.at))
    if keys is not None:
        query = query.where(_o.id.in_(keys))
    for key, amount, status, at, *merchant in conn.execution_options(**STREAM).execute(query):
        mchid, appid = merchant or ("", "")
        yield m.PAYMENT, key, key, int(amount), status, at, mchid, appid
    refunds = _refunds(source)
    if refunds is None:
        return
    query = (sa.select(_r.out_refund_no, _r.order_id, refunds.amount, _r.status, time(refunds.at), *refunds.merchant)
             .select_from(t.payment_refunds.join(t.payment_orders, _o.id == _r.order_id)).where(refunds.where))
    if when is not None:
        query = query.where(when(refunds.at))
    if keys is not None:
        query = query.where(_r.out_refund_no.in_(keys))
    for key, order_id, amount, status, at, *merchant in conn.execution_options(**STREAM).execute(query):
        mchid, appid = merchant or ("", "")
        yield m.REFUND, key, order_id, int(amount or 0), status, at, mchid, appid
