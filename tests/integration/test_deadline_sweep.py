"""The deadline sweep (``usecases.deadlines.sweep``) and who hears about warnings.

Cases are driven through the use cases with a clock (``now=``): filed and accepted on Monday
2026-03-02 at 10:00 Asia/Shanghai, then swept on the days their warnings rise. The dates a
case turns yellow and red are read from the case itself (``yellow_date``, ``due_date``: the
domain computes them; ``domain/deadlines.py``), so these tests check the sweep, not the
calendar arithmetic. Warning events go through the real case events queue and consumer.
"""
from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter

import boto3
import botocore.client
import pytest

from chalicelib import container, settings
from chalicelib.adapters.case_repo import deadline_shard
from chalicelib.domain.access import VILLAGER, Origin, Principal
from chalicelib.usecases import deadlines, intake, lifecycle
from chalicelib.usecases import identity as identity_uc
from tests.conftest import valid_submission

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)  # a Monday, a working day
TOWNSHIP, OTHER_TOWNSHIP = "431224100", "431224101"
DEVOLVED, JOINT = "HH-MZ-006", "HH-ZJ-002"  # 10 and 5 working days promised; HH-ZJ-002: three departments
ORIGIN = Origin(channel="test")
_keys = itertools.count(1)


def on(day: dt.date, hour: int = 0, minute: int = 30) -> dt.datetime:
    """An instant of ``day`` in Asia/Shanghai (default 00:30, the first hourly sweep of the day)."""
    return dt.datetime.combine(day, dt.time(hour, minute), SHANGHAI)


def sweep(moment: dt.datetime, cases=None) -> dict:
    return deadlines.sweep(cases or container.cases(), container.calendar(), container.case_event_publisher(),
                           now=lambda: moment)


@pytest.fixture
def world(client, auth, queues):
    """A villager, a window clerk of the township, its supervisor and approvers of two of the
    joint item's departments; ``world.file``/``world.act`` drive cases with a clock."""
    class World:
        pass
    w = World()
    w.client, w.queues = client, queues
    headers = auth.villager()
    w.villager = Principal(subject=auth.subject(headers), roles=frozenset({VILLAGER}),
                           id_key=container.id_keys()(valid_submission()["applicant"]["id_number"]))
    w.headers = {"clerk": auth.staff("clerk.wang", ["window_clerk"], [TOWNSHIP]),
                 "clerk_li": auth.staff("clerk.li", ["window_clerk"], [TOWNSHIP]),
                 "clerk_other": auth.staff("clerk.zhao", ["window_clerk"], [OTHER_TOWNSHIP]),
                 "supervisor": auth.staff("sup.chen", ["supervisor"], [TOWNSHIP]),
                 "supervisor_other": auth.staff("sup.liu", ["supervisor"], [OTHER_TOWNSHIP])}
    w.headers["villager"] = headers
    for code in ("NYNCJ", "ZJJ", "MZJ"):
        w.headers[code] = auth.staff(f"{code.lower()}.approver", ["county_approver"], department=code)

    def staff(username):
        return identity_uc.staff_principal(container.identity().get_staff(username))
    w.clerk, w.clerk_li, w.zjj = staff("clerk.wang"), staff("clerk.li"), staff("zjj.approver")

    def file(item_code, at=T0):
        view, created = intake.submit_case(
            valid_submission(item_code=item_code), principal=w.villager, origin=ORIGIN, idempotency_key=None,
            catalog=container.catalog(), cases=container.cases(), publisher=container.intake_publisher(),
            events=container.case_event_publisher(), identity=container.identity(), id_keys=container.id_keys(),
            audit_log=container.audit_log(), now=lambda: at)
        assert created
        assert intake.classify_case(view["case_no"], catalog=container.catalog(), cases=container.cases(),
                                    calendar=container.calendar(), events=container.case_event_publisher(),
                                    now=lambda: at) == "classified"
        return view["case_no"]

    def act(action, case_no, body, at, principal=None, cases=None):
        return lifecycle.act(action, case_no, body, principal=principal or w.clerk, origin=ORIGIN,
                             idempotency_key=f"sweep-{next(_keys):06d}", cases=cases or container.cases(),
                             catalog=container.catalog(), identity=container.identity(),
                             calendar=container.calendar(), audit_log=container.audit_log(),
                             events=container.case_event_publisher(), now=lambda: at)
    w.file, w.act = file, act
    return w


def case(case_no):
    return container.cases().get_case(case_no)


def dates(case_no):
    """``(yellow date, due date)`` of a case as stored."""
    c = case(case_no)
    return dt.date.fromisoformat(c["yellow_date"]), dt.date.fromisoformat(c["due_date"])


def warnings_in_history(case_no):
    _, history = container.cases().get(case_no)
    return [(h["data"]["warning_level"], h["data"]["warnings"]) for h in history if h["step_name"] == "时限预警"]


def inbox(recipient):
    rows, _ = container.cases().messages(recipient, 100, None)
    return [(r["case_no"], r["event_type"]) for r in rows]


def deliver(world):
    """Run the case events consumer over everything published so far (Lambda's SQS mapping)."""
    world.queues.deliver(settings.CASE_EVENTS_QUEUE, "on_case_event")


def accepted_case(world, item_code=DEVOLVED):
    case_no = world.file(item_code)
    world.act("accept", case_no, {}, T0)
    return case_no


# --- yellow on the yellow date, red the day after the due date, each once ----------------------

def test_a_case_turns_yellow_then_red_each_announced_once(world):
    # GIVEN a case accepted by clerk.wang (the responsible clerk) on T0
    case_no = accepted_case(world)
    yellow, due = dates(case_no)
    assert T0.date() < yellow <= due and case(case_no)["next_check"] == yellow.isoformat()
    # WHEN the sweep runs every hour of the day before the yellow date: the case is not due
    assert sweep(on(yellow - dt.timedelta(days=1), 23, 30))["examined"] == 0
    # THEN on the yellow date it turns yellow, once however often the sweep runs that day
    assert sweep(on(yellow))["yellow"] == 1
    for hour in (1, 9, 23):
        report = sweep(on(yellow, hour))
        assert report["examined"] == 0 and report["yellow"] == 0
    assert sweep(on(due, 23, 30))["examined"] == 0  # still yellow on the due date itself
    # AND red the day after the due date, once
    assert sweep(on(due + dt.timedelta(days=1)))["red"] == 1
    assert sweep(on(due + dt.timedelta(days=1), 12))["examined"] == 0
    assert sweep(on(due + dt.timedelta(days=9)))["examined"] == 0  # red is the last level: it left the index
    stored = case(case_no)
    assert stored["warning_level"] == 2 and "next_check" not in stored and "deadline_shard" not in stored
    assert warnings_in_history(case_no) == [("1", {"case": "1"}), ("2", {"case": "2"})]
    # AND the consumer tells the responsible clerk both, the supervisors the red one, the applicant nothing
    deliver(world)
    deliver(world)  # a second delivery of anything still queued changes nothing
    assert sorted(inbox("staff_clerk.wang")) == [(case_no, "case.warning_red"), (case_no, "case.warning_yellow")]
    assert inbox(f"SUPERVISOR#{TOWNSHIP}") == [(case_no, "case.warning_red")]
    assert inbox(f"TOWNSHIP#{TOWNSHIP}") == []
    assert not [t for _, t in inbox(world.villager.id_key) if t.startswith("case.warning")]
    text = container.cases().messages("staff_clerk.wang", 1, None)[0][0]["text"]
    assert case_no in text and "红灯" in text and due.isoformat() in text


def test_an_event_delivered_twice_stores_each_alert_once(world):
    case_no = world.file(DEVOLVED)  # nobody responsible yet: the township's clerks hear of it
    yellow, due = dates(case_no)
    sweep(on(due + dt.timedelta(days=1)))  # yellow and red rise together: one red announcement
    assert warnings_in_history(case_no) == [("2", {"case": "2"})]
    bodies = [m["Body"] for m in world.queues.take_all(settings.CASE_EVENTS_QUEUE)]
    warning = [b for b in bodies if "case.warning_red" in b]
    assert len(warning) == 1
    for _ in range(2):  # at-least-once delivery: the same event twice
        world.queues.send(settings.CASE_EVENTS_QUEUE, warning[0])
    deliver(world)
    assert inbox(f"TOWNSHIP#{TOWNSHIP}") == [(case_no, "case.warning_red")]
    assert inbox(f"SUPERVISOR#{TOWNSHIP}") == [(case_no, "case.warning_red")]


# --- idempotency: twice at the same instant, racing sweeps, a clerk in between ------------------

class Interleaved:
    """The case repository, except that the first ``get_case`` runs ``race`` first: another
    writer commits between the sweep's read of the case and its write (in-process moto is not
    thread-safe, so the race is serialised at the point where it matters)."""

    def __init__(self, race, stale_index=None):
        self.inner, self.race, self.stale_index = container.cases(), race, stale_index

    def get_case(self, case_no):
        found = self.inner.get_case(case_no)
        if self.race:
            race, self.race = self.race, None
            race()
        return found

    def due_for_check(self, shard, day_iso, limit=100, cursor=None):
        if self.stale_index is not None:  # an index that has not caught up with the last write
            return ([n for n in self.stale_index if deadline_shard(n) == shard], None)
        return self.inner.due_for_check(shard, day_iso, limit, cursor)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_the_sweep_run_twice_at_the_same_instant_notifies_once(world):
    case_no = accepted_case(world)
    yellow, _ = dates(case_no)
    moment = on(yellow, 0, 5)
    first, second = sweep(moment), sweep(moment)
    assert (first["examined"], first["yellow"]) == (1, 1)
    assert (second["examined"], second["yellow"]) == (0, 0)
    # even through an index that still lists the case (GSIs are eventually consistent)
    lagging = sweep(moment, Interleaved(None, stale_index=[case_no]))
    assert (lagging["examined"], lagging["yellow"], lagging["unchanged"]) == (1, 0, 1)
    deliver(world)
    assert warnings_in_history(case_no) == [("1", {"case": "1"})]
    assert inbox("staff_clerk.wang") == [(case_no, "case.warning_yellow")]


def test_two_overlapping_sweeps_notify_once(world):
    case_no = accepted_case(world)
    yellow, _ = dates(case_no)
    moment = on(yellow)
    reports = {}
    # sweep A reads the case, then sweep B runs whole and commits before A writes
    racing = Interleaved(lambda: reports.setdefault("B", sweep(moment)))
    reports["A"] = sweep(moment, racing)
    assert (reports["B"]["yellow"], reports["A"]["yellow"]) == (1, 0)
    assert reports["A"]["unchanged"] == 1  # A lost the version condition, read again, found nothing left
    deliver(world)
    assert warnings_in_history(case_no) == [("1", {"case": "1"})]
    assert inbox("staff_clerk.wang") == [(case_no, "case.warning_yellow")]


def test_a_clerk_acting_during_the_sweep_neither_loses_nor_doubles_the_warning(world):
    case_no = accepted_case(world)
    yellow, due = dates(case_no)
    moment = on(yellow, 9)
    # clerk.wang hands the case over to clerk.li between the sweep's read and its write
    racing = Interleaved(lambda: world.act("handover", case_no, {"to": "clerk.li", "reason": "轮岗"}, moment))
    assert sweep(moment, racing)["yellow"] == 1
    # and clerk.li hands it back later that day, after the warning was announced: nothing to announce again
    world.act("handover", case_no, {"to": "clerk.wang", "reason": "轮岗结束"}, on(yellow, 15), principal=world.clerk_li)
    assert case(case_no)["next_check"] == (due + dt.timedelta(days=1)).isoformat()
    assert sweep(on(yellow, 16))["examined"] == 0
    deliver(world)
    assert warnings_in_history(case_no) == [("1", {"case": "1"})]
    # the warning went to whoever was responsible when it was announced
    assert inbox("staff_clerk.li") == [(case_no, "case.warning_yellow")]
    assert inbox("staff_clerk.wang") == []


def test_a_rise_a_staff_action_saw_first_is_still_announced_by_the_sweep(world):
    case_no = accepted_case(world)
    yellow, _ = dates(case_no)
    # a clerk acts on the yellow date before any sweep: the level is not announced by the action
    world.act("handover", case_no, {"to": "clerk.li", "reason": "轮岗"}, on(yellow, 0, 1))
    stored = case(case_no)
    assert int(stored.get("warning_level") or 0) == 0 and stored["next_check"] == yellow.isoformat()
    assert sweep(on(yellow, 0, 30))["yellow"] == 1
    assert warnings_in_history(case_no) == [("1", {"case": "1"})]


def test_a_check_with_nothing_to_announce_only_moves_the_next_check(world):
    """``apply`` with no history entry and no event: the case moves on in the index, version + 1."""
    case_no = accepted_case(world)
    yellow, _ = dates(case_no)
    early = T0.date() + dt.timedelta(days=1)
    boto3.client("dynamodb", region_name="us-east-1").update_item(  # a next check earlier than needed
        TableName=settings.CASES_TABLE, Key={"pk": {"S": f"CASE#{case_no}"}, "sk": {"S": "CASE"}},
        UpdateExpression="SET next_check = :d", ExpressionAttributeValues={":d": {"S": early.isoformat()}})
    before = case(case_no)
    report = sweep(on(early))
    assert (report["examined"], report["moved"], report["yellow"]) == (1, 1, 0)
    after = case(case_no)
    assert after["next_check"] == yellow.isoformat() and after["version"] == before["version"] + 1
    assert after["history_count"] == before["history_count"] and warnings_in_history(case_no) == []
    assert sweep(on(early, 12))["examined"] == 0


# --- which cases the sweep sees -----------------------------------------------------------------

def test_a_case_concluded_before_its_yellow_date_is_never_swept(world):
    case_no = accepted_case(world)
    yellow, due = dates(case_no)
    world.act("conclude", case_no, {"result": "approved", "opinion": "同意"}, T0 + dt.timedelta(days=1))
    stored = case(case_no)
    assert "next_check" not in stored and "deadline_shard" not in stored  # it left the index
    for day in (yellow, due + dt.timedelta(days=1)):
        assert sweep(on(day))["examined"] == 0
    assert warnings_in_history(case_no) == []


def test_a_paused_case_is_not_warned_while_paused_and_is_picked_up_after_it_resumes(world):
    case_no = accepted_case(world)
    yellow, due = dates(case_no)
    # a special procedure (art. 45: the clock pauses) from the day after acceptance
    world.act("start_special_procedure", case_no, {"kind": "investigation", "name": "入户调查", "reason": "核实"},
              T0 + dt.timedelta(days=1))
    stored = case(case_no)
    assert stored.get("clock_paused") and "next_check" not in stored
    for day in (yellow, due + dt.timedelta(days=1)):  # while paused: never due, never warned
        assert sweep(on(day))["examined"] == 0
    # WHEN it ends two days after the original due date, the clock resumes with a later yellow date
    world.act("end_special_procedure", case_no, {"result": "核实无误"}, on(due + dt.timedelta(days=2), 10))
    new_yellow, new_due = dates(case_no)
    assert new_yellow > due + dt.timedelta(days=2) and case(case_no)["next_check"] == new_yellow.isoformat()
    assert sweep(on(new_yellow - dt.timedelta(days=1)))["examined"] == 0
    # THEN the sweep picks it up on its new yellow date
    assert sweep(on(new_yellow))["yellow"] == 1
    assert warnings_in_history(case_no) == [("1", {"case": "1"})]


def test_a_joint_step_past_its_limit_reaches_its_department_and_red_the_supervisors(world):
    # GIVEN a joint-approval case: three county departments, ZJJ approves at once, two stay pending
    case_no = accepted_case(world, JOINT)
    world.act("decide_joint_step", case_no, {"decision": "approve", "opinion": "同意"}, T0 + dt.timedelta(hours=1),
              principal=world.zjj)
    stored = case(case_no)
    assert {k: v["state"] for k, v in stored["approvals"].items()} == {
        "NYNCJ": "pending", "ZRZYJ": "pending", "ZJJ": "approved"}
    _, due = dates(case_no)
    # WHEN the sweep runs the day after the step limits (5 working days, the item's promise too)
    red = sweep(on(due + dt.timedelta(days=1)))
    assert red["red"] == 1
    assert warnings_in_history(case_no)[-1] == ("2", {"case": "2", "joint:NYNCJ": "2", "joint:ZRZYJ": "2"})
    deliver(world)
    # THEN each late department hears of it, the one that decided does not, and red reaches the supervisors
    assert (case_no, "case.warning_red") in inbox("DEPARTMENT#NYNCJ")
    assert (case_no, "case.warning_red") in inbox("DEPARTMENT#ZRZYJ")
    assert inbox("DEPARTMENT#ZJJ") == []
    assert (case_no, "case.warning_red") in inbox(f"SUPERVISOR#{TOWNSHIP}")
    assert (case_no, "case.warning_red") in inbox("staff_clerk.wang")
    text = container.cases().messages("DEPARTMENT#NYNCJ", 1, None)[0][0]["text"]
    assert "并联审批环节（县农业农村局）红灯" in text


# --- cost: in proportion to the cases due, never to all cases ------------------------------------

def count_calls(monkeypatch):
    calls: Counter = Counter()
    original = botocore.client.BaseClient._make_api_call

    def counted(self, operation_name, api_params):
        calls[operation_name] += 1
        return original(self, operation_name, api_params)
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)
    return calls


def add_open_cases(template_no, count, start):
    """``count`` copies of a stored case item under new numbers, open and in the index at future
    dates (a year on), in every shard: cases the sweep must not touch."""
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    item = ddb.get_item(TableName=settings.CASES_TABLE,
                        Key={"pk": {"S": f"CASE#{template_no}"}, "sk": {"S": "CASE"}})["Item"]
    for i in range(start, start + count):
        number = f"{template_no[:-4]}{i:04d}"
        future = (T0.date() + dt.timedelta(days=365 + i % 30)).isoformat()
        ddb.put_item(TableName=settings.CASES_TABLE, Item={
            **item, "pk": {"S": f"CASE#{number}"}, "case_no": {"S": number}, "next_check": {"S": future},
            "deadline_shard": {"S": deadline_shard(number)}})


def test_the_sweeps_aws_calls_do_not_depend_on_the_cases_not_due(world, monkeypatch):
    case_no = accepted_case(world)
    yellow, due = dates(case_no)
    add_open_cases(case_no, 10, 0)
    calls = count_calls(monkeypatch)
    assert sweep(on(yellow))["yellow"] == 1
    with_10 = Counter(calls)
    add_open_cases(case_no, 190, 10)  # 200 cases not due
    calls.clear()
    assert sweep(on(due + dt.timedelta(days=1)))["red"] == 1
    with_200 = Counter(calls)
    assert with_10 == with_200 == Counter({"Query": settings.DEADLINE_SHARDS, "GetItem": 1, "TransactWriteItems": 1,
                                           "SendMessage": 1, "UpdateItem": 1})
    calls.clear()
    assert sweep(on(due + dt.timedelta(days=1), 12))["examined"] == 0
    assert calls == Counter({"Query": settings.DEADLINE_SHARDS})  # nothing due: the queries only


def test_the_schedule_runs_the_sweep(world):
    case_no = accepted_case(world)
    # the deployed handler sweeps today; a case accepted in 2026-03 is long red by now (or later)
    report = world.client.lambda_.invoke("sweep_deadlines", {
        "version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-30T00:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/sweep_deadlines"], "detail": {}}).payload
    assert report["shards"] == settings.DEADLINE_SHARDS and report["red"] == 1
    assert warnings_in_history(case_no) == [("2", {"case": "2"})]


# --- GET /v1/me/alerts --------------------------------------------------------------------------

def alerts(world, who):
    response = world.client.http.get("/v1/me/alerts", headers=world.headers[who])
    assert response.status_code == 200, response.body
    return [(a["inbox"], a["case_no"], a["event_type"]) for a in response.json_body["alerts"]]


def test_staff_read_the_alerts_their_roles_give_them(world):
    # GIVEN a case nobody took up (the township's) and a joint case clerk.wang accepted
    unattended = world.file(DEVOLVED)
    joint = accepted_case(world, JOINT)
    world.act("decide_joint_step", joint, {"decision": "approve", "opinion": "同意"}, T0 + dt.timedelta(hours=1),
              principal=world.zjj)
    late = max(dates(unattended)[1], dates(joint)[1]) + dt.timedelta(days=1)
    assert sweep(on(late))["red"] == 2
    deliver(world)
    red = "case.warning_red"
    # THEN a clerk sees the township's alerts and their own cases'
    assert sorted(alerts(world, "clerk")) == sorted([(f"TOWNSHIP#{TOWNSHIP}", unattended, red),
                                                     ("staff_clerk.wang", joint, red)])
    # a supervisor the escalations of their township
    assert sorted(alerts(world, "supervisor")) == sorted([(f"SUPERVISOR#{TOWNSHIP}", unattended, red),
                                                          (f"SUPERVISOR#{TOWNSHIP}", joint, red)])
    # an approver their department's late steps
    assert alerts(world, "NYNCJ") == [("DEPARTMENT#NYNCJ", joint, red)]
    assert alerts(world, "ZJJ") == [] and alerts(world, "MZJ") == []
    # and nobody another township's
    assert alerts(world, "clerk_other") == [] and alerts(world, "supervisor_other") == []
    # each answer is audited, masked text included
    body = world.client.http.get("/v1/me/alerts?limit=1", headers=world.headers["clerk"]).json_body
    assert len(body["alerts"]) == 1 and body["alerts"][0]["warning_level"] == "2"
    assert world.client.http.get("/v1/me/alerts?limit=0", headers=world.headers["clerk"]).status_code == 400
    assert world.client.http.get("/v1/me/alerts", headers=world.headers["villager"]).status_code == 403
