"""Three-way matching of one day (AD1), as pure rules: the provider's bill rows, streamed, against
our day (payments and refunds, keyed by our out_trade_no / out_refund_no) and the HIS's day
(keyed by our order id, which the HIS knows as pay_order_no).

Every discrepancy becomes one Finding of a kind:
- missing_ours: the provider (or the HIS) has a trade we do not;
- missing_provider: we have a payment or refund the provider's bill does not;
- missing_his: a payment the HIS confirmed to us is not in the HIS's ledger;
- amount_mismatch, status_mismatch, merchant_mismatch (merchant or app id);
- fee_mismatch: the bill's fee is not its rate applied to its amount, rounded to the fen.
A payment of ours in the last CARRY_WINDOW before midnight that the bill does not have yet is
not reported: it is carried over to the next day's run (`carried_out`), and a bill row of the
next day that matches a carried-in trade is matched, not reported twice.

Our side and the HIS's side are held as dicts (a day of them); the bill is read row by row and
never held. No I/O here: the caller loads the sides and stores the findings.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

PAYMENT, REFUND = "payment", "refund"
CARRY_WINDOW = dt.timedelta(minutes=10)
# Our states in which the provider has the money (payment) or has been asked for it back (refund).
PAID_STATES = frozenset({"paid", "confirmed", "his_failed", "refund_pending", "refunded"})
REFUND_STATES = frozenset({"processing", "success"})

MISSING_OURS, MISSING_PROVIDER, MISSING_HIS = "missing_ours", "missing_provider", "missing_his"
AMOUNT_MISMATCH, STATUS_MISMATCH, FEE_MISMATCH = "amount_mismatch", "status_mismatch", "fee_mismatch"
MERCHANT_MISMATCH = "merchant_mismatch"
KINDS = (MISSING_OURS, MISSING_PROVIDER, MISSING_HIS, AMOUNT_MISMATCH, STATUS_MISMATCH, FEE_MISMATCH,
         MERCHANT_MISMATCH)


@dataclasses.dataclass(frozen=True, slots=True)
class Ours:
    """One payment or refund of ours on the day (Beijing time)."""

    kind: str                 # payment, refund
    key: str                  # out_trade_no (our order id) or out_refund_no
    order_id: str
    amount_fen: int
    status: str               # the order's status (payment) or the refund's
    mchid: str
    appid: str
    at: dt.datetime           # paid or refund requested, Beijing time, naive
    his_confirmed: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class HisEntry:
    kind: str
    order_id: str             # the HIS's pay_order_no
    amount_fen: int


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    source: str               # provider, his
    trade: str                # payment, refund
    key: str
    order_id: str | None
    ours_fen: int | None = None
    theirs_fen: int | None = None
    detail: str = ""


@dataclasses.dataclass
class DayResult:
    findings: list[Finding]
    carried_out: dict[str, Ours]   # key -> our trade left for the next day's bill
    matched: int
    rows: int


def match(bill_rows: Iterable, ours: Mapping[str, Ours], his: Mapping[str, HisEntry], *, day: dt.date,
          carried_in: Mapping[str, Ours] | None = None) -> DayResult:
    """Match a day's bill rows (hospital.adapters.wechatpay_bill.BillRow or alike) with `ours`
    (by key) and the HIS's `his` (by order id). `carried_in`: the previous day's carried-out
    trades, which this bill may book."""
    waiting = dict(ours)
    carried = dict(carried_in or {})
    findings: list[Finding] = []
    matched = rows = 0
    for row in bill_rows:
        rows += 1
        trade = REFUND if row.refund_id else PAYMENT
        key = row.out_refund_no if trade == REFUND else row.out_trade_no
        amount = row.refund_fen if trade == REFUND else (row.order_fen if row.order_fen is not None
                                                         else row.settlement_fen)
        fee = fee_problem(row.fee_fen, amount or 0, row.rate, refund=trade == REFUND)
        mine = waiting.pop(key, None) or carried.pop(key, None)
        order_id = mine.order_id if mine else (row.out_trade_no or None)
        if fee:
            findings.append(Finding(FEE_MISMATCH, "provider", trade, key, order_id, None, row.fee_fen, fee))
        if mine is None:
            findings.append(Finding(MISSING_OURS, "provider", trade, key, None, None, amount,
                                    f"{row.trade_state} {row.transaction_id}"))
            continue
        found = _compare(mine, row, trade, key, amount)
        findings += found
        matched += not found
    day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    carried_out: dict[str, Ours] = {}
    for key, mine in waiting.items():
        if mine.kind == PAYMENT and mine.at >= day_end - CARRY_WINDOW:
            carried_out[key] = mine  # booked by the provider after midnight, perhaps
        else:
            findings.append(Finding(MISSING_PROVIDER, "provider", mine.kind, key, mine.order_id, mine.amount_fen))
    for key, mine in carried.items():  # carried in yesterday and not in today's bill either
        findings.append(Finding(MISSING_PROVIDER, "provider", mine.kind, key, mine.order_id, mine.amount_fen,
                                detail="carried over from the day before"))
    findings += his_findings(ours, his)
    return DayResult(findings, carried_out, matched, rows)


def his_findings(ours: Mapping[str, Ours], his: Mapping[str, HisEntry]) -> list[Finding]:
    """Our HIS-confirmed payments against the HIS's ledger of the day, and the HIS's entries we
    know nothing of."""
    found: list[Finding] = []
    ours_by_order = {mine.order_id: mine for mine in ours.values() if mine.kind == PAYMENT}
    for order_id, mine in ours_by_order.items():
        entry = his.get(order_id)
        if entry is None:
            if mine.his_confirmed:
                found.append(Finding(MISSING_HIS, "his", PAYMENT, mine.key, order_id, mine.amount_fen))
        elif entry.amount_fen != mine.amount_fen:
            found.append(Finding(AMOUNT_MISMATCH, "his", PAYMENT, mine.key, order_id, mine.amount_fen,
                                 entry.amount_fen))
    for order_id, entry in his.items():
        if entry.kind == PAYMENT and order_id not in ours_by_order:
            found.append(Finding(MISSING_OURS, "his", PAYMENT, order_id, order_id, None, entry.amount_fen))
    return found


def fee_problem(fee_fen: int, amount_fen: int, rate: str, *, refund: bool) -> str | None:
    """Why the bill's fee is not `rate` (e.g. "0.54%") of the amount rounded half up to the fen
    (negative on a refund), or None; a rate that cannot be read is one too."""
    if not rate:
        return None
    try:
        percent = Decimal(rate.rstrip("%"))
    except InvalidOperation:
        return f"a rate that is not a percentage: {rate!r}"
    expected = int((Decimal(amount_fen) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if refund:
        expected = -expected
    return None if expected == fee_fen else f"fee {fee_fen} fen where {rate} of {amount_fen} is {expected}"


def _compare(mine: Ours, row, trade: str, key: str, amount: int | None) -> list[Finding]:
    found = []
    if amount != mine.amount_fen:
        found.append(Finding(AMOUNT_MISMATCH, "provider", trade, key, mine.order_id, mine.amount_fen, amount))
    if (row.mchid, row.appid) != (mine.mchid, mine.appid):
        found.append(Finding(MERCHANT_MISMATCH, "provider", trade, key, mine.order_id,
                             detail=f"bill {row.mchid}/{row.appid}, ours {mine.mchid}/{mine.appid}"))
    theirs = row.refund_status if trade == REFUND else row.trade_state
    # A refund row's status is as of the bill's making and never updated: ours (from the refund
    # API) only has to be one the provider was asked for.
    ok = mine.status in REFUND_STATES if trade == REFUND else (theirs == "SUCCESS" and mine.status in PAID_STATES)
    if not ok:
        found.append(Finding(STATUS_MISMATCH, "provider", trade, key, mine.order_id,
                             detail=f"bill {theirs}, ours {mine.status}"))
    return found
