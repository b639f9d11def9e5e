"""The HIS simulator's daily ledger (DAILY_LEDGER): the money it booked on a day, built from
the payments it confirmed and the registrations it cancelled, a page at a time; statement
edits (infra.simulators.statement_edits) put discrepancies into a day's entries. A mixin of
HisSimulator: state is behind its `_lock`, times on its clock (`now()`)."""
from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from infra.simulators import statement_edits
from infra.simulators.his.common import CST, Refusal, iso_z, local_day
from infra.simulators.statement_edits import StatementEdits

MAX_LEDGER_PAGE = 500


class LedgerDesk:
    _lock: Any
    bills: dict[str, dict]
    confirmations: list[dict]
    cancellations: list[dict]

    now: Callable[[], float]   # the simulator's movable clock
    route: Callable[..., None]

    def _init_ledger(self) -> None:
        self.statement_edits = StatementEdits()
        statement_edits.add_routes(self, self.statement_edits)

    def ledger_entries(self, day: dt.date | str) -> list[dict]:
        """The day's entries (the hospital's date), in order, its edits applied: {"kind":
        "payment" | "refund", "bill_no", "pay_order_no", "transaction_id", "amount" (yuan),
        "receipt_no", "channel", "reg_no", "refund_ref", "at" (epoch seconds)}."""
        day = day if isinstance(day, str) else day.isoformat()
        with self._lock:
            entries = [_entry("payment", self.bills[c["bill_no"]], c["booked_at"], reg_no=c.get("reg_no"))
                       for c in self.confirmations if local_day(c["booked_at"]).isoformat() == day]
            entries += [_entry("refund", self.bills[c["bill_no"]], c["booked_at"], reg_no=c["reg_no"],
                               refund_ref=c["cancel_ref"])
                        for c in self.cancellations if local_day(c["booked_at"]).isoformat() == day]
        return sorted(self.statement_edits.apply(day, entries, _blank_entry), key=lambda entry: entry["at"])

    def _daily_ledger(self, data: dict) -> dict:
        try:
            day = dt.date.fromisoformat(str(data.get("date"))).isoformat()
        except ValueError:
            raise Refusal("E_FORMAT", "date is YYYY-MM-DD") from None
        page_no, page_size = data.get("page_no", 1), data.get("page_size", 100)
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (page_no, page_size)) \
                or page_no < 1 or not 1 <= page_size <= MAX_LEDGER_PAGE:
            raise Refusal("E_FORMAT", f"page_no from 1, page_size 1 to {MAX_LEDGER_PAGE}")
        entries = self.ledger_entries(day)
        page = entries[(page_no - 1) * page_size:page_no * page_size]
        return {"date": day, "page_no": page_no, "page_count": math.ceil(len(entries) / page_size),
                "total_count": len(entries), "pay_total": _sum(entries, "payment"),
                "refund_total": _sum(entries, "refund"), "entries": [_wire(entry) for entry in page]}


def _entry(kind: str, bill: dict, at: float, reg_no: str | None = None, refund_ref: str | None = None) -> dict:
    return {"kind": kind, "bill_no": bill["bill_no"], "pay_order_no": bill["pay_order_no"],
            "transaction_id": bill.get("transaction_id") if kind == "payment" else None, "amount": bill["amount"],
            "receipt_no": bill["receipt_no"], "channel": bill.get("channel"), "reg_no": reg_no,
            "refund_ref": refund_ref, "at": at}


def _wire(entry: dict) -> dict:
    return {"entry_type": "pay" if entry["kind"] == "payment" else "refund",
            **{key: entry[key] for key in ("bill_no", "pay_order_no", "transaction_id", "receipt_no", "channel",
                                           "reg_no", "refund_ref")},
            "amount": f"{Decimal(str(entry['amount'])):.2f}", "booked_at": iso_z(entry["at"])}


def _sum(entries: list[dict], kind: str) -> str:
    return f"{sum((Decimal(str(e['amount'])) for e in entries if e['kind'] == kind), Decimal(0)):.2f}"


def _blank_entry(kind: str, day: str) -> dict:
    """An entry nobody made here, at noon of `day` (statement_edits.add fills it in)."""
    if kind not in ("payment", "refund"):
        raise ValueError("a ledger entry is a payment or a refund")
    noon = dt.datetime.combine(dt.date.fromisoformat(day), dt.time(12), CST).timestamp()
    return {"kind": kind, "bill_no": f"B{uuid.uuid4().hex[:12].upper()}",
            "pay_order_no": "STRAY" + uuid.uuid4().hex[:16].upper(),
            "transaction_id": "4200" + uuid.uuid4().hex[:24] if kind == "payment" else None, "amount": "25.00",
            "receipt_no": f"R{uuid.uuid4().hex[:10].upper()}", "channel": "wechatpay_v3", "reg_no": None,
            "refund_ref": None, "at": noon}
