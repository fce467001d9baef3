"""The staff deadline calculator: ``python -m chalicelib.cli deadline``.

The ``--limit`` path runs without AWS (the container's calendar is replaced by the library
calendar, or made to fail to show the fallback); the ``--item`` path reads the seed catalog in
moto. Dates as in ``test_deadline_cases.py`` (counted by hand from the State Council notices).
"""
from __future__ import annotations

import json

import pytest

from chalicelib import cli, container


class NoLoadedYears:
    """A calendar store with no year loaded: the library alone answers."""

    @staticmethod
    def list_years():
        return []


@pytest.fixture
def library_calendar(monkeypatch):
    monkeypatch.setattr(container, "calendars", lambda: NoLoadedYears())


def run(capsys, *args: str) -> tuple[int, str, str]:
    status = cli.main(["deadline", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_twenty_working_days_across_national_day_as_json(library_calendar, capsys):
    status, out, err = run(capsys, "--limit", "20", "--start", "2025-09-26T10:00", "--today", "2025-09-30", "--json")
    assert status == 0 and err == ""
    got = json.loads(out)
    assert got["due_date"] == "2025-10-30" and got["due_date_provisional"] is False
    assert got["yellow_date"] == "2025-10-24"
    assert got["counted_working_days_count"] == 20
    assert got["counted_working_days"][:6] == ["2025-09-28", "2025-09-29", "2025-09-30", "2025-10-09",
                                               "2025-10-10", "2025-10-11"]
    assert (got["working_days_used"], got["working_days_left"]) == (3, 17)
    assert (got["warning_level"], got["paused"], got["calendar_fallback"]) == ("0", False, False)
    assert got["limit"] == {"value": 20, "unit": "working_days"} and got["start"] == "2025-09-26T10:00+08:00"


def test_text_report(library_calendar, capsys):
    status, out, _ = run(capsys, "--limit", "20", "--start", "2025-09-26T10:00", "--today", "2025-10-31")
    assert status == 0
    assert "到期日：2025-10-30" in out and "黄灯日：2025-10-24" in out
    assert "计入时限的工作日：20天" in out and "2025-10-11" in out
    assert "已超期1个工作日" in out and "红灯" in out


def test_immediate_after_hours_and_within_hours(library_calendar, capsys):
    _, out, _ = run(capsys, "--limit", "0", "--start", "2025-11-07T18:00", "--today", "2025-11-07", "--json")
    assert json.loads(out)["due_date"] == "2025-11-10"
    _, out, _ = run(capsys, "--limit", "0", "--start", "2025-11-07T10:00", "--today", "2025-11-07", "--json")
    got = json.loads(out)
    assert (got["due_date"], got["start_counts"], got["counted_working_days"]) == ("2025-11-07", True, ["2025-11-07"])


def test_calendar_days_pauses_and_extension(library_calendar, capsys):
    # 30 calendar days from 2025-09-05 end on 10-05 (holiday) -> 10-09; +10 working days -> 10-22
    _, out, _ = run(capsys, "--limit", "30", "--unit", "calendar_days", "--start", "2025-09-05",
                    "--extension", "10", "--today", "2025-09-05", "--json")
    assert json.loads(out)["due_date"] == "2025-10-22"
    # 10 working days from Monday 2025-11-03 with a special procedure 11-05..11-26 -> 2025-12-08
    _, out, _ = run(capsys, "--limit", "10", "--start", "2025-11-03", "--pause", "2025-11-05:2025-11-26",
                    "--today", "2025-11-27", "--json")
    got = json.loads(out)
    assert (got["due_date"], got["paused_working_days"], got["working_days_used"]) == ("2025-12-08", 15, 3)
    assert got["pauses"] == [{"started_on": "2025-11-05", "ended_on": "2025-11-26"}]
    # still paused (no end date): no due date yet, the days left stand still, never red
    _, out, _ = run(capsys, "--limit", "10", "--start", "2025-11-03", "--pause", "2025-11-05",
                    "--today", "2026-01-20", "--json")
    got = json.loads(out)
    assert (got["due_date"], got["paused"], got["working_days_left"], got["warning_level"]) == (None, True, 8, "0")
    _, text, _ = run(capsys, "--limit", "10", "--start", "2025-11-03", "--pause", "2025-11-05:",
                     "--today", "2026-01-20")
    assert "计时暂停中" in text and "仍在暂停" in text


def test_a_year_without_data_is_marked_provisional(library_calendar, capsys):
    _, out, _ = run(capsys, "--limit", "20", "--start", "2026-12-20", "--today", "2026-12-21")
    assert "到期日：2027-01-" in out and "临时" in out and "2027年尚无节假日安排数据" in out
    _, out, _ = run(capsys, "--limit", "20", "--start", "2026-12-20", "--today", "2026-12-21", "--json")
    got = json.loads(out)
    assert got["due_date_provisional"] is True and got["provisional_year"] == 2027


def test_calendar_unavailable_falls_back_with_a_warning(monkeypatch, capsys):
    def unreachable():
        raise ConnectionError("Could not connect to the endpoint URL")
    monkeypatch.setattr(container, "calendars", unreachable)
    status, out, err = run(capsys, "--limit", "5", "--start", "2026-12-28", "--today", "2026-12-28", "--json")
    assert status == 0
    assert "警告" in err and "Could not connect" in err
    got = json.loads(out)
    assert got["calendar_fallback"] is True and got["due_date_provisional"] is True


@pytest.mark.parametrize("args, message", [
    (["--limit", "5", "--unit", "weeks"], "时限单位“weeks”无效"),
    (["--limit", "-1"], "时限不能为负数"),
    (["--limit", "five"], "不是整数"),
    (["--limit", "5", "--pause", "2025-11-10:2025-11-05"], "早于开始日期"),
    (["--limit", "5", "--pause", "2025-11-05", "--pause", "2025-11-07"], "至多一个暂停"),
    (["--limit", "5", "--start", "next monday"], "起算时间“next monday”无效"),
    (["--limit", "5", "--today", "2025-13-01"], "不是有效日期"),
    (["--limit", "5", "--extension", "-10"], "延长天数不能为负数"),
    ([], "二者选一"),
    (["--limit", "5", "--item", "HH-MZ-006"], "二者选一"),
])
def test_bad_input_is_a_clear_message_and_status_2(library_calendar, capsys, args, message):
    status, out, err = run(capsys, *args)
    assert status == 2 and out == ""
    assert err.startswith("错误：") and message in err


def test_item_reads_the_promised_limit_and_the_township_hours(seeded, capsys):
    # HH-MZ-006 高龄津贴申领: promised 10 working days; Monday 2025-11-03 -> Monday 2025-11-17
    status, out, _ = run(capsys, "--item", "HH-MZ-006", "--start", "2025-11-03T10:00", "--today", "2025-11-03",
                         "--json")
    got = json.loads(out)
    assert status == 0 and got["due_date"] == "2025-11-17" and got["limit"] == {"value": 10, "unit": "working_days"}
    assert got["item"] == {"code": "HH-MZ-006", "name": "高龄津贴申领", "promised_limit": True}
    # HH-RS-001 is immediate: at 17:15 the seed township 431224100 is open (until 17:30), 431224101
    # has closed (17:00), so there it is due the next working day
    _, out, _ = run(capsys, "--item", "HH-RS-001", "--township", "431224100", "--start", "2025-11-07T17:15",
                    "--today", "2025-11-07", "--json")
    assert json.loads(out)["due_date"] == "2025-11-07"
    _, out, _ = run(capsys, "--item", "HH-RS-001", "--township", "431224101", "--start", "2025-11-07T17:15",
                    "--today", "2025-11-07", "--json")
    got = json.loads(out)
    assert got["due_date"] == "2025-11-10" and got["township"]["office_hours"] == ["08:00", "17:00"]
    status, _, err = run(capsys, "--item", "HH-XX-999")
    assert status == 2 and "未找到事项“HH-XX-999”" in err
    status, _, err = run(capsys, "--item", "HH-MZ-006", "--township", "999999999")
    assert status == 2 and "未找到乡镇“999999999”" in err
