"""The HIS as the business code sees it. HisClient (the bundled gateway adapter) implements it;
a hospital with another HIS writes one module whose factory returns an object that does too,
and names it in HIS_ADAPTER. Every method raises HisRefused for a business refusal and
UpstreamUnavailable when the HIS is down, slow or answers something unreadable."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Protocol

from hospital.adapters.his.model import (
    Archive,
    Bill,
    CancelCheck,
    Department,
    Doctor,
    Hold,
    LedgerEntry,
    PaymentConfirmation,
    Registration,
    Slot,
    SuspensionPage,
)


class His(Protocol):
    # -- bills and payments ---------------------------------------------------------------------------
    def bill(self, bill_no: str) -> Bill:
        """A bill to pay. E_NO_BILL."""
        ...

    def confirm_payment(self, *, bill_no: str, pay_order_no: str, transaction_id: str, amount_fen: int,
                        channel: str, paid_at: str) -> PaymentConfirmation:
        """The bill is paid (idempotent on pay_order_no); a hold's bill completes its registration.
        E_BILL_CANCELLED, E_AMOUNT_MISMATCH, E_PAID_BY_OTHER, E_NO_BILL, E_HOLD_EXPIRED, E_SLOT_SUSPENDED."""
        ...

    def daily_ledger(self, day: dt.date) -> Iterator[LedgerEntry]:
        """The money the HIS booked on `day` (the hospital's date): the payments it confirmed and
        the refunds it owes, entry by entry as they are read. Its own count and totals are
        checked once it ends (StatementUnreadable, hospital.adapters.statements, when they
        disagree or an entry cannot be read). Errors come while iterating."""
        ...

    # -- the schedule -----------------------------------------------------------------------------------
    def departments(self) -> list[Department]:
        ...

    def doctors(self, dept_code: str) -> list[Doctor]:
        """E_NO_DEPT."""
        ...

    def slots(self, doctor_code: str, date_from: dt.date, date_to: dt.date) -> list[Slot]:
        """Both dates included, at most 14 days (E_RANGE). E_NO_DOCTOR."""
        ...

    def suspensions(self, since: str) -> SuspensionPage:
        """Suspensions after the cursor ("" from the start), in order; an entry may come twice."""
        ...

    # -- patients and cards -------------------------------------------------------------------------------
    def find_archive(self, name: str, id_no: str, phone: str) -> Archive:
        """E_NO_ARCHIVE (none for this ID number), E_ARCHIVE_MISMATCH (name or phone differ)."""
        ...

    def bind_card(self, patient_id: str, card_no: str, channel_user: str) -> None:
        """Idempotent. E_NO_ARCHIVE."""
        ...

    def unbind_card(self, patient_id: str, card_no: str, channel_user: str) -> None:
        """Idempotent. E_NO_ARCHIVE."""
        ...

    # -- registrations ------------------------------------------------------------------------------------
    def hold_slot(self, slot_id: str, patient_id: str, hold_ref: str) -> Hold:
        """Keeps the slot while its bill is paid; the same hold_ref answers the same hold.
        E_NO_SLOT, E_SLOT_TAKEN, E_SLOT_SUSPENDED, E_DUPLICATE, E_SLOT_PAST, E_NO_ARCHIVE, E_HOLD_REF."""
        ...

    def release_hold(self, hold_id: str) -> None:
        """Idempotent (an expired hold is released too). E_HOLD_CONFIRMED, E_NO_HOLD."""
        ...

    def registration(self, reg_no: str) -> Registration:
        """E_NO_REG."""
        ...

    def cancel_check(self, reg_no: str) -> CancelCheck:
        """E_NO_REG."""
        ...

    def cancel_registration(self, reg_no: str, cancel_ref: str) -> None:
        """Frees the slot; idempotent. E_SEEN, E_CHARGES, E_NO_REG."""
        ...


# What an object must have to stand for the HIS (checked when HIS_ADAPTER's factory makes one).
OPERATIONS = tuple(sorted(name for name, value in vars(His).items() if callable(value) and not name.startswith("_")))
