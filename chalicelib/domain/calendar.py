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
from typing import Callable, Iterable, Mapping, Optional

import chinese_calendar

from .errors import FieldProblem, ValidationFailed

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
        # a notice may reach into the December before its year (元旦 2018-12-30..2019-01-01
        # and the make-up Saturday 2018-12-29 are in the 2019 notice)
        for table in (self._overrides.get(day.year), self._overrides.get(day.year + 1)):
            if table is not None and day in table:
                return DayKind(working=table[day], provisional=False)
        if day.year in self._overrides:
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


# --- years loaded as data --------------------------------------------------------------------

#: The longest holiday range accepted: the longest published so far is 9 days (春节 2026,
#: 02-15 to 02-23); a longer range is almost always a typing error (a wrong month) that would
#: silently remove weeks of working days.
MAX_HOLIDAY_DAYS = 14


def library_years(around: int, span: int = 40) -> list[int]:
    """The years ``chinese-calendar`` has data for, among ``around - span .. around + span``
    (1.11.0: 2004-2026)."""
    return [y for y in range(around - span, around + span + 1) if _library_day_kind(dt.date(y, 1, 1)) is not None]


def _date(raw: object, path: str, year: int, problems: list[FieldProblem]) -> dt.date | None:
    try:
        day = dt.date.fromisoformat(raw) if isinstance(raw, str) and len(raw) == 10 else None
    except ValueError:
        day = None
    if day is None:
        problems.append(FieldProblem(path, "DATE_INVALID", "日期无效，应为 YYYY-MM-DD 格式的真实日期"))
        return None
    if day.year != year and not (day.year == year - 1 and day.month == 12):
        problems.append(FieldProblem(path, "DATE_OUTSIDE_YEAR",
                                     f"日期不在{year}年内（元旦假期及其调休可始于{year - 1}年12月）"))
        return None
    return day


def year_table(data: Mapping[str, object]) -> dict[dt.date, bool]:
    """The ``{date: is_working}`` table of one year's published schedule
    (《国务院办公厅关于{year}年部分节假日安排的通知》, published each year around November):
    every day of each holiday range (``holidays``: ``{name, start, end}``, inclusive) is off,
    every make-up working day (``workdays``: ``{date, name?}``, 调休上班) is on; other days are
    ordinary (Monday-Friday working, weekends off).

    Raises ``ValidationFailed`` listing every problem with its field path: a date that is
    not real or neither in ``year`` nor in the December before it (the New Year holiday and its
    make-up days may start there) (DATE_INVALID, DATE_OUTSIDE_YEAR), a range ending before it
    starts (HOLIDAY_END_BEFORE_START), longer than :data:`MAX_HOLIDAY_DAYS`
    (HOLIDAY_TOO_LONG) or overlapping another (HOLIDAYS_OVERLAP), no holidays at all
    (HOLIDAYS_EMPTY), a make-up day that is not a Saturday or Sunday
    (WORKDAY_NOT_WEEKEND), listed twice (WORKDAY_DUPLICATE) or inside a holiday
    (DATE_BOTH_HOLIDAY_AND_WORKDAY)."""
    problems: list[FieldProblem] = []
    year = data.get("year")
    if not isinstance(year, int) or isinstance(year, bool) or not 1949 < year < 2200:
        raise ValidationFailed(details=[FieldProblem("year", "FIELD_RANGE", "年份无效")])
    holidays = list(data.get("holidays") or [])
    workdays = list(data.get("workdays") or [])
    if not holidays:
        problems.append(FieldProblem("holidays", "HOLIDAYS_EMPTY", "至少需要一项法定节假日安排"))
    table: dict[dt.date, bool] = {}
    owner: dict[dt.date, int] = {}
    for i, holiday in enumerate(holidays):
        path = f"holidays[{i}]"
        start = _date(holiday.get("start"), f"{path}.start", year, problems)
        end = _date(holiday.get("end"), f"{path}.end", year, problems)
        if start is None or end is None:
            continue
        if end < start:
            problems.append(FieldProblem(f"{path}.end", "HOLIDAY_END_BEFORE_START", "结束日期早于开始日期"))
            continue
        if (end - start).days + 1 > MAX_HOLIDAY_DAYS:
            problems.append(FieldProblem(f"{path}.end", "HOLIDAY_TOO_LONG",
                                         f"放假天数超过{MAX_HOLIDAY_DAYS}天，请核对日期"))
            continue
        clash = None
        day = start
        while day <= end:
            if day in owner and clash is None:
                clash = owner[day]
            owner.setdefault(day, i)
            table[day] = False
            day += dt.timedelta(days=1)
        if clash is not None:
            other = holidays[clash].get("name") or f"第{clash + 1}项"
            problems.append(FieldProblem(path, "HOLIDAYS_OVERLAP", f"与“{other}”的放假日期重叠或重复"))
    seen: set[dt.date] = set()
    for i, workday in enumerate(workdays):
        path = f"workdays[{i}].date"
        day = _date(workday.get("date"), path, year, problems)
        if day is None:
            continue
        if day in seen:
            problems.append(FieldProblem(path, "WORKDAY_DUPLICATE", "该调休上班日重复填写"))
            continue
        seen.add(day)
        if day.weekday() < 5:
            problems.append(FieldProblem(path, "WORKDAY_NOT_WEEKEND", "调休上班日应为星期六或星期日"))
        if day in owner:
            name = holidays[owner[day]].get("name") or ""
            problems.append(FieldProblem(path, "DATE_BOTH_HOLIDAY_AND_WORKDAY", f"该日期同时在“{name}”放假安排中"))
        table[day] = True
    if problems:
        raise ValidationFailed("节假日安排数据有误，请核对后重新加载", details=problems)
    return table


def normalized_year(data: Mapping[str, object]) -> dict[str, object]:
    """The stored shape of a year's schedule (what its content hash is taken over): ``year``,
    ``source``, ``holidays`` ordered by start, ``workdays`` ordered by date (``name`` only when
    given) and ``example`` when the data is marked made-up."""
    holidays = sorted(({"name": h["name"], "start": h["start"], "end": h["end"]} for h in data["holidays"]),
                      key=lambda h: h["start"])
    workdays = sorted(({"date": w["date"], **({"name": w["name"]} if w.get("name") else {})}
                       for w in data.get("workdays") or []), key=lambda w: w["date"])
    out = {"year": data["year"], "source": data["source"], "holidays": holidays, "workdays": workdays}
    if data.get("example"):
        out["example"] = True  # made-up data (tests, demos): shown as such wherever the year is listed
    return out


def calendar_from_years(years: Iterable[Mapping[str, object]]) -> WorkingDayCalendar:
    """A calendar whose ``overrides`` are the given stored years (already validated when they
    were loaded; one that no longer validates is skipped rather than crash every request)."""
    overrides: dict[int, dict[dt.date, bool]] = {}
    for data in years:
        try:
            overrides[int(data["year"])] = year_table(data)
        except (ValidationFailed, KeyError, TypeError, ValueError, AttributeError):
            continue
    return WorkingDayCalendar(overrides=overrides)
