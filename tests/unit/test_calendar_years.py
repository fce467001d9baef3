"""A year's published schedule as data (domain.calendar.year_table) and the pure recompute of a
case's due date once the year is known (domain.lifecycle.recompute). No AWS."""
import copy
import datetime as dt
import json

import pytest

from chalicelib.domain import deadlines
from chalicelib.domain import lifecycle as rules
from chalicelib.domain.calendar import (WorkingDayCalendar, calendar_from_years, library_years, normalized_year,
                                        year_table)
from chalicelib.domain.errors import ValidationFailed
from chalicelib.validation import problems_of
from tests.conftest import ROOT

D = dt.date.fromisoformat
EXAMPLE = json.loads((ROOT / "data" / "calendar" / "2027.example.json").read_text(encoding="utf-8"))
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def problems(data):
    with pytest.raises(ValidationFailed) as raised:
        year_table(data)
    return {(p.path, p.code) for p in raised.value.details}


def test_the_example_file_matches_the_schema_and_gives_its_days():
    assert problems_of("calendar_year", EXAMPLE) == []
    table = year_table(EXAMPLE)
    assert table[D("2027-01-01")] is False and table[D("2027-01-03")] is False   # 元旦, Sunday included
    assert table[D("2027-02-08")] is False                                       # a Monday of 春节
    assert table[D("2027-01-31")] is True and table[D("2027-02-20")] is True     # make-up Sunday, Saturday
    assert D("2027-01-04") not in table                                          # an ordinary day
    cal = calendar_from_years([EXAMPLE])
    assert cal.knows(2027) and cal.loaded_years == [2027]
    assert cal.add_working_days(D("2027-01-29"), 1).date == D("2027-01-31")      # Friday -> make-up Sunday
    assert cal.add_working_days(D("2027-02-05"), 1).date == D("2027-02-15")      # across 春节
    assert not cal.day_kind(D("2027-03-01")).provisional


def test_a_loaded_year_beats_the_library():
    library = WorkingDayCalendar()
    assert library.add_working_days(D("2026-09-30"), 1).date == D("2026-10-08")
    short = {"year": 2026, "source": "测试（示例）", "holidays": [{"name": "国庆节", "start": "2026-10-01",
                                                               "end": "2026-10-03"}]}
    assert calendar_from_years([short]).add_working_days(D("2026-09-30"), 1).date == D("2026-10-05")


def test_every_problem_is_reported_with_its_field_path():
    data = copy.deepcopy(EXAMPLE)
    data["holidays"][0]["end"] = "2025-12-31"                       # outside the year (and its December)
    data["holidays"][2] = {"name": "清明节", "start": "2027-04-05", "end": "2027-04-03"}  # reversed
    data["holidays"][3]["start"] = "2027-02-14"                     # overlaps 春节 (and too long)
    data["holidays"][4]["start"] = "2027-06-31"                     # no such day
    data["workdays"][0]["date"] = "2027-02-09"                      # a Tuesday inside 春节
    data["workdays"][2]["date"] = "2027-02-20"                      # listed twice
    assert problems(data) == {
        ("holidays[0].end", "DATE_OUTSIDE_YEAR"), ("holidays[2].end", "HOLIDAY_END_BEFORE_START"),
        ("holidays[3].end", "HOLIDAY_TOO_LONG"), ("holidays[4].start", "DATE_INVALID"),
        ("workdays[0].date", "WORKDAY_NOT_WEEKEND"), ("workdays[0].date", "DATE_BOTH_HOLIDAY_AND_WORKDAY"),
        ("workdays[2].date", "WORKDAY_DUPLICATE")}


def test_overlapping_duplicate_and_empty_holidays():
    data = copy.deepcopy(EXAMPLE)
    data["holidays"].append(dict(data["holidays"][0], name="元旦（重复）"))
    assert problems(data) == {("holidays[7]", "HOLIDAYS_OVERLAP")}
    assert problems({**EXAMPLE, "holidays": []}) == {("holidays", "HOLIDAYS_EMPTY")}
    assert ("holidays", "FIELD_TOO_SHORT") in {(p.path, p.code) for p in problems_of("calendar_year",
                                                                                  {**EXAMPLE, "holidays": []})}


def test_normalized_content_ignores_order():
    shuffled = {**EXAMPLE, "holidays": list(reversed(EXAMPLE["holidays"])),
                "workdays": list(reversed(EXAMPLE["workdays"]))}
    assert normalized_year(shuffled) == normalized_year(EXAMPLE)
    assert normalized_year(EXAMPLE)["example"] is True


def test_the_library_years_are_named():
    years = library_years(2026)
    assert years[0] == 2004 and 2026 in years and 2027 not in years


# --- recompute -------------------------------------------------------------------------------

def _case(calendar):
    """An accepted 20-working-day case started 14 December 2026, its deadline set on ``calendar``."""
    case = {"case_no": "c1", "status": "accepted", "history_count": 3, "version": 4,
            "clock": deadlines.Clock(D("2026-12-14"), 20).to_dict()}
    case.update(deadlines.refresh(case, D("2026-12-14"), calendar, SHANGHAI).set)
    return case


def test_recompute_makes_a_provisional_due_date_exact_once():
    case = _case(WorkingDayCalendar())
    assert case["due_date"] == "2027-01-11" and case["provisional_year"] == "2027"
    loaded = calendar_from_years([EXAMPLE])
    moment = dt.datetime(2026, 12, 20, 2, tzinfo=dt.timezone.utc)
    change = rules.recompute(case, moment, loaded)
    assert change.set["due_date"] == "2027-01-12" and change.set["due_date_provisional"] is False
    assert "provisional_year" in change.remove and change.set["history_count"] == 4
    [entry] = change.history
    assert (entry.seq, entry.actor, entry.step_name) == (4, "system", "办结期限重算")
    assert entry.data["old_due_date"] == "2027-01-11" and entry.data["due_date_provisional"] is False
    after = {k: v for k, v in {**case, **change.set}.items() if k not in change.remove}
    assert rules.recompute(after, moment, loaded) is None                 # idempotent
    assert rules.recompute(case, moment, WorkingDayCalendar()) is None    # nothing new known
    assert rules.recompute({**case, "status": "withdrawn"}, moment, loaded) is None


def test_a_notice_reaching_into_the_december_before_its_year_decides_those_days():
    """The 2019 notice: 元旦 2018-12-30..2019-01-01, Saturday 2018-12-29 worked. A 2028 notice
    of that shape decides 2027's last days even while 2027 itself is unknown."""
    notice = {"year": 2028, "source": "测试（示例）", "holidays": [{"name": "元旦", "start": "2027-12-31",
                                                              "end": "2028-01-02"}],
              "workdays": [{"date": "2027-12-25", "name": "元旦调休"}]}
    calendar = calendar_from_years([notice])
    assert calendar.day_kind(D("2027-12-31")) == calendar.day_kind(D("2028-01-01"))
    assert not calendar.day_kind(D("2027-12-31")).working and not calendar.day_kind(D("2027-12-31")).provisional
    assert calendar.day_kind(D("2027-12-25")).working and not calendar.day_kind(D("2027-12-25")).provisional
    assert calendar.day_kind(D("2027-12-24")).provisional  # the rest of 2027 is still a guess
