"""The case state machine as pure rules (``chalicelib.domain.lifecycle.decide``): no storage,
a tiny in-memory case dict, the real seed catalog entries, townships and working-day calendar.

* the guard: every action in every state it is not allowed in raises ``InvalidTransition``
  (409) carrying the current state and version, whatever capacity allowed for it acts; every
  capacity not allowed for an action gets ``NotYourAction`` (403) first;
* every allowed (state, action) pair lands in the state of the transition table below;
* 行政许可法第三十二条: acceptance date (deemed acceptance on receipt after a late notice, the
  supplement date after a timely one, receipt without a notice); one notice per round;
* rejections without reasons name the missing fields; joint (parallel) approval;
* the six case classes as they combine.

(hypothesis is not installed in the project's environment; the state x action x capacity space
is small enough to enumerate exhaustively instead.)
"""
from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import pytest

from chalicelib.domain import lifecycle as rules
from chalicelib.domain.access import COUNTY_APPROVER, VILLAGE_AGENT, VILLAGER, WINDOW_CLERK, Forbidden
from chalicelib.domain.calendar import WorkingDayCalendar
from chalicelib.domain.catalog import ServiceItem, Township
from chalicelib.domain.errors import ValidationFailed
from chalicelib.domain.lifecycle import (ACCEPT, EXTEND, ALL_STATES, ALLOWED_FROM, CAPACITIES, CONCLUDE, CONFIRM_LEG,
                                         DECIDE_JOINT_STEP, END_SPECIAL_PROCEDURE, FINAL_STATES, FORWARD, HANDOVER,
                                         ISSUE_NOTICE, OPEN_STATES, RECORD_LEG, REFUSE, START_SPECIAL_PROCEDURE,
                                         SUPPLEMENT, WITHDRAW, Actor, InvalidTransition, NotYourAction,
                                         acceptance_date)

SEED = Path(__file__).resolve().parents[2] / "data" / "seed"
ITEMS = {r["code"]: ServiceItem(r) for r in json.loads((SEED / "catalog_items.json").read_text(encoding="utf-8"))}
TOWNSHIP = next(Township(t) for t in json.loads((SEED / "townships.json").read_text(encoding="utf-8"))
                if t["code"] == "431224100")
CAL = WorkingDayCalendar()
ACTIONS = [action for action, _label, _from in rules.transition_table()]
UTC = dt.timezone.utc

ENTRUSTED = "HH-MZ-001"   # township accepts, 县民政局 (MZJ) decides
DEVOLVED = "HH-MZ-006"    # decided at the township window, 10 working days
IMMEDIATE = "HH-RS-001"   # devolved, promised limit 0 (即办)
JOINT = "HH-ZJ-002"       # parallel approval by NYNCJ, ZRZYJ, ZJJ

#: Monday 3 November 2025, 10:00 in Shanghai; five working days later is Monday 10 November.
RECEIVED = dt.datetime(2025, 11, 3, 2, 0, tzinfo=UTC)


def day(n: int, hour_utc: int = 2) -> dt.datetime:
    """``n`` calendar days after the day of receipt, at ``hour_utc`` (02:00 UTC = 10:00 Shanghai)."""
    return RECEIVED.replace(hour=hour_utc) + dt.timedelta(days=n)


CLERK = Actor("staff_clerk.wang", WINDOW_CLERK, name="王窗口")
CLERK_LI = {"subject": "staff_clerk.li", "display_name": "李窗口"}
VILLAGER_ACTOR = Actor("u_zhangsan", VILLAGER)
AGENT = Actor("u_lisi", VILLAGE_AGENT)
APPROVERS = {code: Actor(f"staff_{code.lower()}.approver", COUNTY_APPROVER, name=f"{code}审批", department=code)
             for code in ("MZJ", "NYNCJ", "ZRZYJ", "ZJJ")}

#: A valid request body per action (shape of ``schemas/case_<action>.json``), so that where an
#: action is refused it is the state that refuses it, not the body.
BODIES = {
    ACCEPT: {},
    ISSUE_NOTICE: {"materials": [{"name": "居民户口簿", "problem": "missing"}]},
    SUPPLEMENT: {"materials": ["居民户口簿"]},
    REFUSE: {"reasons": "不属于本机关职权范围", "legal_basis": "《中华人民共和国行政许可法》第三十二条"},
    START_SPECIAL_PROCEDURE: {"kind": "investigation", "name": "入户调查", "reason": "核实家庭经济状况"},
    END_SPECIAL_PROCEDURE: {"result": "核实无误"},
    FORWARD: {},
    DECIDE_JOINT_STEP: {"decision": "approve", "opinion": "同意"},
    CONCLUDE: {"result": "approved", "opinion": "同意"},
    WITHDRAW: {"reason": "不再需要"},
    HANDOVER: {"to": "clerk.li", "reason": "轮岗"},
    RECORD_LEG: {"kind": "village_to_township", "materials": ["申请书"]},
    CONFIRM_LEG: {"leg_no": 1},
    EXTEND: {"reason": "需组织现场核查", "approver": "王主任"},
}

_numbers = iter(range(1000, 10000))


def new_case(item_code: str = ENTRUSTED, *, agent: bool = False, at: dt.datetime = RECEIVED) -> dict:
    """A submitted case as intake stores it (the attributes the rules read)."""
    item = ITEMS[item_code]
    case = {"case_no": f"20251103100000000-431224100-{next(_numbers):04d}", "status": "submitted",
            "item_code": item_code, "item_name": item.name, "township_code": "431224100",
            "submitted_at": at.isoformat(timespec="milliseconds"), "history_count": 1, "version": 1,
            "queue": "431224100#1", "queue_sort": f"submitted#{at.isoformat()}",
            "applicant_key": "k-zhangsan", "filed_by": VILLAGER_ACTOR.subject}
    if agent:
        case.update(agent={"name": "李四"}, agent_subject=AGENT.subject, filed_by=AGENT.subject)
    return case


def step(case: dict, action: str, actor: Actor, at: dt.datetime, params: dict | None = None,
         handover_to: dict | None = None) -> tuple[dict, rules.Change]:
    """Decide ``action`` and apply the change to a copy of ``case`` (the in-memory repository)."""
    before = copy.deepcopy(case)
    change = rules.decide(case, action, BODIES[action] if params is None else params, actor, at,
                          item=ITEMS[case["item_code"]], township=TOWNSHIP, calendar=CAL, handover_to=handover_to)
    assert case == before, f"decide mutated the case ({action})"
    after = {**copy.deepcopy(case), **copy.deepcopy(change.set)}
    for name in change.remove:
        after.pop(name, None)
    after["version"] = case["version"] + 1
    return after, change


def _accepted(item_code=ENTRUSTED, **kw):
    return step(new_case(item_code, **kw), ACCEPT, CLERK, day(0))[0]


def _forwarded(**kw):
    return step(_accepted(ENTRUSTED, **kw), FORWARD, CLERK, day(1))[0]


def _joint(**kw):
    return step(new_case(JOINT, **kw), ACCEPT, CLERK, day(0))[0]


#: How each state is reached from a new case; a state may have several variants (which item,
#: who acts), so every capacity that can hold a case in that state is exercised.
BUILDERS = {
    "submitted": {"entrusted": lambda **kw: new_case(ENTRUSTED, **kw),
                  "joint": lambda **kw: new_case(JOINT, **kw)},
    "supplement_required": {"entrusted": lambda **kw: step(new_case(ENTRUSTED, **kw), ISSUE_NOTICE, CLERK,
                                                          day(1))[0]},
    "accepted": {"entrusted": lambda **kw: _accepted(ENTRUSTED, **kw),
                 "devolved": lambda **kw: _accepted(DEVOLVED, **kw)},
    "in_handling": {"devolved": lambda **kw: step(step(_accepted(DEVOLVED, **kw), START_SPECIAL_PROCEDURE, CLERK,
                                                       day(1))[0], END_SPECIAL_PROCEDURE, CLERK, day(2))[0],
                    "entrusted": lambda **kw: step(step(_accepted(ENTRUSTED, **kw), START_SPECIAL_PROCEDURE, CLERK,
                                                        day(1))[0], END_SPECIAL_PROCEDURE, CLERK, day(2))[0]},
    "special_procedure": {"township": lambda **kw: step(_accepted(DEVOLVED, **kw), START_SPECIAL_PROCEDURE, CLERK,
                                                        day(1))[0],
                          "county": lambda **kw: step(_forwarded(**kw), START_SPECIAL_PROCEDURE, APPROVERS["MZJ"],
                                                      day(2))[0]},
    "forwarded": {"entrusted": _forwarded},
    "joint_approval": {"joint": _joint},
    "concluded_approved": {
        "township": lambda **kw: step(_accepted(DEVOLVED, **kw), CONCLUDE, CLERK, day(1))[0],
        "county": lambda **kw: step(_forwarded(**kw), CONCLUDE, APPROVERS["MZJ"], day(2))[0],
        "joint": lambda **kw: step(step(step(_joint(**kw), DECIDE_JOINT_STEP, APPROVERS["NYNCJ"], day(1))[0],
                                        DECIDE_JOINT_STEP, APPROVERS["ZRZYJ"], day(1))[0],
                                   DECIDE_JOINT_STEP, APPROVERS["ZJJ"], day(2))[0]},
    "concluded_rejected": {
        "township": lambda **kw: step(_accepted(DEVOLVED, **kw), CONCLUDE, CLERK, day(1),
                                      {"result": "rejected", "reasons": "不符合条件", "legal_basis": "某条例第五条"})[0],
        "county": lambda **kw: step(_forwarded(**kw), CONCLUDE, APPROVERS["MZJ"], day(2),
                                    {"result": "rejected", "reasons": "不符合条件", "legal_basis": "某条例第五条"})[0],
        "joint": lambda **kw: step(_joint(**kw), DECIDE_JOINT_STEP, APPROVERS["ZJJ"], day(1),
                                   {"decision": "reject", "opinion": "不同意", "reasons": "选址不符合规划",
                                    "legal_basis": "《乡村建设规划许可实施意见》"})[0]},
    "refused": {"entrusted": lambda **kw: step(new_case(ENTRUSTED, **kw), REFUSE, CLERK, day(0))[0]},
    "withdrawn": {"submitted": lambda **kw: step(new_case(ENTRUSTED, **kw), WITHDRAW, VILLAGER_ACTOR, day(0))[0],
                  "forwarded": lambda **kw: step(_forwarded(**kw), WITHDRAW, VILLAGER_ACTOR, day(3))[0],
                  "joint": lambda **kw: step(_joint(**kw), WITHDRAW, VILLAGER_ACTOR, day(1))[0]},
}


def test_every_state_has_a_builder_that_reaches_it():
    assert set(BUILDERS) == set(ALL_STATES)
    for state, variants in BUILDERS.items():
        for name, build in variants.items():
            assert build()["status"] == state, (state, name)


def _actors_for(capacity: str) -> list[Actor]:
    return {WINDOW_CLERK: [CLERK], VILLAGER: [VILLAGER_ACTOR], VILLAGE_AGENT: [AGENT],
            COUNTY_APPROVER: list(APPROVERS.values())}[capacity]


GUARDED = [(state, variant, action, capacity)
           for state in sorted(ALL_STATES) for variant in BUILDERS[state]
           for action in ACTIONS if state not in ALLOWED_FROM[action]
           for capacity in sorted(CAPACITIES[action])]


@pytest.mark.parametrize("state,variant,action,capacity", GUARDED,
                         ids=[f"{s}[{v}]-{a}-as-{c}" for s, v, a, c in GUARDED])
def test_an_action_not_allowed_in_the_state_is_409_with_the_current_state(state, variant, action, capacity):
    case = BUILDERS[state][variant](agent=True)
    before = copy.deepcopy(case)
    for actor in _actors_for(capacity):
        with pytest.raises(InvalidTransition) as caught:
            rules.decide(case, action, BODIES[action], actor, day(5), item=ITEMS[case["item_code"]],
                         township=TOWNSHIP, calendar=CAL, handover_to=CLERK_LI)
        body = caught.value.to_dict()
        assert body["code"] == "INVALID_TRANSITION", (state, action, body)
        assert body["status"] == state and body["version"] == case["version"], (state, action, body)
        assert body["status_label"] == rules.STATUS_LABELS[state]
        assert rules.ACTION_LABELS[action] in body["message"]
        assert case == before


def test_the_guard_covers_every_action_and_state():
    assert set(ALLOWED_FROM) == set(CAPACITIES) == set(ACTIONS) == set(rules.ACTION_LABELS)
    assert all(ALLOWED_FROM[a] <= ALL_STATES for a in ALLOWED_FROM)
    # nothing but the agency legs may touch a final case
    assert {a for a in ALLOWED_FROM if ALLOWED_FROM[a] & FINAL_STATES} == {RECORD_LEG, CONFIRM_LEG}
    assert len(GUARDED) > 100


WRONG_CAPACITY = [(action, capacity) for action in ACTIONS
                  for capacity in (WINDOW_CLERK, COUNTY_APPROVER, VILLAGER, VILLAGE_AGENT)
                  if capacity not in CAPACITIES[action]]


@pytest.mark.parametrize("action,capacity", WRONG_CAPACITY, ids=[f"{a}-as-{c}" for a, c in WRONG_CAPACITY])
def test_a_capacity_not_allowed_for_the_action_is_403_in_every_state(action, capacity):
    for state in sorted(ALL_STATES):
        case = next(iter(BUILDERS[state].values()))(agent=True)
        with pytest.raises(NotYourAction) as caught:
            rules.decide(case, action, BODIES[action], _actors_for(capacity)[0], day(5),
                         item=ITEMS[case["item_code"]], township=TOWNSHIP, calendar=CAL, handover_to=CLERK_LI)
        assert isinstance(caught.value, Forbidden) and caught.value.code == "ACTION_NOT_ALLOWED", (state, action)


# --- allowed transitions land where the table says ----------------------------------------------

def _with_pending_leg(case: dict) -> dict:
    """A township->village leg waiting for the agent's signature (the result handed back)."""
    return {**case, "legs": [*(case.get("legs") or []),
                             {"leg_no": len(case.get("legs") or []) + 1, "kind": "township_to_village",
                              "label": "乡镇窗口→村代办员", "materials": ["审批决定"], "note": "",
                              "sent_at": day(4).isoformat(), "sent_by": CLERK.subject,
                              "receipt_no": f"{case['case_no']}-L9"}]}


#: (state, variant, action, actor, params, expected status). The transition table of the
#: domain docs (``chalicelib/domain/lifecycle.py``; ``docs/lifecycle.md`` is referenced there
#: but not in the repository): the state an allowed action leads to.
REJECT = {"result": "rejected", "reasons": "不符合条件", "legal_basis": "某条例第五条"}
ALLOWED = [
    ("submitted", "entrusted", ACCEPT, CLERK, None, "accepted"),
    ("submitted", "joint", ACCEPT, CLERK, None, "joint_approval"),
    ("submitted", "entrusted", ISSUE_NOTICE, CLERK, None, "supplement_required"),
    ("supplement_required", "entrusted", SUPPLEMENT, VILLAGER_ACTOR, None, "submitted"),
    ("supplement_required", "entrusted", SUPPLEMENT, AGENT, None, "submitted"),
    ("supplement_required", "entrusted", SUPPLEMENT, CLERK, None, "submitted"),
    ("submitted", "entrusted", REFUSE, CLERK, None, "refused"),
    ("supplement_required", "entrusted", REFUSE, CLERK, None, "refused"),
    ("accepted", "devolved", START_SPECIAL_PROCEDURE, CLERK, None, "special_procedure"),
    ("in_handling", "devolved", START_SPECIAL_PROCEDURE, CLERK, None, "special_procedure"),
    ("forwarded", "entrusted", START_SPECIAL_PROCEDURE, APPROVERS["MZJ"], None, "special_procedure"),
    ("special_procedure", "township", END_SPECIAL_PROCEDURE, CLERK, None, "in_handling"),
    ("special_procedure", "county", END_SPECIAL_PROCEDURE, APPROVERS["MZJ"], None, "forwarded"),
    ("accepted", "entrusted", FORWARD, CLERK, None, "forwarded"),
    ("in_handling", "entrusted", FORWARD, CLERK, None, "forwarded"),
    ("joint_approval", "joint", DECIDE_JOINT_STEP, APPROVERS["NYNCJ"], None, "joint_approval"),
    ("joint_approval", "joint", DECIDE_JOINT_STEP, APPROVERS["ZRZYJ"],
     {"decision": "reject", "opinion": "不同意", "reasons": "占用基本农田", "legal_basis": "《土地管理法》第三十七条"},
     "concluded_rejected"),
    ("accepted", "devolved", CONCLUDE, CLERK, None, "concluded_approved"),
    ("accepted", "devolved", CONCLUDE, CLERK, REJECT, "concluded_rejected"),
    ("in_handling", "devolved", CONCLUDE, CLERK, None, "concluded_approved"),
    ("forwarded", "entrusted", CONCLUDE, APPROVERS["MZJ"], None, "concluded_approved"),
    ("forwarded", "entrusted", CONCLUDE, APPROVERS["MZJ"], REJECT, "concluded_rejected"),
    *[(state, variant, WITHDRAW, who, None, "withdrawn") for state in sorted(OPEN_STATES)
      for variant in BUILDERS[state] for who in (VILLAGER_ACTOR, AGENT)],
    *[(state, variant, HANDOVER, CLERK, None, state) for state in sorted(OPEN_STATES) for variant in BUILDERS[state]],
    *[(state, variant, RECORD_LEG, CLERK,
       {"kind": "township_to_village" if state in FINAL_STATES else "village_to_township", "materials": ["材料"]},
       state) for state in sorted(ALL_STATES) for variant in BUILDERS[state]],
    *[(state, variant, CONFIRM_LEG, AGENT, "pending-leg", state)
      for state in sorted(ALL_STATES) for variant in BUILDERS[state]],
    ("accepted", "devolved", EXTEND, CLERK, None, "accepted"),
    ("in_handling", "devolved", EXTEND, CLERK, None, "in_handling"),
    ("joint_approval", "joint", EXTEND, CLERK, None, "joint_approval"),
    ("special_procedure", "township", EXTEND, CLERK, None, "special_procedure"),
    ("forwarded", "entrusted", EXTEND, APPROVERS["MZJ"], None, "forwarded"),
]


@pytest.mark.parametrize("state,variant,action,actor,params,expected", ALLOWED,
                         ids=[f"{s}[{v}]-{a}-as-{who.capacity}->{e}" for s, v, a, who, _p, e in ALLOWED])
def test_an_allowed_action_leads_to_the_documented_state(state, variant, action, actor, params, expected):
    case = BUILDERS[state][variant](agent=True)
    if params == "pending-leg":
        case = _with_pending_leg(case)
        params = {"leg_no": len(case["legs"])}
    assert state in ALLOWED_FROM[action]
    after, change = step(case, action, actor, day(5), params, handover_to=CLERK_LI)
    assert change.status == expected and after["status"] == expected
    assert change.set["history_count"] == case["history_count"] + len(change.history)
    assert [h.seq for h in change.history] == list(range(case["history_count"] + 1, after["history_count"] + 1))
    assert change.event_type.startswith("case.")
    if expected != state:
        assert after["queue_sort"].startswith(f"{expected}#")


def test_every_allowed_pair_is_in_the_table():
    covered = {(s, a) for s, _v, a, _w, _p, _e in ALLOWED}
    assert covered == {(s, a) for a in ALLOWED_FROM for s in ALLOWED_FROM[a]}


# --- 行政许可法第三十二条: the acceptance date ------------------------------------------------------

def _notice_then_accept(notice_at: dt.datetime, supplement_at: dt.datetime, accept_at: dt.datetime):
    case = step(new_case(DEVOLVED), ISSUE_NOTICE, CLERK, notice_at)[0]
    case = step(case, SUPPLEMENT, VILLAGER_ACTOR, supplement_at)[0]
    return step(case, ACCEPT, CLERK, accept_at)


def test_without_a_notice_the_application_is_accepted_on_the_day_of_receipt():
    case = new_case(DEVOLVED)
    assert acceptance_date(case, CAL) == (dt.date(2025, 11, 3), "received")
    after, change = step(case, ACCEPT, CLERK, day(2))  # accepted on Wednesday, dates from Monday
    assert (after["accepted_on"], after["acceptance_basis"]) == ("2025-11-03", "received")
    assert after["due_date"] == CAL.add(dt.date(2025, 11, 3), 10, "working_days").date.isoformat() == "2025-11-17"
    assert change.history[0].data["acceptance_basis"] == "received"


def test_a_timely_notice_dates_acceptance_from_the_supplement():
    # the fifth working day after receipt is the last day for the notice (Monday 10 November)
    assert CAL.add_working_days(dt.date(2025, 11, 3), 5).date == dt.date(2025, 11, 10)
    after, _ = _notice_then_accept(day(7, hour_utc=9), day(9), day(10))  # 17:00 Shanghai on the 10th
    assert after["notices"][0]["late"] is False
    assert (after["accepted_on"], after["acceptance_basis"]) == ("2025-11-12", "materials_complete")
    assert after["due_date"] == "2025-11-26"


def test_a_notice_after_five_working_days_means_the_application_was_accepted_on_receipt():
    after, change = _notice_then_accept(day(8), day(9), day(10))  # notice Tuesday 11th: one day late
    assert after["notices"][0]["late"] is True
    assert (after["accepted_on"], after["acceptance_basis"]) == ("2025-11-03", "deemed_received")
    # 10 working days from the 3rd would end on the 17th; the clock paused while the applicant
    # supplemented (notice on the 11th, materials on the 12th: the 12th does not count)
    assert after["due_date"] == "2025-11-18"
    assert change.history[0].data["acceptance_basis"] == "deemed_received"


def test_lateness_counts_shanghai_dates_and_working_days_not_utc_or_calendar_days():
    # 23:30 UTC on the 10th is already the 11th in Shanghai: late
    case = step(new_case(DEVOLVED), ISSUE_NOTICE, CLERK, day(7, hour_utc=23).replace(minute=30))[0]
    assert case["notices"][0]["late"] is True
    # received on Friday 26 September 2025: National Day holidays (1-8 Oct) do not count, the
    # make-up working day Sunday 28 September does: 28, 29, 30 Sep, 9, 10 Oct
    friday = dt.datetime(2025, 9, 26, 2, 0, tzinfo=UTC)
    assert CAL.add_working_days(friday.date(), 5).date == dt.date(2025, 10, 10)
    fresh = new_case(DEVOLVED, at=friday)
    notice_at = dt.datetime(2025, 10, 10, 2, 0, tzinfo=UTC)
    timely = step(step(fresh, ISSUE_NOTICE, CLERK, notice_at)[0], SUPPLEMENT, VILLAGER_ACTOR, notice_at)[0]
    assert acceptance_date(timely, CAL) == (dt.date(2025, 10, 10), "materials_complete")
    late = step(fresh, ISSUE_NOTICE, CLERK, notice_at + dt.timedelta(days=1))[0]
    assert late["notices"][0]["late"] is True


def test_only_the_first_notice_decides_deemed_acceptance_and_the_last_supplement_the_date():
    case = step(new_case(DEVOLVED), ISSUE_NOTICE, CLERK, day(1))[0]
    case = step(case, SUPPLEMENT, VILLAGER_ACTOR, day(2))[0]
    case = step(case, ISSUE_NOTICE, CLERK, day(15), {"other": ["补充的收入证明未盖章"]})[0]  # round 2, after 5 days
    case = step(case, SUPPLEMENT, VILLAGER_ACTOR, day(16))[0]
    after, _ = step(case, ACCEPT, CLERK, day(16))
    assert [n["round"] for n in after["notices"]] == [1, 2]
    assert (after["accepted_on"], after["acceptance_basis"]) == ("2025-11-19", "materials_complete")


# --- one-time notice: one per round --------------------------------------------------------------

def test_one_notice_per_round():
    first, change = step(new_case(ENTRUSTED), ISSUE_NOTICE, CLERK, day(1))
    assert first["status"] == "supplement_required" and first["notices"][0]["round"] == 1
    assert change.documents[0]["round"] == 1 and "居民户口簿" in change.documents[0]["doc"]["text"]
    with pytest.raises(InvalidTransition) as caught:  # a second notice in the same round
        step(first, ISSUE_NOTICE, CLERK, day(2), {"other": ["还缺一份证明"]})
    assert caught.value.to_dict()["status"] == "supplement_required"
    supplied = step(first, SUPPLEMENT, VILLAGER_ACTOR, day(2))[0]
    assert supplied["status"] == "submitted" and supplied["notices"][0]["supplemented_at"]
    second, change = step(supplied, ISSUE_NOTICE, CLERK, day(3), {"other": ["补正的户口簿页不全"]})
    assert [n["round"] for n in second["notices"]] == [1, 2] and change.documents[0]["round"] == 2
    with pytest.raises(InvalidTransition):
        step(second, ISSUE_NOTICE, CLERK, day(3), {"other": ["又一项"]})


def test_a_notice_must_list_something_and_only_materials_of_the_item():
    with pytest.raises(ValidationFailed) as caught:
        step(new_case(ENTRUSTED), ISSUE_NOTICE, CLERK, day(1), {})
    assert [d.path for d in caught.value.details] == ["materials"]
    with pytest.raises(ValidationFailed) as caught:
        step(new_case(ENTRUSTED), ISSUE_NOTICE, CLERK, day(1),
             {"materials": [{"name": "居民户口簿", "problem": "missing"}, {"name": "结婚证", "problem": "missing"}]})
    assert [(d.path, d.code) for d in caught.value.details] == [("materials[1].name", "UNKNOWN_MATERIAL")]


# --- rejections need reasons and the legal basis ---------------------------------------------------

@pytest.mark.parametrize("params", [{"result": "rejected"}, {"result": "rejected", "reasons": " ", "legal_basis": ""}])
def test_a_rejection_without_reasons_names_the_fields(params):
    with pytest.raises(ValidationFailed) as caught:
        step(_accepted(DEVOLVED), CONCLUDE, CLERK, day(1), params)
    assert sorted((d.path, d.code) for d in caught.value.details) == [("legal_basis", "FIELD_REQUIRED"),
                                                                      ("reasons", "FIELD_REQUIRED")]
    with pytest.raises(ValidationFailed) as caught:
        step(_forwarded(), CONCLUDE, APPROVERS["MZJ"], day(2), {**params, "legal_basis": "某条例第五条"})
    assert [d.path for d in caught.value.details] == ["reasons"]


def test_a_refusal_and_a_joint_rejection_without_reasons_name_the_fields():
    with pytest.raises(ValidationFailed) as caught:
        step(new_case(), REFUSE, CLERK, day(0), {"reasons": "  ", "legal_basis": "\t"})
    assert sorted(d.path for d in caught.value.details) == ["legal_basis", "reasons"]
    with pytest.raises(ValidationFailed) as caught:
        step(_joint(), DECIDE_JOINT_STEP, APPROVERS["ZJJ"], day(1), {"decision": "reject", "opinion": "不同意"})
    assert sorted(d.path for d in caught.value.details) == ["legal_basis", "reasons"]


def test_a_rejection_carries_reasons_basis_and_review_rights():
    after, change = step(_accepted(DEVOLVED), CONCLUDE, CLERK, day(1), REJECT)
    assert after["outcome"]["reasons"] == "不符合条件" and after["outcome"]["legal_basis"] == "某条例第五条"
    assert "行政复议" in after["outcome"]["review_rights"]
    assert change.history[0].action == "return" and change.event_type == "case.concluded_rejected"


def test_an_entrusted_item_cannot_be_concluded_at_the_township_and_a_devolved_one_not_forwarded():
    with pytest.raises(InvalidTransition) as caught:
        step(_accepted(ENTRUSTED), CONCLUDE, CLERK, day(1))
    assert caught.value.to_dict()["code"] == "FORWARD_REQUIRED" and caught.value.to_dict()["status"] == "accepted"
    with pytest.raises(InvalidTransition) as caught:
        step(_accepted(DEVOLVED), FORWARD, CLERK, day(1))
    assert caught.value.to_dict()["code"] == "ITEM_DECIDED_AT_TOWNSHIP"


def test_the_township_cannot_act_on_a_case_with_the_county_nor_another_department():
    forwarded = _forwarded()
    for action in (CONCLUDE, START_SPECIAL_PROCEDURE):
        with pytest.raises(InvalidTransition) as caught:
            step(forwarded, action, CLERK, day(2))
        assert caught.value.to_dict()["code"] == "WITH_COUNTY" and caught.value.to_dict()["status"] == "forwarded"
        with pytest.raises(InvalidTransition) as caught:
            step(forwarded, action, APPROVERS["NYNCJ"], day(2))
        assert caught.value.to_dict()["code"] == "NOT_WITH_YOUR_DEPARTMENT"
    with pytest.raises(InvalidTransition) as caught:
        step(_accepted(DEVOLVED), CONCLUDE, APPROVERS["MZJ"], day(1))
    assert caught.value.to_dict()["code"] == "NOT_WITH_YOUR_DEPARTMENT"


# --- joint (parallel) approval -------------------------------------------------------------------

def test_joint_approval_starts_every_department_at_once():
    after, change = step(new_case(JOINT), ACCEPT, CLERK, day(0))
    assert after["status"] == "joint_approval"
    assert {c: a["state"] for c, a in after["approvals"].items()} == {"NYNCJ": "pending", "ZRZYJ": "pending",
                                                                     "ZJJ": "pending"}
    assert sorted(s["department"] for s in change.steps if s["state"] == "pending") == ["NYNCJ", "ZJJ", "ZRZYJ"]
    assert "joint" in after["case_classes"]


def test_all_approvals_conclude_approved():
    case = _joint()
    for n, code in enumerate(("ZRZYJ", "NYNCJ")):
        case, change = step(case, DECIDE_JOINT_STEP, APPROVERS[code], day(1 + n))
        assert case["status"] == "joint_approval" and change.event_type == "case.joint_step_decided"
    with pytest.raises(InvalidTransition) as caught:  # a department decides once
        step(case, DECIDE_JOINT_STEP, APPROVERS["NYNCJ"], day(3))
    assert caught.value.to_dict()["code"] == "STEP_ALREADY_DECIDED"
    with pytest.raises(NotYourAction):  # a department that is not part of it
        step(case, DECIDE_JOINT_STEP, APPROVERS["MZJ"], day(3))
    case, change = step(case, DECIDE_JOINT_STEP, APPROVERS["ZJJ"], day(3))
    assert case["status"] == "concluded_approved" and change.event_type == "case.concluded_approved"
    assert case["outcome"]["result"] == "approved" and case["outcome"]["level"] == "county"
    assert {a["state"] for a in case["approvals"].values()} == {"approved"}
    assert [h.step_name for h in change.history] == ["并联审批：县住房和城乡建设局", "并联审批办结"]
    assert case["case_classes"] == ["promised", "joint"]


def test_one_rejection_concludes_rejected_and_cancels_the_pending_steps():
    case, _ = step(_joint(), DECIDE_JOINT_STEP, APPROVERS["NYNCJ"], day(1))
    case, change = step(case, DECIDE_JOINT_STEP, APPROVERS["ZRZYJ"], day(2),
                        {"decision": "reject", "opinion": "不同意", "reasons": "占用基本农田",
                         "legal_basis": "《土地管理法》第三十七条"})
    assert case["status"] == "concluded_rejected" and change.event_type == "case.concluded_rejected"
    assert {c: a["state"] for c, a in case["approvals"].items()} == {"NYNCJ": "approved", "ZRZYJ": "rejected",
                                                                    "ZJJ": "cancelled"}
    assert {(s["department"], s["state"], s["decision"]) for s in change.steps} == {
        ("ZRZYJ", "done", "rejected"), ("ZJJ", "done", "cancelled")}
    assert "县自然资源局" in case["outcome"]["reasons"] and case["outcome"]["legal_basis"]
    assert case["case_classes"] == ["promised", "joint", "returned"]
    with pytest.raises(InvalidTransition) as caught:  # the cancelled department comes too late
        step(case, DECIDE_JOINT_STEP, APPROVERS["ZJJ"], day(3))
    assert caught.value.to_dict()["status"] == "concluded_rejected"


def test_withdrawing_during_joint_approval_cancels_every_pending_step():
    case, _ = step(_joint(), DECIDE_JOINT_STEP, APPROVERS["NYNCJ"], day(1))
    after, change = step(case, WITHDRAW, VILLAGER_ACTOR, day(2))
    assert {c: a["state"] for c, a in after["approvals"].items()} == {"NYNCJ": "approved", "ZRZYJ": "cancelled",
                                                                     "ZJJ": "cancelled"}
    assert sorted(s["department"] for s in change.steps) == ["ZJJ", "ZRZYJ"]


# --- the six case classes, combined -----------------------------------------------------------------

def test_agency_combines_with_promised_and_a_forward_makes_an_agency_case():
    assert _accepted(DEVOLVED, agent=True)["case_classes"] == ["promised", "agency"]
    assert _accepted(DEVOLVED)["case_classes"] == ["promised"]
    assert _forwarded()["case_classes"] == ["promised", "agency"]  # 委托代办: the township carries it to the county


def test_concluded_approved_at_the_window_on_the_day_of_acceptance_is_immediate():
    accepted = step(new_case(DEVOLVED, agent=True), ACCEPT, CLERK, day(0))[0]
    on_the_spot = step(accepted, CONCLUDE, CLERK, day(0, hour_utc=3))[0]
    assert on_the_spot["on_the_spot"] is True
    assert on_the_spot["case_classes"] == ["immediate", "agency"] and on_the_spot["case_type"] == "1"
    next_day = step(accepted, CONCLUDE, CLERK, day(1))[0]
    assert next_day["case_classes"] == ["promised", "agency"] and next_day["case_type"] == "2"
    rejected = step(accepted, CONCLUDE, CLERK, day(0, hour_utc=3), REJECT)[0]
    assert rejected["case_classes"] == ["promised", "returned", "agency"]
    # a step in between (a special procedure) means it was not concluded on the spot
    paused = step(step(accepted, START_SPECIAL_PROCEDURE, CLERK, day(0))[0], END_SPECIAL_PROCEDURE, CLERK, day(0))[0]
    assert step(paused, CONCLUDE, CLERK, day(0, hour_utc=4))[0]["case_classes"] == ["promised", "agency"]


def test_an_immediate_item_is_immediate_whatever_happens():
    case = new_case(IMMEDIATE)
    accepted = step(case, ACCEPT, CLERK, day(0))[0]
    assert accepted["case_classes"] == ["immediate"] and accepted["due_date"] == "2025-11-03"
    assert step(accepted, CONCLUDE, CLERK, day(2))[0]["case_classes"] == ["immediate"]


def test_supplement_stays_once_a_notice_was_issued():
    case = step(new_case(DEVOLVED), ISSUE_NOTICE, CLERK, day(1))[0]
    assert case["case_classes"] == ["promised", "supplement"]
    for action, actor, at in ((SUPPLEMENT, VILLAGER_ACTOR, day(2)), (ACCEPT, CLERK, day(2)),
                              (CONCLUDE, CLERK, day(3))):
        case = step(case, action, actor, at)[0]
        assert "supplement" in case["case_classes"], action
    assert case["case_classes"] == ["promised", "supplement"]


def test_returned_when_refused_or_concluded_rejected_not_when_withdrawn():
    assert step(new_case(), REFUSE, CLERK, day(0))[0]["case_classes"] == ["promised", "returned"]
    noticed = step(new_case(agent=True), ISSUE_NOTICE, CLERK, day(1))[0]
    assert step(noticed, REFUSE, CLERK, day(2))[0]["case_classes"] == ["promised", "supplement", "returned", "agency"]
    county = step(_forwarded(), CONCLUDE, APPROVERS["MZJ"], day(2), REJECT)[0]
    assert county["case_classes"] == ["promised", "returned", "agency"]
    assert step(new_case(), WITHDRAW, VILLAGER_ACTOR, day(0))[0]["case_classes"] == ["promised"]


# --- first-inquiry responsibility ---------------------------------------------------------------

def test_the_first_clerk_who_acts_is_responsible_until_handed_over():
    case = step(new_case(DEVOLVED), ISSUE_NOTICE, CLERK, day(1))[0]
    assert case["responsible"] == CLERK.subject
    other = Actor("staff_clerk.zhao", WINDOW_CLERK)
    with pytest.raises(NotYourAction) as caught:
        step(case, HANDOVER, other, day(1), handover_to=CLERK_LI)
    assert caught.value.code == "NOT_RESPONSIBLE"
    with pytest.raises(ValidationFailed):
        step(case, HANDOVER, CLERK, day(1), handover_to={"subject": CLERK.subject})
    handed = step(case, HANDOVER, CLERK, day(1), handover_to=CLERK_LI)[0]
    assert (handed["responsible"], handed["status"]) == (CLERK_LI["subject"], "supplement_required")
    assert step(handed, SUPPLEMENT, CLERK, day(2))[0]["responsible"] == CLERK_LI["subject"]


def test_when_the_responsible_clerk_is_gone_any_clerk_of_the_township_hands_over():
    """Regression: a disabled responsible clerk kept the case for ever (only they could hand
    over). The use case says whether the responsible clerk is still active."""
    case = step(new_case(DEVOLVED), ISSUE_NOTICE, CLERK, day(1))[0]
    other = Actor("staff_clerk.zhao", WINDOW_CLERK)
    with pytest.raises(NotYourAction):
        rules.decide(case, HANDOVER, BODIES[HANDOVER], other, day(2), item=ITEMS[case["item_code"]],
                     township=TOWNSHIP, calendar=CAL, handover_to=CLERK_LI, responsible_active=True)
    change = rules.decide(case, HANDOVER, BODIES[HANDOVER], other, day(2), item=ITEMS[case["item_code"]],
                          township=TOWNSHIP, calendar=CAL, handover_to=CLERK_LI, responsible_active=False)
    assert change.set["responsible"] == CLERK_LI["subject"]
    assert change.history[0].data == {"from": CLERK.subject, "to": CLERK_LI["subject"]}
    assert change.history[0].actor == other.subject
