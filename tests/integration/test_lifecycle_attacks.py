"""Attacks on the case lifecycle: the people who use it on their bad days and someone malicious.

Each test here was written before its fix, failing: what a wrong user, bad input, a retry or an
unlucky order of actions could do to a case. One moto world for the module
(``lifecycle_world.moto_world``: the seed catalog, a villager, two clerks of 431224100 and an
approver of each county department); a test that needs more people makes them.
"""
from __future__ import annotations

import json

import pytest

from chalicelib import container, settings
from tests.conftest import AGENT_PERSON, OTHER_PERSON, VILLAGE, table_items, valid_submission
from tests.integration.lifecycle_world import DEVOLVED, ENTRUSTED, moto_world, new_key

ID_NUMBER, PHONE = "431224195001011234", "13812345678"


@pytest.fixture(scope="module")
def world():
    with moto_world() as built:
        yield built


def post(world, headers, case_no, path, body=None, **extra):
    return world.client.http.post(f"/v1/cases/{case_no}/{path}",
                                  headers={**headers, "Idempotency-Key": new_key(), **extra},
                                  body=json.dumps({} if body is None else body, ensure_ascii=False))


def ok(response, status=None):
    assert response.status_code == 200, response.body
    if status is not None:
        assert response.json_body["status"] == status, response.body
    return response.json_body


def _tables():
    return (sorted(json.dumps(i, sort_keys=True) for i in table_items(settings.CASES_TABLE)),
            sorted(json.dumps(i, sort_keys=True) for i in table_items(settings.AUDIT_TABLE)))


# --- bad input: numbers that are digits to str.isdigit() but not to int() ----------------------

@pytest.mark.parametrize("value", ["\u00b2", "\u2460", "9" * 5000])
def test_odd_digits_in_if_match_round_and_limit_are_refused_not_a_500(world, value):
    """``"²".isdigit()`` is True and ``int("²")`` raises; so does ``int()`` of a 5,000-digit
    string (Python's limit on int conversion). Each was an unhandled error (500) in If-Match,
    the notice round of ``GET .../notices/{round}`` and ``limit`` of both queues; each is a
    client's mistake (400, or the 404 of a notice that does not exist), and nothing is written."""
    case_no = world.case_in("supplement_required")
    world.queues.take_all(settings.CASE_EVENTS_QUEUE)
    before = _tables()
    r = post(world, world.villager, case_no, "supplements", {}, **{"If-Match": value})
    assert r.status_code == 400 and r.json_body["details"][0]["field"] == "If-Match", r.body
    assert _tables() == before
    assert world.queues.receive(settings.CASE_EVENTS_QUEUE) == []
    r = world.client.http.get(f"/v1/cases/{case_no}/notices/{value}", headers=world.villager)
    assert r.status_code == 404, r.body
    r = world.client.http.get(f"/v1/workbench/queue?limit={value}", headers=world.clerk)
    assert r.status_code == 400 and r.json_body["details"][0]["field"] == "limit", r.body
    r = world.client.http.get(f"/v1/workbench/approvals?limit={value}", headers=world.county["MZJ"])
    assert r.status_code == 400 and r.json_body["details"][0]["field"] == "limit", r.body


# --- first-inquiry responsibility: the responsible clerk left ------------------------------------

def test_the_responsibility_of_a_clerk_whose_account_was_disabled_can_be_handed_over(world):
    """Only the responsible clerk hands a case over; when that clerk left (account disabled),
    nobody could ever hand it over again and the case stayed "responsible: a person who is
    gone". A colleague of the township now may, to an active colleague; while the
    responsible clerk is active, others still may not."""
    leaver = world.auth.staff("clerk.leaver", ["window_clerk"], ["431224100"], display_name="离职人员")
    case_no = world.file(DEVOLVED)
    assert ok(post(world, leaver, case_no, "accept"), "accepted")["responsible_name"] == "离职人员"
    r = post(world, world.clerk, case_no, "handover", {"to": "clerk.li", "reason": "轮岗"})
    assert r.status_code == 403 and r.json_body["code"] == "NOT_RESPONSIBLE", r.body
    assert world.auth.post("/v1/admin/accounts/clerk.leaver/disable", {}, world.auth.admin()).status_code == 200
    view = ok(post(world, world.clerk, case_no, "handover", {"to": "clerk.li", "reason": "原首问责任人已离岗"}))
    assert view["responsible_name"] == "测试人员" and view["history"][-1]["data"] == {
        "from": "staff_clerk.leaver", "to": "staff_clerk.li"}, view["history"][-1]
    case = container.cases().get_case(case_no)
    assert case["responsible"] == "staff_clerk.li"
    # clerk.li is responsible (and active) now: clerk.wang may not take it from them
    r = post(world, world.clerk, case_no, "handover", {"to": "clerk.wang", "reason": "再移交"})
    assert r.status_code == 403 and r.json_body["code"] == "NOT_RESPONSIBLE", r.body


# --- personal data typed into free text ---------------------------------------------------------

def _clear(text):
    """The resident ID and mobile number of the test, plain or as people type them."""
    return [n for n in (ID_NUMBER, PHONE, "138 1234 5678", "431224 19500101 1234") if n in text]


def test_id_numbers_and_phones_typed_into_lifecycle_text_are_masked_wherever_they_are_shown(world):
    """The intake note is masked in every view (PIPL minimum exposure), but the lifecycle's free
    text was "shown as stored": a villager's supplement note or withdrawal reason, a clerk's
    notice details, a special procedure's name (which also goes into the applicant's message)
    showed a resident ID or a phone number in clear to every clerk, the county department,
    the agent, in the queue, the notice document, the events and the messages."""
    villager, clerk = world.villager, world.clerk
    case_no = world.file(DEVOLVED)
    ok(post(world, clerk, case_no, "notices", {
        "materials": [{"name": "居民户口簿", "problem": "defective", "detail": f"户主身份证号{ID_NUMBER}与户口簿不一致"}],
        "other": ["请致电 138 1234 5678 预约"]}), "supplement_required")
    ok(post(world, villager, case_no, "supplements",
            {"note": f"我的电话{PHONE}，身份证 431224 19500101 1234", "materials": [f"身份证{ID_NUMBER}复印件"]}),
       "submitted")
    ok(post(world, clerk, case_no, "accept", {"opinion": f"经核对，申请人身份证{ID_NUMBER}"}), "accepted")
    world.queues.take_all(settings.CASE_EVENTS_QUEUE)
    ok(post(world, clerk, case_no, "special-procedure",
            {"kind": "investigation", "name": f"入户调查（联系电话{PHONE}）", "reason": f"核实{ID_NUMBER}家庭情况"}),
       "special_procedure")
    events = world.queues.take_all(settings.CASE_EVENTS_QUEUE)
    assert events and not _clear(json.dumps([json.loads(e["Body"]) for e in events], ensure_ascii=False)), events
    withdrawn = post(world, villager, case_no, "withdrawal", {"reason": f"已另行办理，有事打{PHONE}"})
    assert withdrawn.status_code == 200 and not _clear(withdrawn.body.decode()), withdrawn.body.decode()
    for headers in (clerk, world.clerk_li, villager):
        seen = world.client.http.get(f"/v1/cases/{case_no}", headers=headers)
        assert seen.status_code == 200 and not _clear(seen.body.decode()), seen.body.decode()
    notice = world.client.http.get(f"/v1/cases/{case_no}/notices/1", headers=villager)
    assert notice.status_code == 200 and not _clear(notice.body.decode()), notice.body.decode()
    queue = world.client.http.get("/v1/workbench/queue?status=withdrawn&limit=100", headers=clerk)
    assert case_no in queue.body.decode() and not _clear(queue.body.decode())


# --- a consent given from a declared (unverified) binding ----------------------------------------

def test_a_consent_from_a_declared_binding_does_not_open_cases_somebody_else_filed(world):
    """Knowing a person's ID number must not open that person's cases (docs/access.md): a
    declared binding sees only the cases that account filed. But a declared binding could
    consent to an agent, and the agent then saw and could withdraw every case filed for that
    person by others: the window, a station, another agent. So a village agent who knows a
    phone-less villager's ID (agents do) binds it on a second WeChat account, consents to
    themself, and takes over the cases the window filed for that villager.

    Now a consent opens a case somebody else filed only while the account that gave it holds
    a verified binding to the applicant; cases the agent or the consenting account filed stay
    open under it (the usual path: a villager consents on the phone, the agent files)."""
    auth, clerk = world.auth, world.clerk
    agent = auth.agent("openid-attack-agent", AGENT_PERSON)
    filed = world.client.http.post("/v1/cases", headers={**clerk, "Idempotency-Key": new_key()}, body=json.dumps(
        valid_submission(item_code=ENTRUSTED, applicant=dict(OTHER_PERSON), village_code=VILLAGE), ensure_ascii=False))
    assert filed.status_code == 201, filed.body
    window_case = filed.json_body["case_no"]
    impostor = auth.villager("openid-impostor", OTHER_PERSON)  # the victim's ID, typed on another phone
    auth.consent(impostor, agent)
    by_agent = world.client.http.post("/v1/cases", headers={**agent, "Idempotency-Key": new_key()}, body=json.dumps(
        valid_submission(item_code=DEVOLVED, applicant=dict(OTHER_PERSON), village_code=VILLAGE), ensure_ascii=False))
    assert by_agent.status_code == 201, by_agent.body  # filing under the consent: as before
    agent_case = by_agent.json_body["case_no"]
    world.queues.take_all(settings.CASE_EVENTS_QUEUE)
    before = _tables()
    seen = world.client.http.get(f"/v1/cases/{window_case}", headers=agent)
    assert seen.status_code == 404, seen.body
    r = post(world, agent, window_case, "withdrawal", {"reason": "不需要了"})
    assert r.status_code == 404, r.body
    assert _tables()[0] == before[0] and world.queues.receive(settings.CASE_EVENTS_QUEUE) == []
    assert world.client.http.get(f"/v1/cases/{agent_case}", headers=agent).status_code == 200
    # the villager comes to the window: the binding is verified (and moves to them), and their own
    # consent opens the window's case to the agent; the impostor's consent no longer opens anything
    # the impostor did not file
    auth.verify(auth.wx_login("openid-victim")["subject"], OTHER_PERSON)  # the ID card shown at the window
    victim = {"Authorization": f"Bearer {auth.wx_login('openid-victim')['access_token']}",
              "Content-Type": "application/json"}
    assert world.client.http.get(f"/v1/cases/{window_case}", headers=agent).status_code == 404
    auth.consent(victim, agent)
    assert world.client.http.get(f"/v1/cases/{window_case}", headers=agent).status_code == 200
    ok(post(world, agent, window_case, "withdrawal", {"reason": "村民本人同意撤回"}), "withdrawn")


# --- a person with two staff roles -----------------------------------------------------------

def test_a_township_clerk_who_is_also_the_deciding_departments_approver_acts_as_the_approver(world):
    """An account may hold window_clerk and county_approver (the account schema allows it).
    On a case forwarded to their department the first capacity held, clerk, was always the one
    used, so they got WITH_COUNTY for the conclusion and 403 for the county's receipt, which as
    the department's approver they may give. The capacity that the rules allow is used now."""
    dual = world.auth.staff("dual.mzj", ["window_clerk", "county_approver"], ["431224100"], department="MZJ")
    case_no = world.drive("forwarded")
    leg = ok(post(world, dual, case_no, "legs/1/receipt"))["legs"][0]
    assert (leg["kind"], leg["received_by"]) == ("township_to_county", "staff_dual.mzj")
    view = ok(post(world, dual, case_no, "conclusion", {"result": "approved"}), "concluded_approved")
    assert view["outcome"]["level"] == "county" and view["history"][-1]["role"] == "county_approver"
    # on a township item the same account concludes as the clerk
    township_case = world.drive("accepted")
    r = post(world, dual, township_case, "conclusion", {"result": "approved"})
    assert r.status_code == 409 and r.json_body["code"] == "FORWARD_REQUIRED", r.body  # entrusted: forward first


# --- a body with a field twice ---------------------------------------------------------------

def test_a_body_naming_a_field_twice_is_refused_not_read_as_its_last_value(world):
    """``{"result": "rejected", ..., "result": "approved"}`` was read as approved (Python keeps
    the last value; other readers of the same bytes, a proxy's log or a client library, may keep
    the first): a decision must not depend on which reader one asks. 400, nothing written."""
    case_no = world.drive("forwarded")
    world.queues.take_all(settings.CASE_EVENTS_QUEUE)
    before = _tables()
    raw = ('{"result": "rejected", "reasons": "不符合条件", "legal_basis": "某条例第五条", '
           '"result": "approved"}')
    r = world.client.http.post(f"/v1/cases/{case_no}/conclusion", body=raw.encode(),
                               headers={**world.county["MZJ"], "Idempotency-Key": new_key()})
    assert r.status_code == 400 and r.json_body["details"][0]["code"] == "BODY_DUPLICATE_KEY", r.body
    assert _tables() == before and world.queues.receive(settings.CASE_EVENTS_QUEUE) == []


# --- windows: an administrator edits a window while its A post is away ---------------------------

def test_editing_a_window_keeps_its_a_post_absent_so_the_b_post_keeps_the_queue(world):
    """``PUT`` of a window (say, one more item) reset ``a_absent``: the queue went back to the
    A post who is away, the B post lost it (403 WINDOW_NOT_YOURS), the window was unattended.
    The absence stands while the A post stays the same person; a new A post starts present."""
    auth, admin = world.auth, world.auth.admin()
    a_post = auth.staff("clerk.wa", ["window_clerk"], ["431224100"])
    b_post = auth.staff("clerk.wb", ["window_clerk"], ["431224100"])
    auth.staff("clerk.wc", ["window_clerk"], ["431224100"])
    url = "/v1/admin/townships/431224100/windows/7"

    def put(body):
        r = world.client.http.put(url, headers=admin, body=json.dumps(body, ensure_ascii=False))
        assert r.status_code == 200, r.body
        return r.json_body

    window = {"name": "测试窗口", "a_post": "clerk.wa", "b_post": "clerk.wb", "items": ["XX-NONE-001"]}
    put(window)
    away = world.client.http.put("/v1/townships/431224100/windows/7/absence", headers=b_post,
                                 body=json.dumps({"a_absent": True}))
    assert away.status_code == 200 and away.json_body["on_duty"] == "staff_clerk.wb", away.body
    assert world.client.http.get("/v1/workbench/queue?window=7", headers=b_post).status_code == 200
    edited = put({**window, "items": ["XX-NONE-001", "XX-NONE-002"]})
    assert edited["a_absent"] is True and edited["on_duty"] == "staff_clerk.wb", edited
    assert world.client.http.get("/v1/workbench/queue?window=7", headers=b_post).status_code == 200
    assert world.client.http.get("/v1/workbench/queue?window=7", headers=a_post).status_code == 403
    replaced = put({**window, "a_post": "clerk.wc"})
    assert replaced["a_absent"] is False and replaced["on_duty"] == "staff_clerk.wc", replaced


# --- concurrency: the same key from two devices, a withdrawal against the county's conclusion -----

def _race(world, case_no, contenders, first=None):
    """``contenders``: ``{name: (headers, action, body, key)}`` run at once (both read the same
    version; transactions one at a time, see ``test_lifecycle_races.RacingCases``)."""
    import threading

    from chalicelib.domain.access import Origin
    from chalicelib.usecases import lifecycle
    from tests.integration.test_lifecycle_races import RacingCases
    cases = RacingCases(len(contenders), first)
    adapters = dict(catalog=container.catalog(), identity=container.identity(), calendar=container.calendar(),
                    audit_log=container.audit_log(), events=container.case_event_publisher())
    results = {}

    def run(name, headers, action, body, key):
        principal = container.tokens().verify(headers["Authorization"].split(" ", 1)[1])
        try:
            results[name] = lifecycle.act(action, case_no, body, principal=principal, idempotency_key=key,
                                          origin=Origin(channel="api"), cases=cases, **adapters)
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            results[name] = exc

    threads = [threading.Thread(target=run, name=name, args=(name, *spec), daemon=True)
               for name, spec in contenders.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results, cases


def _pending_steps(case_no):
    from chalicelib.adapters.models import CaseStepModel
    return [s.department for s in CaseStepModel.query(f"CASE#{case_no}", CaseStepModel.sk.startswith("STEP#"))
            if s.pending_department]


def test_the_same_idempotency_key_from_two_devices_at_once_acts_once(world):
    """A villager's phone and tablet send the same withdrawal (same key, same body) at once:
    both answer the withdrawn case, one write, one event. With another body the second is 422."""
    from chalicelib.domain.errors import IdempotencyKeyReused
    case_no = world.drive("submitted")
    world.queues.take_all(settings.CASE_EVENTS_QUEUE)
    body = {"reason": "不再需要"}
    results, cases = _race(world, case_no, {"phone": (world.villager, "withdraw", body, "twin-device-0001"),
                                            "tablet": (world.villager, "withdraw", body, "twin-device-0001")})
    assert all(isinstance(r, dict) and r["status"] == "withdrawn" for r in results.values()), results
    assert len(cases.commits) == 1 and results["phone"]["version"] == results["tablet"]["version"]
    assert [json.loads(m["Body"])["event_type"] for m in world.queues.take_all(settings.CASE_EVENTS_QUEUE)] == [
        "case.withdraw"]
    case_no = world.drive("submitted")
    results, cases = _race(world, case_no, {"phone": (world.villager, "withdraw", body, "twin-device-0002"),
                                            "tablet": (world.villager, "withdraw", {"reason": "另一个原因"},
                                                       "twin-device-0002")}, first="phone")
    assert results["phone"]["status"] == "withdrawn" and isinstance(results["tablet"], IdempotencyKeyReused), results


@pytest.mark.parametrize("first", ["withdraw", "conclude"])
def test_a_withdrawal_against_the_countys_conclusion_leaves_one_outcome_and_no_pending_step(world, first):
    from chalicelib.domain.lifecycle import InvalidTransition
    case_no = world.drive("forwarded")
    assert _pending_steps(case_no) == ["MZJ"]
    world.queues.take_all(settings.CASE_EVENTS_QUEUE)
    results, cases = _race(world, case_no, {
        "withdraw": (world.villager, "withdraw", {"reason": "不再需要"}, new_key()),
        "conclude": (world.county["MZJ"], "conclude", {"result": "approved"}, new_key())}, first=first)
    loser = "conclude" if first == "withdraw" else "withdraw"
    assert isinstance(results[first], dict) and isinstance(results[loser], InvalidTransition), results
    case, history = container.cases().get(case_no)
    assert case["status"] == {"withdraw": "withdrawn", "conclude": "concluded_approved"}[first]
    assert _pending_steps(case_no) == []
    assert [h["step_name"] for h in history if h["step_name"] in ("撤回申请", "县级部门审批办结")] == [
        {"withdraw": "撤回申请", "conclude": "县级部门审批办结"}[first]]
    assert len(world.queues.take_all(settings.CASE_EVENTS_QUEUE)) == 1


@pytest.mark.parametrize("first", ["NYNCJ", "ZJJ"])
def test_an_approval_and_a_rejection_at_once_conclude_rejected_once(world, first):
    from chalicelib.domain.lifecycle import InvalidTransition
    case_no = world.drive("joint_approval")
    world.queues.take_all(settings.CASE_EVENTS_QUEUE)
    reject = {"decision": "reject", "opinion": "不同意", "reasons": "选址不符合规划", "legal_basis": "城乡规划法第四十一条"}
    results, _cases = _race(world, case_no, {
        "NYNCJ": (world.county["NYNCJ"], "decide_joint_step", {"decision": "approve", "opinion": "同意"}, new_key()),
        "ZJJ": (world.county["ZJJ"], "decide_joint_step", reject, new_key())}, first=first)
    case, history = container.cases().get(case_no)
    assert case["status"] == "concluded_rejected" and _pending_steps(case_no) == []
    if first == "ZJJ":  # the approval came too late: 409, the department's step stays cancelled
        assert isinstance(results["NYNCJ"], InvalidTransition), results
        assert case["approvals"]["NYNCJ"]["state"] == "cancelled"
    else:
        assert case["approvals"]["NYNCJ"]["state"] == "approved"
    assert case["approvals"]["ZRZYJ"]["state"] == "cancelled"
    assert [h["step_name"] for h in history].count("并联审批办结") == 1


# --- a case record that storage refuses ---------------------------------------------------------

def test_a_change_storage_refuses_is_answered_at_once_not_retried_as_busy(world):
    """Every failed transaction was taken for "somebody else wrote first": decided again five
    times, then 409 BUSY ("being updated often, try later"). A write DynamoDB refuses outright
    (here: the case item would pass its 400 KB limit after twenty special procedures with the
    longest texts) fails the same way every time; it is answered at once with its own code,
    after one attempt, and nothing is written."""
    from chalicelib.adapters.case_repo import DynamoCaseRepository
    case_no = world.drive("in_handling")
    start = {"kind": "other", "name": "名" * 200, "reason": "因" * 1000}
    for _ in range(40):
        started = post(world, world.clerk, case_no, "special-procedure", start)
        assert started.status_code == 200, started.body
        ended = post(world, world.clerk, case_no, "special-procedure/end", {"result": "果" * 2000})
        if ended.status_code != 200:
            break
    else:
        pytest.fail("the case record never reached the storage limit")
    assert ended.status_code == 409 and ended.json_body["code"] == "CASE_WRITE_REFUSED", ended.body
    assert ended.json_body["status"] == "special_procedure"
    attempts = []
    original = DynamoCaseRepository.apply

    def counting(self, *args, **kwargs):
        attempts.append(1)
        return original(self, *args, **kwargs)

    world.queues.take_all(settings.CASE_EVENTS_QUEUE)
    before = _tables()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DynamoCaseRepository, "apply", counting)
        again = post(world, world.clerk, case_no, "special-procedure/end", {"result": "果" * 2000})
    assert again.status_code == 409 and again.json_body["code"] == "CASE_WRITE_REFUSED", again.body
    assert len(attempts) == 1
    assert _tables() == before and world.queues.receive(settings.CASE_EVENTS_QUEUE) == []
    # the case stays workable: a change that does not rewrite the long list is stored
    ok(post(world, world.clerk, case_no, "extension", {"reason": "特别程序较多", "approver": "王主任"}),
       "special_procedure")


# --- paging with somebody else's cursor ------------------------------------------------------------

def _cursor(**key):
    from chalicelib.adapters.case_repo import _encode_cursor
    return _encode_cursor({name: {"S": value} for name, value in key.items()})


def test_a_cursor_made_for_another_queue_department_or_inbox_is_refused(world):
    """A cursor is bound to the partition it was made for: another township's or another
    window's queue, another department's steps, another villager's inbox are 400, never a page
    of someone else's data."""
    case = {"pk": "CASE#20261130000000000-431224101-AAAA", "sk": "CASE"}
    for queue in ("431224101#-", "431224100#7"):
        r = world.client.http.get(f"/v1/workbench/queue?window=-&cursor={_cursor(**case, queue=queue, queue_sort='submitted#x')}",
                                  headers=world.clerk)
        assert r.status_code == 400 and r.json_body["details"][0]["field"] == "cursor", (queue, r.body)
    step = {"pk": "CASE#20261130000000000-431224100-AAAA", "sk": "STEP#joint#NYNCJ", "started_at": "2026-01-01"}
    r = world.client.http.get(f"/v1/workbench/approvals?cursor={_cursor(**step, pending_department='NYNCJ')}",
                              headers=world.county["MZJ"])
    assert r.status_code == 400 and r.json_body["details"][0]["field"] == "cursor", r.body
    r = world.client.http.get(f"/v1/me/messages?cursor={_cursor(pk='INBOX#someone-else', sk='2026#x')}",
                              headers=world.villager)
    assert r.status_code == 400 and r.json_body["details"][0]["field"] == "cursor", r.body


# --- a retry after a lost answer -------------------------------------------------------------------

def test_a_retried_action_answers_the_same_view_as_the_first_answer(world):
    """The replay of an Idempotency-Key answered the case without its calendar, so a joint
    case retried after a lost answer came back without ``pending_departments``."""
    case_no = world.file("HH-ZJ-002")
    headers = {**world.clerk, "Idempotency-Key": "lost-answer-0001"}
    first = world.client.http.post(f"/v1/cases/{case_no}/accept", headers=headers, body="{}")
    again = world.client.http.post(f"/v1/cases/{case_no}/accept", headers=headers, body="{}")
    assert first.status_code == again.status_code == 200, again.body
    assert first.json_body["pending_departments"], first.body
    assert set(again.json_body) == set(first.json_body), set(first.json_body) ^ set(again.json_body)
    assert again.json_body["pending_departments"] == first.json_body["pending_departments"]


# --- colleagues who are not colleagues -------------------------------------------------------------

def test_handover_and_window_posts_refuse_disabled_accounts_approvers_and_other_townships(world):
    """A case handed over, or a window post given, to a disabled account, a county approver, a
    supervisor or a clerk of another township: 400 UNKNOWN_COLLEAGUE, nothing written (these held)."""
    auth = world.auth
    auth.staff("clerk.gone", ["window_clerk"], ["431224100"])
    assert auth.post("/v1/admin/accounts/clerk.gone/disable", {}, auth.admin()).status_code == 200
    auth.staff("clerk.elsewhere", ["window_clerk"], ["431224101"])
    auth.staff("super.visor", ["supervisor"], ["431224100"])
    case_no = world.drive("submitted")
    world.queues.take_all(settings.CASE_EVENTS_QUEUE)
    before = _tables()
    for name in ("clerk.gone", "mzj.approver", "clerk.elsewhere", "super.visor", "admin.test", "nobody.here"):
        r = post(world, world.clerk, case_no, "handover", {"to": name, "reason": "移交"})
        assert r.status_code == 400 and r.json_body["details"][0]["code"] == "UNKNOWN_COLLEAGUE", (name, r.body)
        w = world.client.http.put("/v1/admin/townships/431224100/windows/8", headers=auth.admin(),
                                  body=json.dumps({"name": "测试窗口", "a_post": name, "b_post": "clerk.li"}))
        assert w.status_code == 400 and w.json_body["details"][0]["code"] == "UNKNOWN_COLLEAGUE", (name, w.body)
    assert _tables() == before and world.queues.receive(settings.CASE_EVENTS_QUEUE) == []
