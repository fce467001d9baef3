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
    assert [e["event_type"] for e in events] == ["case.created", "case.classified", "case.issue_notice",
                                                 "case.supplement", "case.accept", "case.forward",
                                                 "case.concluded_approved"]
    assert [e["event_id"] for e in events] == [f"{no}#{seq}" for seq in range(1, 8)]  # one per history entry


def test_a_joint_case_shows_its_pending_departments_to_the_window(client, auth):
    me = auth.villager()
    clerk = auth.staff("clerk.joint", ["window_clerk"], ["431224100"])
    case = client.http.post("/v1/cases", headers=me, body=json.dumps(valid_submission(item_code="HH-ZJ-002"),
                                                                      ensure_ascii=False)).json_body
    assert act(client, clerk, f"/v1/cases/{case['case_no']}/accept").json_body["status"] == "joint_approval"
    seen = client.http.get(f"/v1/cases/{case['case_no']}", headers=clerk).json_body
    assert {d["department"] for d in seen["pending_departments"]} == {"NYNCJ", "ZRZYJ", "ZJJ"}
    assert not any(d["late"] for d in seen["pending_departments"])


def test_concluded_on_the_day_the_window_accepted_it_is_immediate_even_when_filed_days_before(seeded, auth, client):
    """Regression: 'on the spot' compared the conclusion with the legal acceptance date, which
    art. 32 backdates to the day of receipt; a case accepted and concluded at the window a
    week after it was filed stayed 'promised'."""
    import datetime as dt

    from chalicelib import container
    from chalicelib.domain.access import Origin
    from chalicelib.usecases import identity as identity_uc, lifecycle
    me = auth.villager()
    auth.staff("clerk.spot", ["window_clerk"], ["431224100"])
    case_no = client.http.post("/v1/cases", headers=me, body=json.dumps(valid_submission(item_code="HH-MZ-006"),
                                                                        ensure_ascii=False)).json_body["case_no"]
    clerk = identity_uc.staff_principal(container.identity().get_staff("clerk.spot"))
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=7)
    ports = dict(cases=container.cases(), catalog=container.catalog(), identity=container.identity(),
                 calendar=container.calendar(), audit_log=container.audit_log(),
                 events=container.case_event_publisher(), now=lambda: later)
    origin = Origin(ip="127.0.0.1", user_agent="test", channel="staff")
    lifecycle.act("accept", case_no, {}, principal=clerk, origin=origin, idempotency_key="spot-accept-01", **ports)
    done = lifecycle.act("conclude", case_no, {"result": "approved"}, principal=clerk, origin=origin,
                         idempotency_key="spot-conclude-01", **ports)
    assert done["accepted_on"] < later.date().isoformat()  # art. 32: counted from receipt
    assert done["case_classes"] == ["immediate"] and done["case_type"] == "1"


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


def test_an_action_answers_exactly_what_a_read_afterwards_shows(client, auth):
    """The answer is built from what was written (no read-back): it must equal a fresh read."""
    me = auth.villager()
    clerk = auth.staff("clerk.same", ["window_clerk"], ["431224100"])
    no = client.http.post("/v1/cases", headers=me, body=json.dumps(valid_submission(item_code="HH-ZJ-002"),
                                                                    ensure_ascii=False)).json_body["case_no"]
    for path, body in ((f"/v1/cases/{no}/notices", {"other": ["缺少宅基地批准书"]}),
                       (f"/v1/cases/{no}/supplements", {"materials": ["宅基地批准书"]}),
                       (f"/v1/cases/{no}/accept", {})):
        answer = act(client, clerk, path, body).json_body
        answer.pop("actions")
        assert answer == client.http.get(f"/v1/cases/{no}", headers=clerk).json_body, path
