"""Case events (transactional outbox): the one way a state change of a case is announced.

Every use case that changes a case (intake: created and classified; lifecycle: every action)
builds the change's event with :func:`case_event`, hands it to the repository to write in the
transaction of the change (an outbox item ``EVENT#<history seq>`` in the sparse
``pending_events`` index), and after the commit publishes it to the case events queue with
:func:`publish_event`. When that publish is lost, the scheduled
:func:`republish_stalled_events` publishes it later. So an event is published if and only if
its change committed, at least once; the event id (``<case_no>#<history seq>``) is the same
every time, so the consumer (:func:`handle_case_event`: the applicant's message and the station
operator's webhook) does its work once per event.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Mapping

from .. import settings
from .. import validation as schemas
from ..domain.cases import utc_iso
from ..domain.people import mask_text
from ..logs import logger
from .ports import Clock, utcnow


#: The applicant's message per event type (no message for the others).
MESSAGES = {
    "case.accept": "您的申请“{item}”已受理，承诺办结日期 {due}。",
    "case.issue_notice": "您的申请“{item}”材料需要补正，请查看一次性告知书，补齐全部材料后重新提交。",
    "case.supplement": "您补正的材料已提交，窗口将尽快审核。",
    "case.refuse": "您的申请“{item}”不予受理，请查看理由和依据。",
    "case.forward": "您的申请“{item}”已由乡镇报送县级部门审批。",
    "case.concluded_approved": "您的申请“{item}”已办结（准予）。",
    "case.concluded_rejected": "您的申请“{item}”已办结（不予批准），请查看理由和依据。",
    "case.withdraw": "您的申请“{item}”已撤回。",
    "case.start_special_procedure": "您的申请“{item}”进入特别程序（{name}），该期间不计入办理时限。",
    "case.end_special_procedure": "您的申请“{item}”特别程序已结束，继续办理，承诺办结日期 {due}。",
    "case.extend": "您的申请“{item}”经批准延长办理期限，新的承诺办结日期 {due}。",
}




def case_event(after: Mapping[str, Any], event_type: str, seq: int, at: dt.datetime,
               warning: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The event of one state change (``schemas/case_event.json``): ``after`` is the case as the
    change leaves it (``status``, ``version``, ``case_classes``...), ``seq`` the history seq of
    the change's last entry, ``at`` when it is written. The event id ``<case_no>#<seq>`` names
    the state change, so a republished event is recognisably the same event. Carries the
    applicant's message text when the applicant should hear about it, the responsible staff
    member (``responsible``, a subject ``staff_<username>``, or None), and for a deadline
    warning (``warning``: ``{"warnings": {target: level code}, "text": zh-CN}``, the sweep's
    history entry) ``warnings`` and ``warning_text``, so that its consumer needs no read."""
    template = MESSAGES.get(event_type)
    text = template.format(item=after["item_name"], due=after.get("due_date") or "",
                           name=(after.get("special_procedure") or {}).get("name", "")) if template else ""
    text = mask_text(text)  # a special procedure's name is typed by staff
    return {"event_id": f"{after['case_no']}#{seq}", "event_type": event_type, "case_no": after["case_no"],
            "seq": seq, "version": int(after["version"]), "status": after["status"], "at": utc_iso(at),
            "township_code": after["township_code"], "item_code": after["item_code"],
            "item_name": after["item_name"], "case_classes": list(after.get("case_classes") or []),
            "applicant_key": after.get("applicant_key"), "filed_by": after.get("filed_by"),
            "operator_id": after.get("operator_id"), "station_id": after.get("station_id"), "text": text,
            "responsible": after.get("responsible"),
            **({"warnings": dict(warning["warnings"]), "warning_text": mask_text(warning["text"])} if warning else {})}


def change_event(case: Mapping[str, Any], change: Any, at: dt.datetime,
                 warning: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The event of one ``domain.lifecycle.Change`` to ``case`` (as the change leaves it, version
    + 1, named by the seq of its last history entry), written in the change's transaction."""
    after = {**case, **change.set, "version": int(case["version"]) + 1}
    return case_event(after, change.event_type, change.history[-1].seq, at, warning=warning)


def publish_event(events, cases, event: dict[str, Any], at: dt.datetime) -> None:
    """Publish a committed event and take it out of the outbox (call only after the commit).
    A failure is logged, not raised (the change stands and the caller's answer must not turn
    into an error): the outbox sweep (:func:`republish_stalled_events`) publishes it later."""
    try:
        events.publish(event)
        cases.mark_published(event["case_no"], event["seq"], at)
    except Exception:
        logger.exception("case event not published yet; the outbox sweep will", extra={"event_id": event["event_id"]})


def republish_stalled_events(cases, events, now: Clock = utcnow) -> int:
    """Publish every outbox event older than ``settings.EVENT_STALL_SECONDS`` (scheduled).
    One Query per shard plus one publish per stalled event; returns how many were tried."""
    moment = now()
    cutoff = utc_iso(moment - dt.timedelta(seconds=settings.EVENT_STALL_SECONDS))
    count = 0
    for shard in range(settings.EVENT_SHARDS):
        for event in cases.pending_events(str(shard), cutoff):
            publish_event(events, cases, event, moment)
            count += 1
    return count


WARNING_EVENTS = ("case.warning_yellow", "case.warning_red")
#: Staff inboxes (``CaseRepository.add_message``); ``GET /v1/me/alerts`` reads them.
TOWNSHIP_INBOX, SUPERVISOR_INBOX, DEPARTMENT_INBOX = "TOWNSHIP#{}", "SUPERVISOR#{}", "DEPARTMENT#{}"
#: Staff alerts are kept (TTL) this long, as the applicant's messages.
MESSAGE_KEEP_DAYS = 365


def warning_recipients(event: Mapping[str, Any], responsible_active: Callable[[Mapping[str, Any]], bool] | None = None
                       ) -> list[str]:
    """Who hears of a deadline warning (e-supervision, domain.md section 4): the case's
    responsible staff member (首问责任人, inbox ``staff_<username>``), or all the township's
    clerks (``TOWNSHIP#<code>``) while nobody is responsible or the responsible clerk can no
    longer act (``responsible_active(event)`` False: account disabled, moved to another
    township); each county department whose own step rose (targets ``joint:<dept>``/
    ``forward:<dept>``: ``DEPARTMENT#<dept>``); and on red the township's supervisors
    (``SUPERVISOR#<code>``). The applicant hears nothing."""
    responsible = event.get("responsible") or ""
    township = event.get("township_code") or ""
    reachable = responsible.startswith("staff_") and (responsible_active is None or responsible_active(event))
    out = [responsible if reachable else TOWNSHIP_INBOX.format(township)]
    for target in sorted(event.get("warnings") or {}):
        kind, _, department = target.partition(":")
        if kind in ("joint", "forward") and department:
            out.append(DEPARTMENT_INBOX.format(department))
    if event["event_type"] == "case.warning_red":
        out.append(SUPERVISOR_INBOX.format(township))
    return list(dict.fromkeys(out))


def handle_case_event(event: dict[str, Any], *, cases, notify_operator=None,
                      responsible_active: Callable[[Mapping[str, Any]], bool] | None = None,
                      request_document: Callable[[dict[str, Any]], None] | None = None) -> str:
    """Consume one case event: store the applicant's message (once per event), the staff alerts
    of a deadline warning (:func:`warning_recipients`, once per event and inbox), pass the
    change to the case's station operator (``notify_operator(case, event_type)``: the webhook,
    deduplicated by its delivery id, which the event's case number, type, version and status
    fix) and ask for the sealed document the change calls for (``request_document(message)``:
    the documents queue; receipt, one-time notice, decision; ``case_documents.document_request``;
    the document consumer is idempotent). Returns "stored" or "nothing". Safe to run twice for one event."""
    schemas.validate("case_event", event)
    outcome = "nothing"
    if request_document is not None:
        from .case_documents import document_request
        wanted = document_request(event)
        if wanted is not None:
            request_document(wanted)
    if event["event_type"] in WARNING_EVENTS and event.get("warning_text"):
        created = event["at"]
        text = f"办件 {event['case_no']}（{event.get('item_name', '')}）{event['warning_text']}"
        for recipient in warning_recipients(event, responsible_active):
            if cases.add_message({"recipient": recipient, "event_id": event["event_id"], "case_no": event["case_no"],
                                  "event_type": event["event_type"], "text": text, "created_at": created,
                                  "expires_at": dt.datetime.fromisoformat(created)
                                  + dt.timedelta(days=MESSAGE_KEEP_DAYS)}):
                outcome = "stored"
    if event.get("text") and event.get("applicant_key"):
        created = event["at"]
        stored = cases.add_message({"recipient": event["applicant_key"], "event_id": event["event_id"],
                                    "case_no": event["case_no"], "event_type": event["event_type"],
                                    "text": event["text"], "filed_by": event.get("filed_by"), "created_at": created,
                                    "expires_at": dt.datetime.fromisoformat(created) + dt.timedelta(days=365)})
        outcome = "stored" if stored else "nothing"
    # deadline warnings are the administration's own supervision: neither the applicant nor the
    # station that filed for them hears of them (docs/webhooks.md)
    if notify_operator and event.get("operator_id") and event["event_type"] not in WARNING_EVENTS:
        notify_operator({"case_no": event["case_no"], "status": event["status"], "township_code": event["township_code"],
                         "item_code": event["item_code"], "operator_id": event["operator_id"],
                         "station_id": event.get("station_id"), "version": event.get("version"),
                         "occurred_at": event["at"]}, event["event_type"])
    return outcome
