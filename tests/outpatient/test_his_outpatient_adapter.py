"""Outpatient registration at the HIS, over real HTTP: the bundled gateway adapter (HisClient)
against a HisSimulator of each test's own (its clock moves holds to expiry). Every trade code's
answer and refusals; idempotency (the same hold_ref, repeated CARD_BIND, REG_CANCEL); paying a
hold's bill completes the registration; the suspension feed's cursor and a repeated entry; the
forgetful HIS; faults of one trade code while the others work, and garbled answers, all
UpstreamUnavailable; the /_sim/ controls; HIS_ADAPTER plugging in another implementation."""
from __future__ import annotations

import datetime as dt
import itertools
import time
import uuid

import pytest
import requests

from hospital import settings
from hospital.adapters import his as his_adapter
from hospital.adapters import http_sessions
from hospital.adapters.his import Department, HisClient, HisRefused, PaymentConfirmation
from hospital.errors import UpstreamUnavailable
from infra.simulators.his import HisSimulator, trade_key
from tests.outpatient.support import HIS_KEY as KEY
from tests.outpatient.support import SHANGHAI as CST

_id_numbers = itertools.count(1)



@pytest.fixture
def impatient(sim):
    """A client that gives up reading after 0.3 s."""
    return HisClient(sim.url, KEY, timeout=(2, 0.3))


def day(sim, offset: int = 0) -> dt.date:
    """The hospital's date on the simulator's clock, `offset` days on."""
    return dt.datetime.fromtimestamp(sim.now(), CST).date() + dt.timedelta(days=offset)


def slot_of(sim, doctor: str = "DOC001", offset: int = 1, start: str = "09:00") -> str:
    return f"{doctor}-{day(sim, offset):%Y%m%d}-{start.replace(':', '')}"


def patient(sim, name: str = "张三") -> dict:
    return sim.add_archive(name, f"11010119900307{next(_id_numbers):04d}", "13800138000")


def refused(call, *args, **kwargs) -> str:
    with pytest.raises(HisRefused) as info:
        call(*args, **kwargs)
    return info.value.code


def pay(his, hold, pay_order_no: str | None = None, amount_fen: int | None = None) -> PaymentConfirmation:
    return his.confirm_payment(bill_no=hold.bill_no, pay_order_no=pay_order_no or uuid.uuid4().hex,
                               transaction_id="4200000000000000000000000001",
                               amount_fen=hold.fee_fen if amount_fen is None else amount_fen,
                               channel="wechat", paid_at="2026-12-01T09:00:00Z")


def booked(sim, his, doctor: str = "DOC001", start: str = "09:00"):
    """(patient, registration number) of a paid registration tomorrow."""
    someone = patient(sim)
    confirmed = pay(his, his.hold_slot(slot_of(sim, doctor, start=start), someone["patient_id"], uuid.uuid4().hex))
    assert confirmed.reg_no
    return someone, confirmed.reg_no


# ---- the schedule ------------------------------------------------------------------------------------

def test_departments_doctors_and_slots_are_read_in_our_terms_OH2(sim, his):
    assert [d.dept_code for d in his.departments()] == ["D001", "D002", "D003"]
    assert his.departments()[0] == Department("D001", "内科", sim.departments["D001"]["intro"])
    doctors = his.doctors("D001")
    assert [(d.doctor_code, d.online_consult) for d in doctors] == [("DOC001", True), ("DOC002", False)]
    assert doctors[0].consult_url == "https://consult.hospital.example/doctors/DOC001"
    assert doctors[1].consult_url is None
    slots = his.slots("DOC001", day(sim, 1), day(sim, 2))
    assert len(slots) == 2 * 14
    first = slots[0]
    assert (first.slot_id, first.visit_date, first.start, first.end) == (slot_of(sim, start="08:00"), day(sim, 1),
                                                                          "08:00", "08:30")
    assert (first.fee_fen, first.status, first.dept_code) == (5000, "free", "D001")
    assert [s.start for s in slots[:14]][-6:] == ["14:00", "14:30", "15:00", "15:30", "16:00", "16:30"]
    assert his.slots("DOC002", day(sim, 1), day(sim, 1))[0].fee_fen == 2500


def test_unknown_codes_and_wide_date_ranges_are_refused(his, sim):
    assert refused(his.doctors, "D999") == "E_NO_DEPT"
    assert refused(his.slots, "DOC999", day(sim), day(sim)) == "E_NO_DOCTOR"
    assert his.slots("DOC001", day(sim), day(sim, 13)) is not None  # 14 days, both ends included
    assert refused(his.slots, "DOC001", day(sim), day(sim, 14)) == "E_RANGE"
    assert refused(his.slots, "DOC001", day(sim, 2), day(sim, 1)) == "E_RANGE"


# ---- patients and cards ------------------------------------------------------------------------------

def test_an_archive_is_found_by_id_number_and_name_and_phone_must_match(sim, his):
    on_file = sim.add_archive("李四", "11010119850101123x", "13900139000")
    found = his.find_archive("李四", "11010119850101123X", "13900139000")
    assert (found.patient_id, found.card_no, found.name) == (on_file["patient_id"], on_file["card_no"], "李四")
    assert refused(his.find_archive, "李四", "110101198501019999", "13900139000") == "E_NO_ARCHIVE"
    assert refused(his.find_archive, "李五", "11010119850101123X", "13900139000") == "E_ARCHIVE_MISMATCH"
    assert refused(his.find_archive, "李四", "11010119850101123X", "13900139001") == "E_ARCHIVE_MISMATCH"


def test_binding_and_unbinding_a_card_are_idempotent(sim, his):
    someone = patient(sim)
    for _ in range(2):
        his.bind_card(someone["patient_id"], someone["card_no"], "o-user-1")
    bindings = requests.get(f"{sim.url}/_sim/bindings", timeout=5).json()
    assert [(b["patient_id"], b["channel"], b["channel_user"]) for b in bindings] == [
        (someone["patient_id"], "wechat", "o-user-1")]
    for _ in range(2):
        his.unbind_card(someone["patient_id"], someone["card_no"], "o-user-1")
    assert sim.binding_list() == []
    assert refused(his.bind_card, "P404", someone["card_no"], "o-user-1") == "E_NO_ARCHIVE"
    assert refused(his.bind_card, someone["patient_id"], "0000000000", "o-user-1") == "E_NO_ARCHIVE"


# ---- holds and registrations ------------------------------------------------------------------------------

def test_a_hold_comes_with_an_unpaid_registration_bill_and_the_same_hold_ref_answers_the_same_hold(sim, his):
    someone, ref = patient(sim), uuid.uuid4().hex
    hold = his.hold_slot(slot_of(sim), someone["patient_id"], ref)
    assert hold.fee_fen == 5000 and hold.slot_id == slot_of(sim)
    assert hold.expires_at.tzinfo == dt.UTC and abs(hold.expires_at.timestamp() - sim.now() - 15 * 60) < 5
    bill = his.bill(hold.bill_no)
    assert (bill.bill_type, bill.amount_fen, bill.status, bill.patient_id) == ("registration", 5000, "unpaid",
                                                                              someone["patient_id"])
    assert bill.title == f"挂号费 内科 张伟 {day(sim, 1).isoformat()} 09:00"
    assert his.hold_slot(slot_of(sim), someone["patient_id"], ref) == hold
    assert len(sim.hold_list()) == 1 and len(sim.bills) == 1
    assert [s.status for s in his.slots("DOC001", day(sim, 1), day(sim, 1)) if s.slot_id == hold.slot_id] == ["held"]
    assert refused(his.hold_slot, slot_of(sim, start="10:00"), someone["patient_id"], ref) == "E_HOLD_REF"


def test_paying_the_fee_completes_the_registration_with_a_queue_number_once(sim, his):
    someone = patient(sim)
    hold = his.hold_slot(slot_of(sim), someone["patient_id"], uuid.uuid4().hex)
    assert refused(pay, his, hold, amount_fen=2500) == "E_AMOUNT_MISMATCH"
    confirmed = pay(his, hold, "PO-1")
    assert confirmed.bill_no == hold.bill_no and confirmed.receipt_no and confirmed.visit_no == 1
    assert pay(his, hold, "PO-1") == confirmed  # the same payment again: the same answer
    assert refused(pay, his, hold, "PO-2") == "E_PAID_BY_OTHER"
    registration = his.registration(confirmed.reg_no)
    assert (registration.patient_id, registration.slot_id, registration.doctor_code, registration.visit_date,
            registration.start, registration.end, registration.status) == (
        someone["patient_id"], hold.slot_id, "DOC001", day(sim, 1), "09:00", "09:30", "booked")
    assert his.bill(hold.bill_no).status == "paid"
    assert [s.status for s in his.slots("DOC001", day(sim, 1), day(sim, 1)) if s.slot_id == hold.slot_id] == ["booked"]
    assert len(sim.registration_list()) == 1
    # The next patient of the doctor that day is number 2.
    assert booked(sim, his, start="09:30")[1] != confirmed.reg_no
    assert sim.registration_list()[-1]["visit_no"] == 2


def test_a_bill_without_a_hold_is_confirmed_as_before(sim, his):
    bill = sim.add_bill("P-plain", "12.30", "outpatient")
    confirmed = his.confirm_payment(bill_no=bill["bill_no"], pay_order_no="PO-plain", transaction_id="4200",
                                    amount_fen=1230, channel="wechat", paid_at="2026-12-01T09:00:00Z")
    assert confirmed == PaymentConfirmation(bill["bill_no"], bill["receipt_no"], None, None)


def test_a_hold_is_refused_for_what_the_slot_or_the_patient_does_not_allow(sim, his):
    first, second = patient(sim), patient(sim, "王五")
    his.hold_slot(slot_of(sim), first["patient_id"], uuid.uuid4().hex)
    assert refused(his.hold_slot, "DOC001-19990101-0900", first["patient_id"], uuid.uuid4().hex) == "E_NO_SLOT"
    assert refused(his.hold_slot, slot_of(sim), "P404", uuid.uuid4().hex) == "E_NO_ARCHIVE"
    assert refused(his.hold_slot, slot_of(sim), second["patient_id"], uuid.uuid4().hex) == "E_SLOT_TAKEN"
    # One slot per patient, doctor and day, held or booked; another doctor or day is fine.
    assert refused(his.hold_slot, slot_of(sim, start="10:00"), first["patient_id"], uuid.uuid4().hex) == "E_DUPLICATE"
    his.hold_slot(slot_of(sim, "DOC002"), first["patient_id"], uuid.uuid4().hex)
    his.hold_slot(slot_of(sim, offset=2), first["patient_id"], uuid.uuid4().hex)
    registered, _ = booked(sim, his, start="11:00")
    assert refused(his.hold_slot, slot_of(sim, start="11:30"), registered["patient_id"], uuid.uuid4().hex) == \
        "E_DUPLICATE"
    sim.add_slots("DOC001", day(sim, -1), ["09:00"], 30, "50.00")
    assert refused(his.hold_slot, slot_of(sim, offset=-1), second["patient_id"], uuid.uuid4().hex) == "E_SLOT_PAST"
    sim.suspend("DOC003", day(sim, 1), [slot_of(sim, "DOC003")], "会议")
    assert refused(his.hold_slot, slot_of(sim, "DOC003"), second["patient_id"], uuid.uuid4().hex) == \
        "E_SLOT_SUSPENDED"


def test_a_hold_expires_on_the_simulators_clock_and_its_late_payment_is_refused(sim, his):
    someone, other = patient(sim), patient(sim, "王五")
    hold = his.hold_slot(slot_of(sim), someone["patient_id"], uuid.uuid4().hex)
    sim.advance_clock(14 * 60)
    assert his.bill(hold.bill_no).status == "unpaid"  # still within its 15 minutes
    sim.advance_clock(61)
    assert refused(pay, his, hold) == "E_HOLD_EXPIRED"
    assert his.bill(hold.bill_no).status == "cancelled"
    assert [s.status for s in his.slots("DOC001", day(sim, 1), day(sim, 1)) if s.slot_id == hold.slot_id] == ["free"]
    assert sim.hold_list()[0]["status"] == "expired"
    his.release_hold(hold.hold_id)  # an expired hold answers released
    assert his.hold_slot(slot_of(sim), other["patient_id"], uuid.uuid4().hex).slot_id == hold.slot_id


def test_the_hold_lifetime_is_the_simulators_to_choose():
    with HisSimulator(KEY, hold_minutes=1) as short:
        short.seed_outpatient(days=2)
        client, someone = HisClient(short.url, KEY), short.add_archive("张三", "110101199003070001", "13800138000")
        hold = client.hold_slot(slot_of(short), someone["patient_id"], "ref")
        short.advance_clock(61)
        assert refused(pay, client, hold) == "E_HOLD_EXPIRED"
    http_sessions.close_all()


def test_releasing_a_hold_frees_the_slot_once_and_a_registration_cannot_be_released(sim, his):
    someone = patient(sim)
    hold = his.hold_slot(slot_of(sim), someone["patient_id"], uuid.uuid4().hex)
    for _ in range(2):
        his.release_hold(hold.hold_id)
    assert his.bill(hold.bill_no).status == "cancelled"
    assert refused(pay, his, hold) == "E_HOLD_EXPIRED"
    again = his.hold_slot(slot_of(sim), someone["patient_id"], uuid.uuid4().hex)  # no longer a duplicate
    pay(his, again)
    assert refused(his.release_hold, again.hold_id) == "E_HOLD_CONFIRMED"
    assert refused(his.release_hold, "H404") == "E_NO_HOLD"


def test_a_suspension_while_the_fee_is_being_paid_refuses_the_payment(sim, his):
    someone = patient(sim)
    hold = his.hold_slot(slot_of(sim), someone["patient_id"], uuid.uuid4().hex)
    sim.suspend("DOC001", day(sim, 1), reason="专家外出")
    assert refused(pay, his, hold) == "E_SLOT_SUSPENDED"
    assert his.bill(hold.bill_no).status == "cancelled"
    assert sim.registration_list() == []


# ---- cancelling ----------------------------------------------------------------------------------------

def test_a_registration_is_cancelled_once_and_its_slot_freed_OR5(sim, his):
    _, reg_no = booked(sim, his)
    assert his.cancel_check(reg_no).cancellable is True
    for _ in range(3):
        his.cancel_registration(reg_no, "CANCEL-1")
    assert his.registration(reg_no).status == "cancelled"
    check = his.cancel_check(reg_no)
    assert (check.cancellable, check.reason) == (False, "cancelled")
    cancellations = requests.get(f"{sim.url}/_sim/cancellations", timeout=5).json()
    assert [(c["reg_no"], c["cancel_ref"]) for c in cancellations] == [(reg_no, "CANCEL-1")]
    assert [s.status for s in his.slots("DOC001", day(sim, 1), day(sim, 1)) if s.start == "09:00"] == ["free"]


def test_a_visit_seen_or_with_charges_cannot_be_cancelled_OR5(sim, his):
    _, seen = booked(sim, his)
    _, charged = booked(sim, his, "DOC002")
    sim.mark_seen(seen)
    sim.attach_charges(charged)
    assert (his.cancel_check(seen).reason, his.cancel_check(charged).reason) == ("seen", "charges")
    assert his.registration(seen).status == "seen"
    assert refused(his.cancel_registration, seen, "C1") == "E_SEEN"
    assert refused(his.cancel_registration, charged, "C2") == "E_CHARGES"
    for call in (his.registration, his.cancel_check):
        assert refused(call, "REG404") == "E_NO_REG"
    assert refused(his.cancel_registration, "REG404", "C3") == "E_NO_REG"
    assert sim.cancellations == []


def test_a_registration_the_his_forgot_is_unknown_but_its_payment_still_answers(sim, his):
    someone = patient(sim)
    hold = his.hold_slot(slot_of(sim), someone["patient_id"], uuid.uuid4().hex)
    confirmed = pay(his, hold, "PO-F")
    sim.forget_registration(confirmed.reg_no)
    for call in (his.registration, his.cancel_check):
        assert refused(call, confirmed.reg_no) == "E_NO_REG"
    assert refused(his.cancel_registration, confirmed.reg_no, "C1") == "E_NO_REG"
    assert pay(his, hold, "PO-F") == confirmed
    assert [r["forgotten"] for r in sim.registration_list()] == [True]


# ---- the suspension feed -------------------------------------------------------------------------------

def test_the_feed_answers_what_follows_the_cursor_and_may_deliver_an_entry_twice_OS1(sim, his):
    assert his.suspensions("").suspensions == ()
    first = sim.suspend("DOC001", day(sim, 1), [slot_of(sim), slot_of(sim, start="09:30")], "会议")
    second = sim.suspend("DOC004", day(sim, 2), reason="病假", suspension_id="SU-SICK")
    page = his.suspensions("")
    assert [(s.suspension_id, s.doctor_code, s.visit_date) for s in page.suspensions] == [
        (first["suspension_id"], "DOC001", day(sim, 1)), ("SU-SICK", "DOC004", day(sim, 2))]
    assert page.suspensions[0].slot_ids == (slot_of(sim), slot_of(sim, start="09:30"))
    assert len(page.suspensions[1].slot_ids) == 14 and page.suspensions[1].reason == "病假"
    assert his.suspensions(page.cursor).suspensions == ()
    assert his.suspensions(page.cursor).cursor == page.cursor
    sim.repeat_suspension(first["suspension_id"])
    again = his.suspensions(page.cursor)
    assert [s.suspension_id for s in again.suspensions] == [first["suspension_id"]]
    assert again.suspensions[0] == page.suspensions[0]
    assert his.suspensions(again.cursor).suspensions == ()
    assert [s.suspension_id for s in his.suspensions("1").suspensions] == ["SU-SICK", first["suspension_id"]]
    statuses = {s.slot_id: s.status for s in his.slots("DOC004", day(sim, 2), day(sim, 2))}
    assert set(statuses.values()) == {"suspended"} and second["slot_ids"] == sorted(statuses)
    assert refused(his.suspensions, "99") == "E_FORMAT"


# ---- faults and bad answers ----------------------------------------------------------------------------

def test_only_the_faulted_trade_code_times_out_and_its_late_effect_is_counted_once_OR5(sim, his, impatient):
    _, reg_no = booked(sim, his)
    sim.inject_trade_fault("REG_CANCEL", "timeout", seconds=1)
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable):
        impatient.cancel_registration(reg_no, "CANCEL-T")
    assert time.monotonic() - started < 0.9
    assert impatient.cancel_check(reg_no).cancellable is True  # the other trade codes answer meanwhile
    # The timed-out call still takes effect, as a real one may: the retry finds it done.
    deadline = time.monotonic() + 3
    while not sim.cancellations and time.monotonic() < deadline:
        time.sleep(0.05)
    his.cancel_registration(reg_no, "CANCEL-T")
    assert len(sim.cancellations) == 1
    assert sim.stats()[trade_key("REG_CANCEL")] == 2


@pytest.mark.parametrize("mode", ["http500", "slow500", "errcode", "garbled", "reset", "timeout"])
def test_each_fault_of_one_trade_code_is_upstream_unavailable_and_sent_once(sim, impatient, mode):
    someone = patient(sim)
    sim.inject_trade_fault("CARD_BIND", mode, seconds=0.1 if mode == "slow500" else 1)
    with pytest.raises(UpstreamUnavailable):
        impatient.bind_card(someone["patient_id"], someone["card_no"], "o-user")
    assert sim.stats()[trade_key("CARD_BIND")] == 1  # not a query: never retried
    impatient.find_archive(someone["name"], someone["id_no"], someone["phone"])


def test_a_query_is_retried_after_a_quick_failure_and_a_persistent_one_is_upstream_unavailable(sim, his):
    sim.inject_trade_fault("DEPT_QUERY", "http500")
    assert len(his.departments()) == 3
    assert sim.stats()[trade_key("DEPT_QUERY")] == 2
    sim.inject_trade_fault("DEPT_QUERY", "reset", count=3)
    with pytest.raises(UpstreamUnavailable):
        his.departments()


def test_a_slow_answer_arrives_correct_within_the_clients_patience(sim, his):
    sim.inject_trade_fault("SLOT_QUERY", "slow", seconds=0.3)
    started = time.monotonic()
    assert len(his.slots("DOC001", day(sim, 1), day(sim, 1))) == 14
    assert time.monotonic() - started >= 0.3


def test_a_garbled_answer_is_upstream_unavailable(sim, his):
    sim.slots[slot_of(sim)]["fee"] = "25.0.0"
    with pytest.raises(UpstreamUnavailable, match="slots we cannot read"):
        his.slots("DOC001", day(sim, 1), day(sim, 1))
    sim.doctors["DOC001"]["consult_url"] = None
    with pytest.raises(UpstreamUnavailable, match="field consult_url"):
        his.doctors("D001")
    sim.inject_fault("/his/gateway", "garbled", count=3)  # a proxy's HTML page instead of the HIS
    with pytest.raises(UpstreamUnavailable):
        his.departments()
    sim.clear_faults()
    wrong_key = HisClient(sim.url, "not-the-key")
    with pytest.raises(UpstreamUnavailable):
        wrong_key.departments()


# ---- the /_sim/ controls -------------------------------------------------------------------------------

def test_the_controls_over_http(sim, his):
    url = sim.url
    assert requests.post(f"{url}/_sim/outpatient/seed", json={"days": 5}, timeout=5).json()["doctors"] == 6
    on_file = requests.post(f"{url}/_sim/archives", json={"name": "赵六", "id_no": "110101200001010011",
                                                          "phone": "13700137000"}, timeout=5).json()
    assert his.find_archive("赵六", "110101200001010011", "13700137000").patient_id == on_file["patient_id"]
    assert requests.post(f"{url}/_sim/archives", json={"name": "赵六"}, timeout=5).status_code == 400
    confirmed = pay(his, his.hold_slot(slot_of(sim, offset=4), on_file["patient_id"], "ref-http"))
    assert requests.get(f"{url}/_sim/holds", timeout=5).json()[0]["status"] == "confirmed"
    assert requests.post(f"{url}/_sim/registrations/{confirmed.reg_no}/charges", timeout=5).status_code == 200
    assert his.cancel_check(confirmed.reg_no).reason == "charges"
    assert requests.post(f"{url}/_sim/registrations/{confirmed.reg_no}/seen", timeout=5).json()["status"] == "seen"
    assert requests.post(f"{url}/_sim/registrations/REG404/forget", timeout=5).status_code == 404
    suspension = requests.post(f"{url}/_sim/suspensions", json={"doctor_code": "DOC005",
                                                                "visit_date": day(sim, 1).isoformat(),
                                                                "reason": "会议"}, timeout=5).json()
    requests.post(f"{url}/_sim/suspensions/{suspension['suspension_id']}/repeat", timeout=5).raise_for_status()
    assert len(his.suspensions("").suspensions) == 2
    assert requests.post(f"{url}/_sim/his/faults", json={"trade_code": "DEPT_QUERY", "mode": "errcode",
                                                         "count": 3}, timeout=5).status_code == 200
    with pytest.raises(UpstreamUnavailable, match="E_SYSTEM"):
        his.departments()
    assert requests.post(f"{url}/_sim/his/faults", json={"trade_code": "NOPE", "mode": "http500"},
                         timeout=5).status_code == 400
    assert requests.post(f"{url}/_sim/registrations/{confirmed.reg_no}/forget", timeout=5).status_code == 200
    assert requests.get(f"{url}/_sim/registrations", timeout=5).json()[0]["forgotten"] is True
    slots = requests.get(f"{url}/_sim/slots", params={"doctor_code": "DOC005", "visit_date": day(sim, 1).isoformat()},
                         timeout=5).json()
    assert [slot["status"] for slot in slots] == ["suspended"] * 14


# ---- HIS_ADAPTER ----------------------------------------------------------------------------------------

def _not_offered(name: str):
    def refuse(self, *args, **kwargs):
        raise HisRefused("E_NOT_HERE", f"{name} is not offered")
    return refuse


class TinyHis:
    """A hospital's own HIS in one class: its departments, and every other operation refused."""

    def departments(self):
        return [Department("K01", "口腔科", "teeth")]


for _name in his_adapter.interface.OPERATIONS:
    if not hasattr(TinyHis, _name):
        setattr(TinyHis, _name, _not_offered(_name))


def make_tiny_his():
    return TinyHis()


def test_his_adapter_plugs_in_a_hospitals_own_implementation(monkeypatch):
    monkeypatch.setenv("HIS_ADAPTER", f"{__name__}:make_tiny_his")
    adapter = his_adapter.client()
    assert isinstance(adapter, TinyHis)
    assert adapter.departments() == [Department("K01", "口腔科", "teeth")]
    assert refused(adapter.hold_slot, "S1", "P1", "ref") == "E_NOT_HERE"
    monkeypatch.setenv("HIS_ADAPTER", f"{__name__}:no_such_factory")
    with pytest.raises(settings.ConfigError, match="no callable no_such_factory"):
        his_adapter.client()
    monkeypatch.setenv("HIS_ADAPTER", "not a factory")
    with pytest.raises(settings.ConfigError, match="HIS_ADAPTER"):
        his_adapter.client()
