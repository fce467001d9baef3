"""Case intake use cases: submit (mini-program or operator), classify (queue consumer),
and re-publish intake messages of cases stuck unclassified (scheduled).

Both state changes here announce themselves like every lifecycle action does: a
``case.created`` or ``case.classified`` event written in the change's transaction and
published after the commit (``usecases.events``). The intake message (``case.submitted`` on the
intake queue) is the classifier's work item, not a case event."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
from typing import Any

from .. import settings
from .. import validation as schemas
from ..domain import cases as case_rules
from ..domain import deadlines
from ..domain.calendar import DueDate, WorkingDayCalendar
from ..domain.catalog import content_hash
from ..domain.errors import (Conflict, FieldProblem, IdempotencyKeyReused, NotFound, UnknownReference, invalid_cursor,
                             ValidationFailed)
from ..domain.access import (STATION_OPERATOR, VILLAGE_AGENT, VILLAGER, WINDOW_CLERK, CaseAccess, Forbidden, Origin,
                             Principal, agent_may_act, may_read_case, village_in_township)
from ..domain import lifecycle as lifecycle_rules
from ..domain import windows as window_rules
from ..domain.cases import CHANNEL_MINI_PROGRAM, CHANNEL_OPERATOR, CHANNEL_WINDOW
from ..domain.people import id_number_valid, mask_deep, mask_text, masked_person
from ..domain.webhooks import EVENT_CASE_CLASSIFIED, EVENT_CASE_CREATED
from ..logs import logger as log
from . import audit
from .events import case_event, publish_event
from .ports import CaseNumberTaken, Clock, IdempotencyHit, StaleCase, WriteConflict, utcnow

_CASE_NO = re.compile(r"^[0-9]{17}-[0-9]{9}-[0-9A-Z]{4}$")
_CURSOR = re.compile(r"^[A-Za-z0-9_=-]{1,2048}$")





def intake_shard(case_no: str) -> str:
    """The pending-intake index shard of a case ("0".."7"), stable per case number."""
    return str(int(hashlib.sha256(case_no.encode()).hexdigest(), 16) % settings.INTAKE_SHARDS)


def _check_people(body: dict[str, Any]) -> None:
    problems = []
    for role in ("applicant", "agent"):
        person = body.get(role)
        if person:
            person["id_number"] = person["id_number"].upper()
            if not id_number_valid(person["id_number"]):
                problems.append(FieldProblem(f"{role}.id_number", "ID_NUMBER_CHECKSUM",
                                             "身份证号码校验位不正确，请核对"))
    if problems:
        raise ValidationFailed(details=problems)


#: Lifecycle attributes, shown with every ID or phone number typed into their free text masked
#: (reasons, opinions, notes, leg materials, special procedure names: ``people.mask_deep``).
_LIFECYCLE_FIELDS = ("window", "responsible_name", "accepted_at", "accepted_on", "acceptance_basis", "notices",
                     "special_procedure", "special_procedures", "forwarded_to", "forwarded_at", "approvals", "legs",
                     "outcome", "concluded_at")


def case_view(case: dict[str, Any], history: list[dict[str, Any]] | None = None, *,
              calendar: WorkingDayCalendar | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """The API shape of a case; applicant and agent are masked (PIPL minimum exposure).
    ``version`` is what ``If-Match`` takes on the lifecycle actions. With a ``calendar``, a
    case in joint approval shows its ``pending_departments`` with the working days each has
    taken and ``late`` past ``settings.JOINT_STEP_WORKING_DAYS``."""
    view = {
        "case_no": case["case_no"],
        "status": case["status"],
        "status_label": case_rules.STATUS_LABELS.get(case["status"], case["status"]),
        "item_code": case["item_code"],
        "item_name": case["item_name"],
        "item_version": case["item_version"],
        "township_code": case["township_code"],
        "channel": case["channel"],
        "applicant": masked_person(case["applicant"]),
        "agent": masked_person(case.get("agent")),
        "submitted_at": case["submitted_at"],
        "application_time": case["application_time"],
        "case_classes": case.get("case_classes") or [],
        "case_class_labels": [case_rules.CLASS_LABELS[c] for c in case.get("case_classes") or []],
        "case_type": case.get("case_type"),
        "due_date": case.get("due_date"),
        "due_date_provisional": case.get("due_date_provisional"),
        "classified_at": case.get("classified_at"),
        "intake_error": case.get("intake_error"),
        "note": mask_text(case["note"]) if case.get("note") else case.get("note"),
        "version": int(case["version"]),
        # uploaded materials: {code: {version, trust_level}} (docs/materials.md)
        "materials": case.get("materials") or {},
        **{k: mask_deep(case.get(k)) for k in _LIFECYCLE_FIELDS},
    }
    if calendar is not None:
        view.update(deadline_view(case, now or utcnow(), calendar))
    if history is not None:
        view["history"] = [_step(h) for h in history]
    return view


def deadline_view(case: dict[str, Any], now: dt.datetime, calendar: WorkingDayCalendar) -> dict[str, Any]:
    """The live deadline of a case for the applicant and staff (``domain.deadlines``): the due
    date, working days left, warning level and pause state as of ``now`` (the sweep announces
    changes; this is always current), the pending steps with their own limits, a case in joint
    approval's ``pending_departments``, the extension and, once concluded, its on-time data."""
    out: dict[str, Any] = {"extension": mask_deep(case.get("extension")), "timeliness": case.get("timeliness")}
    policy = settings.deadline_policy()
    today = now.astimezone(case_rules.SHANGHAI).date()
    final = case["status"] in lifecycle_rules.FINAL_STATES
    clock = deadlines.clock_of(case, case_rules.SHANGHAI)
    if clock is not None and not final:
        deadline = deadlines.evaluate(clock, today, calendar, policy)
        out["deadline"] = {**deadline.to_dict(), "basis": case["clock"].get("basis"),
                           "started_on": case["clock"]["start"]}
    else:
        out["deadline"] = None
    steps = [] if final else deadlines.step_deadlines(case, today, calendar, case_rules.SHANGHAI, policy)
    out["step_deadlines"] = [s.to_dict() for s in steps]
    if case.get("approvals"):
        out["pending_departments"] = lifecycle_rules.pending_departments(case, now, calendar, policy)
    return out


def _step(h: dict[str, Any]) -> dict[str, Any]:
    """A history entry in the API: who, in which role, and the GB/T 39046 step fields."""
    step = {k: h.get(k) for k in ("seq", "at", "actor", "role", "action")}
    # free text people typed (a special procedure's name is in its step name)
    step.update({k: mask_deep(h.get(k)) for k in ("step_name", "opinion", "reason", "data")})
    step.update(handler=h.get("handler") or h.get("actor"), step_start=h.get("step_start") or h.get("at"),
                step_end=h.get("at"), step_state="2")
    return step


def get_case(principal: Principal, origin: Origin, case_no: str, *, cases, identity, audit_log,
             calendar: WorkingDayCalendar | None = None, now: Clock = utcnow) -> dict[str, Any]:
    """``GET /v1/cases/{case_no}``: the case view with history, for a caller allowed to see it
    (``domain.access.may_read_case``; a village agent's consent is checked now). Anyone else,
    a malformed number and a missing case all get the same NotFound, so nothing leaks. The
    read is audited before the data is returned (no audit record, no data)."""
    found = cases.get(case_no) if _CASE_NO.fullmatch(case_no or "") else None
    if not found or not _may_read(principal, case_no, found[0], identity, now()):
        raise NotFound("未找到该办件")
    audit.record(audit_log, principal, origin, "case.read", audit.case_target(case_no))
    return case_view(*found, calendar=calendar, now=now())


def readable_case(principal: Principal, case_no: str, *, cases, identity, now: Clock = utcnow) -> dict[str, Any]:
    """The case attributes (one GetItem) if ``principal`` may read the case (the rule of
    :func:`get_case`); a malformed number, a missing case and somebody else's case all raise
    the same NotFound. For reads of what belongs to a case (its documents)."""
    case = cases.get_case(case_no) if _CASE_NO.fullmatch(case_no or "") else None
    if not case or not _may_read(principal, case_no, case, identity, now()):
        raise NotFound("未找到该办件")
    return case


def _may_read(principal: Principal, case_no: str, case: dict[str, Any], identity, at: dt.datetime,
              consents_cache: dict[str, Any] | None = None) -> bool:
    facts = CaseAccess.of(case)
    consents: Any = ()
    if principal.has(VILLAGE_AGENT) and facts.applicant_key:
        cache = consents_cache if consents_cache is not None else {}
        if facts.applicant_key not in cache:
            cache[facts.applicant_key] = identity.consents_of(facts.applicant_key)
        consents = cache[facts.applicant_key]
    return may_read_case(principal, case_no, facts, consents, at)


def my_cases(principal: Principal, origin: Origin, *, cases, identity, audit_log, limit: int = 20,
             cursor: str | None = None, now: Clock = utcnow,
             calendar: WorkingDayCalendar | None = None) -> dict[str, Any]:
    """``GET /v1/cases``: a villager's own cases (by bound resident ID), or for a village agent
    the cases they filed that a consent still covers; newest first, paginated with an opaque
    cursor; with a ``calendar`` each shows its live deadline. Other roles get 403. Audited."""
    principal.require(VILLAGER, VILLAGE_AGENT)
    if cursor is not None and not _CURSOR.fullmatch(cursor):
        raise invalid_cursor()
    moment = now()
    listed: list[dict[str, Any]] = []
    next_cursor = None
    try:
        if principal.has(VILLAGE_AGENT):
            rows, next_cursor = cases.by_agent(principal.subject, limit, cursor)
            cache: dict[str, Any] = {}  # one consent Query per villager on the page, not per case
            listed = [r for r in rows if _may_read(principal, r["case_no"], r, identity, moment, cache)]
        elif principal.id_key:
            rows, next_cursor = cases.by_applicant(principal.id_key, limit, cursor)
            listed = [r for r in rows if _may_read(principal, r["case_no"], r, identity, moment)]
    except ValueError as exc:
        raise invalid_cursor() from exc
    audit.record(audit_log, principal, origin, "case.list", audit.subject_target(principal.subject),
                 {"count": len(listed)}, moment)
    return {"cases": [case_view(c, calendar=calendar, now=moment) for c in listed], "next_cursor": next_cursor}


def _filer(body: dict[str, Any], principal: Principal, station: dict[str, Any] | None, applicant_key: str,
           identity, at: dt.datetime) -> dict[str, Any]:
    """Who files this case and in which capacity: the case attributes that record it. Raises
    Forbidden or ValidationFailed when the caller may not file it (issue 3, items 3-4)."""
    facts: dict[str, Any] = {"applicant_key": applicant_key, "filed_by": principal.subject,
                             "village_code": body.get("village_code")}
    if station is not None:
        principal.require(STATION_OPERATOR)
        return {**facts, "channel": CHANNEL_OPERATOR, "role": STATION_OPERATOR,
                "submitted_by": f"operator:{station['operator_id']}/{station['station_id']}",
                "operator_id": station["operator_id"], "station_id": station["station_id"],
                "village_code": station.get("village_code") or body.get("village_code")}
    if principal.has(VILLAGER) and principal.id_key == applicant_key:
        if body.get("agent"):
            raise ValidationFailed(details=[FieldProblem("agent", "AGENT_NOT_ALLOWED",
                                                         "本人申请无需填写代办人；代办由村代办员账号提交")])
        return {**facts, "channel": CHANNEL_MINI_PROGRAM, "role": VILLAGER, "submitted_by": "applicant"}
    if principal.has(VILLAGE_AGENT):
        village = body.get("village_code")
        if not village:
            raise ValidationFailed(details=[FieldProblem("village_code", "FIELD_REQUIRED", "代办时须填写申请人所在村")])
        if village not in principal.villages:
            raise Forbidden("该村不在您的代办范围内", code="VILLAGE_NOT_YOURS")
        if not agent_may_act(principal, None, applicant_key, village, identity.consents_of(applicant_key), at):
            raise Forbidden("该村民尚未授权您代办，请村民先在小程序中授权", code="CONSENT_REQUIRED")
        appointment = identity.agent_appointment(principal.id_key)
        if not appointment or village not in appointment["villages"]:  # ended since the token was issued
            raise Forbidden("您的代办员任命已结束或已变更，请重新登录", code="AGENT_NOT_APPOINTED")
        body["agent"] = {"name": appointment["name"], "village": village}
        return {**facts, "channel": CHANNEL_MINI_PROGRAM, "role": VILLAGE_AGENT, "submitted_by": "agent",
                "agent_subject": principal.subject}
    if principal.has(WINDOW_CLERK):
        if body["township_code"] not in principal.township_codes:
            raise Forbidden("只能受理本乡镇的办件", code="TOWNSHIP_NOT_YOURS")
        return {**facts, "channel": CHANNEL_WINDOW, "role": WINDOW_CLERK, "submitted_by": "window"}
    if principal.has(VILLAGER) and not principal.id_key:
        raise Forbidden("请先完成实名认证再申请", code="IDENTITY_NOT_BOUND")
    if principal.has(VILLAGER):
        raise Forbidden("只能为本人申请；为他人申请请由村代办员代办", code="APPLICANT_NOT_SELF")
    raise Forbidden()


def submit_case(body: Any, *, principal: Principal, origin: Origin, idempotency_key: str | None,
                catalog, cases, publisher, events, identity, id_keys, audit_log,
                station: dict[str, Any] | None = None, now: Clock = utcnow) -> tuple[dict[str, Any], bool]:
    """Create a case from a submission (``schemas/case_submission.json``) by ``principal``:
    a bound villager for themselves, a village agent with the villager's consent, a window
    clerk of the township, or a station operator (``station``: ``{operator_id, station_id,
    township_code, village_code}``, checked by the operator use case).

    The same ``idempotency_key`` from the same caller returns the same case (also for
    concurrent requests); with a different body it raises IdempotencyKeyReused. Returns
    ``(case view, created)``.

    Raises ValidationFailed (bad shape, ID check digit, village outside the township),
    Forbidden (the caller may not file this case), UnknownReference (unknown item or
    township). Nothing is written unless the case, its first history entry, the idempotency
    record, the audit record and the ``case.created`` event (outbox) all are (one transaction).
    After the write the intake message goes to ``publisher`` (if that fails the scheduled
    :func:`requeue_stalled_intake` publishes it again) and the event to ``events`` (the case
    events queue; if that fails the outbox sweep publishes it again).
    """
    schemas.validate("case_submission", body)
    _check_people(body)
    if body.get("village_code") and not village_in_township(body["village_code"], body["township_code"]):
        raise ValidationFailed(details=[FieldProblem("village_code", "VILLAGE_NOT_IN_TOWNSHIP", "村代码不属于所选乡镇")])
    # the station is part of what an operator's key stands for: the same key from another station is a reuse
    request_hash = content_hash(body if station is None else {"submission": body, "station_id": station["station_id"]})
    scope_key = f"{principal.subject}#{idempotency_key}" if idempotency_key else None
    if scope_key:
        stored = cases.idempotency_record(scope_key)
        if stored:
            return _replay(stored, request_hash, cases, principal, origin, identity, audit_log), False
    filer = _filer(body, principal, station, id_keys(body["applicant"]["id_number"]), identity, now())
    found, township = catalog.get_offer(body["item_code"], body["township_code"])
    if not found:
        raise UnknownReference("未找到该服务事项，请核对事项编码",
                               [FieldProblem("item_code", "UNKNOWN_ITEM", "事项编码不存在")])
    if not township:
        raise UnknownReference("未找到该乡镇便民服务中心，请核对乡镇编码",
                               [FieldProblem("township_code", "UNKNOWN_TOWNSHIP", "乡镇编码不存在")])
    item, item_version = found
    if item.retired:
        raise Conflict("该事项已停止办理，不再受理新的申请", [FieldProblem("item_code", "ITEM_RETIRED", "事项已停止办理")],
                       code="ITEM_RETIRED")
    if not township.offers_item(item.code):
        raise UnknownReference("该乡镇便民服务中心不办理此事项", [FieldProblem("item_code", "ITEM_NOT_OFFERED",
                                                                      "该乡镇不办理此事项")], code="ITEM_NOT_OFFERED")
    role, channel, submitted_by = filer.pop("role"), filer.pop("channel"), filer.pop("submitted_by")
    window = window_rules.route(cases.windows(body["township_code"]), item.code, item.category)
    for attempt in range(6):
        moment = now()
        case_no = case_rules.new_case_no(moment, body["township_code"])
        case = {
            "case_no": case_no, "status": case_rules.STATUS_SUBMITTED, "item_code": item.code,
            "item_name": item.name, "item_version": item_version,
            "township_code": body["township_code"], "channel": channel, "submitted_by": submitted_by,
            "applicant": body["applicant"], "agent": body.get("agent"), "form": body.get("form"),
            "note": body.get("note"),
            "submitted_at": case_rules.utc_iso(moment), "application_time": case_rules.gbt_time(moment),
            "intake_shard": intake_shard(case_no), "history_count": 1, "version": 1, "window": window,
            "queue": window_rules.queue_key(body["township_code"], window),
            "queue_sort": f"{case_rules.SUBMITTED}#{case_rules.utc_iso(moment)}",
            **{k: v for k, v in filer.items() if v is not None},
        }
        first = case_rules.HistoryEntry(
            seq=1, at=moment, actor=principal.subject, role=role, step_name="申请",
            data={"channel": channel, "agent_filed": bool(body.get("agent"))})
        trail = audit.entry(principal, origin, "case.create", audit.case_target(case_no),
                            {"item_code": item.code, "channel": channel}, moment)
        event = case_event(case, EVENT_CASE_CREATED, first.seq, moment)
        try:
            cases.create(case, first, (scope_key, request_hash) if scope_key else None, trail, event=event)
        except IdempotencyHit as hit:
            return _replay((hit.case_no, hit.request_hash), request_hash, cases, principal, origin, identity,
                           audit_log), False
        except CaseNumberTaken:
            continue
        except WriteConflict:  # a concurrent twin is writing: look again shortly
            time.sleep(0.05 * (attempt + 1))
            continue
        _publish_intake(publisher, case_no)
        publish_event(events, cases, event, moment)
        return case_view(case, [first.to_dict()]), True
    raise RuntimeError("could not allocate a case number")


def _replay(stored: tuple[str, str], request_hash: str, cases, principal: Principal, origin: Origin, identity,
            audit_log) -> dict[str, Any]:
    """The case an idempotency key already created, if the caller may still see it (a consent
    revoked since is honoured); the answer is a read and is audited as one. Nothing is
    published again: its intake message and its case event went out when it was created (if
    either was lost, its sweep publishes it)."""
    case_no, stored_hash = stored
    if stored_hash != request_hash:
        raise IdempotencyKeyReused()
    found = cases.get(case_no)
    if not found or not _may_read(principal, case_no, found[0], identity, utcnow()):
        raise NotFound("未找到该办件")
    audit.record(audit_log, principal, origin, "case.read", audit.case_target(case_no), {"replay": True})
    return case_view(*found)


def _publish_intake(publisher, case_no: str) -> None:
    try:
        publisher.publish({"type": "case.submitted", "case_no": case_no})
    except Exception:  # the stalled-intake sweep will publish it again
        log.exception("intake event not published", extra={"case_no": case_no})


def classify_case(case_no: str, *, catalog, cases, calendar: WorkingDayCalendar, events,
                  markers=None, now: Clock = utcnow) -> str:
    """Classify a submitted case and record its first due date (queue consumer).

    Idempotent: a case already classified (or already failed) is left alone. Returns
    "classified", "already" or "failed" (the item or township no longer exists, or the limit
    cannot be computed: the case gets ``intake_error`` and a history entry for staff, and leaves
    the pending-intake index). Raises NotFound for an unknown case (the caller drops the
    message) and StaleCase when a concurrent writer changed it (the message is retried).

    A classification is written with its ``case.classified`` event (outbox) in one transaction
    and the event is published to ``events`` after the commit; a write that loses a race
    leaves no event. A first due date on a year without calendar data alerts the
    administrators once per year through ``markers`` (``calendar_years``; skipped when None).
    """
    case = cases.get_case(case_no)
    if case is None:
        raise NotFound(case_no=case_no)
    if case.get("classified_at") or case.get("intake_error"):
        return "already"
    moment = now()
    seq = int(case["history_count"]) + 1
    found, township = catalog.get_offer_at(case["item_code"], case.get("item_version"), case["township_code"])
    try:
        if not found or not township:
            raise ValueError("事项或乡镇设置不存在")
        received = dt.datetime.fromisoformat(case["submitted_at"])
        result = case_rules.classify(found[0], township, received, bool(case.get("agent")), calendar)
        deadline: tuple[dict[str, Any], list[str]] = ({}, [])
        if case.get("accepted_at") or case["status"] != case_rules.SUBMITTED or case.get("notices"):
            # staff acted before this message arrived (a notice round may be over already, the
            # case back in "submitted"): their classes and due date stand
            classes = case_rules.case_classes(case, found[0])
            due = (DueDate(dt.date.fromisoformat(case["due_date"]), bool(case.get("due_date_provisional")))
                   if case.get("due_date") else result.due)
            result = case_rules.Classification(classes, case_rules.CASE_TYPE_CODES[classes[0]], due)
        else:
            deadline = _first_deadline(case, found[0], township, calendar, moment)
    except ValueError as exc:
        reason = f"无法自动分类和计算时限：{exc}，请窗口人工处理"
        entry = case_rules.HistoryEntry(seq=seq, at=moment, actor="system", role="system",
                                        step_name="分类与时限计算", action="other", opinion=reason)
        return _record(cases, cases.record_intake_failure, case, "failed", reason, entry)
    labels = "、".join(case_rules.CLASS_LABELS[c] for c in result.case_classes)
    provisional = "（暂按周末推算，待节假日安排公布后重算）" if result.due.provisional else ""
    entry = case_rules.HistoryEntry(
        seq=seq, at=moment, actor="system", role="system",
        step_name="分类与时限计算", opinion=f"{labels}；承诺办结日期 {result.due.date.isoformat()}{provisional}",
        data=result.to_dict())
    event = case_event({**case, "version": int(case["version"]) + 1, "case_classes": result.case_classes,
                        "case_type": result.case_type, "due_date": result.due.date.isoformat()},
                       EVENT_CASE_CLASSIFIED, seq, moment)
    outcome = _record(cases, cases.record_classification, case, "classified", result, entry, moment, event=event,
                      deadline=deadline)
    if outcome == "classified":
        publish_event(events, cases, event, moment)
        if markers is not None and deadline[0].get("provisional_year"):
            from .calendar_years import alert_years
            alert_years([deadline[0]["provisional_year"]], case_no, cases=cases, markers=markers, now=now)
    return outcome


def _first_deadline(case: dict[str, Any], item, township, calendar: WorkingDayCalendar,
                    moment: dt.datetime) -> tuple[dict[str, Any], list[str]]:
    """The clock of a new case (from receipt: 行政许可法第三十二条) and its deadline
    attributes, as ``(set, remove)`` for the case item."""
    clock = lifecycle_rules.case_clock(case, item, township, calendar)
    refreshed = deadlines.refresh({**case, "clock": clock}, moment.astimezone(case_rules.SHANGHAI).date(), calendar,
                                  case_rules.SHANGHAI, settings.deadline_policy())
    return {"clock": clock, **refreshed.set}, refreshed.remove


def _record(cases, write, case: dict[str, Any], outcome: str, *args: Any, **kwargs: Any) -> str:
    """Run one intake-finishing write; a concurrent finisher that got there first is fine."""
    try:
        write(case, *args, **kwargs)
    except StaleCase:
        fresh = cases.get_case(case["case_no"])
        if fresh and (fresh.get("classified_at") or fresh.get("intake_error")):
            return "already"
        raise
    return outcome


def requeue_stalled_intake(cases, publisher, now: Clock = utcnow) -> int:
    """Publish the intake event again for every case still unclassified after
    ``settings.INTAKE_STALL_SECONDS`` (scheduled). Cost: one Query per shard plus one message
    per stalled case; it grows with stalled cases, not with all cases. Returns how many."""
    cutoff = case_rules.utc_iso(now() - dt.timedelta(seconds=settings.INTAKE_STALL_SECONDS))
    count = 0
    for shard in range(settings.INTAKE_SHARDS):
        for case_no in cases.pending_intake(str(shard), cutoff):
            _publish_intake(publisher, case_no)
            count += 1
    return count
