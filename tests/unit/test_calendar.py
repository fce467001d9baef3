"""Working days: holidays, make-up days, unknown years (domain.md section 4)."""
import datetime as dt

from chalicelib.domain.calendar import WorkingDayCalendar

D = dt.date.fromisoformat
cal = WorkingDayCalendar()


def test_national_day_holiday_is_skipped():
    # GIVEN a case received on the last working day before the 2026 National Day holiday
    # THEN one working day later is 8 October, not 1 October
    assert cal.add_working_days(D("2026-09-30"), 1).date == D("2026-10-08")


def test_make_up_weekend_day_counts():
    # Sunday 20 September 2026 is a make-up working day (调休)
    assert cal.add_working_days(D("2026-09-18"), 1).date == D("2026-09-20")
    # Saturday 10 October 2026 as well
    assert cal.add_working_days(D("2026-10-09"), 1).date == D("2026-10-10")


def test_twenty_working_days_across_spring_festival_2026():
    due = cal.add_working_days(D("2026-02-10"), 20)
    assert not due.provisional
    # counted by hand from the State Council 2026 notice: 11-13 (3), 14 Sat make-up (4),
    # 15-23 off, 24-27 (8), 28 Sat make-up (9), Mar 2-6 (14), 9-13 (19), 16 (20)
    assert due.date == D("2026-03-16")


def test_year_without_data_is_provisional_and_never_raises():
    due = cal.add_working_days(D("2026-12-31"), 1)
    assert due.provisional is True
    assert due.date == D("2027-01-01")  # weekends-only guess, marked as such


def test_loaded_year_overrides_the_guess():
    loaded = WorkingDayCalendar(overrides={2027: {D("2027-01-01"): False}})
    due = loaded.add_working_days(D("2026-12-31"), 1)
    assert due == due.__class__(D("2027-01-04"), False)


def test_calendar_day_limit_ending_on_a_holiday_moves_to_next_working_day():
    # 民法典第二百零三条: a last day that is a working day stays (2026-09-08 + 30 = 2026-10-08)
    assert cal.add_calendar_days(D("2026-09-08"), 30).date == D("2026-10-08")
    # 2026-09-01 + 30 days = 2026-10-01 (National Day) -> 2026-10-08
    assert cal.add_calendar_days(D("2026-09-01"), 30).date == D("2026-10-08")


def test_next_working_day_from_a_holiday():
    assert cal.next_working_day(D("2026-10-03"), include_start=True).date == D("2026-10-08")
    assert cal.next_working_day(D("2026-10-09"), include_start=True).date == D("2026-10-09")
