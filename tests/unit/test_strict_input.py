"""Strict input: free text without hidden characters, numbers in ASCII digits, times and
dates a client may send, booleans that are booleans (ER2, ER6, ER8, ER10, OC2)."""
import datetime as dt

import pytest

from hospital import text, timeutil
from hospital.errors import ValidationFailed
from hospital.payments.models import CreditEnrolment, Resolution
from hospital.rescue.models import (
    CaseIntake,
    Decision,
    Duty,
    PhoneIntake,
    PositionBatch,
    ProfileLinkConsent,
    RescuePersonIn,
    TripStep,
)
from hospital.web import validate

LOCATION = {"latitude": 31.2304, "longitude": 121.4737, "coord_system": "gcj02"}
RLO, BELL, ZWSP, BOM, SOFT_HYPHEN, NEL = "\u202e", "\u0007", "\u200b", "\ufeff", "\u00ad", "\u0085"


def field_of(model, data):
    with pytest.raises(ValidationFailed) as err:
        validate(model, data)
    return err.value.field


# --- free text ------------------------------------------------------------------------------

@pytest.mark.parametrize("hidden", [RLO, BELL, ZWSP, BOM, SOFT_HYPHEN, NEL, "\x1b", "\x00", "\t", "\n", "\r"])
def test_a_single_line_refuses_every_control_and_format_character_NF5(hidden):
    assert text.hidden_character(f"张{hidden}三", multiline=False) == hidden


@pytest.mark.parametrize("note", ["第一行\n第二行", "剂量\t5 mg", "Windows\r\nline", "末尾\n"])
def test_a_note_may_hold_tab_new_line_and_cr_lf_NF5(note):
    assert text.hidden_character(note, multiline=True) is None


@pytest.mark.parametrize("hidden", [RLO, BELL, ZWSP, BOM, "\r", "x\ry", "\n\r", "\x0b", "\x0c", NEL])
def test_a_note_refuses_the_rest_including_a_lone_carriage_return_NF5(hidden):
    assert text.hidden_character(f"备注{hidden}", multiline=True) is not None


def test_ordinary_text_of_any_script_passes_NF5():
    for ordinary in ("王秀英", "人民大道200号 3号楼", "O'Brien-Smith", "مريم", "😀", "\ue000"):  # \ue000: private use
        assert text.hidden_character(ordinary, multiline=False) is None


def test_the_message_names_the_character_it_cannot_show_NF5():
    assert text.code_point(RLO) == "U+202E" and text.code_point(BELL) == "U+0007"


@pytest.mark.parametrize("model,data,field", [
    (RescuePersonIn, {"name": f"李{RLO}四", "relation": "parent"}, "name"),
    (RescuePersonIn, {"name": f"李{BELL}四", "relation": "parent"}, "name"),
    (RescuePersonIn, {"name": "李\n四", "relation": "parent"}, "name"),
    (RescuePersonIn, {"name": "李四", "relation": "parent", "notes": f"青霉素过敏{ZWSP}"}, "notes"),
    (CaseIntake, {"location": LOCATION, "address_text": f"人民大道{RLO}200号"}, "address_text"),
    (CaseIntake, {"location": LOCATION, "address_text": "人民大道\t200号"}, "address_text"),
    (CaseIntake, {"location": LOCATION, "complaint": f"胸痛{BELL}"}, "complaint"),
    (PhoneIntake, {"caller_phone": "13912345678", "address_text": "世纪大道100号", "complaint": f"{BOM}胸痛"},
     "complaint"),
    (Resolution, {"resolution": f"已线下退款{RLO}"}, "resolution"),
])
def test_every_free_text_field_refuses_hidden_characters_naming_the_field_NF5(model, data, field):
    assert field_of(model, data) == field


def test_notes_complaints_and_resolutions_keep_their_lines_NF5():
    person = validate(RescuePersonIn, {"name": "李四", "relation": "parent", "notes": "高血压\n青霉素过敏\t(2019)"})
    assert person.notes == "高血压\n青霉素过敏\t(2019)"
    intake = validate(CaseIntake, {"location": LOCATION, "complaint": "胸痛\r\n出汗"})
    assert intake.complaint == "胸痛\r\n出汗"
    assert validate(Resolution, {"resolution": "柜台退款\n单号 123"}).resolution == "柜台退款\n单号 123"


def test_length_and_trimming_rules_are_unchanged_NF5():
    assert validate(RescuePersonIn, {"name": "  李四 ", "relation": "self"}).name == "李四"
    assert field_of(RescuePersonIn, {"name": "李" * 51, "relation": "self"}) == "name"
    assert field_of(RescuePersonIn, {"name": "   ", "relation": "self"}) == "name"
    assert field_of(Resolution, {"resolution": "a"}) == "resolution"


# --- whole numbers ----------------------------------------------------------------------------

@pytest.mark.parametrize("raw,expected", [("1", 1), ("50", 50), ("007", 7), ("100", 100)])
def test_ascii_whole_numbers_in_range_are_read_NF5(raw, expected):
    assert text.whole_number(raw, low=1, high=100) == expected


@pytest.mark.parametrize("raw", ["²", "١٢", "１２", "٣", "0", "101", "", "-1", "+1", " 5", "5 ", "1.0", "1e2", "五",
                                 "9" * 5000])
def test_anything_but_ascii_digits_in_range_is_refused_NF5(raw):
    assert text.whole_number(raw, low=1, high=100) is None


# --- instants and dates ------------------------------------------------------------------------

def instant(iso):
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))


@pytest.mark.parametrize("iso", ["2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z", "2099-12-31T23:59:59Z",
                                 "2100-01-01T08:00:00+08:00", "2026-11-26T08:00:00+14:00"])
def test_plausible_instants_are_accepted_NF5(iso):
    assert timeutil.is_plausible_instant(instant(iso))


@pytest.mark.parametrize("iso", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "1999-12-31T23:59:59Z",
                                 "2000-01-01T07:59:59+08:00", "2100-01-01T00:00:00.000001Z", "0001-01-01T00:00:00Z"])
def test_instants_that_overflow_or_are_implausible_are_refused_NF5(iso):
    assert not timeutil.is_plausible_instant(instant(iso))


def test_dates_from_2000_to_2099_are_plausible_NF5():
    assert timeutil.is_plausible_date(dt.date(2000, 1, 1)) and timeutil.is_plausible_date(dt.date(2099, 12, 31))
    for outside in (dt.date(1999, 12, 31), dt.date(2100, 1, 1), dt.date.min, dt.date.max):
        assert not timeutil.is_plausible_date(outside)


def gps(device_time):
    return {"points": [{"latitude": 31.2, "longitude": 121.4, "coord_system": "wgs84", "device_time": device_time}]}


@pytest.mark.parametrize("device_time", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                                         "1970-01-01T00:00:00Z"])
def test_a_device_time_that_cannot_be_stored_is_400_naming_the_point_ER6_NF5(device_time):
    assert field_of(PositionBatch, gps(device_time)) == "points.0.device_time"


def test_a_far_future_but_representable_device_time_is_valid_input_ER6_NF5():
    # Valid input, then dropped by the track filter as future_time.
    assert validate(PositionBatch, gps("2099-06-01T00:00:00Z")).points[0].device_time.year == 2099


# --- booleans ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [1, 1.0, "true", "True", "1", "yes", "on"])
def test_consent_is_json_true_and_nothing_that_looks_like_it_ER8_OC2_NF5(value):
    assert field_of(ProfileLinkConsent, {"consent": value}) == "consent"
    assert field_of(CreditEnrolment, {"consent": value, "consent_version": "credit-care-2026.11"}) == "consent"


def test_consent_false_or_missing_is_refused_and_true_accepted_ER8_OC2_NF5():
    for body in ({}, {"consent": False}, {"consent": None}):
        assert field_of(ProfileLinkConsent, body) == "consent"
    assert validate(ProfileLinkConsent, {"consent": True}).consent is True
    assert validate(CreditEnrolment, {"consent": True, "consent_version": "v1"}).consent is True


@pytest.mark.parametrize("value", [1, 0, 1.0, "true", "false", "1", "yes"])
def test_every_boolean_field_takes_only_json_booleans_NF5(value):
    assert field_of(Decision, {"dispatch": value, "reason": "urgent"}) == "dispatch"
    assert field_of(Duty, {"on_duty": value}) == "on_duty"
    assert field_of(TripStep, {"node": "left_scene", "with_patient": value}) == "with_patient"


def test_json_booleans_still_work_NF5():
    assert validate(Decision, {"dispatch": False, "reason": "advice_given"}).dispatch is False
    assert validate(Duty, {"on_duty": True}).on_duty is True
    assert validate(TripStep, {"node": "left_scene", "with_patient": False}).with_patient is False
    assert validate(TripStep, {"node": "en_route"}).with_patient is None
