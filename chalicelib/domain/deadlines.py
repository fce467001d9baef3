"""Deadlines (限时办结): the case clock, its pauses and extension, due dates, yellow and red
warnings, step limits and on-time data.

Rules (``shared/docs/domain.md`` section 4; 行政许可法):

* The clock starts at acceptance (受理), or at receipt when no one-time notice was issued
  within 5 working days (art. 32, deemed acceptance); while a timely notice waits for the
  applicant the clock has not started. The start day is not counted (《民法典》第二百零一条).
* Limits are the item's **promised** limit (承诺时限; warnings run against it), in working days
  (art. 82) or calendar days (a last day off moves to the next working day, 《民法典》第二百零三条).
  An item without a limit gets the legal 20 working days (art. 42).
* An immediate item (即办件, limit 0) is due the day it starts when that is a working day and
  the start was not after closing time, else the next working day (practice).
* The clock pauses (does not count) while the applicant supplements materials after deemed
  acceptance and during special procedures (art. 45: hearing, testing, inspection,
  appraisal, expert review...). A pause that starts on day P1 and ends on day P2 (Asia/Shanghai)
  takes the days after P1 up to and including P2 out of the count: the day it starts was
  already running, and counting resumes the day after it ends (as for the start).
* An extension (art. 42: +10 working days, 15 for joint handling, with the approval of the
  head of the organ) adds working days after the limit (after its last day as moved by
  第二百零三条 for a calendar-day limit).
* Warnings are GB/T 39046 e-supervision codes: "0" green, "1" yellow when at most
  ``yellow_days`` working days are left or ``yellow_share`` of the working days has elapsed,
  "2" red when the due date has passed. Joint approval steps and county legs have their own
  step limits (working days from the day the step started) and step warnings.

All dates here are Asia/Shanghai calendar dates (``datetime.date``); "working days" are the
calendar's working days (holidays out, make-up days in). Pure: no storage, no clock.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from .calendar import CALENDAR_DAYS, WORKING_DAYS, WorkingDayCalendar

GREEN, YELLOW, RED = 0, 1, 2
#: GB/T 39046 e-supervision warning codes and their labels.
LEVEL_CODES = {GREEN: "0", YELLOW: "1", RED: "2"}
LEVEL_LABELS = {GREEN: "绿灯（正常）", YELLOW: "黄灯（临近办结时限）", RED: "红灯（已超期）"}

#: 行政许可法第四十二条: default decision limit, and the extension the head of the organ may approve.
LEGAL_DEFAULT_WORKING_DAYS = 20
EXTENSION_WORKING_DAYS = 10
JOINT_EXTENSION_WORKING_DAYS = 15

PAUSE_SUPPLEMENT = "supplement"
PAUSE_SPECIAL_PROCEDURE = "special_procedure"

#: Guard against loops: no limit in any catalog comes near ten years.
_MAX_DAYS = 3660


@dataclass(frozen=True)
class Policy:
    """Warning thresholds and step limits (``settings``): yellow at ``yellow_days`` working
    days left or ``yellow_share`` (0-1) of the limit elapsed; joint approval steps
    ``joint_step_days`` and county legs ``county_step_days`` working days."""

    yellow_days: int = 2
    yellow_share: float = 0.8
    joint_step_days: int = 5
    county_step_days: int = 10


@dataclass(frozen=True)
class Pause:
    """A pause of the clock from ``started_on`` to ``ended_on`` (inclusive; None while it lasts)."""

    kind: str
    started_on: dt.date
    ended_on: dt.date | None = None

    def covers(self, day: dt.date) -> bool:
        """True when ``day`` does not count: after the day it started, up to the day it ended."""
        return self.started_on < day and (self.ended_on is None or day <= self.ended_on)


@dataclass(frozen=True)
class Clock:
    """What a due date is computed from.

    ``start``: the day the clock started (not counted unless ``start_counts``, which only an
    immediate item received on a working day not after closing time has); ``value``/``unit``: the
    limit (``working_days`` or ``calendar_days``; 0 = immediate); ``pauses``; ``extension_days``
    (working days, art. 42); ``basis``: why it starts then (``received``, ``deemed_received``,
    ``materials_complete``, ``step``)."""

    start: dt.date
    value: int
    unit: str = WORKING_DAYS
    start_counts: bool = False
    pauses: tuple[Pause, ...] = ()
    extension_days: int = 0
    basis: str = "received"

    def to_dict(self) -> dict[str, Any]:
        """The stored shape (the case's ``clock``), without the pauses: they are the case's
        own facts (:func:`case_pauses`), stored once."""
        return {"start": self.start.isoformat(), "value": self.value, "unit": self.unit,
                "start_counts": self.start_counts, "extension_days": self.extension_days, "basis": self.basis}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], pauses: tuple[Pause, ...] = ()) -> "Clock":
        return cls(dt.date.fromisoformat(raw["start"]), int(raw["value"]), raw.get("unit") or WORKING_DAYS,
                   bool(raw.get("start_counts")), pauses, int(raw.get("extension_days") or 0),
                   raw.get("basis") or "received")

    def paused_on(self, day: dt.date) -> bool:
        return any(p.covers(day) for p in self.pauses)

    @property
    def open_pause(self) -> Pause | None:
        return next((p for p in self.pauses if p.ended_on is None), None)


@dataclass(frozen=True)
class Deadline:
    """A clock evaluated on ``today``.

    ``due_date``: the last day (None while an open pause stops the clock before it is reached);
    ``provisional``: the due date rests on a year without published calendar data
    (``provisional_year`` the first such year); ``yellow_date``: the first day at yellow;
    ``working_days_left``: working days after ``today`` up to the due date (negative: working
    days overdue; while paused, the days that will be left when it resumes); ``working_days_used``
    and ``paused_working_days`` up to ``today``; ``level`` GREEN/YELLOW/RED; ``next_change``:
    the first day after ``today`` on which the level would rise (None when red or paused)."""

    due_date: dt.date | None
    provisional: bool
    provisional_year: int | None
    yellow_date: dt.date | None
    working_days_left: int
    working_days_used: int
    paused_working_days: int
    paused: bool
    level: int
    next_change: dt.date | None
    limit_value: int
    limit_unit: str
    extension_days: int

    def to_dict(self) -> dict[str, Any]:
        """The API shape (``deadline`` in a case view)."""
        return {"due_date": self.due_date.isoformat() if self.due_date else None,
                "due_date_provisional": self.provisional,
                "yellow_date": self.yellow_date.isoformat() if self.yellow_date else None,
                "working_days_left": self.working_days_left, "working_days_used": self.working_days_used,
                "paused_working_days": self.paused_working_days, "paused": self.paused,
                "warning_level": LEVEL_CODES[self.level], "warning_label": LEVEL_LABELS[self.level],
                "limit": {"value": self.limit_value, "unit": self.limit_unit},
                "extension_days": self.extension_days}


def _counted_days(clock: Clock, calendar: WorkingDayCalendar) -> tuple[dt.date | None, list[dt.date], bool]:
    """Walk the clock: ``(due date or None when an open pause stops it, the counted working
    days up to the due date (the start day first when it counts), provisional)``."""
    provisional = False
    working: list[dt.date] = []

    def kind(day: dt.date) -> bool:
        nonlocal provisional
        k = calendar.day_kind(day)
        provisional = provisional or k.provisional
        return k.working

    open_pause = clock.open_pause
    if clock.start_counts and kind(clock.start):
        working.append(clock.start)
    day = clock.start
    if clock.value == 0:  # immediate: the start day if it counts, else the next counted working day
        remaining_units = 0 if working else 1
        unit = WORKING_DAYS
    else:
        remaining_units, unit = clock.value, clock.unit
    extension = clock.extension_days
    for _ in range(_MAX_DAYS):
        # 民法典第二百零三条: a calendar-day limit ending on a day off ends on the next working
        # day; an extension counts after that moved last day, not after the day off
        if remaining_units == 0 and unit == CALENDAR_DAYS and not kind(day):
            remaining_units, unit = 1, WORKING_DAYS
        if remaining_units == 0 and extension == 0:
            return day, working, provisional
        if remaining_units == 0:
            remaining_units, extension, unit = extension, 0, WORKING_DAYS
        day += dt.timedelta(days=1)
        if open_pause and open_pause.covers(day):
            return None, working, provisional
        if clock.paused_on(day):
            continue
        is_working = kind(day)
        if is_working:
            working.append(day)
        if is_working or unit == CALENDAR_DAYS:
            remaining_units -= 1
    raise ValueError("limit too long for the calendar")


def _first_unknown_year(first: dt.date, last: dt.date, calendar: WorkingDayCalendar) -> int | None:
    return next((y for y in range(first.year, last.year + 1) if not calendar.knows(y)), None)


def _working_between(after: dt.date, upto: dt.date, clock: Clock, calendar: WorkingDayCalendar) -> tuple[int, int]:
    """``(counted, paused)`` working days in (after, upto]."""
    counted = paused = 0
    day = after
    while day < upto:
        day += dt.timedelta(days=1)
        if calendar.day_kind(day).working:
            if clock.paused_on(day):
                paused += 1
            else:
                counted += 1
    return counted, paused


def evaluate(clock: Clock, today: dt.date, calendar: WorkingDayCalendar, policy: Policy = Policy()) -> Deadline:
    """Evaluate ``clock`` on ``today`` (see :class:`Deadline`). Never raises for a year without
    calendar data (weekends-only, ``provisional``); raises ``ValueError`` only for a limit
    beyond ten years."""
    open_pause = clock.open_pause
    if open_pause is not None:
        # stopped: evaluate as if it resumed today (the days of the pause up to today do not count)
        closed = tuple(p if p is not open_pause else replace(p, ended_on=max(today, p.started_on))
                       for p in clock.pauses)
        stopped = replace(clock, pauses=closed)
        resumed = evaluate(stopped, today, calendar, policy)
        if resumed.due_date is not None and resumed.due_date < open_pause.started_on:
            return resumed  # the due date passed before the pause began: it stands (red)
        # the warning stays as it was the day the clock stopped (a pause on the due date
        # itself leaves no day to count: yellow, not red, until it resumes)
        frozen = evaluate(stopped, max(open_pause.started_on, clock.start), calendar, policy)
        return replace(resumed, due_date=None, provisional=False, provisional_year=None, yellow_date=None,
                       paused=True, next_change=None, level=frozen.level)
    due, working, provisional = _counted_days(clock, calendar)
    assert due is not None
    total = len(working)
    # yellow: the first counted day i (1-based; 0 = the start) with left <= Y or used/total >= share
    threshold = max(total - policy.yellow_days, 0)
    if total:
        threshold = min(threshold, math.ceil(policy.yellow_share * total - 1e-9))
    yellow_date = clock.start if threshold == 0 else working[threshold - 1]
    used = sum(1 for d in working if d <= today)
    _, paused_days = _working_between(clock.start, min(today, due), clock, calendar)
    if today > due:
        overdue, paused_after = _working_between(due, today, clock, calendar)
        left = -overdue
        used = total + overdue
        paused_days += paused_after
    else:
        left = total - used
    level = RED if today > due else YELLOW if today >= yellow_date else GREEN
    next_change = None if level == RED else (due + dt.timedelta(days=1)) if level == YELLOW else yellow_date
    return Deadline(due_date=due, provisional=provisional,
                    provisional_year=_first_unknown_year(clock.start, due, calendar) if provisional else None,
                    yellow_date=yellow_date, working_days_left=left, working_days_used=used,
                    paused_working_days=paused_days, paused=False, level=level, next_change=next_change,
                    limit_value=clock.value, limit_unit=clock.unit, extension_days=clock.extension_days)


def local_day(moment: dt.datetime, zone: dt.tzinfo) -> dt.date:
    """The calendar date of an aware ``moment`` in ``zone`` (Asia/Shanghai)."""
    return moment.astimezone(zone).date()


def before_closing(moment: dt.datetime, hours: tuple[dt.time, dt.time], zone: dt.tzinfo) -> bool:
    """True when ``moment`` (aware) is not after the closing time of ``hours`` (opening,
    closing; local time) on its day: received within office hours, or before the window
    opened (the window handles it that day)."""
    return moment.astimezone(zone).time() <= hours[1]


def start_counts(value: int, started: dt.datetime, hours: tuple[dt.time, dt.time], calendar: WorkingDayCalendar,
                 zone: dt.tzinfo) -> bool:
    """Whether the start day itself counts: only for an immediate limit (``value`` 0) whose
    clock started (``started``, aware) on a working day, not after closing time (practice,
    domain.md section 4: received after office hours or on a day off, it is due the next
    working day; received in the night before the window opens, it is due that day)."""
    return value == 0 and calendar.day_kind(local_day(started, zone)).working and \
        before_closing(started, hours, zone)


def calculator_clock(value: int, unit: str, started: dt.datetime, *, calendar: WorkingDayCalendar,
                     zone: dt.tzinfo, office_hours: tuple[dt.time, dt.time] = (dt.time(8, 30), dt.time(17, 30)),
                     pauses: Sequence[tuple[dt.date, dt.date | None]] = (), extension_days: int = 0) -> Clock:
    """The :class:`Clock` of :func:`calculate` (same arguments)."""
    return Clock(local_day(started, zone), value, unit, start_counts(value, started, office_hours, calendar, zone),
                 tuple(Pause(PAUSE_SPECIAL_PROCEDURE, a, b) for a, b in pauses), extension_days)


def calculate(value: int, unit: str, started: dt.datetime, *, calendar: WorkingDayCalendar, zone: dt.tzinfo,
              office_hours: tuple[dt.time, dt.time] = (dt.time(8, 30), dt.time(17, 30)),
              pauses: Sequence[tuple[dt.date, dt.date | None]] = (), extension_days: int = 0,
              today: dt.date | None = None, policy: Policy = Policy()) -> Deadline:
    """The calculator (``python -m chalicelib.cli deadline``): a limit of ``value`` ``unit``
    (0 = immediate) whose clock starts at ``started`` (aware; its Asia/Shanghai date is the
    start day; for an immediate limit the time decides whether the start day counts), with
    special-procedure ``pauses`` (start day, end day) and ``extension_days`` working days,
    evaluated on ``today`` (default: the start day)."""
    clock = calculator_clock(value, unit, started, calendar=calendar, zone=zone, office_hours=office_hours,
                             pauses=pauses, extension_days=extension_days)
    return evaluate(clock, today or clock.start, calendar, policy)


def counted_working_days(clock: Clock, calendar: WorkingDayCalendar) -> list[dt.date]:
    """The working days that count toward ``clock``'s limit and extension, in order, up to the
    due date (the start day first when it counts; paused days left out); while an open pause
    stops the clock before the due date, the days counted before it began."""
    return _counted_days(clock, calendar)[1]


# --- the clock of a case ---------------------------------------------------------------------

@dataclass(frozen=True)
class StepDeadline:
    """A step's own limit evaluated: ``kind`` "joint" (parallel approval department) or
    "forward" (the county leg of a forwarded case), the department, when it started (UTC ISO)."""

    kind: str
    department: str
    name: str
    started_at: str
    deadline: Deadline

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "department": self.department, "name": self.name, "started_at": self.started_at,
                **{k: v for k, v in self.deadline.to_dict().items()
                   if k in ("due_date", "due_date_provisional", "working_days_left", "working_days_used",
                            "warning_level", "warning_label", "paused")}}


def case_pauses(case: Mapping[str, Any], zone: dt.tzinfo) -> tuple[Pause, ...]:
    """The pauses of a case from its facts: every one-time notice round (issued -> supplemented)
    and every special procedure (started -> ended; the current one open). Rounds before the
    clock's start take nothing out of the count (the count starts after the start day)."""
    def day(iso: str | None) -> dt.date | None:
        return local_day(dt.datetime.fromisoformat(iso), zone) if iso else None

    pauses = [Pause(PAUSE_SUPPLEMENT, day(n["issued_at"]), day(n.get("supplemented_at")))
              for n in case.get("notices") or []
              if n.get("supplemented_at") or case.get("status") == "supplement_required"]
    procedures = list(case.get("special_procedures") or [])
    if case.get("special_procedure"):
        procedures.append(case["special_procedure"])
    pauses += [Pause(PAUSE_SPECIAL_PROCEDURE, day(p["started_at"]), day(p.get("ended_at"))) for p in procedures]
    return tuple(pauses)


def clock_of(case: Mapping[str, Any], zone: dt.tzinfo) -> Clock | None:
    """The clock of a stored case (its ``clock`` with its pauses), or None before it started."""
    raw = case.get("clock")
    return Clock.from_dict(raw, case_pauses(case, zone)) if raw else None


def step_deadlines(case: Mapping[str, Any], today: dt.date, calendar: WorkingDayCalendar, zone: dt.tzinfo,
                   policy: Policy = Policy()) -> list[StepDeadline]:
    """The pending steps of a case with their own limits: each joint-approval department still
    pending (``policy.joint_step_days``) and the county department a case was forwarded to while
    it is there (``policy.county_step_days``); the case's pauses apply to them too."""
    pauses = case_pauses(case, zone)
    steps: list[tuple[str, str, str, str]] = []
    for code, a in sorted((case.get("approvals") or {}).items()):
        if a.get("state") == "pending":
            steps.append(("joint", code, a.get("name", code), a["started_at"]))
    status = case.get("status")
    at_county = status == "forwarded" or (status == "special_procedure" and
                                          (case.get("special_procedure") or {}).get("resume_status") == "forwarded")
    if at_county and case.get("forwarded_to") and case.get("forwarded_at"):
        d = case["forwarded_to"]
        steps.append(("forward", d["code"], d.get("name", d["code"]), case["forwarded_at"]))
    return [StepDeadline(kind, code, name, started_at,
                         step_deadline(kind, started_at, today, calendar, zone, policy, pauses))
            for kind, code, name, started_at in steps]


def step_deadline(kind: str, started_at: str, today: dt.date, calendar: WorkingDayCalendar, zone: dt.tzinfo,
                  policy: Policy = Policy(), pauses: tuple[Pause, ...] = ()) -> Deadline:
    """The own limit of one step (``kind`` "joint": ``policy.joint_step_days``; "forward":
    ``policy.county_step_days`` working days) that started at ``started_at`` (UTC ISO),
    evaluated on ``today``; ``pauses`` are the case's."""
    days = policy.joint_step_days if kind == "joint" else policy.county_step_days
    start = local_day(dt.datetime.fromisoformat(started_at), zone)
    return evaluate(Clock(start, days, WORKING_DAYS, pauses=pauses, basis="step"), today, calendar, policy)


@dataclass(frozen=True)
class Refresh:
    """The deadline attributes of a case after a change (``set``/``remove`` for the case item)
    and the warnings that rose above what was last announced (``raised``: ``[(target, level)]``
    with target "case" or "<kind>:<department>"), for the sweep to announce."""

    set: dict[str, Any] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    raised: list[tuple[str, int]] = field(default_factory=list)


DEADLINE_ATTRIBUTES = ("due_date", "due_date_provisional", "provisional_year", "yellow_date", "warning_level",
                       "step_warnings", "next_check", "clock_paused")


def refresh(case: Mapping[str, Any], today: dt.date, calendar: WorkingDayCalendar, zone: dt.tzinfo,
            policy: Policy = Policy(), announce: bool = False) -> Refresh:
    """Recompute the stored deadline attributes of ``case`` (its ``clock`` already set) on ``today``.

    ``warning_level`` and ``step_warnings`` hold what was last announced: a fall (an extension,
    a step done) is stored at once; a rise is stored only when ``announce`` (the sweep, which
    then announces it) and otherwise makes ``next_check`` today so the next sweep does.
    ``next_check`` (the sparse ``by_deadline`` index; the repository adds its shard) is the
    first day a warning can rise; absent on a closed or paused case with nothing to announce.
    ``provisional_year`` (the sparse ``by_provisional_year`` index) names the first year without
    calendar data the due date rests on, so loading that year recomputes the case. Only what
    differs from the stored case is in ``set``/``remove``."""
    out = Refresh()
    final = case.get("status") in ("concluded_approved", "concluded_rejected", "refused", "withdrawn")
    clock = clock_of(case, zone)
    if final or clock is None:
        kept = {"due_date", "due_date_provisional", "warning_level"} if final else set()
        out.remove.extend(a for a in DEADLINE_ATTRIBUTES if a not in kept and case.get(a) is not None)
        return out
    deadline = evaluate(clock, today, calendar, policy)
    checks: list[dt.date] = []
    stored = int(case.get("warning_level") or 0)
    if deadline.level < stored or (announce and deadline.level > stored):
        out.set["warning_level"] = deadline.level
        if deadline.level > stored:
            out.raised.append(("case", deadline.level))
    elif deadline.level > stored:
        checks.append(today)
    if deadline.next_change:
        checks.append(deadline.next_change)
    stored_steps = dict(case.get("step_warnings") or {})
    steps: dict[str, int] = {}
    for step in step_deadlines(case, today, calendar, zone, policy):
        key = f"{step.kind}:{step.department}"
        before = int(stored_steps.get(key, 0))
        level = step.deadline.level
        if level > before and not announce:
            steps[key] = before
            checks.append(today)
        else:
            steps[key] = level
            if level > before:
                out.raised.append((key, level))
        if step.deadline.next_change:
            checks.append(step.deadline.next_change)
    if steps != stored_steps:
        if steps:
            out.set["step_warnings"] = steps
        elif "step_warnings" in case:
            out.remove.append("step_warnings")
    running = not deadline.paused
    _put(out, case, "clock_paused", None if running else True)
    _put(out, case, "due_date", deadline.due_date.isoformat() if running else None)
    _put(out, case, "due_date_provisional", deadline.provisional if running else None)
    _put(out, case, "yellow_date", deadline.yellow_date.isoformat() if running else None)
    year = str(deadline.provisional_year) if deadline.provisional_year else None
    _put(out, case, "provisional_year", year)
    _put(out, case, "next_check", min(checks).isoformat() if checks else None)
    return out


def _put(out: Refresh, case: Mapping[str, Any], name: str, value: Any) -> None:
    """Set ``name`` when ``value`` differs from the stored one; remove it when ``value`` is None."""
    if value is not None:
        if case.get(name) != value:
            out.set[name] = value
    elif case.get(name) is not None:
        out.remove.append(name)


def on_time(case: Mapping[str, Any], concluded: dt.date, calendar: WorkingDayCalendar, zone: dt.tzinfo,
            policy: Policy = Policy()) -> dict[str, Any] | None:
    """On-time data of a case concluded on ``concluded`` (the raw material of the on-time
    completion rate, 按时办结率): ``within_limit`` (concluded on or before the due date of the
    promised limit, extension included), ``due_date``, ``working_days_used`` (counted, pauses
    out), ``paused_working_days``, the limit and extension. None when the clock never started
    (refused or withdrawn before it did)."""
    clock = clock_of(case, zone)
    if clock is None:
        return None
    if clock.open_pause:  # concluded during a pause: it ends with the case
        clock = replace(clock, pauses=tuple(replace(p, ended_on=max(concluded, p.started_on))
                                            if p.ended_on is None else p for p in clock.pauses))
    d = evaluate(clock, concluded, calendar, policy)
    return {"within_limit": d.level != RED, "concluded_on": concluded.isoformat(),
            "due_date": d.due_date.isoformat() if d.due_date else None, "due_date_provisional": d.provisional,
            "working_days_used": d.working_days_used, "paused_working_days": d.paused_working_days,
            "limit": {"value": clock.value, "unit": clock.unit}, "extension_days": clock.extension_days,
            "basis": clock.basis}
