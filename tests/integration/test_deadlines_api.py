"""Deadlines as applicants and staff see them through the API: the due date and working days
left, a special procedure pausing the clock, the art. 42 extension, on-time data when the case
is concluded (rules: docs/deadlines.md; domain.md section 4)."""
import datetime as dt
import itertools
import json

import pytest

from chalicelib import container, settings
from chalicelib.domain.access import Origin
from chalicelib.domain.calendar import WorkingDayCalendar
from chalicelib.usecases import identity as identity_uc, lifecycle
from tests.conftest import valid_submission

CAL = WorkingDayCalendar()
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
_keys = itertools.count(1)


def act(client, headers, path, body=None):
    return client.http.post(path, headers={**headers, "Idempotency-Key": f"dl-{next(_keys):08d}"},
                            body=json.dumps(body or {}, ensure_ascii=False))


def file_case(client, me, item_code="HH-MZ-006"):
    r = client.http.post("/v1/cases", headers=me, body=json.dumps(valid_submission(item_code=item_code),
                                                                 ensure_ascii=False))
    assert r.status_code == 201, r.body
    return r.json_body["case_no"]


def at(day: str, hour: int = 10) -> dt.datetime:
    """``hour`` o'clock Asia/Shanghai on ``day``, as UTC."""
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), SHANGHAI).astimezone(dt.timezone.utc)


def backdate(case_no: str, day: str) -> None:
    """Pretend the case was received at 09:00 on ``day`` (Asia/Shanghai): the tests below move
    through weeks, while intake stamps the real receipt time (and computed the clock from it)."""
    from chalicelib.adapters.models import CaseModel
    CaseModel(f"CASE#{case_no}", "CASE").update(actions=[CaseModel.submitted_at.set(at(day, 9).isoformat()),
                                                         CaseModel.clock.remove()])


class Desk:
    """Lifecycle actions at chosen moments (the use case with a clock), as a named clerk."""

    def __init__(self, username):
        self.principal = identity_uc.staff_principal(container.identity().get_staff(username))

    def __call__(self, action, case_no, body, when):
        return lifecycle.act(action, case_no, body, principal=self.principal, origin=Origin(channel="staff"),
                             idempotency_key=f"desk-{next(_keys):08d}", cases=container.cases(),
                             catalog=container.catalog(), identity=container.identity(), calendar=CAL,
                             audit_log=container.audit_log(), events=container.case_event_publisher(),
                             now=lambda: when)


def test_an_accepted_case_shows_its_due_date_and_working_days_left(client, auth):
    me = auth.villager()
    clerk = auth.staff("clerk.dl", ["window_clerk"], ["431224100"])
    no = file_case(client, me)
    accepted = act(client, clerk, f"/v1/cases/{no}/accept")
    assert accepted.status_code == 200, accepted.body
    today = dt.datetime.now(SHANGHAI).date()
    due = CAL.add_working_days(today, 10).date  # HH-MZ-006 promises 10 working days
    for who in (me, clerk):
        seen = client.http.get(f"/v1/cases/{no}", headers=who).json_body
        assert seen["due_date"] == due.isoformat()
        assert seen["deadline"]["due_date"] == due.isoformat()
        assert seen["deadline"]["working_days_left"] == 10
        assert seen["deadline"]["warning_level"] == "0" and seen["deadline"]["paused"] is False
        assert seen["deadline"]["limit"] == {"value": 10, "unit": "working_days"}
    accept_entry = [h for h in seen["history"] if h["step_name"] == "受理"][0]
    assert accept_entry["data"]["due_date"] == due.isoformat()


def test_a_special_procedure_pauses_the_clock_and_the_history_says_so(client, auth):
    auth.staff("clerk.pause", ["window_clerk"], ["431224100"])
    desk = Desk("clerk.pause")
    me = auth.villager()
    no = file_case(client, me)
    backdate(no, "2026-11-02")
    # accepted Monday 2 November 2026: 10 working days end Monday 16 November
    accepted = desk("accept", no, {}, at("2026-11-02"))
    assert accepted["due_date"] == "2026-11-16"
    paused = desk("start_special_procedure", no, {"kind": "testing", "name": "房屋安全检测", "reason": "需检测"},
                  at("2026-11-04"))
    assert paused["deadline"]["paused"] is True and paused["deadline"]["due_date"] is None
    assert paused["deadline"]["working_days_left"] == 8  # 3rd and 4th counted
    assert paused["history"][-1]["data"]["clock"] == "paused"
    # a week of testing: 5-11 November do not count (5 working days), counting resumes on the 12th
    resumed = desk("end_special_procedure", no, {"result": "检测合格"}, at("2026-11-11"))
    assert resumed["history"][-1]["data"]["clock"] == "resumed"
    assert resumed["due_date"] == "2026-11-23" and resumed["deadline"]["paused_working_days"] == 5
    assert resumed["deadline"]["working_days_left"] == 8


def test_an_extension_moves_the_due_date_once_with_reason_and_approver(client, auth, queues):
    me = auth.villager()
    clerk = auth.staff("clerk.ext", ["window_clerk"], ["431224100"])
    no = file_case(client, me)
    accepted = act(client, clerk, f"/v1/cases/{no}/accept").json_body
    due = dt.date.fromisoformat(accepted["due_date"])
    bad = act(client, clerk, f"/v1/cases/{no}/extension", {"reason": "需实地核查", "approver": "王主任", "days": 11})
    assert bad.status_code == 400 and bad.json_body["details"][0]["code"] == "EXTENSION_TOO_LONG", bad.body
    missing = act(client, clerk, f"/v1/cases/{no}/extension", {"reason": "需实地核查"})
    assert missing.status_code == 400, missing.body
    assert act(client, me, f"/v1/cases/{no}/extension", {"reason": "x", "approver": "y"}).status_code == 403
    r = act(client, clerk, f"/v1/cases/{no}/extension", {"reason": "需实地核查", "approver": "王主任"})
    assert r.status_code == 200, r.body
    extended = r.json_body
    assert extended["due_date"] == CAL.add_working_days(due, 10).date.isoformat()
    assert extended["extension"]["days"] == 10 and extended["extension"]["approver"] == "王主任"
    entry = extended["history"][-1]
    assert entry["step_name"] == "延长办理期限" and entry["opinion"] == "需实地核查" and "王主任" in entry["reason"]
    assert entry["data"]["previous_due_date"] == due.isoformat() and entry["data"]["due_date"] == extended["due_date"]
    again = act(client, clerk, f"/v1/cases/{no}/extension", {"reason": "还要核查", "approver": "王主任"})
    assert again.status_code == 409 and again.json_body["code"] == "ALREADY_EXTENDED", again.body
    queues.deliver(settings.CASE_EVENTS_QUEUE, "on_case_event")
    texts = [m["text"] for m in client.http.get("/v1/me/messages", headers=me).json_body["messages"]]
    assert any("延长办理期限" in t and extended["due_date"] in t for t in texts), texts


def test_a_concluded_case_keeps_its_on_time_data(client, auth):
    auth.staff("clerk.ontime", ["window_clerk"], ["431224100"])
    desk = Desk("clerk.ontime")
    me = auth.villager()
    on_time, late = file_case(client, me), file_case(client, me)
    for no in (on_time, late):
        backdate(no, "2026-11-02")
        desk("accept", no, {}, at("2026-11-02"))
    desk("start_special_procedure", on_time, {"kind": "appraisal", "name": "鉴定", "reason": "需鉴定"}, at("2026-11-03"))
    desk("end_special_procedure", on_time, {"result": "完成"}, at("2026-11-05"))
    done = desk("conclude", on_time, {"result": "approved"}, at("2026-11-17"))
    assert done["timeliness"] == {"within_limit": True, "concluded_on": "2026-11-17", "due_date": "2026-11-18",
                                  "due_date_provisional": False, "working_days_used": 9, "paused_working_days": 2,
                                  "limit": {"value": 10, "unit": "working_days"}, "extension_days": 0,
                                  "basis": "received"}
    assert done["deadline"] is None and done["due_date"] == "2026-11-18"
    overdue = desk("conclude", late, {"result": "approved"}, at("2026-11-18"))
    assert overdue["timeliness"]["within_limit"] is False and overdue["timeliness"]["working_days_used"] == 12
    case = container.cases().get_case(late)
    assert "next_check" not in case and "deadline_shard" not in case  # out of the sweep's index


@pytest.mark.parametrize("first_notice_day,expect_clock", [("2026-11-03", False), ("2026-11-10", True)])
def test_waiting_for_the_applicant_never_counts(client, auth, first_notice_day, expect_clock):
    """A timely one-time notice: the clock has not started (art. 32: acceptance dates from the
    day the materials are complete). A late one: the case counts as accepted on receipt and the
    clock pauses while the applicant supplements."""
    auth.staff("clerk.wait", ["window_clerk"], ["431224100"])
    desk = Desk("clerk.wait")
    me = auth.villager()
    no = file_case(client, me)
    backdate(no, "2026-11-02")
    notice = {"materials": [{"name": "居民户口簿", "problem": "missing"}]}
    view = desk("issue_notice", no, notice, at(first_notice_day))
    assert (view["deadline"] is not None) is expect_clock
    if expect_clock:
        assert view["deadline"]["paused"] is True and view["deadline"]["warning_level"] != "2"
    waiting = container.cases().get_case(no)
    assert "next_check" not in waiting  # nothing for the sweep while the applicant has the case
