"""Case numbers and intake classification (six case classes: immediate, promised, agency)."""
import datetime as dt
import re

from chalicelib.domain.calendar import WorkingDayCalendar
from chalicelib.domain.cases import classify, new_case_no
from chalicelib.domain.catalog import ServiceItem, Township

UTC = dt.timezone.utc
cal = WorkingDayCalendar()
TOWNSHIP = Township({"code": "431224100", "name": "示例镇", "office_hours": {"open": "08:30", "close": "17:30"}})


def item(value, unit="working_days"):
    return ServiceItem({"code": "X-1", "name": "测试事项", "category": "other", "exercising_level": "5",
                        "publicities": {"time_limit": {"legal": {"value": 20, "unit": "working_days"},
                                                       "promised": {"value": value, "unit": unit}}}})


def test_case_number_is_printable_sortable_and_names_the_township():
    a = new_case_no(dt.datetime(2026, 11, 29, 23, 59, 59, 999000, tzinfo=UTC), "431224100")
    b = new_case_no(dt.datetime(2026, 11, 30, 0, 0, 0, tzinfo=UTC), "431224101")
    assert re.fullmatch(r"\d{17}-\d{9}-[0-9A-HJKMNP-TV-Z]{4}", a)
    assert a.startswith("20261130075959999-431224100-")  # Asia/Shanghai wall-clock time
    assert a < b


def test_promised_item_due_after_working_days():
    received = dt.datetime(2026, 9, 30, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    result = classify(item(1), TOWNSHIP, received, has_agent=False, calendar=cal)
    assert result.case_classes == ["promised"] and result.case_type == "2"
    assert result.due.date == dt.date(2026, 10, 8)


def test_immediate_item_within_office_hours_is_due_today():
    received = dt.datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Monday 10:00 Shanghai
    result = classify(item(0), TOWNSHIP, received, has_agent=False, calendar=cal)
    assert result.case_classes == ["immediate"] and result.case_type == "1"
    assert result.due.date == dt.date(2026, 11, 30)


def test_immediate_item_after_hours_or_on_a_day_off_is_due_next_working_day():
    evening = dt.datetime(2026, 11, 30, 11, 0, tzinfo=UTC)  # Monday 19:00 Shanghai
    assert classify(item(0), TOWNSHIP, evening, False, cal).due.date == dt.date(2026, 12, 1)
    holiday = dt.datetime(2026, 10, 2, 2, 0, tzinfo=UTC)  # National Day
    assert classify(item(0), TOWNSHIP, holiday, False, cal).due.date == dt.date(2026, 10, 8)


def test_agency_combines_with_the_primary_class():
    received = dt.datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    assert classify(item(5), TOWNSHIP, received, True, cal).case_classes == ["promised", "agency"]
    assert classify(item(0), TOWNSHIP, received, True, cal).case_classes == ["immediate", "agency"]
