"""Registration rules without a database (OR1, OR4): the cancellation window in Asia/Shanghai
days at every edge, what the patient sees, which registrations hold their place, which slots
can be held, and the identity card number's check."""
import datetime as dt

import pytest

from hospital.outpatient import identity_rules
from hospital.outpatient import registration_rules as rules

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
VISIT = dt.date(2026, 12, 10)


def at(day: dt.date, hh: int, mm: int, ss: int) -> dt.datetime:
    """A Shanghai wall-clock time, as the naive UTC the database keeps."""
    return dt.datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=SHANGHAI).astimezone(dt.UTC).replace(
        tzinfo=None)


@pytest.mark.parametrize("now, refused", [
    (at(VISIT - dt.timedelta(days=1), 0, 0, 0), "cancellation_not_yet_open"),
    (at(VISIT - dt.timedelta(days=1), 23, 59, 59), "cancellation_not_yet_open"),  # the day before, its last second
    (at(VISIT, 0, 0, 0), None),                                                    # the visit day opens at 00:00
    (at(VISIT, 23, 59, 59), None),
    (at(VISIT + dt.timedelta(days=1), 8, 0, 0), None),                             # missed, the day after
    (at(VISIT + dt.timedelta(days=7), 23, 59, 59), None),                          # day 7 after, last second
    (at(VISIT + dt.timedelta(days=8), 0, 0, 0), "cancellation_window_closed"),     # day 8
    (at(VISIT + dt.timedelta(days=30), 12, 0, 0), "cancellation_window_closed"),
])
def test_cancellation_window_is_the_visit_day_to_seven_days_after_in_shanghai_days(now, refused):
    refusal = rules.cancellation_refusal(VISIT, now)
    assert (refusal.code if refusal else None) == refused


def test_the_window_follows_shanghai_not_utc_days():
    # 2026-12-09 16:00 UTC is already 2026-12-10 00:00 in Shanghai: the visit day.
    assert rules.cancellation_refusal(VISIT, dt.datetime(2026, 12, 9, 16, 0, 0)) is None
    assert rules.cancellation_refusal(VISIT, dt.datetime(2026, 12, 9, 15, 59, 59)).code == "cancellation_not_yet_open"
    # 2026-12-17 15:59:59 UTC is day 7's last second in Shanghai; a second later is day 8.
    assert rules.cancellation_refusal(VISIT, dt.datetime(2026, 12, 17, 15, 59, 59)) is None
    assert rules.cancellation_refusal(VISIT, dt.datetime(2026, 12, 17, 16, 0, 0)).code == "cancellation_window_closed"


def test_refusals_name_the_dates():
    assert "2026-12-10" in rules.cancellation_refusal(VISIT, at(VISIT - dt.timedelta(days=1), 9, 0, 0)).message
    assert "2026-12-17" in rules.cancellation_refusal(VISIT, at(VISIT + dt.timedelta(days=8), 9, 0, 0)).message


@pytest.mark.parametrize("status, order_status, visible", [
    ("holding", None, "holding"),
    ("abandoned", None, "expired"),
    ("held", "created", "awaiting_payment"),
    ("held", "paying", "awaiting_payment"),
    ("held", "paid", "confirming"),
    ("held", "confirmed", "booked"),
    ("held", "his_failed", "failed"),
    ("held", "refunded", "failed"),
    ("held", "closed", "expired"),
    ("cancel_pending", "confirmed", "cancelling"),
    ("cancelled", "refunded", "cancelled"),
])
def test_what_the_patient_sees(status, order_status, visible):
    assert rules.visible_status(status, order_status) == visible


def test_a_held_registration_without_an_order_state_we_know_is_refused():
    with pytest.raises(ValueError):
        rules.visible_status("held", None)
    with pytest.raises(ValueError):
        rules.visible_status("nonsense", "confirmed")


def test_which_registrations_hold_their_place():
    now = dt.datetime(2026, 12, 1, 2, 0, 0)
    assert rules.holds_its_place("holding", None, now - dt.timedelta(seconds=30), now)
    assert not rules.holds_its_place("holding", None, now - rules.HOLDING_STALE, now)  # never answered: stale
    assert rules.holds_its_place("held", "created", now, now)
    assert rules.holds_its_place("held", "confirmed", now, now)
    assert rules.holds_its_place("cancel_pending", "confirmed", now, now)
    for order_status in ("closed", "his_failed", "refunded"):
        assert not rules.holds_its_place("held", order_status, now, now)
    assert not rules.holds_its_place("cancelled", "refunded", now, now)
    assert not rules.holds_its_place("abandoned", None, now, now)


def test_which_slots_can_be_held():
    now = at(VISIT, 9, 0, 0)
    assert rules.slot_refusal("free", VISIT, "09:30", now) is None
    assert rules.slot_refusal("free", VISIT, "09:00", now)[0] == "slot_past"  # begins this very second
    assert rules.slot_refusal("free", VISIT - dt.timedelta(days=1), "16:00", now)[0] == "slot_past"
    assert rules.slot_refusal("held", VISIT, "10:00", now)[0] == "slot_taken"
    assert rules.slot_refusal("booked", VISIT, "10:00", now)[0] == "slot_taken"
    assert rules.slot_refusal("suspended", VISIT, "10:00", now)[0] == "slot_suspended"
    assert rules.slot_refusal("unknown", VISIT, "10:00", now)[0] == "slot_unavailable"


@pytest.mark.parametrize("id_no, problem", [
    ("11010519491231002X", None),
    ("440308199901011234", None),
    ("110105194912310021", "check character"),
    ("11010519491331002X", "check character"),
    ("1101051949123100", "17 digits"),
    ("11010519491231002x", "17 digits"),  # normalise() capitalises first; problem() sees what it is given
    ("A1010519491231002X", "17 digits"),
])
def test_identity_card_numbers(id_no, problem):
    found = identity_rules.problem(id_no, dt.date(2026, 12, 1))
    assert (found is None) if problem is None else (problem in found)


def test_an_identity_card_number_is_normalised_and_its_birth_date_checked():
    assert identity_rules.normalise(" 11010519491231002x ") == "11010519491231002X"
    # Valid check characters, impossible birth dates: 1949-13-31, and a birth in the future.
    for id_no in ("110105194913310029", "110105203001010010"):
        weights, checks = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2), "10X98765432"
        fixed = id_no[:17] + checks[sum(int(d) * w for d, w in zip(id_no[:17], weights, strict=True)) % 11]
        assert "birth date" in identity_rules.problem(fixed, dt.date(2026, 12, 1))


def test_a_failed_registration_is_explained_in_the_patients_words():
    assert "came later" in rules.failure_message("E_HOLD_EXPIRED: the hold expired or was released")
    assert "suspended" in rules.failure_message("E_SLOT_SUSPENDED: no")
    assert rules.failure_message("E_SOMETHING_NEW: ?") == rules.FAILURE_UNKNOWN
    assert rules.failure_message(None) == rules.FAILURE_UNKNOWN
