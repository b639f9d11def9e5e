"""The counterparts other than WeChat Pay (whose bills are files, hospital.reconciliation.
statements): each one's statement of a day read from its adapter as matching_rules.Theirs
entries, hashed and counted as they are read.

What each is matched on:
- the insurance platform: the insurance part (fund + account + other) of each settlement and
  of each refund, by our order id / out_refund_no; the cash part is WeChat Pay's, on its bill;
- the credit provider: each charge by our order id, each reversal by our out_refund_no; a
  settlement (the debt paid back by the patient or the provider) moves no money of ours and is
  counted, not matched;
- the HIS: each payment it booked for an order of ours (pay_order_no), at the order's amount.
  Payments made at the HIS's own windows (no order of ours) are not ours to match, and its
  refund entries follow the registrations' cancellations, which the outpatient code follows
  one by one: both are counted, not matched.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

from hospital.reconciliation import matching_rules as m
from hospital.reconciliation.statements import Input, hashed


def counterpart_statement(source: str, day: dt.date, record: Input) -> Iterator[m.Theirs]:
    if source == m.MEDICAL_INSURANCE:
        from hospital.adapters import medical_insurance

        return hashed(record, medical_insurance.client().statement(day), insurance_entry)
    if source == m.CREDIT:
        from hospital.adapters import credit

        return _matched(hashed(record, credit.client().statement(day), credit_entry))
    if source == m.HIS:
        from hospital.adapters import his

        return _matched(hashed(record, his.client().daily_ledger(day), his_entry))
    raise ValueError(f"no statement of {source}")


def _matched(entries: Iterable[m.Theirs | None]) -> Iterator[m.Theirs]:
    return (entry for entry in entries if entry is not None)


def insurance_entry(entry) -> m.Theirs:
    amount = entry.fund_fen + entry.account_fen + entry.other_fen
    if entry.kind == "refund":
        # a refund not made through us has no number of ours: known by the platform's
        return m.Theirs(m.REFUND, entry.out_refund_no or f"ins:{entry.refund_id}", amount, entry.status, True,
                        entry.refund_id or "")
    return m.Theirs(m.PAYMENT, entry.order_id, amount, entry.status, entry.status == "SUCCESS",
                    entry.settlement_id)


def credit_entry(entry) -> m.Theirs | None:
    if entry.kind == "charge":  # approved, overdue or settled: the charge stands
        return m.Theirs(m.PAYMENT, entry.order_id, entry.amount_fen, entry.status, True, entry.charge_id)
    if entry.kind == "reversal":
        return m.Theirs(m.REFUND, entry.out_refund_no or f"credit:{entry.entry_id}", entry.amount_fen, entry.status,
                        entry.status == "succeeded", entry.entry_id)
    return None


def his_entry(entry) -> m.Theirs | None:
    if entry.kind != "payment" or not entry.pay_order_no:
        return None
    return m.Theirs(m.PAYMENT, entry.pay_order_no, entry.amount_fen, "booked", True, entry.receipt_no or "")
