"""The hospital information system (HIS). The business code sees only the His interface
(hospital.adapters.his.interface) and its types (.model); `client()` gives the configured
implementation: HIS_ADAPTER ("package.module:factory", see .plugin) when a hospital plugs in
its own HIS, else HisClient (.gateway), the bundled adapter for one gateway endpoint with
transaction codes, as typical Chinese HIS interfaces are. Only .gateway and .wire know this
wire format:

``POST {HIS_API_BASE}/his/gateway`` with JSON
``{"trade_code": "...", "request_id": "<unique>", "data": {...}}`` and the headers
``X-His-Timestamp: <unix seconds>`` and ``X-His-Signature: hex(HMAC-SHA256(key, ts + "." + body))``.
Answers: ``{"code": "0", "message": "ok", "data": {...}}``, or a business refusal
``{"code": "E_...", "message": "..."}`` (HTTP 200); ``E_SYSTEM`` is the HIS failing inside, not
a refusal. HIS amounts are yuan strings ("25.00"), converted to fen with Decimal
(hospital.money), never through float. Dates are ``YYYY-MM-DD`` and clock times ``HH:MM``, both
the hospital's (Asia/Shanghai); instants are ISO 8601 with their offset (``2026-12-01T10:00:00Z``).
Queries (marked *) only read, so they are retried after a quick 5xx or a dropped connection;
the other codes are sent once.

Bills and payments:
- ``FEE_QUERY* {"bill_no"}`` -> ``{"bill_no", "patient_id", "bill_type", "title", "amount", "status"}``
  (status: unpaid, paid, cancelled). E_NO_BILL.
- ``PAY_CONFIRM {"bill_no", "pay_order_no", "transaction_id", "amount", "channel", "paid_at"}``
  -> ``{"bill_no", "receipt_no"}``, and for a hold's bill (a registration fee) also ``"reg_no"``
  and ``"visit_no"`` (the queue number, an integer): paying the fee completes the registration.
  Idempotent on pay_order_no. Refusals: E_BILL_CANCELLED, E_AMOUNT_MISMATCH, E_PAID_BY_OTHER,
  E_NO_BILL; for a hold's bill E_HOLD_EXPIRED (the hold expired or was released: the slot is no
  longer the patient's, and the bill is cancelled) and E_SLOT_SUSPENDED.
- ``DAILY_LEDGER* {"date", "page_no", "page_size"}`` (page_no from 1, page_size 1 to 500) ->
  ``{"date", "page_no", "page_count", "total_count", "pay_total", "refund_total", "entries":
  [{"entry_type": "pay" | "refund", "bill_no", "pay_order_no", "transaction_id", "amount",
  "receipt_no", "channel", "reg_no", "refund_ref", "booked_at"}]}``: the money the HIS booked on
  that day (the hospital's date), in order: "pay" a payment it confirmed (PAY_CONFIRM's
  pay_order_no, transaction_id and channel, its receipt_no), "refund" a fee to give back (a
  registration cancelled: refund_ref is the cancel_ref we sent, null when not cancelled through
  us). Amounts positive; reg_no null unless the bill was a registration's; the day's count and
  totals on every page (page_count 0 for a day without entries). E_FORMAT.

The schedule:
- ``DEPT_QUERY* {}`` -> ``{"departments": [{"dept_code", "name", "intro"}]}``
- ``DOCTOR_QUERY* {"dept_code"}`` -> ``{"doctors": [{"doctor_code", "name", "title", "dept_code",
  "online_consult": bool, "consult_url": "https://..." | null, "intro"}]}``. E_NO_DEPT.
- ``SLOT_QUERY* {"doctor_code", "date_from", "date_to"}`` (both included, at most 14 days, else
  E_RANGE) -> ``{"slots": [{"slot_id", "doctor_code", "dept_code", "visit_date", "start", "end",
  "fee": "25.00", "status"}]}`` (status: free, held, booked, suspended). E_NO_DOCTOR.
- ``SUSPENSION_QUERY* {"since": "<cursor>" | ""}`` -> ``{"suspensions": [{"suspension_id",
  "doctor_code", "visit_date", "slot_ids": [...], "reason"}], "cursor"}``: the entries after the
  cursor, in order, a page at a time (ask again with the new cursor until none come). A
  feed may deliver an entry twice: act on a suspension_id once.

Patients and cards:
- ``ARCHIVE_QUERY* {"name", "id_no", "phone"}`` -> ``{"patient_id", "card_no", "name", "id_no",
  "phone"}``. E_NO_ARCHIVE (none for this ID number), E_ARCHIVE_MISMATCH (name or phone differ).
- ``CARD_BIND {"patient_id", "card_no", "channel": "wechat", "channel_user"}`` -> ``{"patient_id",
  "card_no"}``; idempotent. E_NO_ARCHIVE (no such patient, or the card is not theirs).
- ``CARD_UNBIND`` the same shape; idempotent (an unbound card answers the same). E_NO_ARCHIVE.

Registrations:
- ``SLOT_HOLD {"slot_id", "patient_id", "hold_ref"}`` -> ``{"hold_id", "slot_id", "bill_no",
  "fee", "expires_at"}``: the slot is kept for the patient until expires_at (15 minutes at the
  simulator) while they pay bill_no, an unpaid "registration" bill that FEE_QUERY reads like any
  other. hold_ref is the caller's idempotency key: the same hold_ref answers the same hold.
  Refusals: E_NO_SLOT, E_SLOT_TAKEN (held or booked by someone else), E_SLOT_SUSPENDED,
  E_DUPLICATE (the patient already holds or has booked a slot of this doctor that day),
  E_SLOT_PAST, E_NO_ARCHIVE, E_HOLD_REF (the hold_ref was used for another slot or patient).
- ``SLOT_RELEASE {"hold_id"}`` -> ``{"hold_id", "status": "released"}``; the bill is cancelled.
  Idempotent: an expired or released hold answers released. E_HOLD_CONFIRMED (it became a
  registration), E_NO_HOLD.
- ``REG_QUERY* {"reg_no"}`` -> ``{"reg_no", "patient_id", "slot_id", "doctor_code", "visit_date",
  "start", "end", "status"}`` (status: booked, cancelled, seen). E_NO_REG.
- ``REG_CANCEL_CHECK* {"reg_no"}`` -> ``{"reg_no", "cancellable": bool, "reason"}`` (reason: seen,
  charges, cancelled, or null when cancellable). E_NO_REG.
- ``REG_CANCEL {"reg_no", "cancel_ref"}`` -> ``{"reg_no", "status": "cancelled"}``; frees the slot;
  idempotent (a cancelled registration answers cancelled). E_SEEN, E_CHARGES, E_NO_REG. The fee's
  refund is ours to make (it was paid through us), not the HIS's.

Errors: ``HisRefused(code, message)`` (a business answer: do not retry), ``UpstreamUnavailable``
(down, slow, 5xx, E_SYSTEM, garbled: retry later); for the daily ledger, ``StatementUnreadable``
(an UpstreamUnavailable: an entry that cannot be read, or figures that do not add up).
"""
from __future__ import annotations

from hospital import config, settings
from hospital.adapters.his.gateway import GATEWAY_PATH, HisClient
from hospital.adapters.his.interface import His
from hospital.adapters.his.model import (
    Archive,
    Bill,
    CancelCheck,
    Department,
    Doctor,
    HisRefused,
    Hold,
    LedgerEntry,
    LedgerPage,
    PaymentConfirmation,
    Registration,
    Slot,
    Suspension,
    SuspensionPage,
)
from hospital.adapters.his.plugin import load

__all__ = ["GATEWAY_PATH", "Archive", "Bill", "CancelCheck", "Department", "Doctor", "His", "HisClient",
           "HisRefused", "Hold", "LedgerEntry", "LedgerPage", "PaymentConfirmation", "Registration", "Slot",
           "Suspension", "SuspensionPage", "client"]


def client() -> His:
    """The configured HIS: HIS_ADAPTER's, else the gateway at HIS_API_BASE with its key."""
    adapter = settings.HIS_ADAPTER.get_optional()
    if adapter:
        return load(adapter)
    return HisClient(settings.HIS_API_BASE.get(), config.secret_value(settings.HIS_SECRET_ARN, "api_key"))
