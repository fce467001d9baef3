"""Working-day calendar (工作日) in Asia/Shanghai.

Rules (``shared/docs/domain.md`` section 4):

* Limits counted in working days exclude statutory holidays and ordinary weekends, but weekend
  days the State Council declares make-up working days (调休) DO count.
* The day the clock starts is not counted; counting begins the next day (《民法典》第二百零一条:
  "按照年、月、日计算期间的，开始的当日不计入，自下一日开始计算").
* A limit in calendar days whose last day is a statutory holiday ends on the next working day
  (《民法典》第二百零三条).
* For a year without published data the calendar never crashes and never silently guesses:
  it falls back to "weekends only" and marks the result ``provisional``.

The holiday source is ``chinese-calendar`` (knows 2004-2026 in version 1.11). Years loaded as
data (the State Council's notice, loaded by an administrator: ``usecases/calendar_years.py``)
are passed in as ``overrides`` and take precedence over the library.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

import chinese_calendar

WORKING_DAYS = "working_days"
CALENDAR_DAYS = "calendar_days"

# Safety bound: no limit in the catalog exceeds a few hundred days; this guards against loops.
_MAX_SCAN_DAYS = 3660


@dataclass(frozen=True)
class DayKind:
    """Whether a date is a working day, and whether that answer is provisional (no year data)."""

    working: bool
    provisional: bool


@dataclass(frozen=True)
class DueDate:
    """A due date (Asia/Shanghai calendar date) and whether it rests on provisional calendar data."""

    date: dt.date
    provisional: bool

    def to_dict(self) -> dict:
        return {"due_date": self.date.isoformat(), "due_date_provisional": self.provisional}


def _library_day_kind(day: dt.date) -> Optional[bool]:
    """True/False from chinese-calendar, or None when the library has no data for that year."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


class WorkingDayCalendar:
    """Answers "is this a working day" and adds working or calendar days.

    ``overrides`` maps a year to a ``{date: is_working}`` table loaded as data; a year present
    there is used instead of the library (issue 5 loads these from DynamoDB).
    """

    def __init__(self, overrides: Mapping[int, Mapping[dt.date, bool]] | None = None,
                 library: Callable[[dt.date], Optional[bool]] = _library_day_kind) -> None:
        self._overrides = overrides or {}
        self._library = library
        self._kinds: dict[dt.date, DayKind] = {}  # a calendar never changes: answers are kept

    def knows(self, year: int) -> bool:
        """True when ``year`` has published data (loaded, or in the library); False when every
        answer for that year is a weekends-only guess (``provisional``)."""
        return year in self._overrides or self._library(dt.date(year, 1, 1)) is not None

    @property
    def loaded_years(self) -> list[int]:
        """The years loaded as data (overriding the library), ascending."""
        return sorted(self._overrides)

    def day_kind(self, day: dt.date) -> DayKind:
        """Return the :class:`DayKind` of ``day`` (a calendar date in Asia/Shanghai)."""
        kind = self._kinds.get(day)
        if kind is None:
            kind = self._kinds[day] = self._day_kind(day)
        return kind

    def _day_kind(self, day: dt.date) -> DayKind:
        year_table = self._overrides.get(day.year)
        if year_table is not None:
            if day in year_table:
                return DayKind(working=year_table[day], provisional=False)
            return DayKind(working=day.weekday() < 5, provisional=False)
        known = self._library(day)
        if known is None:
            return DayKind(working=day.weekday() < 5, provisional=True)
        return DayKind(working=known, provisional=False)

    def add_working_days(self, start: dt.date, days: int) -> DueDate:
        """The date ``days`` working days after ``start`` (``start`` itself not counted).

        ``days`` must be >= 1. Raises ``ValueError`` for ``days < 1``.
        """
        if days < 1:
            raise ValueError("days must be >= 1")
        provisional = False
        day = start
        counted = 0
        for _ in range(_MAX_SCAN_DAYS):
            day += dt.timedelta(days=1)
            kind = self.day_kind(day)
            provisional = provisional or kind.provisional
            if kind.working:
                counted += 1
                if counted == days:
                    return DueDate(day, provisional)
        raise ValueError("limit too long for the calendar")

    def next_working_day(self, start: dt.date, include_start: bool = False) -> DueDate:
        """The first working day after ``start`` (or ``start`` itself when ``include_start``)."""
        first = self.day_kind(start)
        if include_start and first.working:
            return DueDate(start, first.provisional)
        due = self.add_working_days(start, 1)
        return DueDate(due.date, due.provisional or (include_start and first.provisional))

    def add_calendar_days(self, start: dt.date, days: int) -> DueDate:
        """``start`` + ``days`` calendar days; a last day that is not a working day moves to the
        next working day (《民法典》第二百零三条)."""
        if days < 1:
            raise ValueError("days must be >= 1")
        return self.next_working_day(start + dt.timedelta(days=days), include_start=True)

    def add(self, start: dt.date, value: int, unit: str) -> DueDate:
        """Add a limit of ``value`` in ``unit`` (``working_days`` or ``calendar_days``)."""
        if unit == WORKING_DAYS:
            return self.add_working_days(start, value)
        if unit == CALENDAR_DAYS:
            return self.add_calendar_days(start, value)
        raise ValueError(f"unknown unit {unit!r}")
