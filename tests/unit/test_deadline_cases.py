"""Fixed deadline cases, every date counted by hand from the State Council's holiday notices
(国务院办公厅关于2025年、2026年部分节假日安排的通知) and written down before the code ran:

* 2025 National Day + Mid-Autumn: 2025-10-01..10-08 off; Sunday 09-28 and Saturday 10-11 are
  make-up working days (调休).
* 2026 Spring Festival: 2026-02-15..02-23 off; Saturdays 02-14 and 02-28 are make-up days.

Rules: the start day is not counted (《民法典》第二百零一条); a calendar-day limit whose last day
is a day off ends on the next working day (第二百零三条); an immediate case after office hours
is due the next working day (practice); time waiting for supplements after deemed acceptance
and special procedures does not count (行政许可法第三十二条、第四十五条); art. 42 extension +10
working days. Cases are driven with ``lifecycle.decide`` as in ``test_lifecycle_rules.py``.
"""
from __future__ import annotations

import datetime as dt

from chalicelib.domain import deadlines
from chalicelib.domain import lifecycle as rules
from chalicelib.domain.calendar import CALENDAR_DAYS, WORKING_DAYS, WorkingDayCalendar
from chalicelib.domain.cases import SHANGHAI
from chalicelib.domain.lifecycle import (ACCEPT, CONCLUDE, END_SPECIAL_PROCEDURE, EXTEND, ISSUE_NOTICE,
                                         START_SPECIAL_PROCEDURE, SUPPLEMENT)
from tests.unit.test_lifecycle_rules import CLERK, VILLAGER_ACTOR, new_case, step

CAL = WorkingDayCalendar()
D = dt.date.fromisoformat
ONE = dt.timedelta(days=1)


def at(iso_date: str, hhmm: str = "10:00") -> dt.datetime:
    """An Asia/Shanghai wall-clock time as the aware UTC moment the rules take."""
    return dt.datetime.fromisoformat(f"{iso_date}T{hhmm}").replace(tzinfo=SHANGHAI).astimezone(dt.timezone.utc)


def counted_days(due: deadlines.Deadline, start: dt.date) -> list[dt.date]:
    """Working days in (start, due] (the calculator's list), for the hand counts below."""
    out, day = [], start
    while day < due.due_date:
        day += ONE
        if CAL.day_kind(day).working:
            out.append(day)
    return out


# --- holidays ---------------------------------------------------------------------------------

def test_twenty_working_days_across_national_day_2025():
    # Accepted Friday 2025-09-26. Counting starts Saturday 09-27 (off):
    #  09-28 Sun make-up (1), 09-29 (2), 09-30 (3), 10-01..10-08 off, 10-09 (4), 10-10 (5),
    #  10-11 Sat make-up (6), 10-12 off, 10-13..17 (7-11), 10-20..24 (12-16), 10-27..30 (17-20)
    # -> due Thursday 2025-10-30. Yellow: 80 % of 20 = the 16th day, 10-24 (left 4 > 2).
    d = deadlines.evaluate(deadlines.Clock(D("2025-09-26"), 20), D("2025-09-30"), CAL)
    assert d.due_date == D("2025-10-30") and not d.provisional
    assert d.yellow_date == D("2025-10-24")
    assert (d.working_days_used, d.working_days_left, d.level) == (3, 17, deadlines.GREEN)
    days = counted_days(d, D("2025-09-26"))
    assert len(days) == 20 and days[:4] == [D("2025-09-28"), D("2025-09-29"), D("2025-09-30"), D("2025-10-09")]
    assert D("2025-10-11") in days and D("2025-10-12") not in days
    assert deadlines.evaluate(deadlines.Clock(D("2025-09-26"), 20), D("2025-10-23"), CAL).level == deadlines.GREEN
    assert deadlines.evaluate(deadlines.Clock(D("2025-09-26"), 20), D("2025-10-24"), CAL).level == deadlines.YELLOW
    assert deadlines.evaluate(deadlines.Clock(D("2025-09-26"), 20), D("2025-10-30"), CAL).level == deadlines.YELLOW
    assert deadlines.evaluate(deadlines.Clock(D("2025-09-26"), 20), D("2025-10-31"), CAL).level == deadlines.RED


def test_twenty_working_days_across_spring_festival_2026():
    # Accepted Thursday 2026-02-12: 02-13 (1), 02-14 Sat make-up (2), 02-15..02-23 off,
    #  02-24..27 (3-6), 02-28 Sat make-up (7), 03-01 off, 03-02..06 (8-12), 03-09..13 (13-17),
    #  03-16..18 (18-20) -> due Wednesday 2026-03-18; yellow on the 16th day, Thursday 03-12.
    d = deadlines.evaluate(deadlines.Clock(D("2026-02-12"), 20), D("2026-02-20"), CAL)
    assert d.due_date == D("2026-03-18")
    assert d.yellow_date == D("2026-03-12")
    assert (d.working_days_used, d.working_days_left) == (2, 18)  # the holiday uses nothing
    days = counted_days(d, D("2026-02-12"))
    assert D("2026-02-14") in days and D("2026-02-28") in days and D("2026-02-16") not in days


# --- immediate cases ------------------------------------------------------------------------------

def test_immediate_case_after_hours_on_friday_is_due_the_next_working_day():
    # Friday 2025-11-07 18:00 (after 17:30): due Monday 2025-11-10; at 10:00 the same day: 11-07.
    late = deadlines.calculate(0, WORKING_DAYS, at("2025-11-07", "18:00"), calendar=CAL, zone=SHANGHAI)
    assert late.due_date == D("2025-11-10")
    assert (late.working_days_left, late.level) == (1, deadlines.YELLOW)
    on_time = deadlines.calculate(0, WORKING_DAYS, at("2025-11-07", "10:00"), calendar=CAL, zone=SHANGHAI)
    assert on_time.due_date == D("2025-11-07")
    assert (on_time.working_days_used, on_time.working_days_left) == (1, 0)
    # the closing minute still counts (17:30), the next one does not
    assert deadlines.calculate(0, WORKING_DAYS, at("2025-11-07", "17:30"), calendar=CAL,
                               zone=SHANGHAI).due_date == D("2025-11-07")
    assert deadlines.calculate(0, WORKING_DAYS, at("2025-11-07", "17:31"), calendar=CAL,
                               zone=SHANGHAI).due_date == D("2025-11-10")


def test_immediate_case_after_hours_before_a_make_up_sunday():
    # Friday 2025-09-26 18:00: the next working day is the make-up Sunday 2025-09-28;
    # Tuesday 2025-09-30 18:00: the holiday follows, due Thursday 2025-10-09.
    assert deadlines.calculate(0, WORKING_DAYS, at("2025-09-26", "18:00"), calendar=CAL,
                               zone=SHANGHAI).due_date == D("2025-09-28")
    assert deadlines.calculate(0, WORKING_DAYS, at("2025-09-30", "18:00"), calendar=CAL,
                               zone=SHANGHAI).due_date == D("2025-10-09")
    # received on a holiday, in "office hours": the day off does not count either
    assert deadlines.calculate(0, WORKING_DAYS, at("2025-10-03", "10:00"), calendar=CAL,
                               zone=SHANGHAI).due_date == D("2025-10-09")


# --- calendar days ------------------------------------------------------------------------------

def test_calendar_day_limit_ending_on_a_holiday_moves_to_the_next_working_day():
    # 30 calendar days from Friday 2025-09-05: 09-06 is day 1, 10-05 (Sunday, National Day) day 30
    # -> 民法典第二百零三条: the next working day, Thursday 2025-10-09.
    d = deadlines.calculate(30, CALENDAR_DAYS, at("2025-09-05"), calendar=CAL, zone=SHANGHAI)
    assert d.due_date == D("2025-10-09")
    # a limit ending on a working day stays: 25 calendar days -> Tuesday 2025-09-30
    assert deadlines.calculate(25, CALENDAR_DAYS, at("2025-09-05"), calendar=CAL,
                               zone=SHANGHAI).due_date == D("2025-09-30")


def test_extension_of_a_calendar_day_limit_counts_after_the_moved_last_day():
    # Regression (found by test_deadline_properties): the limit above ends on 2025-10-09 (moved
    # from the holiday 10-05); 10 working days of extension count after it: 10-10 (1),
    # 10-11 Sat make-up (2), 10-13..17 (3-7), 10-20..22 (8-10) -> Wednesday 2025-10-22.
    # (Counting them from 10-05 gave 10-21: 10-09, the limit's own last day, was spent twice.)
    d = deadlines.calculate(30, CALENDAR_DAYS, at("2025-09-05"), calendar=CAL, zone=SHANGHAI, extension_days=10)
    assert d.due_date == D("2025-10-22")
