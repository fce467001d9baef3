"""The deadline sweep (限时办结预警): raise yellow and red warnings the day they are due and
announce each once.

Scheduled (``app.sweep_deadlines``, hourly in the cloud; the local runner every minute). The
sparse ``by_deadline`` index holds every open case whose warning can rise, under the first
Asia/Shanghai day it can (``next_check``, ISO date; ``domain.deadlines.refresh``). The sweep
asks each of the ``settings.DEADLINE_SHARDS`` shards for the cases with ``next_check`` on or
before today (Asia/Shanghai date of ``now``), reads each one strongly consistent, and lets the
pure rule (``domain.lifecycle.warn``) decide: raise the levels that rose since they were last
announced (a "时限预警" history entry and a ``case.warning_yellow``/``case.warning_red``
event in the outbox) and move ``next_check`` on, in one transaction conditioned on the version
read.

Cost (design.md: in proportion to the cases that are due, never to all cases): one Query per
shard (more only when a shard has more than ``PAGE`` due cases), then per due case one GetItem
and one TransactWriteItems, plus SendMessage and UpdateItem (outbox) when it announces.

Idempotent: what was announced is stored on the case (``warning_level``, ``step_warnings``), and
the write is conditioned on the version read, so a second sweep at the same instant finds
nothing due (or, through a lagging index, a case with nothing to raise), and of two
overlapping sweeps only one transaction wins; the loser reads the case again and finds nothing
left to announce. A staff action in between re-decides on the fresh case the same way.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Mapping

from .. import settings
from ..domain import deadlines as deadline_rules
from ..domain import lifecycle as lifecycle_rules
from ..domain.access import ADMINISTRATOR, COUNTY_APPROVER, SUPERVISOR, WINDOW_CLERK, Origin, Principal
from ..domain.cases import SHANGHAI
from ..domain.errors import FieldProblem, ValidationFailed
from ..domain.people import mask_deep
from ..logs import logger
from . import audit
from .events import DEPARTMENT_INBOX, SUPERVISOR_INBOX, TOWNSHIP_INBOX, change_event, publish_event
from .ports import Clock, StaleCase, WriteRefused, utcnow


#: Index keys read per Query page (KEYS_ONLY items are small; 1 MB holds thousands).
PAGE = 200
#: Attempts per case when another writer keeps changing it (the next sweep tries again).
ATTEMPTS = 3
#: Stop taking new cases when the Lambda has fewer milliseconds left than this (a due case
#: takes tens of milliseconds); what is left stays due in the index and the next run takes it.
#: A case cut short by the Lambda timeout is safe too: its transaction is all or nothing, and
#: an event whose publish was lost leaves the outbox with the next outbox sweep.
RESERVE_MS = 1_500


def sweep(cases, calendar, events, now: Clock = utcnow,
          time_left_ms: Callable[[], int] | None = None) -> dict[str, Any]:
    """Raise and announce the deadline warnings due on the Asia/Shanghai date of ``now()``.

    ``cases``: the case repository (``due_for_check``, ``get_case``, ``apply``,
    ``mark_published``); ``calendar``: the working-day calendar; ``events``: the case events
    publisher; ``time_left_ms``: the Lambda context's remaining time (optional).

    Returns a report: ``day`` (ISO), ``shards`` queried, ``queries``, ``examined`` (cases read),
    ``yellow``/``red`` (warnings announced, by the worst level of each announcement),
    ``moved`` (cases whose next check moved on with nothing to announce), ``unchanged``
    (nothing to write: a lagging index, or a racing sweep won), ``conflicts`` (given up after
    ``ATTEMPTS``: the next sweep tries again), ``refused``, ``stopped_early``."""
    moment = now()
    today = moment.astimezone(SHANGHAI).date()
    report: dict[str, Any] = {"day": today.isoformat(), "shards": 0, "queries": 0, "examined": 0, "yellow": 0,
                              "red": 0, "moved": 0, "unchanged": 0, "conflicts": 0, "refused": 0,
                              "stopped_early": False}
    policy = settings.deadline_policy()
    for shard in range(settings.DEADLINE_SHARDS):
        report["shards"] += 1
        cursor = None
        while True:
            numbers, cursor = cases.due_for_check(str(shard), today.isoformat(), PAGE, cursor)
            report["queries"] += 1
            for case_no in numbers:
                if time_left_ms is not None and time_left_ms() < RESERVE_MS:
                    report["stopped_early"] = True
                    logger.warning("deadline sweep out of time; the next run continues", extra=report)
                    return report
                report["examined"] += 1
                outcome = _check(case_no, cases, calendar, events, policy, moment)
                report[outcome] += 1
            if not cursor:
                break
    return report


def _check(case_no: str, cases, calendar, events, policy, moment: dt.datetime) -> str:
    """Decide and write one due case; the report key of what happened."""
    for _ in range(ATTEMPTS):
        case = cases.get_case(case_no)
        if case is None:
            return "unchanged"
        change = lifecycle_rules.warn(case, moment, calendar, policy)
        if change is None:
            return "unchanged"
        event = _event(case, change, moment) if change.history else None
        try:
            cases.apply(case, change, idempotency=None, audit=None, event=event, at=moment)
        except StaleCase:
            continue  # a clerk or another sweep wrote first: decide again on what they left
        except WriteRefused:
            logger.exception("deadline warning refused by storage", extra={"case_no": case_no})
            return "refused"
        if event is None:
            return "moved"
        publish_event(events, cases, event, moment)
        return "red" if change.event_type == "case.warning_red" else "yellow"
    logger.warning("case kept changing during the deadline sweep; the next sweep tries again",
                   extra={"case_no": case_no})
    return "conflicts"


def _event(case: dict[str, Any], change: lifecycle_rules.Change, at: dt.datetime) -> dict[str, Any]:
    """The warning's event, carrying what its consumer needs to tell staff: the raised levels
    and the warning text."""
    entry = change.history[-1]
    return change_event(case, change, at,
                        warning={"warnings": dict((entry.data or {}).get("warnings") or {}), "text": entry.opinion})


# --- staff alerts ------------------------------------------------------------------------------

#: Alerts shown per request, at most (``?limit=``, default 20): the newest of all inboxes.
ALERTS_DEFAULT, ALERTS_MAX = 20, 100


def alert_inboxes(principal: Principal) -> list[str]:
    """The staff inboxes ``principal`` may read (``events.warning_recipients`` writes them):
    their own (``staff_<username>``), ``TOWNSHIP#<code>`` of a window clerk's townships,
    ``SUPERVISOR#<code>`` of a supervisor's, ``DEPARTMENT#<dept>`` of a county approver and
    ``ROLE#administrator`` for administrators."""
    inboxes = [principal.subject] if principal.subject.startswith("staff_") else []
    if principal.has(WINDOW_CLERK):
        inboxes += [TOWNSHIP_INBOX.format(code) for code in principal.township_codes]
    if principal.has(SUPERVISOR):
        inboxes += [SUPERVISOR_INBOX.format(code) for code in principal.township_codes]
    if principal.has(COUNTY_APPROVER) and principal.department:
        inboxes.append(DEPARTMENT_INBOX.format(principal.department))
    if principal.has(ADMINISTRATOR):
        inboxes.append("ROLE#administrator")
    return list(dict.fromkeys(inboxes))


def my_alerts(principal: Principal, origin: Origin, params: Mapping[str, str], *, cases, audit_log
              ) -> dict[str, Any]:
    """``GET /v1/me/alerts?limit=``: the newest deadline alerts (and any other staff messages)
    of every inbox the caller may read (:func:`alert_inboxes`), newest first, at most ``limit``
    (1-100, default 20) in all; no cursor: older alerts stay in each case's history ("时限预警").
    One Query per inbox (``limit`` items each) and the audit record; free text masked."""
    principal.require(WINDOW_CLERK, SUPERVISOR, COUNTY_APPROVER, ADMINISTRATOR)
    raw = params.get("limit", str(ALERTS_DEFAULT))
    limit = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 3 else 0
    if not 1 <= limit <= ALERTS_MAX:
        raise ValidationFailed(details=[FieldProblem("limit", "FIELD_RANGE", "每页条数应为 1-100")])
    rows = []
    for inbox in alert_inboxes(principal):
        found, _ = cases.messages(inbox, limit, None)
        rows += [{**r, "inbox": inbox} for r in found]
    rows.sort(key=lambda r: (r["created_at"], r["event_id"]), reverse=True)
    alerts = [{"inbox": r["inbox"], "case_no": r.get("case_no"), "event_type": r["event_type"],
               "warning_level": deadline_rules.LEVEL_CODES[deadline_rules.RED] if r["event_type"] == "case.warning_red"
               else deadline_rules.LEVEL_CODES[deadline_rules.YELLOW] if r["event_type"] == "case.warning_yellow"
               else None,
               "text": mask_deep(r.get("text")), "created_at": r["created_at"]} for r in rows[:limit]]
    audit.record(audit_log, principal, origin, "alert.list", audit.subject_target(principal.subject),
                 {"count": len(alerts)})
    return {"alerts": alerts}
