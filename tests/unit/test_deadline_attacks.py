"""Adversarial checks of the pure deadline rule (``domain/deadlines.py``): time zones, make-up
days, same-day pauses (attacks that failed, kept as regression tests; dates counted by hand)."""
import datetime as dt

from chalicelib.domain import deadlines
from chalicelib.domain.calendar import CALENDAR_DAYS, WORKING_DAYS, WorkingDayCalendar

CAL = WorkingDayCalendar()
SH = dt.timezone(dt.timedelta(hours=8))
UTC = dt.timezone.utc


def calc(value, unit, started, **kw):
    return deadlines.calculate(value, unit, started, calendar=CAL, zone=SH, **kw)


def test_immediate_item_on_a_make_up_saturday_is_due_that_day_within_hours_else_after_spring_festival():
    # 2026-02-14 is a make-up Saturday; 02-15..02-23 Spring Festival; 02-24 the next working day
    assert calc(0, WORKING_DAYS, dt.datetime(2026, 2, 14, 10, 0, tzinfo=SH)).due_date == dt.date(2026, 2, 14)
    assert calc(0, WORKING_DAYS, dt.datetime(2026, 2, 14, 17, 30, tzinfo=SH)).due_date == dt.date(2026, 2, 14)
    assert calc(0, WORKING_DAYS, dt.datetime(2026, 2, 14, 17, 31, tzinfo=SH)).due_date == dt.date(2026, 2, 24)



def test_an_immediate_case_received_before_opening_on_a_working_day_is_due_that_day():
    # FINDING: start_counts() is False for any moment outside 08:30-17:30, so a case received
    # before opening is treated like one received after closing: the start day is skipped.
    # Thursday 2025-11-06 23:59 Shanghai (15:59 UTC): after hours -> due the next working day, Friday
    d = calc(0, WORKING_DAYS, dt.datetime(2025, 11, 6, 15, 59, tzinfo=UTC))
    assert d.due_date == dt.date(2025, 11, 7)
    # Friday 2025-11-07 00:30 Shanghai, 31 minutes later: the office has not opened yet; the next
    # working day (domain.md s.4: "an immediate case received after office hours or on a day
    # off is due the next working day") is Friday itself -- the code says Monday 11-10
    d = calc(0, WORKING_DAYS, dt.datetime(2025, 11, 7, 0, 30, tzinfo=SH))
    assert d.due_date == dt.date(2025, 11, 7)


def test_a_pause_starting_and_ending_the_same_day_takes_nothing_out():
    start = dt.datetime(2026, 3, 2, 10, tzinfo=SH)
    plain = calc(10, WORKING_DAYS, start)
    same_day = calc(10, WORKING_DAYS, start, pauses=[(dt.date(2026, 3, 5), dt.date(2026, 3, 5))])
    assert same_day.due_date == plain.due_date == dt.date(2026, 3, 16)


def test_a_calendar_day_limit_ending_on_a_make_up_sunday_ends_that_day():
    # 2026-09-20 is a make-up Sunday: 10 calendar days from 09-10 end on it (a working day)
    assert calc(10, CALENDAR_DAYS, dt.datetime(2026, 9, 10, 10, tzinfo=SH)).due_date == dt.date(2026, 9, 20)
    # 2026-09-19 (an ordinary Saturday) moves to the make-up Sunday 09-20
    assert calc(9, CALENDAR_DAYS, dt.datetime(2026, 9, 10, 10, tzinfo=SH)).due_date == dt.date(2026, 9, 20)


def test_an_overdue_case_paused_stays_red():
    start = dt.datetime(2026, 3, 2, 10, tzinfo=SH)
    d = calc(5, WORKING_DAYS, start, pauses=[(dt.date(2026, 3, 12), None)], today=dt.date(2026, 3, 20))
    assert d.due_date == dt.date(2026, 3, 9) and d.level == deadlines.RED and not d.paused
