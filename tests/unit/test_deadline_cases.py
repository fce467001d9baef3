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


# --- cases driven through the lifecycle rules, swept every morning ------------------------------

DEVOLVED = "HH-MZ-006"  # 高龄津贴申领: decided at the township window, promised 10 working days
NOTICE = {"materials": [{"name": "居民户口簿", "problem": "missing"}]}


def apply(case: dict, change: rules.Change) -> dict:
    after = {**case, **change.set}
    for name in change.remove:
        after.pop(name, None)
    after["version"] = case["version"] + 1
    return after


def drive(case: dict, actions: dict[str, list[tuple]], last: str) -> tuple[dict, dict[dt.date, dict]]:
    """Day by day from the day of receipt to ``last``: the deadline sweep at 01:00
    (``rules.warn``, its change applied as the sweep writes it), then that day's actions at
    10:00. Returns the case and, per day, what the sweep left: status, level, due date, paused."""
    seen: dict[dt.date, dict] = {}
    day = rules.local_date(case["submitted_at"])
    while day <= D(last):
        change = rules.warn(case, at(day.isoformat(), "01:00"), CAL)
        if change is not None:
            assert change.event_type != "case.warning_red" or case["status"] != "supplement_required", day
            case = apply(case, change)
        seen[day] = {"status": case["status"], "level": int(case.get("warning_level") or 0),
                     "due_date": case.get("due_date"), "paused": bool(case.get("clock_paused")),
                     "clock": case.get("clock")}
        for action, actor, params in actions.get(day.isoformat(), []):
            case, _ = step(case, action, actor, at(day.isoformat()), params)
        day += ONE
    return case, seen


def three_rounds(first_notice: str) -> dict[str, list[tuple]]:
    """Notice -> supplement three times, the applicant taking three to five weeks each time."""
    return {first_notice: [(ISSUE_NOTICE, CLERK, NOTICE)],
            "2025-12-03": [(SUPPLEMENT, VILLAGER_ACTOR, {})], "2025-12-04": [(ISSUE_NOTICE, CLERK, NOTICE)],
            "2026-01-05": [(SUPPLEMENT, VILLAGER_ACTOR, {})], "2026-01-06": [(ISSUE_NOTICE, CLERK, NOTICE)],
            "2026-02-02": [(SUPPLEMENT, VILLAGER_ACTOR, {})]}


def test_three_supplement_rounds_after_a_timely_notice_start_the_clock_at_the_last_supplement():
    # Received Monday 2025-11-03; the first notice on 11-04 is within 5 working days, so the clock
    # does not run while the applicant supplements (art. 32: acceptance dates from the day the
    # materials are complete). Last supplement Monday 2026-02-02, accepted Tuesday 02-03:
    # 10 working days from 02-02: 02-03..06 (1-4), 02-09..13 (5-9), 02-14 Sat make-up (10)
    # -> due Saturday 2026-02-14 (a make-up working day); yellow on the 8th day, 02-12.
    actions = three_rounds("2025-11-04")
    actions["2026-02-03"] = [(ACCEPT, CLERK, {})]
    actions["2026-02-14"] = [(CONCLUDE, CLERK, {"result": "approved", "opinion": "同意"})]
    case, seen = drive(new_case(DEVOLVED, at=at("2025-11-03")), actions, "2026-02-14")
    waiting = [d for d, s in seen.items() if s["status"] == "supplement_required"]
    assert len(waiting) >= 75  # three long waits, swept every day
    assert all(seen[d]["clock"] is None and seen[d]["due_date"] is None and seen[d]["level"] == 0 for d in waiting)
    assert max(s["level"] for s in seen.values()) < deadlines.RED
    assert case["accepted_on"] == "2026-02-02" and case["acceptance_basis"] == "materials_complete"
    assert seen[D("2026-02-04")]["due_date"] == "2026-02-14"
    assert (seen[D("2026-02-11")]["level"], seen[D("2026-02-12")]["level"]) == (deadlines.GREEN, deadlines.YELLOW)
    assert case["timeliness"]["within_limit"] is True
    assert (case["timeliness"]["working_days_used"], case["timeliness"]["paused_working_days"]) == (10, 0)


def test_three_supplement_rounds_after_a_late_notice_pause_a_clock_that_started_on_receipt():
    # Received Monday 2025-11-03; the first notice comes Wednesday 11-12, after the 5th working
    # day (11-10): deemed accepted on receipt (art. 32), the clock runs from 11-03 and each round
    # pauses it. Counted: 11-04..07 (1-4), 11-10..12 (5-7; the day a notice is issued counts),
    # pause 11-13..12-03, 12-04 (8), pause 12-05..2026-01-05, 01-06 (9), pause 01-07..02-02,
    # then 02-03 (10) -> due Tuesday 2026-02-03. Without the pauses it was due 2025-11-17.
    # Paused working days: 11-13..12-03 15; 12-05..01-05 21 (01-01..03 off, 01-04 Sun make-up);
    # 01-07..02-02 19 -> 55. From 12-04 two or fewer days are left: yellow, never red.
    actions = three_rounds("2025-11-12")
    actions["2026-02-03"] = [(ACCEPT, CLERK, {}), (CONCLUDE, CLERK, {"result": "approved", "opinion": "同意"})]
    case, seen = drive(new_case(DEVOLVED, at=at("2025-11-03")), actions, "2026-02-03")
    waiting = [d for d, s in seen.items() if s["status"] == "supplement_required"]
    assert len(waiting) >= 75
    assert all(seen[d]["paused"] and seen[d]["level"] < deadlines.RED for d in waiting if d > D("2025-11-12"))
    assert max(s["level"] for s in seen.values()) == deadlines.YELLOW
    assert seen[D("2025-12-05")]["level"] == deadlines.YELLOW and seen[D("2025-11-20")]["level"] == deadlines.GREEN
    assert seen[D("2026-02-03")]["due_date"] == "2026-02-03" and not seen[D("2026-02-03")]["paused"]
    assert case["accepted_on"] == "2025-11-03" and case["acceptance_basis"] == "deemed_received"
    assert case["timeliness"] == {**case["timeliness"], "within_limit": True, "due_date": "2026-02-03",
                                  "working_days_used": 10, "paused_working_days": 55,
                                  "basis": "deemed_received"}
    # not concluded: the sweep of the next day says red
    pending, _ = drive(new_case(DEVOLVED, at=at("2025-11-03")), three_rounds("2025-11-12"), "2026-02-03")
    change = rules.warn(pending, at("2026-02-04", "01:00"), CAL)
    assert change.event_type == "case.warning_red"


def test_extension_moves_the_due_date_by_ten_working_days_and_lowers_red():
    # Accepted Monday 2025-11-03, 10 working days: 11-04..07 (1-4), 11-10..14 (5-9), 11-17 (10):
    # due 11-17, red on Tuesday 11-18. Extended that day (art. 42, +10): 11-18..21 (11-14),
    # 11-24..28 (15-19), 12-01 (20) -> due Monday 2025-12-01; on 11-18 11 of 20 days are used
    # and 9 left: green again. Concluded Tuesday 12-02: one working day late.
    extend = {"reason": "需组织现场核查", "approver": "王主任"}
    actions = {"2025-11-03": [(ACCEPT, CLERK, {})], "2025-11-18": [(EXTEND, CLERK, extend)],
               "2025-12-02": [(CONCLUDE, CLERK, {"result": "approved", "opinion": "同意"})]}
    case, seen = drive(new_case(DEVOLVED, at=at("2025-11-03")), actions, "2025-12-02")
    assert seen[D("2025-11-17")]["due_date"] == "2025-11-17" and seen[D("2025-11-17")]["level"] == deadlines.YELLOW
    assert seen[D("2025-11-18")]["level"] == deadlines.RED
    assert (seen[D("2025-11-19")]["due_date"], seen[D("2025-11-19")]["level"]) == ("2025-12-01", deadlines.GREEN)
    # yellow from the 16th of 20 counted days (80 %): 11-24 (15), 11-25 (16)
    assert (seen[D("2025-11-24")]["level"], seen[D("2025-11-25")]["level"]) == (deadlines.GREEN, deadlines.YELLOW)
    assert seen[D("2025-12-02")]["level"] == deadlines.RED
    assert case["timeliness"]["within_limit"] is False
    assert (case["timeliness"]["due_date"], case["timeliness"]["extension_days"]) == ("2025-12-01", 10)
    assert case["timeliness"]["working_days_used"] == 21


def test_special_procedure_pauses_and_resumes_the_clock():
    # Accepted Monday 2025-11-03 (due 11-17 without pause). An investigation (art. 45) starts
    # Wednesday 11-05 and ends Wednesday 11-26: counted 11-04, 11-05 (1-2), paused 11-06..11-26
    # (15 working days), then 11-27, 28 (3-4), 12-01..05 (5-9), 12-08 (10) -> due Monday 2025-12-08.
    procedure = {"kind": "investigation", "name": "入户调查", "reason": "核实家庭经济状况"}
    actions = {"2025-11-03": [(ACCEPT, CLERK, {})], "2025-11-05": [(START_SPECIAL_PROCEDURE, CLERK, procedure)],
               "2025-11-26": [(END_SPECIAL_PROCEDURE, CLERK, {"result": "核实无误"})],
               "2025-12-08": [(CONCLUDE, CLERK, {"result": "approved", "opinion": "同意"})]}
    case, seen = drive(new_case(DEVOLVED, at=at("2025-11-03")), actions, "2025-12-08")
    assert seen[D("2025-11-05")]["due_date"] == "2025-11-17"
    during = [d for d in seen if D("2025-11-06") <= d <= D("2025-11-26")]
    assert all(seen[d]["paused"] and seen[d]["due_date"] is None and seen[d]["level"] == deadlines.GREEN
               for d in during)
    assert seen[D("2025-11-27")]["due_date"] == "2025-12-08" and not seen[D("2025-11-27")]["paused"]
    assert max(s["level"] for s in seen.values()) == deadlines.YELLOW
    assert case["timeliness"] == {**case["timeliness"], "within_limit": True, "due_date": "2025-12-08",
                                  "working_days_used": 10, "paused_working_days": 15}
