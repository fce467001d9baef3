"""Lifecycle scenarios through the HTTP API (chalice test client on moto): one per case class,
plus windows and A/B posts, first-inquiry responsibility, idempotency and withdrawal.

Each test asserts what a person would see: the case's status and label, its classes, the
history steps (GB/T 39046 step fields), the one-time notice document, the outcome, the events
on ``bianmin-case-events`` and the applicant's messages once those events were consumed.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest

from chalicelib import settings
from tests.conftest import VILLAGE, valid_submission

TOWNSHIP = "431224100"
_keys = itertools.count(1)


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch):
    """Staff accounts are made and logged in through the real endpoints; argon2id with its
    production cost takes half a second a hash, so these tests use the cheapest parameters."""
    from argon2 import PasswordHasher
    monkeypatch.setattr("chalicelib.adapters.passwords.PasswordHasher",
                        lambda: PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


# --- helpers -----------------------------------------------------------------------------------

def new_key():
    return f"scenario-{next(_keys):08d}"


def act(client, headers, path, body=None, *, key=None, if_match=None):
    """A lifecycle POST with a fresh (or the given) Idempotency-Key."""
    extra = {"Idempotency-Key": key or new_key()}
    if if_match is not None:
        extra["If-Match"] = str(if_match)
    return client.http.post(path, headers={**headers, **extra}, body=json.dumps(body or {}, ensure_ascii=False))


def ok(response, status=None):
    assert response.status_code == 200, response.body
    if status is not None:
        assert response.json_body["status"] == status, response.body
    return response.json_body


def refused(response, http_status, code, **expected):
    assert response.status_code == http_status, response.body
    assert response.json_body["code"] == code, response.body
    for name, value in expected.items():
        assert response.json_body[name] == value, response.body
    return response.json_body


def staff(auth, username, roles, townships=None, department=None, name="测试人员"):
    """A staff account with its own display name (the handler name in the step record)."""
    return auth.staff(username, roles, townships, department, display_name=name)


def clerk(auth, username="clerk.wang", name="王窗口"):
    return staff(auth, username, ["window_clerk"], [TOWNSHIP], name=name)


def approver(auth, department, name=None):
    return staff(auth, f"{department.lower()}.approver", ["county_approver"], department=department,
                 name=name or f"{department}审批员")


def file_case(client, queues, headers, item_code="HH-MZ-001", **overrides):
    """File a case and let the intake consumer classify it; the case number."""
    response = client.http.post("/v1/cases", headers={**headers, "Idempotency-Key": new_key()},
                                body=json.dumps(valid_submission(item_code=item_code, **overrides), ensure_ascii=False))
    assert response.status_code == 201, response.body
    queues.deliver(settings.CASE_INTAKE_QUEUE, "on_case_intake")
    return response.json_body["case_no"]


def get_case(client, headers, case_no):
    response = client.http.get(f"/v1/cases/{case_no}", headers=headers)
    assert response.status_code == 200, response.body
    return response.json_body


def approvals(client, headers):
    response = client.http.get("/v1/workbench/approvals", headers=headers)
    assert response.status_code == 200, response.body
    return response.json_body["steps"]


def steps(case, seq_from=1):
    """``[(step_name, action)]`` of the history from ``seq_from``."""
    return [(h["step_name"], h["action"]) for h in case["history"] if h["seq"] >= seq_from]


def step(case, name):
    found = [h for h in case["history"] if h["step_name"] == name]
    assert len(found) == 1, [h["step_name"] for h in case["history"]]
    return found[0]


def assert_gbt_steps(case):
    """Every history entry carries the GB/T 39046 step fields, in order and consistent."""
    seqs = [h["seq"] for h in case["history"]]
    assert seqs == list(range(1, len(seqs) + 1))
    for h in case["history"]:
        assert h["handler"] and h["step_state"] == "2", h
        assert h["action"] in ("pass", "return", "other"), h
        assert h["step_start"] <= h["step_end"] == h["at"], h


def events_and_messages(client, queues, applicant):
    """The lifecycle events on the case-events queue (in order, intake's left out), then
    deliver them all to ``on_case_event`` and answer the applicant's messages (newest first)."""
    events = queues.bodies(settings.CASE_EVENTS_QUEUE)
    for event in events:
        queues.send(settings.CASE_EVENTS_QUEUE, event)
    responses = queues.deliver(settings.CASE_EVENTS_QUEUE, "on_case_event")
    assert all(not r.get("batchItemFailures") for r in responses), responses
    messages = client.http.get("/v1/me/messages", headers=applicant)
    assert messages.status_code == 200, messages.body
    intake = {"case.created", "case.classified"}  # every case has these two first (test_case_events.py)
    return [e for e in events if e["event_type"] not in intake], messages.json_body["messages"]


def department_queue_at(department, moment):
    """The department's queue as the approver would see it at ``moment`` (the HTTP path has
    no clock to move; the use case takes ``now=``)."""
    from chalicelib import container
    from chalicelib.domain.access import COUNTY_APPROVER, Origin, Principal
    from chalicelib.usecases import lifecycle
    principal = Principal(subject=f"staff_{department.lower()}.approver", roles=frozenset({COUNTY_APPROVER}),
                          department=department)
    return lifecycle.department_queue(principal, Origin(channel="staff"), {}, cases=container.cases(),
                                      audit_log=container.audit_log(), calendar=container.calendar(),
                                      now=lambda: moment)["steps"]


# --- 1. supplement (补办件) + promised + agency: 低保 with notice rounds, forwarded to 民政局 ----------

def test_minimum_living_allowance_two_notice_rounds_then_county_approval(client, queues, auth):
    me = auth.villager()
    wang = clerk(auth)
    county = approver(auth, "MZJ", "民政局李审批")
    no = file_case(client, queues, me)
    case = get_case(client, me, no)
    assert (case["status"], case["status_label"]) == ("submitted", "已提交")
    assert case["case_classes"] == ["promised"] and case["case_type"] == "2" and case["due_date"]

    # round 1: one notice lists materials from the item's list and free text
    r = act(client, wang, f"/v1/cases/{no}/notices",
            {"materials": [{"name": "居民户口簿", "problem": "missing"},
                           {"name": "家庭经济状况核对授权书", "problem": "defective", "detail": "缺少配偶签字"}],
             "other": ["请补充近6个月收入证明"]})
    case = ok(r, "supplement_required")
    assert case["status_label"] == "待补正（已一次性告知）"
    assert case["case_classes"] == ["promised", "supplement"]
    assert [n["round"] for n in case["notices"]] == [1] and case["notices"][0]["problem_count"] == 3
    version = case["version"]
    # a second notice in the same round is refused with the current state; nothing changes
    refused(act(client, wang, f"/v1/cases/{no}/notices", {"other": ["再补一个"]}), 409, "INVALID_TRANSITION",
            status="supplement_required", version=version)
    assert client.http.get(f"/v1/cases/{no}/notices/2", headers=me).status_code == 404

    # the applicant reads the notice
    notice = client.http.get(f"/v1/cases/{no}/notices/1", headers=me)
    assert notice.status_code == 200, notice.body
    doc = notice.json_body
    assert doc["title"] == "一次性告知书" and doc["round"] == 1 and doc["case_no"] == no
    assert [m["name"] for m in doc["materials"]] == ["居民户口簿", "家庭经济状况核对授权书"]
    assert doc["materials"][1] == {"name": "家庭经济状况核对授权书", "problem": "defective", "detail": "缺少配偶签字"}
    assert doc["other"] == ["请补充近6个月收入证明"]
    assert "行政许可法》第三十二条" in doc["legal_basis"] and doc["issued_by"] == "王窗口"
    for text in ("居民户口簿：缺少", "家庭经济状况核对授权书：不符合要求（缺少配偶签字）", "请补充近6个月收入证明"):
        assert text in doc["text"], doc["text"]

    # the supplement closes the round
    case = ok(act(client, me, f"/v1/cases/{no}/supplements", {"materials": ["居民户口簿"], "note": "已补齐"}),
              "submitted")
    assert case["notices"][0]["supplemented_at"]
    assert case["case_classes"] == ["promised", "supplement"]  # it stays a supplement case

    # a new round is allowed after the supplement; a material not in the item's list is not
    refused(act(client, wang, f"/v1/cases/{no}/notices", {"materials": [{"name": "结婚证", "problem": "missing"}]}),
            400, "VALIDATION_FAILED")
    case = ok(act(client, wang, f"/v1/cases/{no}/notices", {"other": ["收入证明需村委会盖章"]}), "supplement_required")
    assert [n["round"] for n in case["notices"]] == [1, 2]
    doc2 = client.http.get(f"/v1/cases/{no}/notices/2", headers=me).json_body
    assert doc2["round"] == 2 and doc2["other"] == ["收入证明需村委会盖章"] and doc2["materials"] == []
    assert client.http.get(f"/v1/cases/{no}/notices/1", headers=me).json_body == doc  # round 1 unchanged
    ok(act(client, me, f"/v1/cases/{no}/supplements", {"materials": ["盖章的收入证明"]}), "submitted")

    # accepted from the day the materials were complete
    case = ok(act(client, wang, f"/v1/cases/{no}/accept", {}), "accepted")
    assert case["status_label"] == "已受理" and case["acceptance_basis"] == "materials_complete"
    assert case["accepted_on"] and case["due_date"] > case["accepted_on"]
    # an entrusted item is decided by the county: the township cannot conclude it
    refused(act(client, wang, f"/v1/cases/{no}/conclusion", {"result": "approved"}), 409, "FORWARD_REQUIRED",
            status="accepted")
    case = ok(act(client, wang, f"/v1/cases/{no}/forward", {"materials": ["申请材料一套"]}), "forwarded")
    assert case["forwarded_to"] == {"code": "MZJ", "name": "县民政局"}
    assert case["status_label"] == "已报送县级部门"
    assert set(case["case_classes"]) == {"promised", "supplement", "agency"}

    case = ok(act(client, county, f"/v1/cases/{no}/conclusion", {"result": "approved", "opinion": "同意纳入低保"}),
              "concluded_approved")
    assert case["status_label"] == "已办结（准予）"
    # promised + supplement (a notice was issued) + agency (the township carried it to the county,
    # as the case_classes docstring says: 委托代办)
    assert case["case_classes"] == ["promised", "supplement", "agency"] and case["case_type"] == "2"
    assert case["case_class_labels"] == ["承诺件", "补办件", "代理件"]
    assert case["outcome"]["result"] == "approved" and case["outcome"]["level"] == "county"
    assert case["outcome"]["handler"] == "民政局李审批" and case["outcome"]["opinion"] == "同意纳入低保"

    case = get_case(client, me, no)
    assert_gbt_steps(case)
    assert steps(case) == [("申请", "pass"), ("分类与时限计算", "pass"), ("一次性告知", "return"), ("补正材料", "pass"),
                           ("一次性告知", "return"), ("补正材料", "pass"), ("受理", "pass"), ("报送县级部门", "pass"),
                           ("县级部门审批办结", "pass")]
    first_notice, first_supplement = case["history"][2], case["history"][3]
    assert first_notice["handler"] == "王窗口" and first_notice["role"] == "window_clerk"
    assert first_supplement["step_start"] == first_notice["step_end"]  # the round: notice to supplement
    assert case["history"][-1]["handler"] == "民政局李审批" and case["history"][-1]["role"] == "county_approver"

    events, messages = events_and_messages(client, queues, me)
    assert [e["event_type"] for e in events] == [
        "case.issue_notice", "case.supplement", "case.issue_notice", "case.supplement", "case.accept",
        "case.forward", "case.concluded_approved"]
    assert all(e["case_no"] == no for e in events)
    assert [e["seq"] for e in events] == list(range(3, 10))
    assert events[-1]["status"] == "concluded_approved"
    assert events[-1]["case_classes"] == ["promised", "supplement", "agency"]
    assert [m["event_type"] for m in messages] == [e["event_type"] for e in reversed(events)]
    assert "已办结（准予）" in messages[0]["text"] and case["due_date"] in messages[2]["text"]
    assert "一次性告知书" in messages[-1]["text"]


def test_a_late_intake_classification_keeps_the_supplement_class(client, queues, auth):
    """The intake consumer may run after a whole notice round (the case is back in
    "submitted"): the case stays a supplement case (regression: it went back to promised)."""
    me = auth.villager()
    wang = clerk(auth)
    response = client.http.post("/v1/cases", headers={**me, "Idempotency-Key": new_key()},
                                body=json.dumps(valid_submission(), ensure_ascii=False))
    no = response.json_body["case_no"]
    ok(act(client, wang, f"/v1/cases/{no}/notices", {"other": ["请补充收入证明"]}), "supplement_required")
    ok(act(client, me, f"/v1/cases/{no}/supplements", {}), "submitted")
    queues.deliver(settings.CASE_INTAKE_QUEUE, "on_case_intake")
    case = get_case(client, me, no)
    assert [h["step_name"] for h in case["history"]] == ["申请", "一次性告知", "补正材料", "分类与时限计算"]
    assert case["case_classes"] == ["promised", "supplement"] and case["case_type"] == "2" and case["due_date"]
    [row] = client.http.get("/v1/workbench/queue?case_class=supplement", headers=wang).json_body["cases"]
    assert row["case_no"] == no


# --- 2. immediate (即办件): 高龄津贴 concluded at the window the day it was accepted --------------

def test_elderly_allowance_concluded_on_the_spot_is_an_immediate_case(client, queues, auth):
    me = auth.villager()
    wang = clerk(auth)
    no = file_case(client, queues, me, "HH-MZ-006")
    case = get_case(client, me, no)
    assert case["case_classes"] == ["promised"] and case["case_type"] == "2"  # 10 working days promised

    case = ok(act(client, wang, f"/v1/cases/{no}/accept", {"opinion": "材料齐全，当场受理"}), "accepted")
    assert case["due_date"]
    case = ok(act(client, wang, f"/v1/cases/{no}/conclusion", {"result": "approved", "opinion": "符合条件，当场办结"}),
              "concluded_approved")
    assert case["case_classes"] == ["immediate"] and case["case_type"] == "1"
    assert case["case_class_labels"] == ["即办件"]
    assert case["outcome"]["level"] == "township" and case["outcome"]["handler"] == "王窗口"
    assert case["responsible_name"] == "王窗口"

    case = get_case(client, me, no)
    assert_gbt_steps(case)
    assert steps(case, 3) == [("受理", "pass"), ("办结", "pass")]
    assert step(case, "办结")["opinion"] == "符合条件，当场办结"

    events, messages = events_and_messages(client, queues, me)
    assert [e["event_type"] for e in events] == ["case.accept", "case.concluded_approved"]
    assert events[-1]["case_classes"] == ["immediate"]
    assert [m["event_type"] for m in messages] == ["case.concluded_approved", "case.accept"]
    assert "高龄津贴申领" in messages[0]["text"]


# --- 3. agency via the county (代理件): 宅基地 forwarded to 农业农村局 and concluded there ------------

def test_homestead_forwarded_to_the_county_and_concluded_there(client, queues, auth):
    me = auth.villager()
    wang = clerk(auth)
    nyncj = approver(auth, "NYNCJ", "农业农村局审批员")
    zrzyj = approver(auth, "ZRZYJ")
    no = file_case(client, queues, me, "HH-NY-001")
    ok(act(client, wang, f"/v1/cases/{no}/accept", {}), "accepted")
    refused(act(client, wang, f"/v1/cases/{no}/conclusion", {"result": "approved"}), 409, "FORWARD_REQUIRED",
            status="accepted")
    assert approvals(client, nyncj) == []
    assert client.http.get(f"/v1/cases/{no}", headers=nyncj).status_code == 404  # not forwarded yet

    case = ok(act(client, wang, f"/v1/cases/{no}/forward", {"opinion": "村组公示无异议，报县审批",
                                                             "materials": ["申请表", "村级审查意见"]}), "forwarded")
    assert case["forwarded_to"] == {"code": "NYNCJ", "name": "县农业农村局"}
    [leg] = case["legs"]
    assert leg["kind"] == "township_to_county" and leg["sent_at"] and not leg.get("received_at")
    assert leg["materials"] == ["申请表", "村级审查意见"] and leg["receipt_no"] == f"{no}-L1"

    # the approver's department queue lists it; another department neither lists nor sees it
    [waiting] = approvals(client, nyncj)
    assert waiting["case_no"] == no and waiting["kind"] == "forward" and waiting["department"] == "NYNCJ"
    assert waiting["working_days"] == 0 and waiting["late"] is False
    assert approvals(client, zrzyj) == []
    assert client.http.get(f"/v1/cases/{no}", headers=zrzyj).status_code == 404
    assert act(client, zrzyj, f"/v1/cases/{no}/conclusion", {"result": "approved"}).status_code == 404
    # with the county, the township cannot decide it either
    refused(act(client, wang, f"/v1/cases/{no}/conclusion", {"result": "approved"}), 409, "WITH_COUNTY",
            status="forwarded")

    # the department signs for the paper file, then decides
    case = ok(act(client, nyncj, f"/v1/cases/{no}/legs/1/receipt", {}), "forwarded")
    assert case["legs"][0]["received_at"] >= case["legs"][0]["sent_at"]
    case = ok(act(client, nyncj, f"/v1/cases/{no}/conclusion",
                  {"result": "approved", "opinion": "符合一户一宅", "licence_name": "农村宅基地批准书",
                   "licence_no": "溆宅〔2026〕001号"}), "concluded_approved")
    assert case["outcome"]["licence_no"] == "溆宅〔2026〕001号" and case["outcome"]["level"] == "county"
    assert case["case_classes"] == ["promised", "agency"] and case["case_type"] == "2"
    assert approvals(client, nyncj) == []  # decided: it left the department's queue

    # both legs, each with its own times; the township signs for the decision coming back
    to_county, back = case["legs"]
    assert back["kind"] == "county_to_township" and back["sent_at"] and not back.get("received_at")
    assert back["receipt_no"] == f"{no}-L2" and back["sent_at"] >= to_county["received_at"]
    refused(act(client, nyncj, f"/v1/cases/{no}/legs/2/receipt", {}), 403, "ACTION_NOT_ALLOWED")
    case = ok(act(client, wang, f"/v1/cases/{no}/legs/2/receipt", {}), "concluded_approved")
    assert case["legs"][1]["received_at"] >= case["legs"][1]["sent_at"]
    refused(act(client, wang, f"/v1/cases/{no}/legs/2/receipt", {}), 409, "LEG_ALREADY_RECEIVED")

    case = get_case(client, me, no)
    assert_gbt_steps(case)
    assert steps(case, 3) == [("受理", "pass"), ("报送县级部门", "pass"), ("交接签收：乡镇→县级部门", "pass"),
                              ("县级部门审批办结", "pass"), ("交接签收：县级部门→乡镇", "pass")]
    assert step(case, "交接签收：乡镇→县级部门")["step_start"] == to_county["sent_at"]

    events, messages = events_and_messages(client, queues, me)
    assert [e["event_type"] for e in events] == ["case.accept", "case.forward", "case.confirm_leg",
                                                 "case.concluded_approved", "case.confirm_leg"]
    assert [m["event_type"] for m in messages] == ["case.concluded_approved", "case.forward", "case.accept"]
    assert "报送县级部门" in messages[1]["text"]


# --- 4. joint (联办件): three departments in parallel ---------------------------------------------

def test_joint_item_concludes_only_after_the_last_department_and_the_late_one_shows(client, queues, auth):
    me = auth.villager()
    wang = clerk(auth)
    departments = {code: approver(auth, code) for code in ("NYNCJ", "ZRZYJ", "ZJJ")}
    mzj = approver(auth, "MZJ")
    no = file_case(client, queues, me, "HH-ZJ-002")
    case = ok(act(client, wang, f"/v1/cases/{no}/accept", {}), "joint_approval")
    assert case["status_label"] == "并联审批中"
    assert case["case_classes"] == ["promised", "joint"] and case["due_date"]
    assert {code: a["state"] for code, a in case["approvals"].items()} == dict.fromkeys(departments, "pending")
    accepted_at = case["accepted_at"]
    for code, headers in departments.items():
        [waiting] = approvals(client, headers)
        assert (waiting["case_no"], waiting["kind"], waiting["late"]) == (no, "joint", False)
    assert approvals(client, mzj) == [] and client.http.get(f"/v1/cases/{no}", headers=mzj).status_code == 404

    for code in ("NYNCJ", "ZRZYJ"):
        case = ok(act(client, departments[code], f"/v1/cases/{no}/approvals",
                      {"decision": "approve", "opinion": "同意"}), "joint_approval")  # not before the last one
        assert approvals(client, departments[code]) == []
    assert {code: a["state"] for code, a in case["approvals"].items()} == {
        "NYNCJ": "approved", "ZRZYJ": "approved", "ZJJ": "pending"}
    refused(act(client, departments["NYNCJ"], f"/v1/cases/{no}/approvals", {"decision": "approve", "opinion": "再次同意"}),
            409, "STEP_ALREADY_DECIDED", status="joint_approval")
    assert act(client, mzj, f"/v1/cases/{no}/approvals", {"decision": "approve", "opinion": "同意"}).status_code == 404

    # the late department: waiting more than JOINT_STEP_WORKING_DAYS working days is marked late
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=21)
    [waiting] = department_queue_at("ZJJ", later)
    assert waiting["case_no"] == no and waiting["late"] is True
    assert waiting["working_days"] > settings.JOINT_STEP_WORKING_DAYS
    assert department_queue_at("NYNCJ", later) == []  # decided departments are not late
    [now_waiting] = department_queue_at("ZJJ", dt.datetime.now(dt.timezone.utc))
    assert now_waiting["late"] is False

    case = ok(act(client, departments["ZJJ"], f"/v1/cases/{no}/approvals",
                  {"decision": "approve", "opinion": "同意，按批准位置放线"}), "concluded_approved")
    assert case["outcome"]["result"] == "approved" and case["outcome"]["level"] == "county"
    assert case["outcome"]["opinion"] == "县农业农村局、县自然资源局、县住房和城乡建设局均审批同意"
    assert case["case_classes"] == ["promised", "joint"]
    assert all(a["state"] == "approved" and a["ended_at"] for a in case["approvals"].values())
    assert all(approvals(client, h) == [] for h in departments.values())

    case = get_case(client, me, no)
    assert_gbt_steps(case)
    assert steps(case, 3) == [("受理", "pass"), ("并联审批启动", "pass"), ("并联审批：县农业农村局", "pass"),
                              ("并联审批：县自然资源局", "pass"), ("并联审批：县住房和城乡建设局", "pass"),
                              ("并联审批办结", "pass")]
    assert step(case, "并联审批：县住房和城乡建设局")["step_start"] == accepted_at  # the step ran from acceptance
    assert step(case, "并联审批：县住房和城乡建设局")["handler"] == "ZJJ审批员"

    events, messages = events_and_messages(client, queues, me)
    assert [e["event_type"] for e in events] == ["case.accept", "case.joint_step_decided", "case.joint_step_decided",
                                                 "case.concluded_approved"]
    assert [m["event_type"] for m in messages] == ["case.concluded_approved", "case.accept"]


def test_joint_item_rejected_by_one_department_is_returned_and_cancels_the_rest(client, queues, auth):
    me = auth.villager()
    wang = clerk(auth)
    departments = {code: approver(auth, code) for code in ("NYNCJ", "ZRZYJ", "ZJJ")}
    no = file_case(client, queues, me, "HH-ZJ-002")
    ok(act(client, wang, f"/v1/cases/{no}/accept", {}), "joint_approval")
    ok(act(client, departments["NYNCJ"], f"/v1/cases/{no}/approvals", {"decision": "approve", "opinion": "同意"}),
       "joint_approval")
    # a rejection needs its reasons and legal basis
    refused(act(client, departments["ZRZYJ"], f"/v1/cases/{no}/approvals", {"decision": "reject", "opinion": "不同意"}),
            400, "VALIDATION_FAILED")
    case = ok(act(client, departments["ZRZYJ"], f"/v1/cases/{no}/approvals",
                  {"decision": "reject", "opinion": "不同意", "reasons": "选址占用永久基本农田",
                   "legal_basis": "《中华人民共和国土地管理法》第三十五条"}), "concluded_rejected")
    assert case["status_label"] == "已办结（不予，退回）"
    assert case["case_classes"] == ["promised", "joint", "returned"]
    outcome = case["outcome"]
    assert outcome["result"] == "rejected" and outcome["department"] == "ZRZYJ"
    assert outcome["reasons"] == "县自然资源局：选址占用永久基本农田"
    assert outcome["legal_basis"] == "《中华人民共和国土地管理法》第三十五条" and outcome["review_rights"]
    assert {code: a["state"] for code, a in case["approvals"].items()} == {
        "NYNCJ": "approved", "ZRZYJ": "rejected", "ZJJ": "cancelled"}
    assert case["approvals"]["ZJJ"]["ended_at"] == outcome["concluded_at"]
    assert all(approvals(client, h) == [] for h in departments.values())  # nothing left waiting
    refused(act(client, departments["ZJJ"], f"/v1/cases/{no}/approvals", {"decision": "approve", "opinion": "同意"}),
            409, "INVALID_TRANSITION", status="concluded_rejected")

    case = get_case(client, me, no)
    assert_gbt_steps(case)
    assert steps(case, 6) == [("并联审批：县自然资源局", "return"), ("并联审批办结", "return")]
    assert step(case, "并联审批办结")["reason"] == "《中华人民共和国土地管理法》第三十五条"

    events, messages = events_and_messages(client, queues, me)
    assert [e["event_type"] for e in events] == ["case.accept", "case.joint_step_decided", "case.concluded_rejected"]
    assert events[-1]["case_classes"] == ["promised", "joint", "returned"]
    assert messages[0]["event_type"] == "case.concluded_rejected" and "理由和依据" in messages[0]["text"]


# --- 5. returned (退回件): refused at intake -------------------------------------------------------

def test_refused_application_is_returned_with_reasons_legal_basis_and_review_rights(client, queues, auth):
    me = auth.villager()
    wang = clerk(auth)
    no = file_case(client, queues, me)
    refused(act(client, wang, f"/v1/cases/{no}/refusal", {"reasons": "户籍不在本乡镇"}), 400, "VALIDATION_FAILED")
    case = ok(act(client, wang, f"/v1/cases/{no}/refusal",
                  {"reasons": "申请人户籍不在本乡镇，不属于本机关受理范围",
                   "legal_basis": "《社会救助暂行办法》第十一条"}), "refused")
    assert case["status_label"] == "不予受理"
    assert case["case_classes"] == ["promised", "returned"] and case["case_class_labels"] == ["承诺件", "退回件"]
    outcome = case["outcome"]
    assert outcome["result"] == "refused"
    assert outcome["reasons"] == "申请人户籍不在本乡镇，不属于本机关受理范围"
    assert outcome["legal_basis"] == "《社会救助暂行办法》第十一条"
    assert "行政复议" in outcome["review_rights"] and "行政诉讼" in outcome["review_rights"]
    assert case["concluded_at"] and case["due_date"]
    refused(act(client, wang, f"/v1/cases/{no}/accept", {}), 409, "INVALID_TRANSITION", status="refused",
            status_label="不予受理")

    case = get_case(client, me, no)
    assert_gbt_steps(case)
    refusal = step(case, "不予受理")
    assert (refusal["action"], refusal["opinion"], refusal["reason"]) == (
        "return", "申请人户籍不在本乡镇，不属于本机关受理范围", "《社会救助暂行办法》第十一条")

    events, messages = events_and_messages(client, queues, me)
    assert [e["event_type"] for e in events] == ["case.refuse"]
    assert events[0]["status"] == "refused" and events[0]["case_classes"] == ["promised", "returned"]
    assert [m["event_type"] for m in messages] == ["case.refuse"] and "不予受理" in messages[0]["text"]


# --- 6. agency (代理件): filed by the village agent, with both village legs ----------------------

def test_agent_filed_case_with_both_village_handover_legs(client, queues, auth):
    villager = auth.villager(verified=True)  # messages about a case somebody else filed need a verified binding
    agent = auth.agent()
    auth.consent(villager, agent)
    wang = clerk(auth)
    agent_subject = auth.subject(agent)
    no = file_case(client, queues, agent, "HH-MZ-006", village_code=VILLAGE)
    case = get_case(client, agent, no)
    assert case["case_classes"] == ["promised", "agency"] and case["agent"]

    case = ok(act(client, wang, f"/v1/cases/{no}/legs", {"kind": "village_to_township",
                                                          "materials": ["高龄津贴申请表", "居民户口簿"],
                                                          "note": "代办员送来纸质材料"}), "submitted")
    [leg] = case["legs"]
    assert leg["kind"] == "village_to_township" and leg["receipt_no"] == f"{no}-L1"
    assert leg["sent_by"] == agent_subject and leg["received_at"] == leg["sent_at"]
    assert leg["materials"] == ["高龄津贴申请表", "居民户口簿"]
    # the result goes back only once there is one
    refused(act(client, wang, f"/v1/cases/{no}/legs", {"kind": "township_to_village"}), 409, "NOT_CONCLUDED")

    ok(act(client, wang, f"/v1/cases/{no}/accept", {}), "accepted")
    case = ok(act(client, wang, f"/v1/cases/{no}/conclusion", {"result": "approved"}), "concluded_approved")
    assert case["case_classes"] == ["immediate", "agency"] and case["case_type"] == "1"

    case = ok(act(client, wang, f"/v1/cases/{no}/legs", {"kind": "township_to_village", "materials": ["审批结果通知书"]}),
              "concluded_approved")
    outbound, back = case["legs"]
    assert back["kind"] == "township_to_village" and back["receipt_no"] == f"{no}-L2"
    assert back["sent_at"] > outbound["received_at"] and not back.get("received_at")
    refused(act(client, wang, f"/v1/cases/{no}/legs/2/receipt", {}), 403, "ACTION_NOT_ALLOWED")  # not the receiver
    case = ok(act(client, agent, f"/v1/cases/{no}/legs/2/receipt", {}), "concluded_approved")
    back = case["legs"][1]
    assert back["received_by"] == agent_subject and back["received_at"] >= back["sent_at"]
    assert case["legs"][0] == outbound  # each leg keeps its own times
    refused(act(client, agent, f"/v1/cases/{no}/legs/2/receipt", {}), 409, "LEG_ALREADY_RECEIVED")
    assert case["case_classes"] == ["immediate", "agency"]

    case = get_case(client, villager, no)
    assert_gbt_steps(case)
    assert steps(case, 3) == [("材料交接：村代办员→乡镇窗口", "pass"), ("受理", "pass"), ("办结", "pass"),
                              ("材料交接：乡镇窗口→村代办员", "pass"), ("交接签收：乡镇窗口→村代办员", "pass")]
    receipt = case["history"][-1]
    assert receipt["role"] == "village_agent" and receipt["step_start"] == back["sent_at"]

    events, messages = events_and_messages(client, queues, villager)
    assert [e["event_type"] for e in events] == ["case.record_leg", "case.accept", "case.concluded_approved",
                                                 "case.record_leg", "case.confirm_leg"]
    assert all(e["filed_by"] == agent_subject for e in events)
    assert [m["event_type"] for m in messages] == ["case.concluded_approved", "case.accept"]


# --- 7. windows and A/B posts ------------------------------------------------------------------

def test_window_queue_with_a_and_b_posts_pagination_and_class_filter(client, queues, auth):
    me = auth.villager()
    a_post = clerk(auth, "clerk.wang", "王窗口")
    b_post = clerk(auth, "clerk.zhao", "赵窗口")
    r = client.http.put(f"/v1/admin/townships/{TOWNSHIP}/windows/2", headers=auth.admin(),
                        body=json.dumps({"name": "民政窗口", "a_post": "clerk.wang", "b_post": "clerk.zhao",
                                         "categories": ["social_assistance"]}, ensure_ascii=False))
    assert r.status_code == 200, r.body
    assert r.json_body["on_duty"] == "staff_clerk.wang" and r.json_body["a_absent"] is False

    first = file_case(client, queues, me)
    second = file_case(client, queues, me)
    elderly = file_case(client, queues, me, "HH-MZ-006")  # another category: no window serves it

    def queue(headers, query=""):
        return client.http.get(f"/v1/workbench/queue{query}", headers=headers)

    page = queue(a_post, "?status=submitted")
    assert page.status_code == 200, page.body
    assert page.json_body["window"] == "2" and page.json_body["windows"] == ["2", "-"]
    assert [c["case_no"] for c in page.json_body["cases"]] == [first, second]  # oldest first
    assert [c["case_no"] for c in queue(a_post, "?window=-").json_body["cases"]] == [elderly]
    refused(queue(b_post, "?window=2"), 403, "WINDOW_NOT_YOURS")
    assert queue(b_post).json_body["window"] == "-"  # B works window 2 only while A is away

    away = client.http.put(f"/v1/townships/{TOWNSHIP}/windows/2/absence", headers=a_post,
                           body=json.dumps({"a_absent": True}))
    assert away.status_code == 200 and away.json_body["on_duty"] == "staff_clerk.zhao", away.body
    page = queue(b_post, "?window=2&status=submitted").json_body
    assert [c["case_no"] for c in page["cases"]] == [first, second]
    refused(queue(a_post, "?window=2"), 403, "WINDOW_NOT_YOURS")

    # pagination
    one = queue(b_post, "?window=2&limit=1").json_body
    assert [c["case_no"] for c in one["cases"]] == [first] and one["next_cursor"]
    two = queue(b_post, f"?window=2&limit=1&cursor={one['next_cursor']}").json_body
    assert [c["case_no"] for c in two["cases"]] == [second]
    if two["next_cursor"]:
        assert queue(b_post, f"?window=2&limit=1&cursor={two['next_cursor']}").json_body["cases"] == []
    refused(queue(b_post, "?window=2&cursor=bm90LW91cnM="), 400, "VALIDATION_FAILED")

    # the class filter, and the status filter follows the case's state
    ok(act(client, b_post, f"/v1/cases/{second}/notices", {"other": ["请补充收入证明"]}), "supplement_required")
    supplement = queue(b_post, "?window=2&case_class=supplement").json_body["cases"]
    assert [c["case_no"] for c in supplement] == [second]
    assert supplement[0]["responsible_name"] == "赵窗口"
    assert [c["case_no"] for c in queue(b_post, "?window=2&case_class=promised").json_body["cases"]] == [first, second]
    assert queue(b_post, "?window=2&case_class=joint").json_body["cases"] == []
    assert [c["case_no"] for c in queue(b_post, "?window=2&status=submitted").json_body["cases"]] == [first]
    assert [c["case_no"] for c in queue(b_post, "?window=2&status=supplement_required").json_body["cases"]] == [second]
    refused(queue(b_post, "?window=2&case_class=urgent"), 400, "VALIDATION_FAILED")

    back = client.http.put(f"/v1/townships/{TOWNSHIP}/windows/2/absence", headers=a_post,
                           body=json.dumps({"a_absent": False}))
    assert back.status_code == 200 and back.json_body["on_duty"] == "staff_clerk.wang", back.body
    assert queue(a_post).json_body["window"] == "2"
    refused(queue(b_post, "?window=2"), 403, "WINDOW_NOT_YOURS")


# --- 8. first-inquiry responsibility (首问负责制) ----------------------------------------------------

def test_first_clerk_who_acts_is_responsible_and_only_they_hand_over(client, queues, auth):
    me = auth.villager()
    wang = clerk(auth, "clerk.wang", "王窗口")
    li = clerk(auth, "clerk.li", "李窗口")
    zhao = clerk(auth, "clerk.zhao", "赵窗口")
    staff(auth, "clerk.other", ["window_clerk"], ["431224101"], name="外乡窗口")
    no = file_case(client, queues, me)
    assert get_case(client, wang, no)["responsible_name"] is None

    case = ok(act(client, wang, f"/v1/cases/{no}/notices", {"other": ["请补充收入证明"]}), "supplement_required")
    assert case["responsible_name"] == "王窗口"
    ok(act(client, me, f"/v1/cases/{no}/supplements", {}), "submitted")
    case = ok(act(client, li, f"/v1/cases/{no}/accept", {}), "accepted")
    assert case["responsible_name"] == "王窗口"  # the first one keeps it

    refused(act(client, li, f"/v1/cases/{no}/handover", {"to": "clerk.zhao", "reason": "调岗"}), 403, "NOT_RESPONSIBLE")
    refused(act(client, wang, f"/v1/cases/{no}/handover", {"to": "clerk.other", "reason": "调岗"}), 400,
            "VALIDATION_FAILED")  # not a clerk of this township
    refused(act(client, wang, f"/v1/cases/{no}/handover", {"to": "clerk.wang", "reason": "调岗"}), 400,
            "VALIDATION_FAILED")
    case = ok(act(client, wang, f"/v1/cases/{no}/handover", {"to": "clerk.li", "reason": "本人休假，移交李窗口跟办"}),
              "accepted")
    assert case["responsible_name"] == "李窗口"
    refused(act(client, wang, f"/v1/cases/{no}/handover", {"to": "clerk.zhao", "reason": "再移交"}), 403,
            "NOT_RESPONSIBLE")
    case = ok(act(client, li, f"/v1/cases/{no}/handover", {"to": "clerk.zhao", "reason": "转民政专干"}), "accepted")
    assert case["responsible_name"] == "赵窗口"
    ok(act(client, zhao, f"/v1/cases/{no}/forward", {}), "forwarded")

    case = get_case(client, wang, no)
    assert_gbt_steps(case)
    handovers = [h for h in case["history"] if h["step_name"] == "首问责任移交"]
    assert [(h["handler"], h["action"], h["opinion"], h["reason"]) for h in handovers] == [
        ("王窗口", "other", "移交给 李窗口", "本人休假，移交李窗口跟办"),
        ("李窗口", "other", "移交给 赵窗口", "转民政专干")]
    assert handovers[0]["data"] == {"from": "staff_clerk.wang", "to": "staff_clerk.li"}
    assert case["responsible_name"] == "赵窗口"
    [row] = client.http.get("/v1/workbench/queue?status=forwarded", headers=zhao).json_body["cases"]
    assert row["case_no"] == no and row["responsible_name"] == "赵窗口"

    events, messages = events_and_messages(client, queues, me)
    assert [e["event_type"] for e in events] == ["case.issue_notice", "case.supplement", "case.accept",
                                                 "case.handover", "case.handover", "case.forward"]
    assert [m["event_type"] for m in messages] == ["case.forward", "case.accept", "case.supplement",
                                                   "case.issue_notice"]  # handovers are internal


# --- 9. idempotency and versions --------------------------------------------------------------

def test_repeated_action_is_answered_once_and_stale_versions_are_refused(client, queues, auth):
    me = auth.villager()
    wang = clerk(auth)
    no = file_case(client, queues, me)
    refused(client.http.post(f"/v1/cases/{no}/accept", headers=wang, body="{}"), 400, "VALIDATION_FAILED")

    first = ok(act(client, wang, f"/v1/cases/{no}/accept", {"opinion": "材料齐全"}, key="accept-once-0001"), "accepted")
    again = ok(act(client, wang, f"/v1/cases/{no}/accept", {"opinion": "材料齐全"}, key="accept-once-0001"), "accepted")
    assert again["version"] == first["version"] and again["history"] == first["history"]
    assert again["due_date"] == first["due_date"] and again["accepted_at"] == first["accepted_at"]
    assert [h["step_name"] for h in get_case(client, me, no)["history"]].count("受理") == 1
    refused(act(client, wang, f"/v1/cases/{no}/accept", {"opinion": "另一意见"}, key="accept-once-0001"), 422,
            "IDEMPOTENCY_KEY_REUSED")
    refused(act(client, wang, f"/v1/cases/{no}/forward", {}, key="accept-once-0001"), 422, "IDEMPOTENCY_KEY_REUSED")
    # without the key the same request is a new action: 409 in the state it is in now
    refused(act(client, wang, f"/v1/cases/{no}/accept", {"opinion": "材料齐全"}), 409, "INVALID_TRANSITION",
            status="accepted", version=first["version"])

    # If-Match: a version the caller saw before the case moved on
    stale = first["version"] - 1
    refused(act(client, wang, f"/v1/cases/{no}/forward", {}, key="forward-0001", if_match=stale), 409,
            "VERSION_MISMATCH", status="accepted", version=first["version"])
    refused(act(client, wang, f"/v1/cases/{no}/forward", {}, if_match="v-two"), 400, "VALIDATION_FAILED")
    # nothing was written for the refused request: the same key may carry it with the right version
    forwarded = ok(act(client, wang, f"/v1/cases/{no}/forward", {}, key="forward-0001", if_match=first["version"]),
                   "forwarded")
    assert forwarded["version"] == first["version"] + 1
    replay = ok(act(client, wang, f"/v1/cases/{no}/forward", {}, key="forward-0001", if_match=first["version"]),
                "forwarded")
    assert replay["version"] == forwarded["version"] and len(replay["history"]) == len(forwarded["history"])

    events, messages = events_and_messages(client, queues, me)
    assert [e["event_type"] for e in events] == ["case.accept", "case.forward"]
    assert [m["event_type"] for m in messages] == ["case.forward", "case.accept"]


# --- 10. withdrawal mid-way --------------------------------------------------------------------

def test_withdrawal_while_forwarded_takes_the_case_off_the_department_queue(client, queues, auth):
    me = auth.villager()
    wang = clerk(auth)
    nyncj = approver(auth, "NYNCJ")
    no = file_case(client, queues, me, "HH-NY-001")
    ok(act(client, wang, f"/v1/cases/{no}/accept", {}), "accepted")
    ok(act(client, wang, f"/v1/cases/{no}/forward", {}), "forwarded")
    assert [s["case_no"] for s in approvals(client, nyncj)] == [no]

    case = ok(act(client, me, f"/v1/cases/{no}/withdrawal", {"reason": "家庭情况变化，暂不建房"}), "withdrawn")
    assert case["status_label"] == "已撤回"
    assert case["outcome"]["result"] == "withdrawn" and case["outcome"]["reasons"] == "家庭情况变化，暂不建房"
    assert approvals(client, nyncj) == []
    refused(act(client, nyncj, f"/v1/cases/{no}/conclusion", {"result": "approved"}), 409, "INVALID_TRANSITION",
            status="withdrawn")
    refused(act(client, me, f"/v1/cases/{no}/withdrawal", {}), 409, "INVALID_TRANSITION", status="withdrawn")

    case = get_case(client, me, no)
    assert_gbt_steps(case)
    assert steps(case)[-1] == ("撤回申请", "other")
    events, messages = events_and_messages(client, queues, me)
    assert [e["event_type"] for e in events] == ["case.accept", "case.forward", "case.withdraw"]
    assert messages[0]["event_type"] == "case.withdraw" and "已撤回" in messages[0]["text"]


def test_withdrawal_during_joint_approval_cancels_the_pending_departments(client, queues, auth):
    me = auth.villager()
    wang = clerk(auth)
    departments = {code: approver(auth, code) for code in ("NYNCJ", "ZRZYJ", "ZJJ")}
    no = file_case(client, queues, me, "HH-ZJ-002")
    ok(act(client, wang, f"/v1/cases/{no}/accept", {}), "joint_approval")
    ok(act(client, departments["NYNCJ"], f"/v1/cases/{no}/approvals", {"decision": "approve", "opinion": "同意"}),
       "joint_approval")
    assert [s["case_no"] for s in approvals(client, departments["ZJJ"])] == [no]

    case = ok(act(client, me, f"/v1/cases/{no}/withdrawal", {}), "withdrawn")
    assert case["outcome"]["reasons"] == "申请人主动撤回"
    assert {code: a["state"] for code, a in case["approvals"].items()} == {
        "NYNCJ": "approved", "ZRZYJ": "cancelled", "ZJJ": "cancelled"}
    assert case["case_classes"] == ["promised", "joint"]  # withdrawn is not returned
    assert all(approvals(client, h) == [] for h in departments.values())
    refused(act(client, departments["ZJJ"], f"/v1/cases/{no}/approvals", {"decision": "approve", "opinion": "同意"}),
            409, "INVALID_TRANSITION", status="withdrawn")

    events, messages = events_and_messages(client, queues, me)
    assert [e["event_type"] for e in events] == ["case.accept", "case.joint_step_decided", "case.withdraw"]
    assert [m["event_type"] for m in messages] == ["case.withdraw", "case.accept"]
