"""Working-day calendar years loaded as data (issue 5): the 2027 case, alerts, versions, the API,
the CLI and the container's calendar, in moto.

Cases are placed in December 2026 through the use cases with a fixed clock (``now=``): the
library (chinese-calendar 1.11) knows 2026 but not 2027, so a 20-working-day limit started
in late December ends on a provisional date in 2027 until 2027 is loaded.
"""
from __future__ import annotations

import copy
import datetime as dt
import itertools
import json

import boto3
import pytest

from chalicelib import cli, container, settings
from chalicelib.domain.access import ADMINISTRATOR, Origin, Principal
from chalicelib.usecases import calendar_years, identity as identity_uc, intake, lifecycle
from chalicelib.usecases.ports import StaleCalendar
from tests.conftest import ROOT, valid_submission

EXAMPLE_FILE = ROOT / "data" / "calendar" / "2027.example.json"
EXAMPLE = json.loads(EXAMPLE_FILE.read_text(encoding="utf-8"))
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
_keys = itertools.count(1)


def at(text):
    """An Asia/Shanghai wall-clock time as an aware UTC datetime."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(dt.timezone.utc)


@pytest.fixture
def clerk(auth):
    auth.staff("clerk.cal", ["window_clerk"], ["431224100"])
    return identity_uc.staff_principal(container.identity().get_staff("clerk.cal"))


def file_case(clerk, moment, item_code="HH-MZ-001"):
    """A case the window files at ``moment`` and the intake consumer classifies then."""
    view, created = intake.submit_case(
        valid_submission(item_code=item_code), principal=clerk, origin=Origin(channel="test"),
        idempotency_key=None, catalog=container.catalog(), cases=container.cases(),
        publisher=container.intake_publisher(), events=container.case_event_publisher(),
        identity=container.identity(), id_keys=container.id_keys(), audit_log=container.audit_log(),
        now=lambda: moment)
    assert created
    outcome = intake.classify_case(view["case_no"], catalog=container.catalog(), cases=container.cases(),
                                   calendar=container.calendar(), events=container.case_event_publisher(),
                                   markers=container.calendars(), now=lambda: moment)
    assert outcome == "classified"
    return view["case_no"]


def act(action, case_no, body, principal, moment):
    return lifecycle.act(action, case_no, body, principal=principal, origin=Origin(channel="test"),
                         idempotency_key=f"cal-{next(_keys):06d}", cases=container.cases(),
                         catalog=container.catalog(), identity=container.identity(), calendar=container.calendar(),
                         audit_log=container.audit_log(), events=container.case_event_publisher(),
                         markers=container.calendars(), now=lambda: moment)


def admin_inbox():
    rows, _ = container.cases().messages(f"ROLE#{ADMINISTRATOR}", 50, None)
    return rows


def put_year(client, headers, body, year=None, if_match=None):
    extra = {"If-Match": str(if_match)} if if_match is not None else {}
    return client.http.put(f"/v1/admin/calendar/{year or body['year']}", headers={**headers, **extra},
                           body=json.dumps(body, ensure_ascii=False))


def recomputes(history):
    return [h for h in history if h["step_name"] == "办结期限重算"]


def test_a_december_2026_case_is_provisional_until_2027_is_loaded_then_exact(client, auth, clerk):
    # GIVEN two 20-working-day cases (HH-MZ-001) filed at the window on 14 and 28 December 2026
    first = file_case(clerk, at("2026-12-14T10:00:00"))
    second = file_case(clerk, at("2026-12-28T10:00:00"))
    staff = auth.staff_login("clerk.cal", "Very-Secret-42x")
    view = client.http.get(f"/v1/cases/{first}", headers=staff).json_body
    # weekends only in 2027: Dec 15-18, 21-25, 28-31 (13), Jan 1 (14), Jan 4-8 (19), Jan 11 (20)
    assert view["deadline"]["due_date"] == "2027-01-11" and view["deadline"]["due_date_provisional"] is True
    classified = view["history"][-1]
    assert classified["step_name"] == "分类与时限计算" and classified["data"]["due_date_provisional"] is True
    assert "暂按周末推算" in classified["opinion"]
    # THEN the administrators were told once, not once per case
    alerts = [m for m in admin_inbox() if m["event_type"] == "calendar.year_missing"]
    assert len(alerts) == 1 and "2027年节假日安排尚未加载" in alerts[0]["text"] and alerts[0]["case_no"] == first
    # ... and a fresh container (its memo empty) does not alert again: the marker holds
    calendar_years.forget_alerts()
    assert calendar_years.alert_missing_year(2027, second, cases=container.cases(), markers=container.calendars()) \
        is False
    assert len(admin_inbox()) == 1
    listed = client.http.get("/v1/admin/calendar", headers=auth.admin()).json_body
    assert {"year": 2027, "needed_by_cases": True}.items() <= next(
        m for m in listed["missing"] if m["year"] == 2027).items()

    # WHEN the administrator loads 2027 (the example data: 元旦 1-3 January off)
    loaded = put_year(client, auth.admin(), EXAMPLE)
    assert loaded.status_code == 200, loaded.body
    assert loaded.json_body == {"year": 2027, "version": 1, "outcome": "created", "recomputed": 2,
                                "still_provisional": 0}
    # THEN both due dates are exact, each with one recompute entry in its history
    # first: Dec 15-31 (13), Jan 1-3 off, Jan 4-8 (18), Jan 11 (19), Jan 12 (20)
    # second: Dec 29-31 (3), Jan 4-8 (8), 11-15 (13), 18-22 (18), Jan 25 (19), Jan 26 (20)
    for case_no, was, due in ((first, "2027-01-11", "2027-01-12"), (second, "2027-01-25", "2027-01-26")):
        view = client.http.get(f"/v1/cases/{case_no}", headers=staff).json_body
        assert view["deadline"]["due_date"] == due and view["deadline"]["due_date_provisional"] is False, case_no
        [entry] = recomputes(view["history"])
        assert entry["actor"] == "system" and entry["data"]["old_due_date"] == was
        assert entry["data"]["due_date"] == due and entry["data"]["due_date_provisional"] is False
        case = container.cases().get_case(case_no)
        assert case["due_date"] == due and "provisional_year" not in case and case["due_date_provisional"] is False
    assert list(container.cases().provisional_cases("2027")) == []

    # WHEN the same data is loaded again THEN nothing changes: no version, no history entry
    again = put_year(client, auth.admin(), EXAMPLE)
    assert again.json_body == {"year": 2027, "version": 1, "outcome": "unchanged", "recomputed": 0,
                               "still_provisional": 0}
    assert len(recomputes(client.http.get(f"/v1/cases/{first}", headers=staff).json_body["history"])) == 1
    assert calendar_years.recompute_loaded_years(container.cases(), container.calendar(),
                                                 now=lambda: at("2026-12-30T09:00:00")) == 0


def test_a_lifecycle_action_that_pushes_the_due_date_into_a_missing_year_alerts_once(client, auth, clerk):
    # GIVEN a case filed on 30 November 2026, due 28 December 2026 (exact: 2026 is known)
    case_no = file_case(clerk, at("2026-11-30T10:00:00"))
    assert container.cases().get_case(case_no)["due_date"] == "2026-12-28"
    assert admin_inbox() == []
    act("accept", case_no, {}, clerk, at("2026-11-30T11:00:00"))
    # WHEN the window extends it by 10 working days (art. 42): into 2027
    view = act("extend", case_no, {"reason": "需现场核查", "approver": "张主任"}, clerk, at("2026-12-01T09:00:00"))
    assert view["deadline"]["due_date_provisional"] is True
    # THEN the administrators hear of 2027 once
    assert [m["event_id"] for m in admin_inbox()] == ["calendar-missing-2027"]


def test_versions_if_match_and_a_lost_race(client, auth):
    admin = auth.admin()
    assert put_year(client, admin, EXAMPLE, if_match=0).json_body["outcome"] == "created"
    changed = copy.deepcopy(EXAMPLE)
    changed["workdays"].append({"date": "2027-12-26", "name": "示例调休"})
    # the version the caller saw is stale: refused, nothing written
    stale = put_year(client, admin, changed, if_match=0)
    assert stale.status_code == 409 and stale.json_body["code"] == "CALENDAR_VERSION_MISMATCH", stale.body
    updated = put_year(client, admin, changed, if_match=1)
    assert updated.status_code == 200 and updated.json_body["outcome"] == "updated" and \
        updated.json_body["version"] == 2, updated.body
    assert client.http.get("/v1/admin/calendar/2027", headers=admin).json_body["version"] == 2
    v1 = client.http.get("/v1/admin/calendar/2027?version=1", headers=admin).json_body
    assert v1["version"] == 1 and {"date": "2027-12-26", "name": "示例调休"} not in v1["workdays"]
    # two loads that both read version 2: the transaction's condition lets exactly one write version 3
    repo = container.calendars()
    record = {**repo.get_year(2027), "version": 3, "source": "第三版（示例）"}
    trail = lambda: {"pk": "CALENDAR#2027", "sk": f"test#{next(_keys)}", "at": "2026-11-30T00:00:00Z",  # noqa: E731
                     "actor": "test", "roles": [], "action": "calendar.load", "target": "2027", "origin": {}}
    repo.save_year(record, 2, trail())
    with pytest.raises(StaleCalendar):
        repo.save_year({**record, "source": "另一个第三版（示例）"}, 2, trail())
    assert repo.get_year(2027)["source"] == "第三版（示例）"
    # the audit trail names who loaded what
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    audit = ddb.query(TableName=settings.AUDIT_TABLE, KeyConditionExpression="pk = :p",
                      ExpressionAttributeValues={":p": {"S": "CALENDAR#2027"}})["Items"]
    assert sum(1 for a in audit if a["actor"]["S"] == "staff_admin.test") == 2


def test_bad_input_is_refused_with_field_paths(client, auth):
    admin = auth.admin()
    wrong_year = put_year(client, admin, EXAMPLE, year=2028)
    assert wrong_year.status_code == 400 and wrong_year.json_body["details"][0]["code"] == "YEAR_MISMATCH"
    tuesday = copy.deepcopy(EXAMPLE)
    tuesday["workdays"][0]["date"] = "2027-02-09"  # a Tuesday, inside 春节 too
    r = put_year(client, admin, tuesday)
    assert r.status_code == 400, r.body
    assert {(d["field"], d["code"]) for d in r.json_body["details"]} == {
        ("workdays[0].date", "WORKDAY_NOT_WEEKEND"), ("workdays[0].date", "DATE_BOTH_HOLIDAY_AND_WORKDAY")}
    overlap = copy.deepcopy(EXAMPLE)
    overlap["holidays"][1]["start"] = "2027-01-02"
    overlap["holidays"][1]["end"] = "2027-01-05"
    r = put_year(client, admin, overlap)
    assert r.status_code == 400 and ("holidays[1]", "HOLIDAYS_OVERLAP") in {
        (d["field"], d["code"]) for d in r.json_body["details"]}, r.body
    r = put_year(client, admin, {**EXAMPLE, "holidays": []})
    assert r.status_code == 400 and r.json_body["details"][0]["field"] == "holidays"
    r = put_year(client, admin, EXAMPLE, year="20x7")
    assert r.status_code == 400
    clerk = auth.staff("clerk.cal2", ["window_clerk"], ["431224100"])
    r = put_year(client, clerk, EXAMPLE)
    assert r.status_code == 403, r.body
    assert client.http.get("/v1/admin/calendar/2027", headers=clerk).status_code == 404  # never loaded
    assert container.calendars().get_year(2027) is None


def test_the_container_calendar_uses_loaded_years_and_survives_an_unreadable_table(seeded):
    assert not container.calendar().knows(2027)
    principal = Principal(subject="cli", roles=frozenset({ADMINISTRATOR}))
    calendar_years.load_year(principal, Origin(channel="test"), EXAMPLE, calendars=container.calendars(),
                             cases=container.cases(), audit_log=container.audit_log())
    assert not container.calendar().knows(2027)  # cached for CALENDAR_REFRESH_SECONDS ...
    container.refresh_calendar()                 # ... unless refreshed (the loading container does)
    assert container.calendar().knows(2027)
    assert container.calendar().add_working_days(dt.date(2026, 12, 31), 1).date == dt.date(2027, 1, 4)
    # a loaded 2026 beats the library: National Day only 1-3 October, so Monday the 5th works
    short = {"year": 2026, "source": "测试数据（示例，非官方）", "holidays": [
        {"name": "国庆节", "start": "2026-10-01", "end": "2026-10-03"}]}
    calendar_years.load_year(principal, Origin(channel="test"), short, calendars=container.calendars(),
                             cases=container.cases(), audit_log=container.audit_log())
    container.refresh_calendar()
    assert container.calendar().add_working_days(dt.date(2026, 9, 30), 1).date == dt.date(2026, 10, 5)
    # the table cannot be read: the library answers, nothing raises
    boto3.client("dynamodb", region_name="us-east-1").delete_table(TableName=settings.CATALOG_TABLE)
    container.refresh_calendar()
    fallback = container.calendar()
    assert fallback.knows(2026) and not fallback.knows(2027)
    assert fallback.add_working_days(dt.date(2026, 9, 30), 1).date == dt.date(2026, 10, 8)


def test_cli_calendar_load_and_show(seeded, capsys, tmp_path):
    assert cli.main(["calendar-load", str(EXAMPLE_FILE)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"year": 2027, "version": 1, "outcome": "created", "recomputed": 0, "still_provisional": 0}
    assert cli.main(["calendar-show"]) == 0
    listed = json.loads(capsys.readouterr().out)
    [year] = [y for y in listed["loaded"] if y["year"] == 2027]
    assert year["loaded_by"] == "cli" and year["example"] is True and year["version"] == 1
    assert listed["library"]["last_year"] >= 2026 and 2027 not in [m["year"] for m in listed["missing"]]
    assert cli.main(["calendar-show", "2027"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["holidays"][0] == {"name": "元旦", "start": "2027-01-01", "end": "2027-01-03"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**EXAMPLE, "workdays": [{"date": "2027-03-02"}]}), encoding="utf-8")
    assert cli.main(["calendar-load", str(bad)]) == 1
    assert "WORKDAY_NOT_WEEKEND" in capsys.readouterr().err


def test_a_load_with_more_provisional_cases_than_a_request_may_handle_leaves_the_rest_to_the_sweep(
        client, auth, clerk, monkeypatch):
    """A load recomputes at most ``RECOMPUTE_IN_REQUEST`` cases (API Gateway answers within
    29 s); the scheduled deadline sweep recomputes the others."""
    from chalicelib.handlers import consumers
    cases = [file_case(clerk, at(f"2026-12-{day}T10:00:00")) for day in (14, 21, 28)]
    monkeypatch.setattr(settings, "RECOMPUTE_IN_REQUEST", 1)
    loaded = put_year(client, auth.admin(), EXAMPLE)
    assert loaded.status_code == 200, loaded.body
    assert (loaded.json_body["recomputed"], loaded.json_body["still_provisional"]) == (1, 2)
    assert len(list(container.cases().provisional_cases("2027"))) == 2
    container.refresh_calendar()
    report = consumers.sweep_deadlines()
    assert report["recomputed"] == 2
    assert list(container.cases().provisional_cases("2027")) == []
    for case_no in cases:
        assert container.cases().get_case(case_no)["due_date_provisional"] is False
