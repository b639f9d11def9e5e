"""Matching one day (AD1), as pure rules: each counterpart's statement of the day (a provider's
bill or statement, or the HIS's ledger), read entry by entry, against what we expect that
counterpart to have booked on that day.

Every discrepancy becomes one Finding of a kind:
- missing_ours: the counterpart has a trade we do not;
- missing_provider / missing_his: we have a trade the provider's statement (or the HIS's
  ledger) does not;
- amount_mismatch, status_mismatch, merchant_mismatch (merchant or app id);
- fee_mismatch: the bill's fee is not its rate applied to its amount, rounded to the fen.

Midnight: a trade of ours in the last CARRY_WINDOW of the day that the counterpart does not
have is not reported; it is carried over (`carried_out`) and expected on the next day, where
it is matched or, if still absent, reported once. The other way round, a counterpart's entry of
the day that we expect on the next day within CARRY_WINDOW after midnight (clocks differ) is
matched now and `taken`: the next day's run does not expect it again.

Our side is held as a dict of compact records (a day of them); the statement is read entry by
entry and never held. No I/O here: the caller loads our side, streams the statements, looks
up the few entries we did not expect (`unexpected`), and stores the findings.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import NamedTuple

PAYMENT, REFUND = "payment", "refund"
CARRY_WINDOW = dt.timedelta(minutes=10)
# Counterparts: the payment providers' statements and the HIS's ledger.
WECHATPAY, MEDICAL_INSURANCE, CREDIT, HIS = "wechatpay", "medical_insurance", "credit", "his"
SOURCES = (WECHATPAY, MEDICAL_INSURANCE, CREDIT, HIS)
# Our states in which the provider has the money (payment) or has been asked for it back (refund).
PAID_STATES = frozenset({"paid", "confirmed", "his_failed", "refund_pending", "refunded"})
REFUND_STATES = frozenset({"processing", "succeeded"})

MISSING_OURS, MISSING_PROVIDER, MISSING_HIS = "missing_ours", "missing_provider", "missing_his"
AMOUNT_MISMATCH, STATUS_MISMATCH, FEE_MISMATCH = "amount_mismatch", "status_mismatch", "fee_mismatch"
MERCHANT_MISMATCH = "merchant_mismatch"
KINDS = (MISSING_OURS, MISSING_PROVIDER, MISSING_HIS, AMOUNT_MISMATCH, STATUS_MISMATCH, FEE_MISMATCH,
         MERCHANT_MISMATCH)


class Ours(NamedTuple):
    """One trade of ours as a counterpart should have booked it. Named tuples, as Theirs: a
    day holds a million of them, each made in one step (a frozen dataclass sets its fields one
    by one, several times slower)."""

    kind: str                 # payment, refund
    key: str                  # what the counterpart knows it by: our order id or out_refund_no
    order_id: str
    amount_fen: int
    status: str               # the order's status (payment) or the refund's
    due: dt.date              # the day (Beijing) the counterpart should book it
    late: bool = False        # in the last CARRY_WINDOW of `due`
    early: bool = False       # in the first CARRY_WINDOW of `due`
    mchid: str = ""           # "" where the statement names no merchant
    appid: str = ""


class Theirs(NamedTuple):
    """One entry of a counterpart's statement, as the matching needs it."""

    trade: str                # payment, refund
    key: str
    amount_fen: int
    state: str                # as the statement prints it
    settled: bool             # the statement says the money moved (or was asked back)
    ref: str = ""             # their number for it
    mchid: str | None = None  # None: the statement names no merchant
    appid: str | None = None
    fee_problem: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    source: str               # wechatpay, medical_insurance, credit, his
    trade: str                # payment, refund
    key: str
    order_id: str | None
    ours_fen: int | None = None
    theirs_fen: int | None = None
    detail: str = ""

    @property
    def fingerprint(self) -> str:
        """What makes a finding the same one on a rerun of its day."""
        return f"{self.source}:{self.kind}:{self.trade}:{self.key}"


@dataclasses.dataclass
class SourceResult:
    findings: list[Finding]
    carried_out: list[Ours]        # ours expected on the next day instead
    unexpected: list[Theirs]       # their entries we did not expect today: look them up, then `settle`
    matched: int
    entries: int


def missing_kind(source: str) -> str:
    return MISSING_HIS if source == HIS else MISSING_PROVIDER


def match(source: str, entries: Iterable[Theirs], expected: Mapping[str, Ours],
          carried_in: Mapping[str, Ours] | None = None, taken: frozenset[str] = frozenset()) -> SourceResult:
    """Match one counterpart's statement of a day with what we expect it to have booked that
    day (`expected`, by key) and what the day before carried over to it. `taken`: keys an earlier
    day's statement already booked (not expected again)."""
    waiting = {key: mine for key, mine in expected.items() if key not in taken}
    carried = {key: mine for key, mine in (carried_in or {}).items() if key not in taken}
    findings: list[Finding] = []
    unexpected: list[Theirs] = []
    matched = count = 0
    for theirs in entries:
        count += 1
        mine = waiting.pop(theirs.key, None) or carried.pop(theirs.key, None)
        if theirs.fee_problem:
            findings.append(Finding(FEE_MISMATCH, source, theirs.trade, theirs.key, mine.order_id if mine else None,
                                    None, None, theirs.fee_problem))
        if mine is None:
            if theirs.key not in taken:
                unexpected.append(theirs)
            continue
        found = compare(source, mine, theirs)
        findings += found
        matched += not found
    carried_out: list[Ours] = []
    for mine in waiting.values():
        if mine.late:
            carried_out.append(mine)  # booked by the counterpart after midnight, perhaps
        else:
            findings.append(Finding(missing_kind(source), source, mine.kind, mine.key, mine.order_id,
                                    mine.amount_fen))
    for mine in carried.values():  # carried in from the day before and not in today's statement either
        findings.append(Finding(missing_kind(source), source, mine.kind, mine.key, mine.order_id, mine.amount_fen,
                                detail=f"carried over from {mine.due.isoformat()}"))
    return SourceResult(findings, carried_out, unexpected, matched, count)


def settle(source: str, unexpected: Iterable[Theirs], known: Mapping[str, Ours], day: dt.date
           ) -> tuple[list[Finding], list[Ours]]:
    """The entries we did not expect on `day`, given what we know of their keys on other days
    (`known`): ours due early on the next day are matched now and returned as taken; anything
    else is a finding (missing_ours, or ours on another day)."""
    findings: list[Finding] = []
    taken: list[Ours] = []
    for theirs in unexpected:
        mine = known.get(theirs.key)
        if mine is not None and mine.early and mine.due == day + dt.timedelta(days=1):
            findings += compare(source, mine, theirs)
            taken.append(mine)
            continue
        detail = f"{theirs.state} {theirs.ref}".strip()
        if mine is not None:
            detail += f"; ours is of {mine.due.isoformat()}"
        findings.append(Finding(MISSING_OURS, source, theirs.trade, theirs.key, mine.order_id if mine else None,
                                None, theirs.amount_fen, detail))
    return findings, taken


def compare(source: str, mine: Ours, theirs: Theirs) -> list[Finding]:
    found = []
    if theirs.amount_fen != mine.amount_fen:
        found.append(Finding(AMOUNT_MISMATCH, source, theirs.trade, theirs.key, mine.order_id, mine.amount_fen,
                             theirs.amount_fen))
    if theirs.mchid is not None and (theirs.mchid, theirs.appid) != (mine.mchid, mine.appid):
        found.append(Finding(MERCHANT_MISMATCH, source, theirs.trade, theirs.key, mine.order_id,
                             detail=f"theirs {theirs.mchid}/{theirs.appid}, ours {mine.mchid}/{mine.appid}"))
    ours_ok = source == HIS or mine.status in (REFUND_STATES if mine.kind == REFUND else PAID_STATES)
    if theirs.trade != mine.kind or not theirs.settled or not ours_ok:
        found.append(Finding(STATUS_MISMATCH, source, theirs.trade, theirs.key, mine.order_id,
                             detail=f"theirs {theirs.state}, ours {mine.status}"))
    return found


def from_bill_row(row) -> Theirs:
    """A WeChat Pay bill row (hospital.adapters.wechatpay_bill.BillRow) as an entry to match.
    A refund row's status is as of the bill's making and never updated: being on the bill is
    what counts (final refund states come from the refund API). The fee is charged on what is
    settled to the merchant (应结订单金额: the order less the merchant's coupons)."""
    if row.refund_id:
        amount = row.refund_fen or 0
        return Theirs(REFUND, row.out_refund_no, amount, row.refund_status or row.trade_state, True,
                      row.refund_id, row.mchid, row.appid, fee_problem(row.fee_fen, amount, row.rate, refund=True))
    amount = row.order_fen if row.order_fen is not None else row.settlement_fen
    return Theirs(PAYMENT, row.out_trade_no, amount, row.trade_state, row.trade_state == "SUCCESS",
                  row.transaction_id, row.mchid, row.appid,
                  fee_problem(row.fee_fen, row.settlement_fen, row.rate, refund=False))


_PLAIN_RATE = re.compile(r"([0-9]+)(?:\.([0-9]+))?%*")


def fee_problem(fee_fen: int, amount_fen: int, rate: str, *, refund: bool) -> str | None:
    """Why the bill's fee is not `rate` (e.g. "0.54%") of the amount rounded half up to the fen
    (negative on a refund), or None; a rate that cannot be read is one too."""
    if not rate:
        return None
    plain = _PLAIN_RATE.fullmatch(rate)
    if plain is not None and amount_fen >= 0:
        # The same as the Decimal below, in integers (once per bill row): "0.54" is 54 / 10^2
        # per cent, and half up is adding half the divisor before dividing.
        fraction = plain[2] or ""
        divisor = 100 * 10 ** len(fraction)
        expected = (amount_fen * int(plain[1] + fraction) * 2 + divisor) // (2 * divisor)
    else:
        try:
            percent = Decimal(rate.rstrip("%"))
            expected = int((Decimal(amount_fen) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        except (InvalidOperation, ValueError):  # not a number, or NaN or Infinity
            return f"a rate that is not a percentage: {rate!r}"
    if refund:
        expected = -expected
    return None if expected == fee_fen else f"fee {fee_fen} fen where {rate} of {amount_fen} is {expected}"


def windows(at: dt.datetime) -> tuple[bool, bool]:
    """(late, early): whether a Beijing time is in the last or the first CARRY_WINDOW of its day."""
    since_midnight = at - dt.datetime.combine(at.date(), dt.time(), at.tzinfo)
    return since_midnight >= dt.timedelta(days=1) - CARRY_WINDOW, since_midnight < CARRY_WINDOW
