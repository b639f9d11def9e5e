"""When a day can be reconciled and when it is tried again (AD1), without a database."""
import datetime as dt

from hospital.reconciliation import schedule_rules as s


def utc(beijing: str) -> dt.datetime:
    """A Beijing wall time as the naive UTC the code keeps."""
    return dt.datetime.fromisoformat(beijing) - dt.timedelta(hours=8)


def test_yesterday_is_due_from_ten_oclock_beijing_and_the_day_before_always():
    assert s.first_due(utc("2026-12-02 09:59:59")) == [dt.date(2026, 11, 30)]
    assert s.first_due(utc("2026-12-02 10:00:00")) == [dt.date(2026, 11, 30), dt.date(2026, 12, 1)]
    # 01:00 UTC is 09:00 in Beijing: the UTC date is not the one that counts
    assert s.first_due(dt.datetime(2026, 12, 2, 1, 0)) == [dt.date(2026, 11, 30)]


def test_a_day_cannot_be_reconciled_before_its_bills_exist():
    now = utc("2026-12-02 09:00:00")
    assert "ready from 10:00" in s.date_refusal(dt.date(2026, 12, 1), now, with_file=False)
    assert "ready from 10:00" in s.date_refusal(dt.date(2026, 12, 2), now, with_file=True)   # today
    assert s.date_refusal(dt.date(2026, 12, 1), now, with_file=True) is None               # a file is a file
    assert s.date_refusal(dt.date(2026, 12, 1), utc("2026-12-02 10:00:00"), with_file=False) is None


def test_only_three_months_of_bills_can_be_downloaded_a_file_of_any_day_can_be_given():
    now = utc("2026-12-02 12:00:00")
    assert s.oldest_downloadable(dt.date(2026, 12, 2)) == dt.date(2026, 9, 2)
    assert s.date_refusal(dt.date(2026, 9, 2), now, with_file=False) is None
    assert "older than 3 months" in s.date_refusal(dt.date(2026, 9, 1), now, with_file=False)
    assert s.date_refusal(dt.date(2025, 1, 1), now, with_file=True) is None
    # the month three back is shorter: its last day
    assert s.oldest_downloadable(dt.date(2026, 5, 31)) == dt.date(2026, 2, 28)
    assert s.oldest_downloadable(dt.date(2026, 2, 15)) == dt.date(2025, 11, 15)


def test_retries_back_off_and_a_statement_being_made_is_asked_for_again_soon():
    assert s.retry_after("waiting", 5) == dt.timedelta(minutes=30)
    assert [s.retry_after("failed", n) for n in (1, 2, 3)] == [dt.timedelta(minutes=m) for m in (15, 30, 60)]
    assert s.retry_after("failed", 20) == dt.timedelta(hours=6)
