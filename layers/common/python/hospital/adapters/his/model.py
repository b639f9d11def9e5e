"""What the HIS tells us, in our terms: money in fen, dates as datetime.date, clock times as
"HH:MM" (the hospital's local time, Asia/Shanghai), instants as aware UTC datetimes."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

SLOT_STATUSES = ("free", "held", "booked", "suspended")
REGISTRATION_STATUSES = ("booked", "cancelled", "seen")
CANCEL_BLOCKERS = ("seen", "charges", "cancelled")  # why a registration cannot be cancelled
LEDGER_KINDS = ("payment", "refund")


class HisRefused(Exception):
    """A business answer of the HIS (E_...): final, retrying gets the same answer."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


@dataclass(frozen=True)
class Bill:
    bill_no: str
    patient_id: str
    bill_type: str
    title: str
    amount_fen: int
    status: str


@dataclass(frozen=True)
class PaymentConfirmation:
    """The HIS took a payment; a registration fee's bill also answers the registration made."""

    bill_no: str
    receipt_no: str
    reg_no: str | None = None
    visit_no: int | None = None  # the patient's queue number for the visit


@dataclass(frozen=True)
class Department:
    dept_code: str
    name: str
    intro: str


@dataclass(frozen=True)
class Doctor:
    doctor_code: str
    name: str
    title: str
    dept_code: str
    online_consult: bool
    consult_url: str | None
    intro: str


@dataclass(frozen=True)
class Slot:
    slot_id: str
    doctor_code: str
    dept_code: str
    visit_date: dt.date
    start: str
    end: str
    fee_fen: int
    status: str  # SLOT_STATUSES


@dataclass(frozen=True)
class Archive:
    """The patient's record at the hospital (建档): the HIS patient id and the card issued with it."""

    patient_id: str
    card_no: str
    name: str
    id_no: str
    phone: str


@dataclass(frozen=True)
class Hold:
    """A slot kept for one patient until expires_at while they pay bill_no."""

    hold_id: str
    slot_id: str
    bill_no: str
    fee_fen: int
    expires_at: dt.datetime


@dataclass(frozen=True)
class Registration:
    reg_no: str
    patient_id: str
    slot_id: str
    doctor_code: str
    visit_date: dt.date
    start: str
    end: str
    status: str  # REGISTRATION_STATUSES


@dataclass(frozen=True)
class CancelCheck:
    reg_no: str
    cancellable: bool
    reason: str | None  # CANCEL_BLOCKERS, None when cancellable


@dataclass(frozen=True)
class Suspension:
    """A doctor's sitting stopped (停诊): these slots take no more patients."""

    suspension_id: str
    doctor_code: str
    visit_date: dt.date
    slot_ids: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class SuspensionPage:
    """Entries after the cursor asked with, and the cursor to ask with next (kept when none came)."""

    suspensions: tuple[Suspension, ...]
    cursor: str


@dataclass(frozen=True)
class LedgerEntry:
    """Money the HIS booked on a day: a payment it confirmed (PAY_CONFIRM), or a refund (the
    fee of a registration cancelled, which is ours to give back)."""

    kind: str                    # LEDGER_KINDS
    bill_no: str
    pay_order_no: str | None     # our order id, as PAY_CONFIRM sent it; None: not paid through us
    transaction_id: str | None   # the provider's, as PAY_CONFIRM sent it (a payment's; may be blank)
    amount_fen: int              # positive: taken, or to give back
    receipt_no: str | None       # the HIS's receipt of the payment
    channel: str | None          # as PAY_CONFIRM sent it (wechatpay_v3, med_ins, credit ...)
    reg_no: str | None           # the registration the bill paid for, if any
    refund_ref: str | None       # a refund's: the reference we sent (REG_CANCEL's cancel_ref), if any
    booked_at: dt.datetime       # aware UTC


@dataclass(frozen=True)
class LedgerPage:
    """One page of a day's ledger; the day's count and totals come on every page."""

    entries: tuple[LedgerEntry, ...]
    page_no: int
    page_count: int
    total_count: int
    pay_total_fen: int
    refund_total_fen: int
