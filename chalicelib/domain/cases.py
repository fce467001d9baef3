"""Cases (办件): numbers, classes, history entries and the intake classification rule.

The full state machine arrives with the lifecycle issue; the foundation knows the first state
(``submitted``) and the first automatic step: classification as immediate (即办件) or promised
(承诺件) from the item, plus agency (代理件) when an agent filed it (``shared/docs/domain.md``
section 2), and the first promised due date (section 4).
"""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from .calendar import WORKING_DAYS, DueDate, WorkingDayCalendar
from .deadlines import LEGAL_DEFAULT_WORKING_DAYS, calculate
from .catalog import ServiceItem, Township

SHANGHAI = ZoneInfo("Asia/Shanghai")

# Case states (the state machine is ``lifecycle.py``; the table is ``docs/lifecycle.md``).
SUBMITTED = "submitted"
ACCEPTED = "accepted"
SUPPLEMENT_REQUIRED = "supplement_required"
IN_HANDLING = "in_handling"
SPECIAL_PROCEDURE = "special_procedure"
FORWARDED = "forwarded"
JOINT_APPROVAL = "joint_approval"
CONCLUDED_APPROVED = "concluded_approved"
CONCLUDED_REJECTED = "concluded_rejected"
REFUSED = "refused"
WITHDRAWN = "withdrawn"
STATUS_SUBMITTED = SUBMITTED

STATUS_LABELS = {
    SUBMITTED: "已提交",
    ACCEPTED: "已受理",
    SUPPLEMENT_REQUIRED: "待补正（已一次性告知）",
    IN_HANDLING: "办理中",
    SPECIAL_PROCEDURE: "特别程序中",
    FORWARDED: "已报送县级部门",
    JOINT_APPROVAL: "并联审批中",
    CONCLUDED_APPROVED: "已办结（准予）",
    CONCLUDED_REJECTED: "已办结（不予，退回）",
    REFUSED: "不予受理",
    WITHDRAWN: "已撤回",
}

# The six case classes (六件管理); how they combine: ``lifecycle.case_classes``.
CLASS_IMMEDIATE = "immediate"
CLASS_PROMISED = "promised"
CLASS_SUPPLEMENT = "supplement"
CLASS_JOINT = "joint"
CLASS_RETURNED = "returned"
CLASS_AGENCY = "agency"
CLASS_LABELS = {CLASS_IMMEDIATE: "即办件", CLASS_PROMISED: "承诺件", CLASS_SUPPLEMENT: "补办件",
                CLASS_JOINT: "联办件", CLASS_RETURNED: "退回件", CLASS_AGENCY: "代理件"}
#: GB/T 39046 case type code: 1 immediate, 2 promised, 9 other.
CASE_TYPE_CODES = {CLASS_IMMEDIATE: "1", CLASS_PROMISED: "2"}

CHANNEL_MINI_PROGRAM = "mini_program"
CHANNEL_OPERATOR = "operator"
CHANNEL_WINDOW = "window"

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_case_no(now_utc: dt.datetime, township_code: str, random_suffix: str | None = None) -> str:
    """A case number: ``YYYYMMDDHHMMSSmmm-<township code>-<4 Crockford base32 chars>``.

    Example ``20261129143005123-431224100-7KQ3``. The time part is Asia/Shanghai wall-clock time
    to the millisecond, so numbers sort by time across centers; the township code (9 digits,
    GB/T 2260 county + township) makes them unique across centers; the random part separates
    cases of one township in one millisecond (the write is conditional, a clash is retried).
    Only digits, capitals (no I, L, O, U) and hyphens: readable aloud and printable on a receipt.
    """
    local = now_utc.astimezone(SHANGHAI)
    stamp = local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"
    suffix = random_suffix or "".join(secrets.choice(_CROCKFORD) for _ in range(4))
    return f"{stamp}-{township_code}-{suffix}"


def utc_iso(moment: dt.datetime) -> str:
    """UTC ISO-8601 with offset and milliseconds, e.g. ``2026-11-29T06:30:05.123+00:00``."""
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")


def gbt_time(moment: dt.datetime) -> str:
    """GB/T 39046 application-time format ``YYYYMMDDThhmmss`` in Asia/Shanghai."""
    return moment.astimezone(SHANGHAI).strftime("%Y%m%dT%H%M%S")


@dataclass(frozen=True)
class HistoryEntry:
    """One append-only history entry with the GB/T 39046 processing-step fields.

    ``action`` is pass/return/other (GB/T 39046 step action); times are UTC datetimes.
    """

    seq: int
    at: dt.datetime
    actor: str
    role: str
    step_name: str
    action: str = "pass"
    opinion: str = ""
    reason: str = ""
    data: dict[str, Any] | None = None
    handler: str = ""
    step_start: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """The stored and API shape: GB/T 39046 step fields (``step_name``, ``handler``,
        ``opinion``, ``step_start``/``step_end`` UTC ISO, ``action`` pass/return/other,
        ``step_state`` 2 done) plus who acted in which role and why."""
        return {"seq": self.seq, "at": utc_iso(self.at), "actor": self.actor, "role": self.role,
                "step_name": self.step_name, "action": self.action, "opinion": self.opinion,
                "reason": self.reason, "data": self.data or {}, "handler": self.handler or self.actor,
                "step_start": utc_iso(self.step_start or self.at), "step_end": utc_iso(self.at), "step_state": "2"}


def case_classes(case: Mapping[str, Any], item: ServiceItem | None) -> list[str]:
    """The six case classes (六件管理) of a case, derived from its item and its history
    (``docs/lifecycle.md``):

    * exactly one of **immediate** (即办件: the item's promised limit is 0, or the case was
      concluded approved at the window on the day of acceptance with no step in between:
      ``on_the_spot``) and **promised** (承诺件: everything else);
    * **supplement** (补办件) once a one-time notice was issued (it stays: the case needed
      correction), **joint** (联办件) once parallel approval started, **returned** (退回件) when
      refused at intake or concluded rejected, **agency** (代理件) when a village agent filed
      it (the case names an agent) or the township carried it to the county (委托代办).
    """
    immediate = bool(item and item.immediate) or bool(case.get("on_the_spot"))
    classes = [CLASS_IMMEDIATE if immediate else CLASS_PROMISED]
    if case.get("notices"):
        classes.append(CLASS_SUPPLEMENT)
    if case.get("joint_departments"):
        classes.append(CLASS_JOINT)
    if case.get("status") in (REFUSED, CONCLUDED_REJECTED):
        classes.append(CLASS_RETURNED)
    if case.get("agent") or case.get("forwarded_to"):
        classes.append(CLASS_AGENCY)
    return classes



@dataclass(frozen=True)
class Classification:
    """Result of intake classification: the case classes, GB/T case type and first due date."""

    case_classes: list[str]
    case_type: str
    due: DueDate

    def to_dict(self) -> dict[str, Any]:
        return {"case_classes": self.case_classes, "case_type": self.case_type, **self.due.to_dict()}


def classify(item: ServiceItem, township: Township, received_utc: dt.datetime,
             has_agent: bool, calendar: WorkingDayCalendar) -> Classification:
    """Classify a new case and compute its first promised due date.

    * immediate (即办件) when the item's promised limit is 0: due the day of receipt if received on
      a working day before closing time, else the next working day (domain.md section 4, practice);
    * promised (承诺件) otherwise: due ``promised`` working/calendar days after the day of receipt
      (the first day not counted; art. 32: with no one-time notice the application counts as
      accepted on the day of receipt; the lifecycle issue moves the start to acceptance);
    * agency (代理件) is added when an agent filed the case. Classes combine: an agency case is
      also immediate or promised.

    ``received_utc`` must be timezone-aware. Items without a promised limit (imported with names
    only) are treated as promised with the legal default of 20 working days (行政许可法第四十二条).
    """
    limit = item.promised_limit
    value, unit = (limit.value, limit.unit) if limit else (LEGAL_DEFAULT_WORKING_DAYS, WORKING_DAYS)
    deadline = calculate(value, unit, received_utc, calendar=calendar, zone=SHANGHAI, office_hours=township.office_hours)
    assert deadline.due_date is not None  # no pauses at intake
    due = DueDate(deadline.due_date, deadline.provisional)
    primary = CLASS_IMMEDIATE if value == 0 else CLASS_PROMISED
    classes = case_classes({"agent": has_agent, "status": SUBMITTED}, item)
    return Classification(case_classes=classes, case_type=CASE_TYPE_CODES[primary], due=due)
CASE_CLASSES = tuple(CLASS_LABELS)
