"""Consistency checks (AS4): the invariants the data must keep whatever the code did, who may
see which, and how a report is put together. Pure (plain data in, a decision out, no I/O):
hospital.reconciliation.consistency finds the rows that break each invariant, and
hospital.reconciliation.consistency_reports runs and stores them.

    ledger_vs_orders                the ledger's payments and refunds add up to each order's
                                    paid_fen and refunded_fen (hospital.payments.ledger.check)
    paid_without_his_record         a confirmed order (or one being refunded after it) has the
                                    HIS's receipt
    registration_not_booked         the confirmed order of a registration has it booked at the HIS
    refund_without_payment          every refund (row or ledger entry) has the payment it returns
    refunds_above_paid              no order gives back more than was paid
    case_ended_with_open_dispatch   a completed or cancelled rescue case has no dispatch still open
"""
from __future__ import annotations

LEDGER_VS_ORDERS = "ledger_vs_orders"
PAID_WITHOUT_HIS_RECORD = "paid_without_his_record"
REGISTRATION_NOT_BOOKED = "registration_not_booked"
REFUND_WITHOUT_PAYMENT = "refund_without_payment"
REFUNDS_ABOVE_PAID = "refunds_above_paid"
CASE_ENDED_WITH_OPEN_DISPATCH = "case_ended_with_open_dispatch"
CHECKS = (LEDGER_VS_ORDERS, PAID_WITHOUT_HIS_RECORD, REGISTRATION_NOT_BOOKED, REFUND_WITHOUT_PAYMENT,
          REFUNDS_ABOVE_PAID, CASE_ENDED_WITH_OPEN_DISPATCH)
MONEY = frozenset({LEDGER_VS_ORDERS, PAID_WITHOUT_HIS_RECORD, REGISTRATION_NOT_BOOKED, REFUND_WITHOUT_PAYMENT,
                   REFUNDS_ABOVE_PAID})

# The rows kept of each broken invariant (the count says how many there are): enough to start
# from, small enough to store every day.
ROWS_KEPT = 50

# Who sees which checks: IT administration looks for software faults everywhere; finance sees
# the money's invariants, not the rescue service's.
_SEEN_BY = {"it_admin": frozenset(CHECKS), "super_admin": frozenset(CHECKS), "finance": MONEY}


def visible(roles) -> frozenset[str]:
    """The checks a caller holding `roles` may see."""
    return frozenset().union(*(_SEEN_BY.get(role, frozenset()) for role in roles))


def finding(check: str, count: int, rows: list[dict]) -> dict:
    """One check's result: how many rows break it, and the first ROWS_KEPT of them."""
    if check not in CHECKS:
        raise ValueError(f"no consistency check {check!r}")
    kept = rows[:ROWS_KEPT]
    return {"check": check, "broken": count > 0, "count": count, "rows": kept,
            "rows_left_out": max(0, count - len(kept))}


def broken(findings: list[dict]) -> list[str]:
    """The checks found broken, in CHECKS order."""
    found = {f["check"] for f in findings if f["count"] > 0}
    return [check for check in CHECKS if check in found]


def shown(findings: list[dict], roles) -> list[dict]:
    """The findings a caller holding `roles` may see, in CHECKS order."""
    seen = visible(roles)
    return sorted((f for f in findings if f["check"] in seen), key=lambda f: CHECKS.index(f["check"]))
