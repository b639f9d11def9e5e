"""The HIS gateway's answers read into our types without a network: money as fen through
Decimal, dates, "HH:MM" times, aware UTC instants, known statuses only; anything else is the
HIS's fault (UpstreamUnavailable naming the field, never a value: answers carry personal data).
Also the gateway's answer envelope, and HIS_ADAPTER's loading and its setting."""
import datetime as dt
import sys
import types

import pytest

from hospital import settings
from hospital.adapters.his import gateway, plugin, wire
from hospital.adapters.his.interface import OPERATIONS
from hospital.adapters.his.model import CancelCheck, HisRefused, PaymentConfirmation, Slot
from hospital.errors import UpstreamUnavailable

SLOT = {"slot_id": "DOC001-20261202-0900", "doctor_code": "DOC001", "dept_code": "D001", "visit_date": "2026-12-02",
        "start": "09:00", "end": "09:30", "fee": "25.00", "status": "free"}
ARCHIVE = {"patient_id": "P0000001", "card_no": "C0000001", "name": "张三", "id_no": "110101199003074514",
           "phone": "13800138000"}


def unreadable(parse, data, what: str = "it") -> str:
    with pytest.raises(UpstreamUnavailable) as info, wire.reading(what):
        parse(data)
    return info.value.message


def test_a_slot_is_read_with_its_fee_in_fen_and_its_date():
    assert wire.slot(SLOT) == Slot("DOC001-20261202-0900", "DOC001", "D001", dt.date(2026, 12, 2), "09:00", "09:30",
                                   2500, "free")


@pytest.mark.parametrize("field,value", [
    ("fee", 25.0), ("fee", "25.001"), ("fee", "-1.00"), ("fee", "2.5e1"), ("visit_date", "2026/12/02"),
    ("visit_date", "20261202"), ("visit_date", "2026-02-30"), ("start", "9:00"), ("start", "24:00"),
    ("end", "08:30"), ("status", "open"), ("slot_id", ""), ("doctor_code", None)])
def test_a_slot_field_not_as_the_wire_says_is_the_his_fault_named_by_field(field, value):
    message = unreadable(wire.slot, {**SLOT, field: value}, "slots")
    assert message == f"the HIS answered slots we cannot read (field {field})"


def test_a_missing_field_or_a_non_object_is_unreadable():
    assert "field fee" in unreadable(wire.slot, {k: v for k, v in SLOT.items() if k != "fee"})
    assert "field" in unreadable(wire.slot, ["not", "an", "object"])


def test_the_message_never_carries_a_value_of_the_answer():
    message = unreadable(wire.archive, {**ARCHIVE, "phone": 13800138000.0}, "an archive")
    assert "13800138000" not in message and "field phone" in message


def test_codes_may_come_as_json_numbers_but_not_as_booleans():
    assert wire.archive({**ARCHIVE, "patient_id": 1001}).patient_id == "1001"
    unreadable(wire.archive, {**ARCHIVE, "patient_id": True})


def test_an_instant_needs_its_offset_and_is_kept_in_utc():
    hold = wire.hold({"hold_id": "H1", "slot_id": "S1", "bill_no": "B1", "fee": "50.00",
                      "expires_at": "2026-12-01T18:00:00+08:00"})
    assert hold.expires_at == dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
    assert hold.fee_fen == 5000
    for naive in ("2026-12-01T10:00:00", "2026-12-01", "tomorrow"):
        unreadable(wire.hold, {"hold_id": "H1", "slot_id": "S1", "bill_no": "B1", "fee": "50.00",
                               "expires_at": naive})


def test_a_doctor_offering_online_consultation_comes_with_its_url():
    doctor = {"doctor_code": "DOC001", "name": "张医生", "title": "主任医师", "dept_code": "D001",
              "online_consult": True, "consult_url": "https://consult.example/DOC001", "intro": ""}
    assert wire.doctor(doctor).consult_url == "https://consult.example/DOC001"
    assert wire.doctor({**doctor, "online_consult": False}).consult_url is None
    assert "field consult_url" in unreadable(wire.doctor, {**doctor, "consult_url": None})
    assert "field online_consult" in unreadable(wire.doctor, {**doctor, "online_consult": "true"})


def test_a_cancel_check_has_a_reason_exactly_when_it_is_not_cancellable():
    assert wire.cancel_check({"reg_no": "R1", "cancellable": True, "reason": None}) == CancelCheck("R1", True, None)
    assert wire.cancel_check({"reg_no": "R1", "cancellable": False, "reason": "seen"}).reason == "seen"
    unreadable(wire.cancel_check, {"reg_no": "R1", "cancellable": False, "reason": None})
    unreadable(wire.cancel_check, {"reg_no": "R1", "cancellable": True, "reason": "charges"})
    unreadable(wire.cancel_check, {"reg_no": "R1", "cancellable": False, "reason": "closed"})


def test_a_confirmation_of_a_registration_fee_carries_the_queue_number():
    assert wire.confirmation({"bill_no": "B1", "receipt_no": "R1"}) == PaymentConfirmation("B1", "R1", None, None)
    assert wire.confirmation({"bill_no": "B1", "receipt_no": "R1", "reg_no": "G1", "visit_no": 3}).visit_no == 3
    for visit_no in (None, "3", 3.0, 0, True):
        unreadable(wire.confirmation, {"bill_no": "B1", "receipt_no": "R1", "reg_no": "G1", "visit_no": visit_no})


def test_a_suspension_page_keeps_the_slots_and_the_cursor():
    page = wire.suspension_page({"cursor": "2", "suspensions": [
        {"suspension_id": "SU1", "doctor_code": "DOC001", "visit_date": "2026-12-02",
         "slot_ids": ["A", "B"], "reason": "会议"}]})
    assert page.cursor == "2" and page.suspensions[0].slot_ids == ("A", "B")
    assert wire.suspension_page({"cursor": "", "suspensions": []}).suspensions == ()
    unreadable(wire.suspension_page, {"cursor": "2", "suspensions": [
        {"suspension_id": "SU1", "doctor_code": "DOC001", "visit_date": "2026-12-02", "slot_ids": [1],
         "reason": ""}]})


def test_the_envelope_separates_data_refusals_and_failures():
    assert gateway.interpret(200, {"code": "0", "message": "ok", "data": {"a": 1}}) == {"a": 1}
    assert gateway.interpret(200, {"code": 0, "message": "ok"}) == {}
    with pytest.raises(HisRefused) as refused:
        gateway.interpret(200, {"code": "E_NO_SLOT", "message": "no such slot"})
    assert (refused.value.code, refused.value.message) == ("E_NO_SLOT", "no such slot")
    for status, reply in ((200, {"code": "E_SYSTEM", "message": "busy"}), (401, {"code": "E_AUTH"}),
                          (200, {"errcode": -1}), (200, ["code"]), (200, {"code": "0", "data": ["x"]})):
        with pytest.raises(UpstreamUnavailable):
            gateway.interpret(status, reply)


# ---- HIS_ADAPTER ----------------------------------------------------------------------------------------

class _Complete:
    pass


for _name in OPERATIONS:
    setattr(_Complete, _name, lambda self, *args, **kwargs: None)


@pytest.fixture
def fake_module(monkeypatch):
    module = types.ModuleType("his_plugin_probe")
    module.complete = _Complete
    module.partial = lambda: types.SimpleNamespace(bill=lambda bill_no: None)
    module.not_callable = 42
    monkeypatch.setitem(sys.modules, "his_plugin_probe", module)
    return module


def test_the_factory_named_makes_the_adapter(fake_module):
    assert isinstance(plugin.load("his_plugin_probe:complete"), _Complete)


@pytest.mark.parametrize("spec,says", [
    ("his_plugin_probe", "must be package.module:factory"),
    ("his_plugin_probe:missing", "has no callable missing"),
    ("his_plugin_probe:not_callable", "has no callable not_callable"),
    ("no_such_module_for_his:make", "cannot import no_such_module_for_his"),
    ("his_plugin_probe:partial", "without bind_card, cancel_check"),
])
def test_a_wrong_factory_stops_with_what_is_wrong(fake_module, spec, says):
    with pytest.raises(settings.ConfigError) as refused:
        plugin.load(spec)
    assert says in str(refused.value)


@pytest.mark.parametrize("value,problem", [("", False), ("acme.his:make", False), ("acme.his", True),
                                           ("acme his:make", True), ("acme.his:make()", True)])
def test_the_setting_is_optional_and_must_name_a_factory(monkeypatch, value, problem):
    monkeypatch.setenv("HIS_ADAPTER", value)
    assert (settings.HIS_ADAPTER.problem() is not None) is problem
