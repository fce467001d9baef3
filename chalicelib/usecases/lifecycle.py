"""Lifecycle use cases: every staff and applicant action on a case after intake (accept, the
one-time notice, supplement, refuse, special procedures, forward to the county, joint
approval, conclude, withdraw, first-inquiry handover, agency legs), the clerk's and the county
department's queues, windows and A/B posts, and the applicant's messages.

Each action: validate the body, honour the Idempotency-Key, read the case, check that the
caller may see it (404 otherwise) and may take the action in some capacity (403), apply the
pure rule (``domain.lifecycle.decide``: 409 in a state that does not allow it), then write
case, history, documents, steps, idempotency record, audit record and the outbox event in one
transaction conditioned on the version read. A concurrent writer makes the transaction fail;
the action is then decided again on the fresh case (so of two clerks concluding at once,
exactly one wins and the other gets 409) unless the caller pinned a version with
``If-Match``. The event is published after the commit (``usecases.events``, the one way
events leave, intake's too); the outbox sweep publishes any event whose publish was lost, so
an event goes out if and only if its change committed.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Mapping

from .. import settings
from .. import validation as schemas
from ..domain import deadlines
from ..domain import lifecycle as rules
from ..domain import windows as window_rules
from ..domain.access import (ADMINISTRATOR, COUNTY_APPROVER, SUPERVISOR, VILLAGE_AGENT, VILLAGER, WINDOW_CLERK,
                             CaseAccess, Forbidden, Origin, Principal, agent_may_act)
from ..domain.cases import CLASS_LABELS, utc_iso
from ..domain.catalog import content_hash
from ..domain.errors import (Conflict, FieldProblem, IdempotencyKeyReused, NotFound, ValidationFailed,
                             invalid_cursor)
from ..domain.people import mask_deep
from ..logs import logger
from . import audit, calendar_years
from .events import change_event, publish_event
from .intake import _CASE_NO, _CURSOR, _may_read, case_view
from .ports import Clock, IdempotencyHit, StaleCase, WriteRefused, utcnow

_WINDOW = re.compile(r"^[0-9A-Za-z]{1,8}$")
#: A number in a header, path or query parameter: ASCII digits only (``str.isdigit()`` also
#: admits "²" and "①", which ``int()`` refuses) and short (``int()`` refuses 4,300+ digits).
_NUMBER = re.compile(r"[0-9]{1,12}")
_DEPARTMENT = re.compile(r"^[A-Za-z0-9_-]{2,40}$")

#: action -> request schema
SCHEMAS = {
    rules.ACCEPT: "case_accept", rules.ISSUE_NOTICE: "case_notice", rules.SUPPLEMENT: "case_supplement",
    rules.REFUSE: "case_refusal", rules.START_SPECIAL_PROCEDURE: "case_special_procedure_start",
    rules.END_SPECIAL_PROCEDURE: "case_special_procedure_end", rules.FORWARD: "case_forward",
    rules.DECIDE_JOINT_STEP: "case_joint_decision", rules.CONCLUDE: "case_conclusion",
    rules.WITHDRAW: "case_withdrawal", rules.HANDOVER: "case_handover", rules.RECORD_LEG: "case_leg",
    rules.CONFIRM_LEG: "case_leg_receipt", rules.EXTEND: "case_extension",
}




def _capacities(principal: Principal, case: dict[str, Any], consents, at: dt.datetime) -> list[str]:
    """The capacities ``principal`` holds on this case (see ``domain.lifecycle.Actor``)."""
    facts = CaseAccess.of(case)
    held = []
    if principal.has(WINDOW_CLERK) and case["township_code"] in principal.township_codes:
        held.append(WINDOW_CLERK)
    if principal.has(COUNTY_APPROVER) and principal.department in facts.forwarded_departments:
        held.append(COUNTY_APPROVER)
    if principal.has(VILLAGER) and principal.id_key and principal.id_key == facts.applicant_key and (
            principal.id_verified or facts.filed_by == principal.subject):
        held.append(VILLAGER)
    if agent_may_act(principal, case["case_no"], facts.applicant_key, facts.village_code, consents, at,
                     facts.filed_by):
        held.append(VILLAGE_AGENT)
    return held


def _actors(principal: Principal, action: str, held: list[str], identity) -> list[rules.Actor]:
    """The caller as an actor in each capacity they hold that may take ``action`` (a person
    may hold two: a window clerk who is also a county department's approver)."""
    allowed = [c for c in held if c in rules.CAPACITIES[action]]
    if not allowed:
        raise rules.NotYourAction()
    name = ""
    if {WINDOW_CLERK, COUNTY_APPROVER} & set(allowed) and principal.subject.startswith("staff_"):
        staff = identity.get_staff(principal.subject[len("staff_"):])
        if not staff or staff.get("disabled"):
            raise Forbidden("该工作人员账号已停用", code="ACCOUNT_DISABLED")
        name = staff.get("display_name") or ""
    return [rules.Actor(subject=principal.subject, capacity=c, name=name, department=principal.department)
            for c in allowed]


def _decide(case, action, body, actors: list[rules.Actor], moment, **kwargs) -> rules.Change:
    """``rules.decide`` in the first capacity whose rules allow the action (a clerk who is also
    the deciding department's approver concludes a forwarded case as the approver); when none
    does, the refusal of the first."""
    first: Exception | None = None
    for actor in actors:
        try:
            return rules.decide(case, action, body, actor, moment, **kwargs)
        except (rules.NotYourAction, rules.InvalidTransition) as refused:
            first = first or refused
    assert first is not None
    raise first


def act(action: str, case_no: str, body: Any, *, principal: Principal, origin: Origin, idempotency_key: str | None,
        if_match: str | None = None, cases, catalog, identity, calendar, audit_log, events,
        path_params: Mapping[str, Any] | None = None, markers=None, now: Clock = utcnow) -> dict[str, Any]:
    """Take ``action`` (a ``domain.lifecycle`` action) on case ``case_no`` for ``principal``.

    ``body`` must match ``schemas/<SCHEMAS[action]>.json``; ``path_params`` (e.g. the receipt's
    ``leg_no``) are added to it after that check, for the rule; ``idempotency_key`` is required
    (a retry with the same key and request answers the case as it is now, with nothing done
    twice; the same key with another request is 422 ``IDEMPOTENCY_KEY_REUSED``); ``if_match`` a
    case version the caller saw (409 ``VERSION_MISMATCH`` when the case moved on).
    Returns the case view with its history and the actions now open to the caller.

    Raises ValidationFailed (400), NotFound (404: absent or not visible), NotYourAction (403),
    InvalidTransition/Conflict (409, with the current state), IdempotencyKeyReused (422).

    A change that leaves the due date on a year without calendar data (``provisional_year``)
    alerts the administrators once per year through ``markers`` (``calendar_years``; skipped
    when None), after the commit and without ever failing the action."""
    schemas.validate(SCHEMAS[action], body)
    body = {**body, **(path_params or {})}
    if not idempotency_key:
        raise ValidationFailed("请求缺少 Idempotency-Key 请求头，重复提交无法识别",
                               [FieldProblem("Idempotency-Key", "IDEMPOTENCY_KEY_REQUIRED", "请提供幂等键")])
    expected = _version(if_match)
    scope_key = f"{principal.subject}#{idempotency_key}"
    request_hash = content_hash({"action": action, "case_no": case_no, "body": body})
    stored = cases.idempotency_record(scope_key)
    if stored:
        return _replay(stored, request_hash, case_no, principal, origin, cases, identity, audit_log, calendar)
    for attempt in range(5):
        moment = now()
        case, history, consents = _visible_case(principal, case_no, cases, identity, moment)
        if expected is not None and int(case["version"]) != expected:
            raise Conflict("办件已被他人更新，请刷新后重试", code="VERSION_MISMATCH", status=case["status"],
                           version=int(case["version"]))
        actors = _actors(principal, action, _capacities(principal, case, consents, moment), identity)
        # the terms the case was filed under (its item version), not today's
        found, township = catalog.get_offer_at(case["item_code"], case.get("item_version"), case["township_code"])
        item = found[0] if found else None
        colleague = responsible_active = None
        if action == rules.HANDOVER:
            colleague = _resolve_colleague(identity, body["to"], case["township_code"])
            responsible_active = responsible_is_active(identity, case)
        change = _decide(case, action, body, actors, moment, item=item, township=township, calendar=calendar,
                         handover_to=colleague, responsible_active=responsible_active,
                         policy=settings.deadline_policy())
        event = change_event(case, change, moment)
        trail = audit.entry(principal, origin, f"case.{action}", audit.case_target(case_no),
                            {"status": change.status, "from": case["status"]}, moment)
        try:
            cases.apply(case, change, idempotency=(scope_key, request_hash), audit=trail, event=event, at=moment)
        except IdempotencyHit as hit:
            return _replay((hit.case_no, hit.request_hash), request_hash, case_no, principal, origin, cases,
                           identity, audit_log, calendar)
        except StaleCase:
            if expected is not None:  # the caller pinned a version: answer with the state the case moved to
                current = cases.get_case(case_no) or case
                raise Conflict("办件已被他人更新，请刷新后重试", code="VERSION_MISMATCH", status=current["status"],
                               version=int(current["version"])) from None
            continue  # somebody else wrote first: decide again on what they left
        except WriteRefused:
            logger.exception("case change refused by storage", extra={"case_no": case_no, "action": action})
            raise Conflict("办件记录已达存储上限，无法再保存此项操作，请联系系统管理员", code="CASE_WRITE_REFUSED",
                           status=case["status"], status_label=rules.STATUS_LABELS.get(case["status"], case["status"]),
                           version=int(case["version"])) from None
        publish_event(events, cases, event, moment)
        if markers is not None and change.set.get("provisional_year"):
            calendar_years.alert_years([change.set["provisional_year"]], case_no, cases=cases, markers=markers,
                                       now=now)
        # what was just written, without reading it back
        written = {k: v for k, v in {**case, **change.set}.items() if k not in change.remove}
        written["version"] = int(case["version"]) + 1
        return _view((written, history + [e.to_dict() for e in change.history]), principal, consents, moment,
                     calendar)
    raise Conflict("办件正被频繁更新，请稍后重试", code="BUSY")


def _resolve_colleague(identity, username: str | None, township_code: str) -> dict[str, Any] | None:
    """The staff record of a window clerk of ``township_code`` named ``username``, or None."""
    staff = identity.get_staff(username) if username else None
    if not staff or staff.get("disabled") or WINDOW_CLERK not in (staff.get("roles") or ()) or \
            township_code not in (staff.get("township_codes") or ()):
        return None
    return staff


def _number(text: str | None) -> int | None:
    """``text`` as a non-negative int when it is 1-12 ASCII digits, else None."""
    return int(text) if text is not None and _NUMBER.fullmatch(text) else None


def responsible_is_active(identity, case: Mapping[str, Any]) -> bool:
    """True while the case's responsible clerk (首问责任人) is an active window clerk of the
    case's township (or nobody is responsible yet); False once that account was disabled or
    left the township, so that a colleague can take the case over."""
    responsible = case.get("responsible") or ""
    if not responsible:
        return True
    username = responsible.removeprefix("staff_")
    return responsible.startswith("staff_") and _resolve_colleague(identity, username, case["township_code"]) is not None


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    value = _number(if_match.strip().strip('"').removeprefix("W/").strip('"'))
    if value is None:
        raise ValidationFailed(details=[FieldProblem("If-Match", "FIELD_FORMAT", "If-Match 应为办件版本号")])
    return value


def _visible_case(principal: Principal, case_no: str, cases, identity, at: dt.datetime):
    """``(case, history, consents)`` for a caller who may see the case, else NotFound (the 404
    of a missing case). ``consents`` are the applicant's, read once for a village agent (the
    visibility check and the agent's capacity use the same ones), else ``()``."""
    found = cases.get(case_no) if _CASE_NO.fullmatch(case_no or "") else None
    read: dict[str, Any] = {}
    if not found or not _may_read(principal, case_no, found[0], identity, at, read):
        raise NotFound("未找到该办件")
    return found[0], found[1], read.get(found[0].get("applicant_key"), ())


def _view(found, principal: Principal, consents, at: dt.datetime, calendar=None) -> dict[str, Any]:
    case, history = found
    view = case_view(case, history, calendar=calendar, now=at)
    view["actions"] = rules.visible_actions(case, _capacities(principal, case, consents, at))
    return view


def _replay(stored: tuple[str, str], request_hash: str, case_no: str, principal: Principal, origin: Origin, cases,
            identity, audit_log, calendar=None) -> dict[str, Any]:
    stored_case, stored_hash = stored
    if stored_hash != request_hash or stored_case != case_no:
        raise IdempotencyKeyReused("该幂等键已用于另一项操作，请更换幂等键")
    moment = utcnow()
    case, history, consents = _visible_case(principal, case_no, cases, identity, moment)
    audit.record(audit_log, principal, origin, "case.read", audit.case_target(case_no), {"replay": True})
    return _view((case, history), principal, consents, moment, calendar)  # as the first answer: pending departments too


# --- messages ----------------------------------------------------------------------------------

def my_messages(principal: Principal, origin: Origin, *, cases, audit_log, cursor: str | None = None,
                limit: int = 20) -> dict[str, Any]:
    """``GET /v1/me/messages``: a villager's messages about their cases, newest first. Messages
    about cases somebody else filed show only once the binding was verified (as the cases do)."""
    principal.require(VILLAGER)
    if cursor is not None and not _CURSOR.fullmatch(cursor):
        raise invalid_cursor()
    if not principal.id_key:
        return {"messages": [], "next_cursor": None}
    try:
        rows, next_cursor = cases.messages(principal.id_key, limit, cursor)
    except ValueError as exc:
        raise invalid_cursor() from exc
    shown = [{k: mask_deep(r.get(k)) for k in ("case_no", "event_type", "text", "created_at")} for r in rows
             if principal.id_verified or r.get("filed_by") == principal.subject]
    audit.record(audit_log, principal, origin, "message.list", audit.subject_target(principal.subject),
                 {"count": len(shown)})
    return {"messages": shown, "next_cursor": next_cursor}


# --- notices -----------------------------------------------------------------------------------

def get_notice(principal: Principal, origin: Origin, case_no: str, round_no: str, *, cases, identity,
               audit_log) -> dict[str, Any]:
    """``GET /v1/cases/{case_no}/notices/{round}``: the one-time notice document of a round
    for anyone who may see the case (404 otherwise)."""
    _visible_case(principal, case_no, cases, identity, utcnow())
    number = _number(round_no)
    doc = cases.notice(case_no, number) if number is not None and 0 < number < 1000 else None
    if doc is None:
        raise NotFound("未找到该一次性告知书")
    audit.record(audit_log, principal, origin, "case.notice.read", audit.case_target(case_no), {"round": number})
    return mask_deep(doc)  # the clerk's details and other problems are free text


# --- queues ------------------------------------------------------------------------------------

def _page_args(params: Mapping[str, str]) -> tuple[str | None, int]:
    cursor = params.get("cursor")
    if cursor is not None and not _CURSOR.fullmatch(cursor):
        raise invalid_cursor()
    limit = _number(params.get("limit", "20"))
    if limit is None or not 1 <= limit <= 100:
        raise ValidationFailed(details=[FieldProblem("limit", "FIELD_RANGE", "每页条数应为 1-100")])
    return cursor, limit


def _queue_row(case: dict[str, Any], calendar=None, now: dt.datetime | None = None) -> dict[str, Any]:
    view = case_view(case, calendar=calendar, now=now)
    view.pop("note", None)
    view["responsible"] = case.get("responsible")
    view["responsible_name"] = case.get("responsible_name")
    return view


def clerk_queue(principal: Principal, origin: Origin, params: Mapping[str, str], *, cases, audit_log,
                calendar=None, now: Clock = utcnow) -> dict[str, Any]:
    """``GET /v1/workbench/queue?window=&status=&case_class=&cursor=&limit=``: the cases of
    one window the caller works (A post, or B while A is absent; supervisors any window of
    their township), in one state when ``status`` is given, oldest first, from the
    ``by_queue`` index (no scan). Without ``window``: the first window the caller works.
    ``case_class`` filters the page. Answers the windows the caller works too; with a
    ``calendar`` every row shows its live deadline (due date, working days left, warning)."""
    principal.require(WINDOW_CLERK, SUPERVISOR)
    township = params.get("township") or (principal.township_codes[0] if principal.township_codes else "")
    if township not in principal.township_codes:
        raise Forbidden("只能查看本乡镇的办件", code="TOWNSHIP_NOT_YOURS")
    status = params.get("status")
    if status is not None and status not in rules.STATUS_LABELS:
        raise ValidationFailed(details=[FieldProblem("status", "FIELD_ENUM", "办件状态不正确")])
    case_class = params.get("case_class")
    if case_class is not None and case_class not in CLASS_LABELS:
        raise ValidationFailed(details=[FieldProblem("case_class", "FIELD_ENUM", "办件类别不正确")])
    cursor, limit = _page_args(params)
    windows = cases.windows(township)
    worked = ([w["window"] for w in windows] + [window_rules.UNASSIGNED] if principal.has(SUPERVISOR)
              else window_rules.windows_worked_by(principal.subject, windows))
    window = params.get("window") or worked[0]
    if window not in worked:
        raise Forbidden("该窗口当前不由您值守（A岗在岗时由A岗办理）", code="WINDOW_NOT_YOURS")
    try:
        rows, next_cursor = cases.queue(window_rules.queue_key(township, window), status, limit, cursor)
    except ValueError as exc:
        raise invalid_cursor() from exc
    if case_class:
        rows = [r for r in rows if case_class in (r.get("case_classes") or [])]
    audit.record(audit_log, principal, origin, "queue.list", audit.subject_target(principal.subject),
                 {"window": window, "count": len(rows)})
    return {"township_code": township, "window": window, "windows": worked,
            "cases": [_queue_row(r, calendar, now()) for r in rows], "next_cursor": next_cursor}


def department_queue(principal: Principal, origin: Origin, params: Mapping[str, str], *, cases, audit_log,
                     calendar, now: Clock = utcnow) -> dict[str, Any]:
    """``GET /v1/workbench/approvals``: the steps waiting at the approver's county department
    (forwarded cases and joint-approval steps), oldest first, with the working days each has
    waited, its step due date and warning level, and ``late`` once red (step limits:
    ``settings.JOINT_STEP_WORKING_DAYS``, ``settings.COUNTY_STEP_WORKING_DAYS``; the case's
    pauses are not on the step record, so a paused step can show red here early)."""
    principal.require(COUNTY_APPROVER)
    cursor, limit = _page_args(params)
    try:
        rows, next_cursor = cases.department_steps(principal.department or "", limit, cursor)
    except ValueError as exc:
        raise invalid_cursor() from exc
    today = now().astimezone(rules.SHANGHAI).date()
    policy = settings.deadline_policy()
    steps = []
    for r in rows:
        step = deadlines.step_deadline(r["kind"], r["started_at"], today, calendar, rules.SHANGHAI, policy)
        steps.append({"case_no": r["case_no"], "item_name": r["item_name"], "township_code": r["township_code"],
                      "kind": r["kind"], "department": r["department"], "started_at": r["started_at"],
                      "working_days": step.working_days_used, "late": step.level == deadlines.RED,
                      "due_date": step.due_date.isoformat() if step.due_date else None,
                      "warning_level": deadlines.LEVEL_CODES[step.level]})
    audit.record(audit_log, principal, origin, "queue.list", audit.subject_target(principal.subject),
                 {"department": principal.department, "count": len(steps)})
    return {"department": principal.department, "steps": steps, "next_cursor": next_cursor}


# --- windows -----------------------------------------------------------------------------------

def _window_view(window: dict[str, Any]) -> dict[str, Any]:
    return {k: window.get(k) for k in ("window", "name", "a_post", "b_post", "a_absent", "items", "categories",
                                       "default", "updated_at")} | {"on_duty": window_rules.on_duty(window)}


def put_window(principal: Principal, origin: Origin, township_code: str, window: str, body: Any, *, cases, catalog,
               identity, audit_log, now: Clock = utcnow) -> dict[str, Any]:
    """``PUT /v1/admin/townships/{code}/windows/{window}`` (administrator): create or replace a
    window with its A and B posts (user names of window clerks of that township) and the items
    or categories it serves. New cases are routed by it; cases already filed keep their window.
    An A post marked absent stays absent while the window keeps the same A post."""
    principal.require(ADMINISTRATOR)
    schemas.validate("window", body)
    problems = []
    if not _WINDOW.fullmatch(window or ""):
        problems.append(FieldProblem("window", "FIELD_FORMAT", "窗口编号应为 1-8 位字母或数字"))
    _found, township = catalog.get_offer("-", township_code) if re.fullmatch(r"[0-9]{9}", township_code) else (None, None)
    if township is None:  # get_offer answers the township even for an item code that does not exist
        raise NotFound("未找到该乡镇便民服务中心")
    posts = {}
    for post in ("a_post", "b_post"):
        staff = _resolve_colleague(identity, body[post], township_code)
        if staff is None:
            problems.append(FieldProblem(post, "UNKNOWN_COLLEAGUE", "未找到该用户，或其不是本乡镇的窗口工作人员"))
        else:
            posts[post] = staff["subject"]
    if body["a_post"] == body["b_post"]:
        problems.append(FieldProblem("b_post", "SAME_PERSON", "A岗和B岗不能是同一人"))
    if problems:
        raise ValidationFailed(details=problems)
    moment = now()
    current = next((w for w in cases.windows(township_code) if w["window"] == window), None)
    # an edit (one more item) does not bring back an A post who is away; a new A post starts present
    absent = bool(current and current.get("a_absent") and current.get("a_post") == posts["a_post"])
    record = {"window": window, "name": body["name"], **posts, "a_absent": absent,
              "items": body.get("items") or None, "categories": body.get("categories") or None,
              "default": bool(body.get("default")), "updated_at": utc_iso(moment), "updated_by": principal.subject}
    trail = audit.entry(principal, origin, "window.put", audit.township_target(township_code),
                        {"window": window, **posts}, moment)
    cases.put_window(township_code, record, trail)
    return _window_view(record)


def list_windows(principal: Principal, township_code: str, *, cases) -> dict[str, Any]:
    """``GET /v1/townships/{code}/windows``: the township's windows and who is on duty
    (staff of that township and administrators)."""
    if not (principal.has(ADMINISTRATOR) or (principal.has(WINDOW_CLERK, SUPERVISOR)
                                             and township_code in principal.township_codes)):
        raise Forbidden("只能查看本乡镇的窗口", code="TOWNSHIP_NOT_YOURS")
    return {"township_code": township_code, "windows": [_window_view(w) for w in cases.windows(township_code)]}


def set_absence(principal: Principal, origin: Origin, township_code: str, window: str, body: Any, *, cases,
                audit_log, now: Clock = utcnow) -> dict[str, Any]:
    """``PUT /v1/townships/{code}/windows/{window}/absence``: the window's A post (or B post,
    or a supervisor of the township) marks A absent, so the B post works the queue, or back."""
    schemas.validate("window_absence", body)
    principal.require(WINDOW_CLERK, SUPERVISOR)
    if township_code not in principal.township_codes:
        raise Forbidden("只能设置本乡镇的窗口", code="TOWNSHIP_NOT_YOURS")
    windows = {w["window"]: w for w in cases.windows(township_code)}
    current = windows.get(window)
    if current is None:
        raise NotFound("未找到该窗口")
    if not principal.has(SUPERVISOR) and principal.subject not in (current.get("a_post"), current.get("b_post")):
        raise Forbidden("只有本窗口的A岗、B岗或监督人员可以设置", code="WINDOW_NOT_YOURS")
    moment = now()
    trail = audit.entry(principal, origin, "window.absence", audit.township_target(township_code),
                        {"window": window, "a_absent": body["a_absent"]}, moment)
    cases.set_absent(township_code, window, body["a_absent"], principal.subject, moment, trail)
    return _window_view({**current, "a_absent": body["a_absent"], "updated_at": utc_iso(moment)})
