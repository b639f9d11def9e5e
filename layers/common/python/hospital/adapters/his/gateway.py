"""HisClient: the His interface over the bundled gateway wire format (see hospital.adapters.his).
Its calls are recorded (hospital.external_calls) under their trade codes, the HIS's E_ codes and
answers it cannot read included."""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

from hospital import external_calls, money
from hospital.adapters import signing
from hospital.adapters.his import wire
from hospital.adapters.his.model import (
    Archive,
    Bill,
    CancelCheck,
    Department,
    Doctor,
    HisRefused,
    Hold,
    LedgerEntry,
    PaymentConfirmation,
    Registration,
    Slot,
    SuspensionPage,
)
from hospital.adapters.statements import StatementUnreadable
from hospital.errors import UpstreamUnavailable

GATEWAY_PATH = "/his/gateway"
# The HIS failed inside (not a business answer): retried later like a 5xx, never acted on as a refusal.
SYSTEM_ERRORS = frozenset({"E_SYSTEM"})
CHANNEL = "wechat"  # the channel our card bindings come through
LEDGER_PAGE = 200   # ledger entries asked for per page


class HisClient:
    def __init__(self, base_url: str, api_key: str, timeout: tuple[float, float] = (2, 5)):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"HisClient({self.base_url!r})"

    # -- bills and payments ---------------------------------------------------------------------------
    def bill(self, bill_no: str) -> Bill:
        data = self._call("FEE_QUERY", {"bill_no": bill_no}, query=True)
        with _reading("a bill"):
            return wire.bill(data)

    def confirm_payment(self, *, bill_no: str, pay_order_no: str, transaction_id: str, amount_fen: int,
                        channel: str, paid_at: str) -> PaymentConfirmation:
        data = self._call("PAY_CONFIRM", {"bill_no": bill_no, "pay_order_no": pay_order_no,
                                          "transaction_id": transaction_id, "amount": money.fen_to_yuan(amount_fen),
                                          "channel": channel, "paid_at": paid_at})
        with _reading("a payment confirmation"):
            return wire.confirmation(data)

    def daily_ledger(self, day: dt.date, page_size: int = LEDGER_PAGE) -> Iterator[LedgerEntry]:
        first = None
        count = pay = refund = 0
        page_no = 1
        while True:
            data = self._call("DAILY_LEDGER", {"date": wire.day_text(day), "page_no": page_no,
                                               "page_size": page_size}, query=True)
            with wire.reading("a daily ledger page", StatementUnreadable):
                page = wire.ledger_page(data)
                wire.answered(data, "date", wire.day_text(day))
            day_figures = (page.page_count, page.total_count, page.pay_total_fen, page.refund_total_fen)
            if first is not None and day_figures != first:
                raise StatementUnreadable("the HIS's daily ledger changed while it was read")
            if page.page_no != page_no:
                raise StatementUnreadable("the HIS answered another page of its daily ledger", field="page_no")
            first = day_figures
            for entry in page.entries:
                count += 1
                if entry.kind == "payment":
                    pay += entry.amount_fen
                else:
                    refund += entry.amount_fen
                yield entry
            if page_no >= page.page_count:
                break
            page_no += 1
        for field, read, stated in (("total_count", count, page.total_count), ("pay_total", pay, page.pay_total_fen),
                                    ("refund_total", refund, page.refund_total_fen)):
            if read != stated:
                raise StatementUnreadable("the HIS's daily ledger disagrees with its own figures", field=field)

    # -- the schedule -----------------------------------------------------------------------------------
    def departments(self) -> list[Department]:
        data = self._call("DEPT_QUERY", {}, query=True)
        with _reading("departments"):
            return [wire.department(item) for item in wire.items(data, "departments")]

    def doctors(self, dept_code: str) -> list[Doctor]:
        data = self._call("DOCTOR_QUERY", {"dept_code": dept_code}, query=True)
        with _reading("doctors"):
            return [wire.doctor(item) for item in wire.items(data, "doctors")]

    def slots(self, doctor_code: str, date_from: dt.date, date_to: dt.date) -> list[Slot]:
        data = self._call("SLOT_QUERY", {"doctor_code": doctor_code, "date_from": wire.day_text(date_from),
                                         "date_to": wire.day_text(date_to)}, query=True)
        with _reading("slots"):
            return [wire.slot(item) for item in wire.items(data, "slots")]

    def suspensions(self, since: str) -> SuspensionPage:
        data = self._call("SUSPENSION_QUERY", {"since": since}, query=True)
        with _reading("suspensions"):
            return wire.suspension_page(data)

    # -- patients and cards -------------------------------------------------------------------------------
    def find_archive(self, name: str, id_no: str, phone: str) -> Archive:
        data = self._call("ARCHIVE_QUERY", {"name": name, "id_no": id_no, "phone": phone}, query=True)
        with _reading("an archive"):
            return wire.archive(data)

    def bind_card(self, patient_id: str, card_no: str, channel_user: str) -> None:
        self._card("CARD_BIND", patient_id, card_no, channel_user)

    def unbind_card(self, patient_id: str, card_no: str, channel_user: str) -> None:
        self._card("CARD_UNBIND", patient_id, card_no, channel_user)

    def _card(self, trade_code: str, patient_id: str, card_no: str, channel_user: str) -> None:
        data = self._call(trade_code, {"patient_id": patient_id, "card_no": card_no, "channel": CHANNEL,
                                       "channel_user": channel_user})
        with _reading("a card binding"):
            wire.answered(data, "patient_id", patient_id)
            wire.answered(data, "card_no", card_no)

    # -- registrations ------------------------------------------------------------------------------------
    def hold_slot(self, slot_id: str, patient_id: str, hold_ref: str) -> Hold:
        data = self._call("SLOT_HOLD", {"slot_id": slot_id, "patient_id": patient_id, "hold_ref": hold_ref})
        with _reading("a hold"):
            held = wire.hold(data)
            wire.answered(data, "slot_id", slot_id)
            return held

    def release_hold(self, hold_id: str) -> None:
        data = self._call("SLOT_RELEASE", {"hold_id": hold_id})
        with _reading("a released hold"):
            wire.answered(data, "hold_id", hold_id)
            wire.answered(data, "status", "released")

    def registration(self, reg_no: str) -> Registration:
        data = self._call("REG_QUERY", {"reg_no": reg_no}, query=True)
        with _reading("a registration"):
            return wire.registration(data)

    def cancel_check(self, reg_no: str) -> CancelCheck:
        data = self._call("REG_CANCEL_CHECK", {"reg_no": reg_no}, query=True)
        with _reading("a cancellation check"):
            return wire.cancel_check(data)

    def cancel_registration(self, reg_no: str, cancel_ref: str) -> None:
        data = self._call("REG_CANCEL", {"reg_no": reg_no, "cancel_ref": cancel_ref})
        with _reading("a cancellation"):
            wire.answered(data, "reg_no", reg_no)
            wire.answered(data, "status", "cancelled")

    # -- the wire -----------------------------------------------------------------------------------------
    def _call(self, trade_code: str, data: dict, query: bool = False) -> dict:
        body = json.dumps({"trade_code": trade_code, "request_id": uuid.uuid4().hex, "data": data},
                          ensure_ascii=False, separators=(",", ":")).encode()
        with external_calls.as_operation(trade_code):
            return signing.call(system="his", name="the HIS", operation=trade_code, method="POST",
                                url=self.base_url + GATEWAY_PATH, body=body, key=self._api_key, prefix="X-His",
                                timeout=self.timeout, interpret=interpret, query=query)


@contextlib.contextmanager
def _reading(what: str) -> Iterator[None]:
    """wire.reading, and an answer it cannot read recorded as the failed call it is."""
    try:
        with wire.reading(what):
            yield
    except UpstreamUnavailable:
        external_calls.failed("unreadable")
        raise


def interpret(status: int, reply: Any) -> dict:
    """The answer's data, a HisRefused for a business refusal, else UpstreamUnavailable."""
    if status != 200 or not isinstance(reply, dict) or "code" not in reply:
        raise UpstreamUnavailable(f"the HIS answered {status} in a form that is not its own")
    code = str(reply["code"])
    if code in SYSTEM_ERRORS:
        external_calls.failed(code)
        raise UpstreamUnavailable(f"the HIS failed inside ({code})")
    if code != "0":
        raise HisRefused(code, str(reply.get("message") or ""))
    data = reply.get("data")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UpstreamUnavailable("the HIS answered data that is not an object")
    return data
