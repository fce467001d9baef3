"""Property-based tests of ``chalicelib.domain.deadlines`` against an independent oracle.

The oracle below is deliberately naive: its own code, ``chinese_calendar.is_workday`` called
directly (weekends-only and "provisional" for a year the library does not know), one day at a
time from the start. It shares nothing with ``deadlines.py`` or ``calendar.py`` but the rules:

* the start day is not counted (《民法典》第二百零一条), except the start day of an immediate
  limit (0) received on a working day before closing time (practice: else the next working day);
* a pause that started on P1 and ended on P2 takes the days after P1 up to and including P2 out
  of the count (an open pause: every day after P1);
* a limit in working days counts working days (holidays out, make-up days in); a limit in
  calendar days counts every day, and a last day that is not a working day moves to the next
  working day (《民法典》第二百零三条); then the extension's working days (行政许可法第四十二条)
  are counted after that (rolled) last day;
* default Policy: yellow when at most 2 working days are left or at least 80 % of the counted
  working days have been used; red after the due date;
* an open pause whose clock still had time when it began never turns red while it lasts
  (the "supplement rounds never falsely overdue" failure of peer systems, domain.md section 4).

Random starts over 2024-01-01..2026-10-31 (so due dates reach into 2027, a year without data),
limits 0..60 in both units, 0-3 pauses (some before the start, some open), extensions 0/10/15,
a random "today" on or after the start. Each test runs a bounded number of examples (a few seconds for the file).
"""
from __future__ import annotations

import datetime as dt
import functools
from fractions import Fraction

import chinese_calendar
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain import deadlines
from chalicelib.domain.calendar import CALENDAR_DAYS, WORKING_DAYS, WorkingDayCalendar, _library_day_kind
from chalicelib.domain.cases import SHANGHAI

#: The real calendar with the library's answers remembered (chinese-calendar takes ~45 us a day;
#: the rules under test are the same, the run is ten times faster).
CAL = WorkingDayCalendar(library=functools.lru_cache(maxsize=None)(_library_day_kind))
ONE = dt.timedelta(days=1)
FIRST, LAST = dt.date(2024, 1, 1), dt.date(2026, 10, 31)
OFFICE = (dt.time(8, 30), dt.time(17, 30))
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- the oracle -----------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def workday(day: dt.date) -> tuple[bool, bool]:
    """(is a working day, provisional): the library, or weekends-only for a year it lacks."""
    try:
        return bool(chinese_calendar.is_workday(day)), False
    except NotImplementedError:
        return day.weekday() < 5, True


def is_paused(day: dt.date, pauses) -> bool:
    return any(p1 < day and (p2 is None or day <= p2) for p1, p2 in pauses)


def oracle(start, value, unit, start_counts, pauses, extension, today):
    """The expected evaluation of a clock whose pauses are all closed."""
    counted: list[dt.date] = []
    day = start

    def next_counted_working_day(d):
        while True:
            d += ONE
            if not is_paused(d, pauses) and workday(d)[0]:
                return d

    if value == 0:
        if start_counts and workday(start)[0]:
            counted.append(start)
        else:
            day = next_counted_working_day(day)
            counted.append(day)
    else:
        n = 0
        while n < value:
            day += ONE
            if is_paused(day, pauses):
                continue
            working = workday(day)[0]
            if working:
                counted.append(day)
            if working or unit == CALENDAR_DAYS:
                n += 1
        if unit == CALENDAR_DAYS and not workday(day)[0]:  # 民法典第二百零三条
            day = next_counted_working_day(day)
            counted.append(day)
    for _ in range(extension):  # 行政许可法第四十二条: after the (rolled) last day
        day = next_counted_working_day(day)
        counted.append(day)
    due = day
    total = len(counted)

    def used_on(t):
        if t <= due:
            return sum(1 for d in counted if d <= t)
        extra, d = 0, due
        while d < t:
            d += ONE
            extra += workday(d)[0] and not is_paused(d, pauses)
        return total + extra

    def left_on(t):
        return total - used_on(t)

    def level_on(t):
        if t > due:
            return deadlines.RED
        if left_on(t) <= 2 or Fraction(used_on(t), total) >= Fraction(4, 5):
            return deadlines.YELLOW
        return deadlines.GREEN

    yellow = start
    while level_on(yellow) == deadlines.GREEN:
        yellow += ONE
    paused_days, d = 0, start
    while d < today:
        d += ONE
        paused_days += workday(d)[0] and is_paused(d, pauses)
    return {"due_date": due, "provisional": workday(due)[1],
            "yellow_date": yellow, "working_days_left": left_on(today), "working_days_used": used_on(today),
            "paused_working_days": paused_days, "level": level_on(today), "paused": False}


def expected(start, value, unit, start_counts, pauses, extension, today):
    """The oracle for any pauses: an open pause is evaluated as if it ended today; if the clock
    had run out before the day it began, that due date stands, else the case is paused with the
    warning level of the day it began (a pause on the due date itself: not red)."""
    open_ = [p for p in pauses if p[1] is None]
    if not open_:
        return oracle(start, value, unit, start_counts, pauses, extension, today)
    p1 = open_[0][0]
    closed = [(a, b if b is not None else max(today, a)) for a, b in pauses]
    out = oracle(start, value, unit, start_counts, closed, extension, today)
    if out["due_date"] < p1:
        return out
    level = oracle(start, value, unit, start_counts, closed, extension, max(p1, start))["level"]
    return {**out, "due_date": None, "provisional": False, "yellow_date": None, "paused": True, "level": level}


def actual(deadline: deadlines.Deadline) -> dict:
    return {"due_date": deadline.due_date, "provisional": deadline.provisional,
            "yellow_date": deadline.yellow_date, "working_days_left": deadline.working_days_left,
            "working_days_used": deadline.working_days_used, "paused_working_days": deadline.paused_working_days,
            "level": deadline.level, "paused": deadline.paused}


# --- strategies -----------------------------------------------------------------------------

starts = st.integers(0, (LAST - FIRST).days).map(lambda n: FIRST + dt.timedelta(days=n))
limits = st.tuples(st.integers(0, 60), st.sampled_from([WORKING_DAYS, CALENDAR_DAYS]))
extensions = st.sampled_from([0, 10, 15])


@st.composite
def pause_lists(draw, start):
    """0-3 pauses around ``start`` (some begin before it), at most one of them open."""
    out = []
    for _ in range(draw(st.integers(0, 3))):
        p1 = start + dt.timedelta(days=draw(st.integers(-10, 90)))
        length = draw(st.one_of(st.none(), st.integers(0, 45)))
        if length is None and any(b is None for _, b in out):
            length = 0
        out.append((p1, None if length is None else p1 + dt.timedelta(days=length)))
    return out


@st.composite
def clocks(draw):
    start = draw(starts)
    value, unit = draw(limits)
    start_counts = value == 0 and draw(st.booleans())
    pauses = draw(pause_lists(start))
    extension = draw(extensions)
    today = start + dt.timedelta(days=draw(st.integers(0, 240)))
    return start, value, unit, start_counts, pauses, extension, today


def make_clock(start, value, unit, start_counts, pauses, extension):
    return deadlines.Clock(start, value, unit, start_counts,
                           tuple(deadlines.Pause(deadlines.PAUSE_SUPPLEMENT, a, b) for a, b in pauses), extension)


# --- properties -----------------------------------------------------------------------------

@SETTINGS
@given(clocks())
def test_evaluate_agrees_with_the_day_by_day_oracle(case):
    start, value, unit, start_counts, pauses, extension, today = case
    got = deadlines.evaluate(make_clock(start, value, unit, start_counts, pauses, extension), today, CAL)
    assert actual(got) == expected(*case)


@SETTINGS
@given(starts, limits, st.integers(0, 23), st.integers(0, 59), extensions, st.data())
def test_calculate_agrees_with_the_oracle(start, limit, hour, minute, extension, data):
    value, unit = limit
    started = dt.datetime.combine(start, dt.time(hour, minute), SHANGHAI)
    pauses = data.draw(pause_lists(start))
    today = start + dt.timedelta(days=data.draw(st.integers(0, 240)))
    # immediate: the start day counts on a working day until closing time (17:30 by default;
    # before opening the window handles it that day)
    counts = value == 0 and workday(start)[0] and started.time() <= OFFICE[1]
    got = deadlines.calculate(value, unit, started.astimezone(dt.timezone.utc), calendar=CAL, zone=SHANGHAI,
                              pauses=pauses, extension_days=extension, today=today)
    assert actual(got) == expected(start, value, unit, counts, pauses, extension, today)


@settings(SETTINGS, max_examples=100)
@given(clocks())
def test_an_open_pause_never_turns_red_while_it_lasts(case):
    """Waiting for the applicant (or a special procedure) never makes a case overdue: once the
    pause has begun, a case whose due date was still ahead stays below red on every later day."""
    start, value, unit, start_counts, pauses, extension, _ = case
    closed = [(a, b if b is not None else a) for a, b in pauses]
    p1 = max([start] + [b for _, b in closed])  # the open pause begins after every other one
    clock = make_clock(start, value, unit, start_counts, closed + [(p1, None)], extension)
    before = deadlines.evaluate(clock, p1, CAL)
    for n in (0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144):
        later = deadlines.evaluate(clock, p1 + dt.timedelta(days=n), CAL)
        if before.level != deadlines.RED and not (before.due_date and before.due_date < p1):
            assert later.paused and later.level != deadlines.RED and later.due_date is None
        if unit == WORKING_DAYS:  # the count stands still (calendar days: their working days may shift)
            assert later.working_days_left == before.working_days_left
