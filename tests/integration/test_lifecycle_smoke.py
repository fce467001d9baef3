"""Smoke: the lifecycle through the HTTP API (the full scenarios: test_lifecycle_scenarios.py)."""
import itertools
import json

from chalicelib import settings
from tests.conftest import VILLAGE, valid_submission

_keys = itertools.count(1)


def act(client, headers, path, body=None):
    return client.http.post(path, headers={**headers, "Idempotency-Key": f"key-{next(_keys):08d}"},
                            body=json.dumps(body or {}, ensure_ascii=False))


def test_minimum_living_allowance_with_one_supplement_round(client, queues, auth):
    me = auth.villager()
    clerk = auth.staff("clerk.wang", ["window_clerk"], ["431224100"])
    county = auth.staff("mz.approver", ["county_approver"], department="MZJ")
    case = client.http.post("/v1/cases", headers=me, body=json.dumps(valid_submission(), ensure_ascii=False)).json_body
    no = case["case_no"]
    queues.deliver(settings.CASE_INTAKE_QUEUE, "on_case_intake")
    r = act(client, clerk, f"/v1/cases/{no}/notices",
            {"materials": [{"name": "居民户口簿", "problem": "missing"}], "other": ["请补充近6个月收入证明"]})
    assert r.status_code == 200, r.body
    assert r.json_body["status"] == "supplement_required"
    again = act(client, clerk, f"/v1/cases/{no}/notices", {"other": ["再补一个"]})
    assert again.status_code == 409 and again.json_body["status"] == "supplement_required", again.body
    notice = client.http.get(f"/v1/cases/{no}/notices/1", headers=me)
    assert notice.status_code == 200 and "居民户口簿" in notice.json_body["text"], notice.body
    r = act(client, me, f"/v1/cases/{no}/supplements", {"materials": ["户口簿"]})
    assert r.status_code == 200 and r.json_body["status"] == "submitted", r.body
    r = act(client, clerk, f"/v1/cases/{no}/accept", {})
    assert r.status_code == 200 and r.json_body["status"] == "accepted", r.body
    r = act(client, clerk, f"/v1/cases/{no}/conclusion", {"result": "approved"})
    assert r.status_code == 409 and r.json_body["code"] == "FORWARD_REQUIRED", r.body
    r = act(client, clerk, f"/v1/cases/{no}/forward", {})
    assert r.status_code == 200 and r.json_body["status"] == "forwarded", r.body
    steps = client.http.get("/v1/workbench/approvals", headers=county)
    assert steps.status_code == 200 and [s["case_no"] for s in steps.json_body["steps"]] == [no], steps.body
    r = act(client, county, f"/v1/cases/{no}/conclusion", {"result": "approved", "opinion": "同意纳入低保"})
    assert r.status_code == 200 and r.json_body["status"] == "concluded_approved", r.body
    assert set(r.json_body["case_classes"]) == {"promised", "supplement", "agency"}
    assert client.http.get("/v1/workbench/approvals", headers=county).json_body["steps"] == []
    events = queues.bodies(settings.CASE_EVENTS_QUEUE)
    assert [e["event_type"] for e in events] == ["case.issue_notice", "case.supplement", "case.accept", "case.forward",
                                                 "case.concluded_approved"]


def test_the_agent_signs_for_the_result_handed_back(client, auth):
    """Receipts (代办交接签收) through the API: the leg number is in the path and the body may be
    empty; the receipt's schema allows no body fields. (Every receipt answered 400 while the
    route put ``leg_no`` into the body before the schema check.)"""
    me = auth.villager()
    agent = auth.agent()
    auth.consent(me, agent)
    clerk = auth.staff("clerk.wang", ["window_clerk"], ["431224100"])
    filed = client.http.post("/v1/cases", headers={**agent, "Idempotency-Key": "agent-files-0001"},
                             body=json.dumps(valid_submission(item_code="HH-MZ-006", village_code=VILLAGE),
                                             ensure_ascii=False))
    assert filed.status_code == 201, filed.body
    no = filed.json_body["case_no"]
    r = act(client, clerk, f"/v1/cases/{no}/legs", {"kind": "village_to_township", "materials": ["居民户口簿"]})
    assert r.status_code == 200 and r.json_body["legs"][0]["received_by"], r.body
    for step, body in (("accept", {}), ("conclusion", {"result": "approved"}),
                       ("legs", {"kind": "township_to_village", "materials": ["高龄津贴发放通知"]})):
        r = act(client, clerk, f"/v1/cases/{no}/{step}", body)
        assert r.status_code == 200, r.body
    assert [(leg["leg_no"], leg["kind"], bool(leg.get("received_at"))) for leg in r.json_body["legs"]] == [
        (1, "village_to_township", True), (2, "township_to_village", False)]
    r = act(client, clerk, f"/v1/cases/{no}/legs/2/receipt")
    assert r.status_code == 403 and r.json_body["code"] == "ACTION_NOT_ALLOWED", r.body  # the agent receives it
    r = act(client, agent, f"/v1/cases/{no}/legs/2/receipt", {"leg_no": 1})
    assert r.status_code == 400 and r.json_body["details"][0]["field"] == "leg_no", r.body
    r = act(client, agent, f"/v1/cases/{no}/legs/9/receipt")
    assert r.status_code == 400 and r.json_body["details"][0]["code"] == "UNKNOWN_LEG", r.body
    r = act(client, agent, f"/v1/cases/{no}/legs/2/receipt")
    assert r.status_code == 200, r.body
    assert r.json_body["legs"][1]["received_by"] == auth.subject(agent), r.body
    r = act(client, agent, f"/v1/cases/{no}/legs/2/receipt")
    assert r.status_code == 409 and r.json_body["code"] == "LEG_ALREADY_RECEIVED", r.body
