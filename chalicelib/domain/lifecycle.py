"""The case state machine (办件生命周期): states, guarded transitions, the six case classes,
one-time notices, first-inquiry responsibility, agency legs and joint (parallel) approval.

Pure rules, no storage: :func:`decide` takes a case (the stored attribute dict), an action,
its parameters and the actor, and returns a :class:`Change` (attribute updates, history
entries with GB/T 39046 step fields, documents, approval steps, the event to publish) or
raises. The use case layer reads the case, calls :func:`decide` and writes the change in one
transaction conditioned on the case's ``version``; the state table is ``docs/lifecycle.md``.

Sources: ``shared/docs/domain.md`` sections 2-4; 行政许可法 arts. 32 (one-time notice, deemed
acceptance), 38 (refusal with reasons and the right to review), 45 (special procedures), 82
(time limits counted in working days); GB/T 39046-2020 processing-step dataset.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .access import COUNTY_APPROVER, VILLAGE_AGENT, VILLAGER, WINDOW_CLERK, Forbidden
from . import deadlines
from .calendar import WORKING_DAYS, WorkingDayCalendar
from .cases import (ACCEPTED, CASE_TYPE_CODES, CONCLUDED_APPROVED, CONCLUDED_REJECTED,
                    FORWARDED, IN_HANDLING, JOINT_APPROVAL, REFUSED, SHANGHAI, SPECIAL_PROCEDURE, STATUS_LABELS,
                    SUBMITTED, SUPPLEMENT_REQUIRED, WITHDRAWN, HistoryEntry, case_classes, utc_iso)
from .catalog import ServiceItem, Township
from .errors import Conflict, FieldProblem, ValidationFailed

# --- states and classes (defined with the case record in ``cases.py``) ------------------------

FINAL_STATES = frozenset({CONCLUDED_APPROVED, CONCLUDED_REJECTED, REFUSED, WITHDRAWN})
OPEN_STATES = frozenset(STATUS_LABELS) - FINAL_STATES
ALL_STATES = frozenset(STATUS_LABELS)

# --- actions --------------------------------------------------------------------------------

ACCEPT = "accept"
ISSUE_NOTICE = "issue_notice"
SUPPLEMENT = "supplement"
REFUSE = "refuse"
START_SPECIAL_PROCEDURE = "start_special_procedure"
END_SPECIAL_PROCEDURE = "end_special_procedure"
FORWARD = "forward"
DECIDE_JOINT_STEP = "decide_joint_step"
CONCLUDE = "conclude"
WITHDRAW = "withdraw"
HANDOVER = "handover"
RECORD_LEG = "record_leg"
CONFIRM_LEG = "confirm_leg"
EXTEND = "extend"

#: The guard: the states each action may be taken in. Anything else is 409 with the current state.
ALLOWED_FROM: dict[str, frozenset[str]] = {
    ACCEPT: frozenset({SUBMITTED}),
    ISSUE_NOTICE: frozenset({SUBMITTED}),
    SUPPLEMENT: frozenset({SUPPLEMENT_REQUIRED}),
    REFUSE: frozenset({SUBMITTED, SUPPLEMENT_REQUIRED}),
    START_SPECIAL_PROCEDURE: frozenset({ACCEPTED, IN_HANDLING, FORWARDED}),
    END_SPECIAL_PROCEDURE: frozenset({SPECIAL_PROCEDURE}),
    FORWARD: frozenset({ACCEPTED, IN_HANDLING}),
    DECIDE_JOINT_STEP: frozenset({JOINT_APPROVAL}),
    CONCLUDE: frozenset({ACCEPTED, IN_HANDLING, FORWARDED}),
    WITHDRAW: OPEN_STATES,
    HANDOVER: OPEN_STATES,
    RECORD_LEG: ALL_STATES,
    CONFIRM_LEG: ALL_STATES,
    EXTEND: frozenset({ACCEPTED, IN_HANDLING, FORWARDED, JOINT_APPROVAL, SPECIAL_PROCEDURE}),
}

#: Who may take each action, by the capacity they act in on this case (see :class:`Actor`).
CAPACITIES: dict[str, frozenset[str]] = {
    ACCEPT: frozenset({WINDOW_CLERK}),
    ISSUE_NOTICE: frozenset({WINDOW_CLERK}),
    SUPPLEMENT: frozenset({VILLAGER, VILLAGE_AGENT, WINDOW_CLERK}),
    REFUSE: frozenset({WINDOW_CLERK}),
    START_SPECIAL_PROCEDURE: frozenset({WINDOW_CLERK, COUNTY_APPROVER}),
    END_SPECIAL_PROCEDURE: frozenset({WINDOW_CLERK, COUNTY_APPROVER}),
    FORWARD: frozenset({WINDOW_CLERK}),
    DECIDE_JOINT_STEP: frozenset({COUNTY_APPROVER}),
    CONCLUDE: frozenset({WINDOW_CLERK, COUNTY_APPROVER}),
    WITHDRAW: frozenset({VILLAGER, VILLAGE_AGENT}),
    HANDOVER: frozenset({WINDOW_CLERK}),
    RECORD_LEG: frozenset({WINDOW_CLERK}),
    CONFIRM_LEG: frozenset({WINDOW_CLERK, COUNTY_APPROVER, VILLAGE_AGENT}),
    EXTEND: frozenset({WINDOW_CLERK, COUNTY_APPROVER}),
}

ACTION_LABELS = {
    ACCEPT: "受理", ISSUE_NOTICE: "一次性告知", SUPPLEMENT: "补正材料", REFUSE: "不予受理",
    START_SPECIAL_PROCEDURE: "特别程序开始", END_SPECIAL_PROCEDURE: "特别程序结束", FORWARD: "报送县级部门",
    DECIDE_JOINT_STEP: "并联审批", CONCLUDE: "办结", WITHDRAW: "撤回申请", HANDOVER: "首问责任移交",
    RECORD_LEG: "材料交接", CONFIRM_LEG: "交接签收", EXTEND: "延长办理期限",
}

#: Special procedures whose time does not count (行政许可法第四十五条); GB/T 39046 special
#: procedure kind code 2 ("other than extension"); extension (kind 1) comes with deadlines.
SPECIAL_PROCEDURE_KINDS = {
    "hearing": "听证", "tendering": "招标", "auction": "拍卖", "inspection": "检验", "testing": "检测",
    "quarantine": "检疫", "appraisal": "鉴定", "expert_review": "专家评审",
    "investigation": "入户调查/实地核查", "public_notice": "公示", "other": "其他",
}

#: Agency legs (代办): who hands what to whom. ``sender``/``receiver`` are capacities.
LEG_KINDS = {
    "village_to_township": {"label": "村代办员→乡镇窗口", "sender": VILLAGE_AGENT, "receiver": WINDOW_CLERK},
    "township_to_village": {"label": "乡镇窗口→村代办员", "sender": WINDOW_CLERK, "receiver": VILLAGE_AGENT},
    "township_to_county": {"label": "乡镇→县级部门", "sender": WINDOW_CLERK, "receiver": COUNTY_APPROVER},
    "county_to_township": {"label": "县级部门→乡镇", "sender": COUNTY_APPROVER, "receiver": WINDOW_CLERK},
}

#: 行政许可法第三十二条 with 第八十二条: the one-time notice is due within 5 working days of receipt.
NOTICE_WORKING_DAYS = 5
NOTICE_LEGAL_BASIS = "《中华人民共和国行政许可法》第三十二条"
REVIEW_RIGHTS = "如不服本决定，可自收到之日起六十日内依法申请行政复议，或者六个月内依法提起行政诉讼。"

# GB/T 39046 step actions
PASS, RETURN, OTHER = "pass", "return", "other"


class InvalidTransition(Conflict):
    """The action is not allowed in the case's current state (HTTP 409). Carries ``status``
    (the current state), its label and ``version``; nothing was written."""

    code = "INVALID_TRANSITION"

    def __init__(self, case: Mapping[str, Any], action: str, message: str | None = None,
                 code: str | None = None) -> None:
        status = case["status"]
        super().__init__(message or f"办件当前状态为“{STATUS_LABELS.get(status, status)}”，不能{ACTION_LABELS[action]}",
                         code=code, status=status, status_label=STATUS_LABELS.get(status, status),
                         version=int(case["version"]))


class NotYourAction(Forbidden):
    """The caller may see the case but not take this action on it (HTTP 403)."""

    code = "ACTION_NOT_ALLOWED"
    message = "您无权对该办件执行此操作"


@dataclass(frozen=True)
class Actor:
    """Who acts and in which capacity on this case: ``capacity`` is one role constant
    (window clerk of the case's township, county approver of a department the case reached,
    the applicant as villager, the applicant's consenting village agent); ``name`` is the
    handler's display name for the GB/T 39046 step record; ``department`` the approver's code."""

    subject: str
    capacity: str
    name: str = ""
    department: str | None = None


@dataclass
class Change:
    """What one action does to a case, for the repository to write in one transaction.

    ``set``: case attributes to set (always ``status``, ``case_classes``, ``case_type``);
    ``remove``: attributes to remove; ``history``: entries to append (``seq`` assigned);
    ``documents``: stored documents (``{"kind": "notice", "round": n, "doc": {...}}``);
    ``steps``: approval step records to put (``{"department", "name", "state", ...}``;
    ``state`` "pending" keeps the step in its department's queue); ``event_type``: the event
    published when the change commits (``case.<action>``)."""

    action: str
    set: dict[str, Any]
    remove: list[str] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    event_type: str = ""

    @property
    def status(self) -> str:
        return self.set["status"]


# --- helpers ---------------------------------------------------------------------------------

def _text(params: Mapping[str, Any], key: str, label: str, problems: list[FieldProblem], required: bool = True) -> str:
    value = (params.get(key) or "").strip() if isinstance(params.get(key, ""), str) else ""
    if required and not value:
        problems.append(FieldProblem(key, "FIELD_REQUIRED", f"请填写{label}"))
    return value


def _raise(problems: list[FieldProblem]) -> None:
    if problems:
        raise ValidationFailed(details=problems)


def local_date(iso_utc: str) -> dt.date:
    """The Asia/Shanghai calendar date of a stored UTC ISO time."""
    return dt.datetime.fromisoformat(iso_utc).astimezone(SHANGHAI).date()


def acceptance_date(case: Mapping[str, Any], calendar: WorkingDayCalendar) -> tuple[dt.date, str]:
    """The acceptance date (受理日期, Asia/Shanghai) and its basis, for a case accepted now.

    行政许可法第三十二条: a one-time notice must be given within 5 days (working days, art. 82)
    of receipt; if none was, the application counts as accepted on the day of receipt
    (``"deemed_received"``). Otherwise acceptance dates from the day the materials became
    complete: the last supplement (``"materials_complete"``); with no notice at all that is the
    day of receipt (``"received"``)."""
    received = local_date(case["submitted_at"])
    notices = case.get("notices") or []
    if not notices:
        return received, "received"
    first_notice = local_date(notices[0]["issued_at"])
    if first_notice > calendar.add_working_days(received, NOTICE_WORKING_DAYS).date:
        return received, "deemed_received"
    return local_date(case.get("materials_complete_at") or case["submitted_at"]), "materials_complete"


def _departments(raw: Any) -> list[dict[str, str]]:
    return [{"code": d["code"], "name": d["name"]} for d in (raw or []) if d.get("code") and d.get("name")]


# --- the transition function -------------------------------------------------------------------

def decide(case: Mapping[str, Any], action: str, params: Mapping[str, Any], actor: Actor, at: dt.datetime, *,
           item: ServiceItem | None, township: Township | None, calendar: WorkingDayCalendar,
           handover_to: Mapping[str, Any] | None = None, responsible_active: bool | None = None,
           policy: deadlines.Policy = deadlines.Policy()) -> Change:
    """Apply ``action`` to ``case`` (the stored attribute dict) at ``at`` (UTC, aware).

    ``params`` is the request body (already valid against ``schemas/case_<action>.json``);
    ``item``/``township`` the catalog entries the case was filed under; ``handover_to`` the
    colleague's staff record for :data:`HANDOVER`; ``responsible_active`` False when the
    responsible clerk's account is disabled or no longer of the township (any clerk of the
    township may then hand the case over, as before anybody was responsible).

    Raises :class:`NotYourAction` (403) when ``actor.capacity`` may not take the action,
    :class:`InvalidTransition` (409, with the current state) when the state does not allow it
    or the item's rules forbid it here, ``ValidationFailed`` (400) for parameters the rules
    reject (an unknown material, a rejection without reasons). Never mutates ``case``.

    Every change also recomputes the case's clock and deadline attributes (:func:`case_clock`,
    ``deadlines.refresh`` with ``policy``) and, when the case reaches a final state, records
    its on-time data (``timeliness``).
    """
    if actor.capacity not in CAPACITIES[action]:
        raise NotYourAction()
    if case["status"] not in ALLOWED_FROM[action]:
        raise InvalidTransition(case, action)
    handler = _HANDLERS[action]
    state = dict(case)
    change = handler(state, params, actor, at, item=item, township=township, calendar=calendar,
                     handover_to=handover_to, responsible_active=responsible_active is not False)
    # first-inquiry responsibility (首问负责制): the first township staff member who acts owns it
    if actor.capacity == WINDOW_CLERK and not case.get("responsible") and action != HANDOVER:
        change.set.setdefault("responsible", actor.subject)
        change.set.setdefault("responsible_name", actor.name or actor.subject)
    merged = {**state, **change.set}
    for name in change.remove:
        merged.pop(name, None)
    classes = case_classes(merged, item)
    change.set["case_classes"] = classes
    change.set["case_type"] = CASE_TYPE_CODES[classes[0]]
    _keep_time(case, merged, change, item, township, at, calendar, policy)
    if "status" in change.set and "queue_sort" not in change.set and case.get("queue"):
        change.set["queue_sort"] = f"{change.set['status']}#{case['submitted_at']}"
    change.event_type = change.event_type or f"case.{action}"
    seq = int(case["history_count"])
    for i, entry in enumerate(change.history):
        change.history[i] = HistoryEntry(**{**entry.__dict__, "seq": seq + i + 1})
    change.set["history_count"] = seq + len(change.history)
    return change


def case_clock(case: Mapping[str, Any], item: ServiceItem | None, township: Township | None,
               calendar: WorkingDayCalendar) -> dict[str, Any] | None:
    """The clock of ``case`` (``deadlines.Clock`` as stored) from its facts, or None while it
    has not started.

    Start: the acceptance date once accepted; before that, what accepting now would give
    (:func:`acceptance_date`: receipt, or deemed receipt after a late notice), except that a
    case waiting for materials after a timely notice has no clock (acceptance will date from
    the day the materials are complete). Limit: the item's promised limit (or 20 working days,
    行政许可法第四十二条), kept from the stored clock when the item is gone. An immediate item's
    start day counts when it is a working day and the materials arrived before closing time.
    Pauses: notice rounds and special procedures (``deadlines.case_pauses``). A final case
    keeps its clock as it was."""
    stored = case.get("clock")
    if case["status"] in FINAL_STATES:
        return stored
    if case.get("accepted_on"):
        start, basis = dt.date.fromisoformat(case["accepted_on"]), case.get("acceptance_basis") or "received"
    else:
        start, basis = acceptance_date(case, calendar)
        if basis == "materials_complete" and case["status"] == SUPPLEMENT_REQUIRED:
            return None
    limit = item.promised_limit if item else None
    if limit is not None:
        value, unit = limit.value, limit.unit
    elif stored:
        value, unit = int(stored["value"]), stored["unit"]
    else:
        value, unit = deadlines.LEGAL_DEFAULT_WORKING_DAYS, WORKING_DAYS
    moment = dt.datetime.fromisoformat(case.get("materials_complete_at") if basis == "materials_complete"
                                       else case["submitted_at"])
    hours = township.office_hours if township else (dt.time(8, 30), dt.time(17, 30))
    counts = (moment.astimezone(SHANGHAI).date() == start
              and deadlines.start_counts(value, moment, hours, calendar, SHANGHAI))
    extension = int((case.get("extension") or {}).get("days") or 0)
    return deadlines.Clock(start, value, unit, counts, deadlines.case_pauses(case, SHANGHAI), extension,
                           basis).to_dict()


def _keep_time(case: Mapping[str, Any], merged: dict[str, Any], change: Change, item: ServiceItem | None,
               township: Township | None, at: dt.datetime, calendar: WorkingDayCalendar,
               policy: deadlines.Policy) -> None:
    """Recompute the clock and the deadline attributes of the case a change leaves; note a
    pause, a resumption and the new due date in the change's history; on-time data at the end."""
    clock = case_clock(merged, item, township, calendar)
    if clock != case.get("clock"):
        if clock is None:
            change.remove.append("clock")
        else:
            change.set["clock"] = clock
    if clock is None:
        merged.pop("clock", None)
    else:
        merged["clock"] = clock
    today = at.astimezone(SHANGHAI).date()
    refreshed = deadlines.refresh(merged, today, calendar, SHANGHAI, policy)
    change.set.update(refreshed.set)
    change.remove.extend(a for a in refreshed.remove if a not in change.set and a not in change.remove)
    if merged["status"] in FINAL_STATES and merged.get("clock") and case["status"] not in FINAL_STATES:
        change.set["timeliness"] = deadlines.on_time(merged, today, calendar, SHANGHAI, policy)
    if not change.history or merged["status"] in FINAL_STATES:
        return
    now_paused = "clock_paused" in refreshed.set or (bool(merged.get("clock_paused"))
                                                      and "clock_paused" not in refreshed.remove)
    was_paused = bool(case.get("clock_paused"))
    note: dict[str, Any] = {}
    if now_paused and not was_paused:
        note["clock"] = "paused"
    elif was_paused and not now_paused:
        note["clock"] = "resumed"
    elif clock is None and case.get("clock"):
        note["clock"] = "not_started"
    after = {**merged, **change.set}
    due = None if "due_date" in change.remove else after.get("due_date")
    if note or due != case.get("due_date"):
        note.update(due_date=due, due_date_provisional=bool(after.get("due_date_provisional")) if due else None)
        last = change.history[-1]
        change.history[-1] = HistoryEntry(**{**last.__dict__, "data": {**(last.data or {}), **note}})


def warn(case: Mapping[str, Any], at: dt.datetime, calendar: WorkingDayCalendar,
         policy: deadlines.Policy = deadlines.Policy()) -> Change | None:
    """The deadline sweep's change to ``case`` at ``at``: raise the warning levels that have
    risen since they were last announced (one history entry "时限预警", event
    ``case.warning``) and move ``next_check`` on. None when there is nothing to write (a
    second sweep of the same day). Pure; the sweep writes it conditioned on the version."""
    if case["status"] in FINAL_STATES:
        return None
    refreshed = deadlines.refresh(case, at.astimezone(SHANGHAI).date(), calendar, SHANGHAI, policy, announce=True)
    if not refreshed.set and not refreshed.remove:
        return None
    change = Change("warn", {"status": case["status"], **refreshed.set}, remove=list(refreshed.remove))
    if refreshed.raised:
        seq = int(case["history_count"]) + 1
        levels = {target: deadlines.LEVEL_CODES[level] for target, level in refreshed.raised}
        worst = max(level for _, level in refreshed.raised)
        text = _warning_text(case, refreshed.raised, refreshed.set.get("due_date", case.get("due_date")))
        change.history.append(HistoryEntry(seq=seq, at=at, actor="system", role="system", step_name="时限预警",
                                           action=OTHER, opinion=text,
                                           data={"warnings": levels, "warning_level": deadlines.LEVEL_CODES[worst],
                                                 "due_date": refreshed.set.get("due_date", case.get("due_date"))}))
        change.set["history_count"] = seq
        change.event_type = "case.warning_red" if worst == deadlines.RED else "case.warning_yellow"
    return change


#: The attributes a calendar year changes; a recompute that changes none of them writes nothing.
_DUE_ATTRIBUTES = ("due_date", "due_date_provisional", "provisional_year", "yellow_date")


def recompute(case: Mapping[str, Any], at: dt.datetime, calendar: WorkingDayCalendar,
              policy: deadlines.Policy = deadlines.Policy()) -> Change | None:
    """The change that puts the due date of ``case`` on ``calendar`` after a calendar year was
    loaded (``usecases.calendar_years``): the deadline attributes ``deadlines.refresh`` gives on
    ``at``'s day (Asia/Shanghai; warnings are not announced here, a rise is left to the sweep)
    and one history entry "办结期限重算" (actor ``system``) with the old and the new due date.

    None when there is nothing to write: a final case, or one whose due date, provisional flag,
    provisional year and yellow date are already what ``calendar`` gives (a second load of the
    same year, a case recomputed already). Pure; written conditioned on the version."""
    if case["status"] in FINAL_STATES or not case.get("clock"):
        return None
    refreshed = deadlines.refresh(case, at.astimezone(SHANGHAI).date(), calendar, SHANGHAI, policy,
                                  announce=False)
    after = {**case, **refreshed.set}
    for name in refreshed.remove:
        after.pop(name, None)
    if all(after.get(a) == case.get(a) for a in _DUE_ATTRIBUTES):
        return None
    change = Change("recompute_due_date", {"status": case["status"], **refreshed.set}, remove=list(refreshed.remove))
    old, new = case.get("due_date"), after.get("due_date")
    provisional = bool(after.get("due_date_provisional"))
    seq = int(case["history_count"]) + 1
    text = f"节假日安排已更新，办结期限由 {old or '—'}{'（临时）' if case.get('due_date_provisional') else ''}" \
           f"重算为 {new or '—'}{'（仍为临时）' if provisional else ''}"
    change.history.append(HistoryEntry(
        seq=seq, at=at, actor="system", role="system", step_name="办结期限重算", action=OTHER, opinion=text,
        data={"old_due_date": old, "old_due_date_provisional": bool(case.get("due_date_provisional")),
              "due_date": new, "due_date_provisional": provisional,
              "provisional_year": after.get("provisional_year")}))
    change.set["history_count"] = seq
    change.event_type = "case.due_date_recomputed"
    return change


def _warning_text(case: Mapping[str, Any], raised: list[tuple[str, int]], due: str | None) -> str:
    """zh-CN text of raised warnings, e.g. "办件黄灯：临近办结时限（承诺办结日期 2026-12-04）"."""
    parts = []
    for target, level in raised:
        colour = "红灯：已超过办结时限" if level == deadlines.RED else "黄灯：临近办结时限"
        if target == "case":
            parts.append(f"办件{colour}（承诺办结日期 {due or ''}）")
        else:
            kind, code = target.split(":", 1)
            name = ((case.get("approvals") or {}).get(code) or {}).get("name") or \
                (case.get("forwarded_to") or {}).get("name") or code
            parts.append(f"{'并联审批' if kind == 'joint' else '县级部门办理'}环节（{name}）{colour}")
    return "；".join(parts)


def _entry(actor: Actor, at: dt.datetime, step: str, action: str = PASS, opinion: str = "", reason: str = "",
           data: dict[str, Any] | None = None, step_start: dt.datetime | None = None) -> HistoryEntry:
    return HistoryEntry(seq=0, at=at, actor=actor.subject, role=actor.capacity, step_name=step, action=action,
                        opinion=opinion, reason=reason, data=data, handler=actor.name or actor.subject,
                        step_start=step_start)


def _accept(case, params, actor, at, *, item, township, calendar, **_):
    problems: list[FieldProblem] = []
    opinion = _text(params, "opinion", "受理意见", problems, required=False) or "材料齐全，符合法定形式，予以受理"
    _raise(problems)
    accepted_on, basis = acceptance_date(case, calendar)
    updates: dict[str, Any] = {"status": ACCEPTED, "accepted_at": utc_iso(at), "accepted_on": accepted_on.isoformat(),
                               "acceptance_basis": basis, "accepted_by": actor.subject}
    data = {"accepted_on": accepted_on.isoformat(), "acceptance_basis": basis}  # + the due date (decide)
    history = [_entry(actor, at, "受理", opinion=opinion, data=data,
                      step_start=dt.datetime.fromisoformat(case.get("materials_complete_at") or case["submitted_at"]))]
    steps = []
    joint = _departments(item.record.get("joint_departments")) if item else []
    if joint:
        updates.update(status=JOINT_APPROVAL, joint_departments=[d["code"] for d in joint],
                       approvals={d["code"]: {"name": d["name"], "state": "pending", "started_at": utc_iso(at)}
                                  for d in joint},
                       forwarded_departments=sorted(set(case.get("forwarded_departments") or []) |
                                                    {d["code"] for d in joint}))
        names = "、".join(d["name"] for d in joint)
        history.append(_entry(actor, at, "并联审批启动", opinion=f"同时送 {names} 并联审批",
                              data={"departments": [d["code"] for d in joint]}))
        steps = [{"department": d["code"], "name": d["name"], "kind": "joint", "state": "pending",
                  "started_at": utc_iso(at)} for d in joint]
    return Change(ACCEPT, updates, history=history, steps=steps)


def _issue_notice(case, params, actor, at, *, item, calendar, **_):
    problems: list[FieldProblem] = []
    listed = {m.get("name") for m in ((item.publicities.get("materials") or []) if item else [])}
    entries = []
    for i, p in enumerate(params.get("materials") or []):
        if p["name"] not in listed:
            problems.append(FieldProblem(f"materials[{i}].name", "UNKNOWN_MATERIAL", "该材料不在本事项的申报材料清单中"))
        entries.append({"name": p["name"], "problem": p["problem"], "detail": (p.get("detail") or "").strip()})
    others = [t.strip() for t in params.get("other") or [] if t.strip()]
    if not entries and not others:
        problems.append(FieldProblem("materials", "NOTICE_EMPTY", "一次性告知须列明全部缺少或不符合要求的材料"))
    _raise(problems)
    notices = list(case.get("notices") or [])
    round_no = len(notices) + 1
    received = local_date(case["submitted_at"])
    late = at.astimezone(SHANGHAI).date() > calendar.add_working_days(received, NOTICE_WORKING_DAYS).date
    lines = [f"{n}. {e['name']}：{'缺少' if e['problem'] == 'missing' else '不符合要求'}"
             + (f"（{e['detail']}）" if e["detail"] else "") for n, e in enumerate(entries, 1)]
    lines += [f"{len(entries) + n}. {t}" for n, t in enumerate(others, 1)]
    text = (f"您申请的“{case['item_name']}”（办件编号 {case['case_no']}）所需材料不齐全或不符合法定形式。"
            f"依据{NOTICE_LEGAL_BASIS}，现一次性告知需要补正的全部内容如下：\n" + "\n".join(lines)
            + "\n请补正上述全部材料后重新提交，补正齐全之日起受理。")
    doc = {"case_no": case["case_no"], "round": round_no, "title": "一次性告知书", "item_name": case["item_name"],
           "township_code": case["township_code"], "materials": entries, "other": others, "text": text,
           "legal_basis": NOTICE_LEGAL_BASIS, "issued_at": utc_iso(at), "issued_by": actor.name or actor.subject,
           "late": late}
    notices.append({"round": round_no, "issued_at": utc_iso(at), "issued_by": actor.subject, "late": late,
                    "problem_count": len(entries) + len(others)})
    history = [_entry(actor, at, "一次性告知", action=RETURN, opinion=text,
                      data={"round": round_no, "late": late, "problem_count": len(entries) + len(others)})]
    return Change(ISSUE_NOTICE, {"status": SUPPLEMENT_REQUIRED, "notices": notices}, history=history,
                  documents=[{"kind": "notice", "round": round_no, "doc": doc}])


def _supplement(case, params, actor, at, **_):
    notices = [dict(n) for n in case.get("notices") or []]
    notices[-1]["supplemented_at"] = utc_iso(at)
    supplied = [m for m in params.get("materials") or []]
    note = (params.get("note") or "").strip()
    history = [_entry(actor, at, "补正材料", opinion=note, data={"round": notices[-1]["round"], "materials": supplied},
                      step_start=dt.datetime.fromisoformat(notices[-1]["issued_at"]))]
    return Change(SUPPLEMENT, {"status": SUBMITTED, "notices": notices, "materials_complete_at": utc_iso(at)},
                  history=history)


def _refuse(case, params, actor, at, **_):
    problems: list[FieldProblem] = []
    reasons = _text(params, "reasons", "不予受理的理由", problems)
    basis = _text(params, "legal_basis", "法律依据", problems)
    _raise(problems)
    outcome = {"result": "refused", "reasons": reasons, "legal_basis": basis, "concluded_at": utc_iso(at),
               "concluded_by": actor.subject, "review_rights": REVIEW_RIGHTS}
    history = [_entry(actor, at, "不予受理", action=RETURN, opinion=reasons, reason=basis)]
    return Change(REFUSE, {"status": REFUSED, "outcome": outcome, "concluded_at": utc_iso(at)}, history=history)


def _start_special(case, params, actor, at, *, item, **_):
    _county_may_act(case, actor, START_SPECIAL_PROCEDURE)
    problems: list[FieldProblem] = []
    name = _text(params, "name", "特别程序名称", problems)
    reason = _text(params, "reason", "启动理由", problems)
    _raise(problems)
    procedure = {"name": name, "kind": params["kind"], "kind_label": SPECIAL_PROCEDURE_KINDS[params["kind"]],
                 "kind_code": "2", "reason": reason, "started_at": utc_iso(at), "started_by": actor.subject,
                 "resume_status": case["status"]}
    history = [_entry(actor, at, f"特别程序：{name}", action=OTHER, opinion=reason,
                      data={"kind": params["kind"], "kind_code": "2"})]
    return Change(START_SPECIAL_PROCEDURE, {"status": SPECIAL_PROCEDURE, "special_procedure": procedure},
                  history=history)


def _end_special(case, params, actor, at, **_):
    procedure = dict(case["special_procedure"])
    resume = procedure["resume_status"]
    if resume == FORWARDED and actor.capacity != COUNTY_APPROVER or resume != FORWARDED and actor.capacity != WINDOW_CLERK:
        raise NotYourAction("特别程序须由启动它的一方结束")
    _county_may_act(case, actor, END_SPECIAL_PROCEDURE)
    problems: list[FieldProblem] = []
    result = _text(params, "result", "特别程序结果", problems)
    _raise(problems)
    procedure.update(ended_at=utc_iso(at), ended_by=actor.subject, result=result)
    done = list(case.get("special_procedures") or []) + [procedure]
    history = [_entry(actor, at, f"特别程序：{procedure['name']}", action=PASS, opinion=result,
                      data={"kind": procedure["kind"], "kind_code": "2", "started_at": procedure["started_at"]},
                      step_start=dt.datetime.fromisoformat(procedure["started_at"]))]
    status = FORWARDED if resume == FORWARDED else IN_HANDLING
    return Change(END_SPECIAL_PROCEDURE, {"status": status, "special_procedures": done},
                  remove=["special_procedure"], history=history)


def _county_may_act(case, actor: Actor, action: str) -> None:
    """County approvers act only on a case forwarded to their department and still there;
    township clerks not on a case that is with the county."""
    with_county = case["status"] == FORWARDED or (case["status"] == SPECIAL_PROCEDURE and
                                                  case["special_procedure"]["resume_status"] == FORWARDED)
    if actor.capacity == COUNTY_APPROVER:
        if not with_county or (case.get("forwarded_to") or {}).get("code") != actor.department:
            raise InvalidTransition(case, action, "该办件当前不在您所在的县级部门办理", code="NOT_WITH_YOUR_DEPARTMENT")
    elif with_county:
        raise InvalidTransition(case, action, "该办件已报送县级部门，由县级部门办理", code="WITH_COUNTY")


def _leg(case, kind: str, actor: Actor, at: dt.datetime, materials: list[str], note: str,
         received: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    legs = [dict(leg) for leg in case.get("legs") or []]
    number = len(legs) + 1
    leg = {"leg_no": number, "kind": kind, "label": LEG_KINDS[kind]["label"], "materials": materials, "note": note,
           "sent_at": utc_iso(at), "sent_by": actor.subject, "receipt_no": f"{case['case_no']}-L{number}"}
    if received:
        leg.update(received_at=utc_iso(at), received_by=actor.subject)
    legs.append(leg)
    return legs, leg


def _forward(case, params, actor, at, *, item, **_):
    if not item or item.record.get("delegation") != "entrusted":
        raise InvalidTransition(case, FORWARD, "该事项由乡镇直接办理，无需报送县级部门", code="ITEM_DECIDED_AT_TOWNSHIP")
    department = item.record.get("deciding_department") or params.get("department")
    if not department:
        raise ValidationFailed(details=[FieldProblem("department", "FIELD_REQUIRED", "请指定承办的县级部门")])
    department = {"code": department["code"], "name": department["name"]}
    opinion = (params.get("opinion") or "").strip() or "乡镇初审完毕，报送县级部门审批"
    legs, leg = _leg(case, "township_to_county", actor, at, list(params.get("materials") or []), opinion, False)
    updates = {"status": FORWARDED, "forwarded_to": department, "forwarded_at": utc_iso(at), "legs": legs,
               "forwarded_departments": sorted(set(case.get("forwarded_departments") or []) | {department["code"]})}
    history = [_entry(actor, at, "报送县级部门", opinion=opinion,
                      data={"department": department, "leg_no": leg["leg_no"], "receipt_no": leg["receipt_no"]})]
    steps = [{"department": department["code"], "name": department["name"], "kind": "forward", "state": "pending",
              "started_at": utc_iso(at)}]
    return Change(FORWARD, updates, history=history, steps=steps)


def _conclusion(params, actor: Actor, at: dt.datetime, level: str) -> dict[str, Any]:
    problems: list[FieldProblem] = []
    result = params["result"]
    opinion = _text(params, "opinion", "办理意见", problems, required=False)
    outcome: dict[str, Any] = {"result": result, "opinion": opinion, "level": level, "concluded_at": utc_iso(at),
                               "concluded_by": actor.subject, "handler": actor.name or actor.subject}
    if result == "rejected":
        outcome["reasons"] = _text(params, "reasons", "不予许可（不予批准）的理由", problems)
        outcome["legal_basis"] = _text(params, "legal_basis", "法律依据", problems)
        outcome["review_rights"] = REVIEW_RIGHTS
    else:
        for key in ("licence_name", "licence_no"):
            if (params.get(key) or "").strip():
                outcome[key] = params[key].strip()
    _raise(problems)
    return outcome


def _conclude(case, params, actor, at, *, item, **_):
    _county_may_act(case, actor, CONCLUDE)
    if actor.capacity == WINDOW_CLERK and item and item.record.get("delegation") == "entrusted":
        raise InvalidTransition(case, CONCLUDE, "委托事项须报送县级部门决定，乡镇不能直接办结", code="FORWARD_REQUIRED")
    level = "county" if actor.capacity == COUNTY_APPROVER else "township"
    outcome = _conclusion(params, actor, at, level)
    approved = outcome["result"] == "approved"
    updates: dict[str, Any] = {"status": CONCLUDED_APPROVED if approved else CONCLUDED_REJECTED, "outcome": outcome,
                               "concluded_at": utc_iso(at)}
    history = [_entry(actor, at, "办结" if level == "township" else "县级部门审批办结",
                      action=PASS if approved else RETURN, opinion=outcome["opinion"] or outcome.get("reasons", ""),
                      reason=outcome.get("legal_basis", ""), data={"result": outcome["result"], "level": level})]
    steps = []
    if level == "county":
        legs, leg = _leg(case, "county_to_township", actor, at, ["审批决定"], "县级部门审批结果送回乡镇", False)
        legs = [({**lg, "received_at": utc_iso(at), "received_by": actor.subject}
                 if lg["kind"] == "township_to_county" and not lg.get("received_at") else lg) for lg in legs]
        updates["legs"] = legs
        department = case["forwarded_to"]
        steps = [{"department": department["code"], "name": department["name"], "kind": "forward", "state": "done",
                  "started_at": case["forwarded_at"], "ended_at": utc_iso(at), "decision": outcome["result"],
                  "opinion": outcome["opinion"], "by": actor.subject}]
    elif (approved and case["status"] == ACCEPTED and case.get("accepted_at")
          and at.astimezone(SHANGHAI).date() == local_date(case["accepted_at"])):
        updates["on_the_spot"] = True  # 即办: concluded at the window the day the window accepted it
    return Change(CONCLUDE, updates, history=history, steps=steps,
                  event_type=f"case.concluded_{outcome['result']}")


def _decide_joint_step(case, params, actor, at, **_):
    approvals = {k: dict(v) for k, v in (case.get("approvals") or {}).items()}
    mine = approvals.get(actor.department or "")
    if mine is None:
        raise NotYourAction("您所在部门不是该办件的并联审批部门")
    if mine["state"] != "pending":
        raise InvalidTransition(case, DECIDE_JOINT_STEP, "本部门已对该办件作出审批意见", code="STEP_ALREADY_DECIDED")
    problems: list[FieldProblem] = []
    opinion = _text(params, "opinion", "审批意见", problems)
    approve = params["decision"] == "approve"
    reasons = basis = ""
    if not approve:
        reasons = _text(params, "reasons", "不予批准的理由", problems)
        basis = _text(params, "legal_basis", "法律依据", problems)
    _raise(problems)
    mine.update(state="approved" if approve else "rejected", ended_at=utc_iso(at), opinion=opinion, by=actor.subject,
                handler=actor.name or actor.subject)
    approvals[actor.department] = mine
    history = [_entry(actor, at, f"并联审批：{mine['name']}", action=PASS if approve else RETURN, opinion=opinion,
                      reason=basis, data={"department": actor.department, "decision": params["decision"]},
                      step_start=dt.datetime.fromisoformat(mine["started_at"]))]
    steps = [{"department": actor.department, "name": mine["name"], "kind": "joint", "state": "done",
              "started_at": mine["started_at"], "ended_at": utc_iso(at), "decision": mine["state"],
              "opinion": opinion, "by": actor.subject}]
    updates: dict[str, Any] = {"status": JOINT_APPROVAL, "approvals": approvals}
    event = "case.joint_step_decided"
    if not approve:
        for code, other in approvals.items():
            if other["state"] == "pending":
                other.update(state="cancelled", ended_at=utc_iso(at))
                steps.append({"department": code, "name": other["name"], "kind": "joint", "state": "done",
                              "started_at": other["started_at"], "ended_at": utc_iso(at), "decision": "cancelled"})
        updates.update(status=CONCLUDED_REJECTED, concluded_at=utc_iso(at),
                       outcome={"result": "rejected", "level": "county", "reasons": f"{mine['name']}：{reasons}",
                                "legal_basis": basis, "opinion": opinion, "concluded_at": utc_iso(at),
                                "concluded_by": actor.subject, "review_rights": REVIEW_RIGHTS,
                                "department": actor.department})
        history.append(_entry(actor, at, "并联审批办结", action=RETURN, opinion=f"{mine['name']}不予批准：{reasons}",
                              reason=basis, data={"result": "rejected"}))
        event = "case.concluded_rejected"
    elif all(a["state"] == "approved" for a in approvals.values()):
        names = "、".join(a["name"] for a in approvals.values())
        updates.update(status=CONCLUDED_APPROVED, concluded_at=utc_iso(at),
                       outcome={"result": "approved", "level": "county", "opinion": f"{names}均审批同意",
                                "concluded_at": utc_iso(at), "concluded_by": actor.subject})
        history.append(_entry(actor, at, "并联审批办结", opinion=f"{names}均审批同意", data={"result": "approved"}))
        event = "case.concluded_approved"
    return Change(DECIDE_JOINT_STEP, updates, history=history, steps=steps, event_type=event)


def _withdraw(case, params, actor, at, **_):
    reason = (params.get("reason") or "").strip() or "申请人主动撤回"
    updates: dict[str, Any] = {"status": WITHDRAWN, "concluded_at": utc_iso(at),
                               "outcome": {"result": "withdrawn", "reasons": reason, "concluded_at": utc_iso(at),
                                           "concluded_by": actor.subject}}
    steps = []
    approvals = case.get("approvals")
    if approvals:
        approvals = {k: dict(v) for k, v in approvals.items()}
        for code, a in approvals.items():
            if a["state"] == "pending":
                a.update(state="cancelled", ended_at=utc_iso(at))
                steps.append({"department": code, "name": a["name"], "kind": "joint", "state": "done",
                              "started_at": a["started_at"], "ended_at": utc_iso(at), "decision": "cancelled"})
        updates["approvals"] = approvals
    if case["status"] == FORWARDED or (case["status"] == SPECIAL_PROCEDURE
                                       and case["special_procedure"]["resume_status"] == FORWARDED):
        d = case["forwarded_to"]
        steps.append({"department": d["code"], "name": d["name"], "kind": "forward", "state": "done",
                      "started_at": case["forwarded_at"], "ended_at": utc_iso(at), "decision": "cancelled"})
    history = [_entry(actor, at, "撤回申请", action=OTHER, opinion=reason)]
    return Change(WITHDRAW, updates, remove=["special_procedure"] if case.get("special_procedure") else [],
                  history=history, steps=steps)


def _handover(case, params, actor, at, *, handover_to=None, responsible_active=True, **_):
    responsible = case.get("responsible")
    if responsible and responsible != actor.subject and responsible_active:
        raise NotYourAction("只有首问责任人可以移交该办件", code="NOT_RESPONSIBLE")
    if not handover_to:
        raise ValidationFailed(details=[FieldProblem("to", "UNKNOWN_COLLEAGUE", "未找到该同事，或其不在本乡镇窗口")])
    if handover_to["subject"] == actor.subject:
        raise ValidationFailed(details=[FieldProblem("to", "HANDOVER_TO_SELF", "不能移交给自己")])
    problems: list[FieldProblem] = []
    reason = _text(params, "reason", "移交原因", problems)
    _raise(problems)
    name = handover_to.get("display_name") or handover_to["subject"]
    history = [_entry(actor, at, "首问责任移交", action=OTHER, opinion=f"移交给 {name}", reason=reason,
                      data={"from": responsible or actor.subject, "to": handover_to["subject"]})]
    return Change(HANDOVER, {"status": case["status"], "responsible": handover_to["subject"], "responsible_name": name},
                  history=history)


def _record_leg(case, params, actor, at, **_):
    kind = params["kind"]
    if kind not in ("village_to_township", "township_to_village"):
        raise ValidationFailed(details=[FieldProblem("kind", "LEG_KIND_AUTOMATIC", "报送县级及县级送回的交接由系统自动记录")])
    if not case.get("agent_subject"):
        raise InvalidTransition(case, RECORD_LEG, "该办件不是村代办员代办的，没有村级交接", code="NOT_AN_AGENCY_CASE")
    if kind == "township_to_village" and case["status"] not in FINAL_STATES:
        raise InvalidTransition(case, RECORD_LEG, "办件办结后才能将结果送回村代办员", code="NOT_CONCLUDED")
    materials = [m.strip() for m in params.get("materials") or [] if m.strip()]
    note = (params.get("note") or "").strip()
    # village -> township: the clerk receives the paper materials from the agent now (a receipt for the agent);
    # township -> village: the clerk sends the result; the agent confirms receipt
    legs, leg = _leg(case, kind, actor, at, materials, note, received=(kind == "village_to_township"))
    if kind == "village_to_township":
        leg["sent_by"] = case["agent_subject"]
        legs[-1] = leg
    history = [_entry(actor, at, f"材料交接：{LEG_KINDS[kind]['label']}", opinion=note,
                      data={"leg_no": leg["leg_no"], "kind": kind, "materials": materials,
                            "receipt_no": leg["receipt_no"]})]
    return Change(RECORD_LEG, {"status": case["status"], "legs": legs}, history=history)


def _confirm_leg(case, params, actor, at, **_):
    legs = [dict(leg) for leg in case.get("legs") or []]
    number = params["leg_no"]
    if not 1 <= number <= len(legs):
        raise ValidationFailed(details=[FieldProblem("leg_no", "UNKNOWN_LEG", "没有这一交接记录")])
    leg = legs[number - 1]
    if LEG_KINDS[leg["kind"]]["receiver"] != actor.capacity:
        raise NotYourAction("只有接收方可以签收这一交接")
    if actor.capacity == VILLAGE_AGENT and actor.subject != case.get("agent_subject"):
        raise NotYourAction("只有该办件的代办员可以签收")
    if actor.capacity == COUNTY_APPROVER and (case.get("forwarded_to") or {}).get("code") != actor.department:
        raise NotYourAction("只有承办部门可以签收")
    if leg.get("received_at"):
        raise InvalidTransition(case, CONFIRM_LEG, "这一交接已经签收", code="LEG_ALREADY_RECEIVED")
    leg.update(received_at=utc_iso(at), received_by=actor.subject)
    history = [_entry(actor, at, f"交接签收：{leg['label']}", data={"leg_no": number, "receipt_no": leg["receipt_no"]},
                      step_start=dt.datetime.fromisoformat(leg["sent_at"]))]
    return Change(CONFIRM_LEG, {"status": case["status"], "legs": legs}, history=history)


def _extend(case, params, actor, at, *, item, **_):
    """行政许可法第四十二条: a decision not possible within the limit may be extended once, with
    the approval of the head of the organ (10 working days; 15 for joint handling); the reason
    is told to the applicant. The clerk (or the county department holding the case) records
    who approved it."""
    _county_may_act(case, actor, EXTEND)
    if case.get("extension"):
        raise InvalidTransition(case, EXTEND, "该办件已延长过办理期限，依法只能延长一次", code="ALREADY_EXTENDED")
    problems: list[FieldProblem] = []
    reason = _text(params, "reason", "延长理由", problems)
    approver = _text(params, "approver", "批准人（本机关负责人）", problems)
    most = (deadlines.JOINT_EXTENSION_WORKING_DAYS if case.get("joint_departments")
            else deadlines.EXTENSION_WORKING_DAYS)
    days = params.get("days", most)
    if days > most:
        problems.append(FieldProblem("days", "EXTENSION_TOO_LONG", f"依法最多延长{most}个工作日"))
    _raise(problems)
    extension = {"days": days, "reason": reason, "approver": approver, "recorded_by": actor.subject,
                 "recorded_at": utc_iso(at), "legal_basis": "《中华人民共和国行政许可法》第四十二条"}
    history = [_entry(actor, at, "延长办理期限", action=OTHER, opinion=reason, reason=f"经{approver}批准",
                      data={"days": days, "approver": approver, "previous_due_date": case.get("due_date")})]
    return Change(EXTEND, {"status": case["status"], "extension": extension}, history=history)


_HANDLERS = {
    ACCEPT: _accept, ISSUE_NOTICE: _issue_notice, SUPPLEMENT: _supplement, REFUSE: _refuse,
    START_SPECIAL_PROCEDURE: _start_special, END_SPECIAL_PROCEDURE: _end_special, FORWARD: _forward,
    DECIDE_JOINT_STEP: _decide_joint_step, CONCLUDE: _conclude, WITHDRAW: _withdraw, HANDOVER: _handover,
    RECORD_LEG: _record_leg, CONFIRM_LEG: _confirm_leg, EXTEND: _extend,
}


def transition_table() -> list[tuple[str, str, list[str]]]:
    """``[(action, zh label, [from states])]`` in declaration order: the table in ``docs/lifecycle.md``."""
    return [(a, ACTION_LABELS[a], sorted(ALLOWED_FROM[a])) for a in _HANDLERS]


def pending_departments(case: Mapping[str, Any], at: dt.datetime, calendar: WorkingDayCalendar,
                        policy: deadlines.Policy = deadlines.Policy()) -> list[dict[str, Any]]:
    """Joint-approval departments still pending on ``case`` with the working days they have
    taken since the step started (Asia/Shanghai dates) and ``late`` once that passes
    ``policy.joint_step_days`` (the step is red): "a late department is visible"."""
    steps = deadlines.step_deadlines(case, at.astimezone(SHANGHAI).date(), calendar, SHANGHAI, policy)
    return [{"department": s.department, "name": s.name, "started_at": s.started_at,
             "working_days": s.deadline.working_days_used, "late": s.deadline.level == deadlines.RED,
             "warning_level": deadlines.LEVEL_CODES[s.deadline.level]}
            for s in steps if s.kind == "joint"]


def visible_actions(case: Mapping[str, Any], capacities: Iterable[str]) -> list[str]:
    """The actions a caller acting in ``capacities`` could try in the case's state (for the
    workbench's buttons; item rules and parameters are checked when the action is taken)."""
    caps = set(capacities)
    return [a for a in _HANDLERS if case["status"] in ALLOWED_FROM[a] and CAPACITIES[a] & caps]
