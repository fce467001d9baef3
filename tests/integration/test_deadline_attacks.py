"""Adversarial tests of the deadlines feature (issue 5): the extension, the sweep, staff alerts
and calendar years, driven as a villager, clerks, county approvers and an administrator would.

Tests marked ``# FINDING`` fail on purpose: each proves a bug (the rule it breaks is cited).
The others are attacks that failed; they are kept as regression tests.
"""
from __future__ import annotations

import copy
import datetime as dt
import json

from chalicelib import container
from chalicelib.usecases import calendar_years, deadlines

from tests.integration.test_calendar_years import (EXAMPLE, at, clerk, file_case, put_year)  # noqa: F401
from tests.integration.test_deadline_sweep import (JOINT, TOWNSHIP, accepted_case, case, dates, deliver,
                                                   inbox, on, sweep, warnings_in_history, world)  # noqa: F401
from tests.integration.test_deadlines_api import act as http_act, file_case as http_file_case

DAY = dt.timedelta(days=1)
EXT = {"reason": "需实地核查", "approver": "王主任"}


def alerts_of(world, who):
    response = world.client.http.get("/v1/me/alerts", headers=world.headers[who])
    assert response.status_code == 200, response.body
    return [(a["case_no"], a["event_type"]) for a in response.json_body["alerts"]]


# --- FINDING 1: a warning for a case whose responsible clerk is gone reaches nobody -------------

def test_a_yellow_warning_on_a_case_whose_responsible_clerk_was_disabled_reaches_an_active_clerk(world, auth):
    # FINDING: warning_recipients sends to staff_<responsible> only, even when that account is
    # disabled (lifecycle._responsible_active already knows this state for handovers).
    # GIVEN a case clerk.wang accepted (the responsible clerk), then clerk.wang's account is disabled
    case_no = accepted_case(world)
    disabled = world.client.http.post("/v1/admin/accounts/clerk.wang/disable", headers=auth.admin(), body="{}")
    assert disabled.status_code == 200, disabled.body
    yellow, _ = dates(case_no)
    # WHEN the case turns yellow
    assert sweep(on(yellow))["yellow"] == 1
    deliver(world)
    # THEN an active clerk of the township hears of it (lifecycle.md "Deadline warnings": the
    # responsible clerk, or all the township's clerks while nobody is responsible; a disabled
    # account is nobody) -- today the only copy sits in the disabled account's inbox
    assert inbox("staff_clerk.wang") == []
    assert (case_no, "case.warning_yellow") in alerts_of(world, "clerk_li")


# --- FINDING 2: a special procedure started on the due date turns red while it lasts ------------

def test_a_special_procedure_started_on_the_due_date_does_not_turn_red_while_it_lasts(world):
    # FINDING: evaluate() keeps the due date when due_date <= pause start ("<=", not "<").
    # GIVEN a case on its due date (not overdue: it is red only from the day after)
    case_no = accepted_case(world)
    _, due = dates(case_no)
    assert sweep(on(due))["yellow"] == 1
    # WHEN the clerk starts a testing procedure that day (art. 45: its time does not count)
    view = world.act("start_special_procedure", case_no, {"kind": "testing", "name": "房屋安全检测",
                                                          "reason": "需检测"}, on(due, 10))
    assert view["deadline"]["warning_level"] == "1"
    # THEN while the procedure lasts the case is paused and never red (deadlines.md "Pauses":
    # "While a pause is open the case has no due date; ... it never turns red. If the due date
    # had already passed when the pause began, that due date stands" -- it had not passed)
    report = sweep(on(due + DAY))
    assert report["red"] == 0, (report, warnings_in_history(case_no))
    stored = case(case_no)
    assert stored.get("clock_paused") is True and int(stored.get("warning_level") or 0) < 2


# --- FINDING 3: correcting a loaded year leaves existing due dates (and warnings) stale ---------

def test_a_corrected_calendar_year_recomputes_cases_the_first_version_made_exact(client, auth, clerk):  # noqa: F811
    # FINDING: load_year recomputes only the by_provisional_year index; cases the first version
    # made exact are not provisional any more and keep due dates computed on the wrong data.
    admin = auth.admin()
    # GIVEN 2027 loaded with a typo (元旦 1-5 January) and a 20-working-day case filed 14 Dec 2026
    wrong = copy.deepcopy(EXAMPLE)
    wrong["holidays"][0]["end"] = "2027-01-05"
    case_no = file_case(clerk, at("2026-12-14T10:00:00"))
    assert put_year(client, admin, wrong).json_body["recomputed"] == 1
    # Dec 15-31 (13), Jan 6-8 (16), Jan 11-14 (20): due 01-14, yellow on the 16th day 01-08
    assert (case(case_no)["due_date"], case(case_no)["yellow_date"]) == ("2027-01-14", "2027-01-08")
    # WHEN the administrator corrects it (元旦 1-3 January) as a new version
    fixed = put_year(client, admin, EXAMPLE, if_match=1)
    assert fixed.status_code == 200 and fixed.json_body["outcome"] == "updated", fixed.body
    container.refresh_calendar()
    # ... and the hourly schedule runs on 6 January 2027 (recompute safety net, then warnings)
    when = on(dt.date(2027, 1, 6))
    calendar_years.recompute_loaded_years(container.cases(), container.calendar(), now=lambda: when)
    report = deadlines.sweep(container.cases(), container.calendar(), container.case_event_publisher(),
                             now=lambda: when)
    # THEN the case is due 01-12 (Jan 4-8 (18), 11-12 (20)) and yellow on 01-06, the 16th day
    # (deadlines.md: "loading the year recomputes"; domain.md s.4: calendar updates as data)
    live = client.http.get(f"/v1/cases/{case_no}", headers=auth.staff_login("clerk.cal", "Very-Secret-42x"))
    assert live.json_body["deadline"]["due_date"] == "2027-01-12"  # the live view is right ...
    stored = case(case_no)
    # the yellow warning due today is not announced (next_check still says 01-08) ...
    assert report["yellow"] == 1, (report, stored["next_check"])
    # ... and the stored due and yellow dates (lists, queues, on-time data) are the wrong version's
    assert (stored["due_date"], stored["yellow_date"]) == ("2027-01-12", "2027-01-06")


# --- FINDING 4: a published notice whose 元旦 starts in December cannot be loaded -----------------

def test_a_notice_whose_new_year_holiday_starts_in_december_can_be_loaded_as_published(client, auth):
    # FINDING: year_table rejects every date outside body.year (DATE_OUTSIDE_YEAR), and the
    # calendar looks a day up only in the table of its own year. Real notices cross the year:
    # 国务院办公厅关于2019年部分节假日安排的通知: 元旦 2018-12-30..2019-01-01, 2018-12-29 (Sat) works;
    # the 2023 notice: 元旦 2022-12-31..2023-01-02. The library agrees:
    import chinese_calendar
    assert chinese_calendar.is_workday(dt.date(2018, 12, 29)) and chinese_calendar.is_holiday(dt.date(2018, 12, 31))
    # a 2028 notice of the same shape (元旦 2027-12-31..2028-01-02, Saturday 2027-12-25 works)
    body = {"year": 2028, "source": "测试数据（示例，非官方）：2028年部分节假日安排", "example": True,
            "holidays": [{"name": "元旦", "start": "2027-12-31", "end": "2028-01-02"},
                         {"name": "春节", "start": "2028-01-25", "end": "2028-02-02"}],
            "workdays": [{"date": "2027-12-25", "name": "元旦调休"}]}
    r = put_year(client, auth.admin(), body)
    # domain.md s.4: "the software must accept calendar updates as data" (the notice as published)
    assert r.status_code == 200, r.body


# --- attacks that failed (kept as regression tests) ---------------------------------------------

def test_extension_wrong_callers_and_bad_input_are_refused(client, auth):
    me = auth.villager()
    clerk_h = auth.staff("clerk.atk", ["window_clerk"], ["431224100"])
    other = auth.staff("clerk.atk.other", ["window_clerk"], ["431224101"])
    supervisor = auth.staff("sup.atk", ["supervisor"], ["431224100"])
    approver = auth.staff("zjj.atk", ["county_approver"], department="ZJJ")
    no = http_file_case(client, me)
    assert http_act(client, clerk_h, f"/v1/cases/{no}/accept").status_code == 200
    # wrong users: another township's clerk and a department that does not hold the case do not
    # even see it; a supervisor and the villager may not extend
    assert http_act(client, other, f"/v1/cases/{no}/extension", EXT).status_code == 404
    assert http_act(client, approver, f"/v1/cases/{no}/extension", EXT).status_code == 404
    assert http_act(client, supervisor, f"/v1/cases/{no}/extension", EXT).status_code == 403
    assert http_act(client, me, f"/v1/cases/{no}/extension", EXT).status_code == 403
    # bad input: 0, 16, 11 (not joint), "10", null, 10.5, true, extra fields, huge strings
    for bad in ({**EXT, "days": 0}, {**EXT, "days": 16}, {**EXT, "days": 11}, {**EXT, "days": "10"},
                {**EXT, "days": None}, {**EXT, "days": 10.5}, {**EXT, "days": True}, {**EXT, "due_date": "2099-01-01"},
                {**EXT, "reason": "x" * 1001}, {**EXT, "approver": "王" * 51}, {**EXT, "reason": ""},
                {"reason": "   ", "approver": "王主任"}):
        r = http_act(client, clerk_h, f"/v1/cases/{no}/extension", bad)
        assert r.status_code == 400, (bad, r.status_code, r.body)
    assert "extension" not in container.cases().get_case(no)


def test_extension_replay_is_idempotent_and_a_second_extension_is_refused(client, auth):
    me = auth.villager()
    clerk_h = auth.staff("clerk.rep", ["window_clerk"], ["431224100"])
    no = http_file_case(client, me)
    due = http_act(client, clerk_h, f"/v1/cases/{no}/accept").json_body["due_date"]
    headers = {**clerk_h, "Idempotency-Key": "ext-replay-0001"}
    body = json.dumps({**EXT, "days": 5, "approver": "王主任 13812345678"}, ensure_ascii=False)
    first = client.http.post(f"/v1/cases/{no}/extension", headers=headers, body=body)
    again = client.http.post(f"/v1/cases/{no}/extension", headers=headers, body=body)
    assert first.status_code == again.status_code == 200, (first.body, again.body)
    assert first.json_body["due_date"] == again.json_body["due_date"] != due
    history = container.cases().get(no)[1]
    assert sum(1 for h in history if h["step_name"] == "延长办理期限") == 1
    # the phone typed into the approver is masked in the view and the history
    for response in (first, again):
        assert "13812345678" not in json.dumps(response.json_body, ensure_ascii=False)
    # same key, another body: 422; a second extension: 409 ALREADY_EXTENDED
    other = client.http.post(f"/v1/cases/{no}/extension", headers=headers,
                             body=json.dumps({**EXT, "days": 6}, ensure_ascii=False))
    assert other.status_code == 422, other.body
    twice = http_act(client, clerk_h, f"/v1/cases/{no}/extension", EXT)
    assert twice.status_code == 409 and twice.json_body["code"] == "ALREADY_EXTENDED", twice.body


def test_extension_on_a_concluded_or_unaccepted_case_and_by_a_disabled_clerk_is_refused(client, auth):
    me = auth.villager()
    clerk_h = auth.staff("clerk.fin", ["window_clerk"], ["431224100"])
    gone = auth.staff("clerk.gone", ["window_clerk"], ["431224100"])
    submitted = http_file_case(client, me)
    r = http_act(client, clerk_h, f"/v1/cases/{submitted}/extension", EXT)
    assert r.status_code == 409, r.body
    no = http_file_case(client, me)
    assert http_act(client, clerk_h, f"/v1/cases/{no}/accept").status_code == 200
    assert client.http.post("/v1/admin/accounts/clerk.gone/disable", headers=auth.admin(), body="{}").status_code == 200
    r = http_act(client, gone, f"/v1/cases/{no}/extension", EXT)
    assert r.status_code in (401, 403), r.body
    assert http_act(client, clerk_h, f"/v1/cases/{no}/conclusion", {"result": "approved"}).status_code == 200
    r = http_act(client, clerk_h, f"/v1/cases/{no}/extension", EXT)
    assert r.status_code == 409, r.body


def test_an_extension_of_a_red_case_falls_at_once_and_the_next_rise_is_announced_once(world):
    case_no = accepted_case(world)
    _, due = dates(case_no)
    assert sweep(on(due + DAY))["red"] == 1
    view = world.act("extend", case_no, EXT, on(due + DAY, 10))
    assert view["deadline"]["warning_level"] in ("0", "1")
    assert int(case(case_no)["warning_level"]) < 2
    _, new_due = dates(case_no)
    assert new_due > due
    assert sweep(on(new_due + DAY))["red"] == 1
    assert sweep(on(new_due + DAY, 12))["red"] == 0
    levels = [lvl for lvl, _ in warnings_in_history(case_no)]
    assert levels.count("2") == 2  # red once before the extension, once after the new due date


def test_a_case_concluded_just_before_the_sweep_gets_no_warning_and_nothing_is_written(world):
    case_no = accepted_case(world)
    yellow, _ = dates(case_no)
    world.act("conclude", case_no, {"result": "approved"}, on(yellow - DAY, 23, 59))
    before = case(case_no)
    report = sweep(on(yellow, 0, 0))
    assert report["yellow"] == report["red"] == 0
    assert case(case_no)["version"] == before["version"]


def test_a_warning_event_consumed_twice_leaves_one_alert_per_inbox(world):
    case_no = accepted_case(world, JOINT)
    _, due = dates(case_no)
    assert sweep(on(due + DAY))["red"] == 1
    deliver(world)
    from chalicelib.usecases.events import handle_case_event
    event = next(e for e in container.cases().get(case_no)[1] if e["step_name"] == "时限预警")
    assert event  # the history entry exists
    # replay the same event through the consumer
    from chalicelib.adapters.models import CaseEventModel
    body = CaseEventModel.get(f"CASE#{case_no}", f"EVENT#{event['seq']:06d}").body
    assert handle_case_event(dict(body), cases=container.cases()) == "nothing"
    for recipient in ("staff_clerk.wang", f"SUPERVISOR#{TOWNSHIP}", "DEPARTMENT#NYNCJ"):
        assert inbox(recipient).count((case_no, "case.warning_red")) == 1, recipient


def test_alerts_do_not_cross_townships_or_departments(world):
    case_no = accepted_case(world, JOINT)
    _, due = dates(case_no)
    sweep(on(due + DAY))
    deliver(world)
    assert (case_no, "case.warning_red") in alerts_of(world, "clerk")
    for who in ("clerk_other", "supervisor_other"):
        assert alerts_of(world, who) == []
    for limit in ("101", "-1", "abc", "1e2", "²", "0"):
        r = world.client.http.get(f"/v1/me/alerts?limit={limit}", headers=world.headers["clerk"])
        assert r.status_code == 400, (limit, r.body)


def test_calendar_load_bad_input_and_non_admins(client, auth):
    admin = auth.admin()
    clerk_h = auth.staff("clerk.calatk", ["window_clerk"], ["431224100"])
    assert put_year(client, clerk_h, EXAMPLE).status_code == 403
    feb30 = copy.deepcopy(EXAMPLE)
    feb30["holidays"][1]["end"] = "2027-02-30"
    other_year = copy.deepcopy(EXAMPLE)
    other_year["holidays"][0]["start"] = "2026-01-01"
    whole_year = {**EXAMPLE, "holidays": [{"name": "全年", "start": "2027-01-01", "end": "2027-12-31"}]}
    for body in (feb30, other_year, whole_year, {**EXAMPLE, "year": 1900}, {**EXAMPLE, "year": 9999},
                 {**EXAMPLE, "extra": 1}):
        r = put_year(client, admin, body, year=2027)
        assert r.status_code == 400, (body.get("year"), r.body)
    for garbage in ("abc", "-1", "1.0", "9999999", "W/\"1\""):
        r = put_year(client, admin, EXAMPLE, if_match=garbage)
        assert r.status_code == 400, (garbage, r.body)
    assert container.calendars().get_year(2027) is None
