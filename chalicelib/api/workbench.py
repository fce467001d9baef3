"""Workbench blueprint: what staff and applicants do with a case after intake (the state
machine of ``docs/lifecycle.md``), the clerk's and county department's queues, windows and
A/B posts, notices and the villager's messages. Every action takes an ``Idempotency-Key``
and may take ``If-Match: <version>``."""
from __future__ import annotations

from chalice import Blueprint

from .. import container
from ..domain import lifecycle as rules
from ..domain.access import (ADMINISTRATOR, COUNTY_APPROVER, SUPERVISOR, VILLAGE_AGENT, VILLAGER,
                             WINDOW_CLERK)
from ..usecases import deadlines, lifecycle
from .errors import BODY_TYPES, idempotency_key, json_body, query_params
from .security import endpoint

bp = Blueprint(__name__)
STAFF = (WINDOW_CLERK, COUNTY_APPROVER)
APPLICANT = (VILLAGER, VILLAGE_AGENT)


def _act(action: str, case_no: str, caller, body=None, path_params=None):
    request = bp.current_request
    return lifecycle.act(
        action, case_no, json_body(request) if body is None else body, path_params=path_params,
        principal=caller.principal,
        origin=caller.origin, idempotency_key=idempotency_key(request),
        if_match=(request.headers or {}).get("if-match"), cases=container.cases(), catalog=container.catalog(),
        identity=container.identity(), calendar=container.calendar(), audit_log=container.audit_log(),
        events=container.case_event_publisher(), markers=container.calendars())


@endpoint(bp, "/v1/cases/{case_no}/accept", methods=["POST"], roles=(WINDOW_CLERK,), content_types=BODY_TYPES)
def accept(case_no, caller):
    """受理: materials complete; the clock starts (joint items start parallel approval)."""
    return _act(rules.ACCEPT, case_no, caller)


@endpoint(bp, "/v1/cases/{case_no}/notices", methods=["POST"], roles=(WINDOW_CLERK,), content_types=BODY_TYPES)
def issue_notice(case_no, caller):
    """一次性告知: one notice per round listing every missing or defective material."""
    return _act(rules.ISSUE_NOTICE, case_no, caller)


@endpoint(bp, "/v1/cases/{case_no}/notices/{round_no}", roles=(VILLAGER, VILLAGE_AGENT, WINDOW_CLERK, SUPERVISOR,
                                                               COUNTY_APPROVER))
def get_notice(case_no, round_no, caller):
    """The one-time notice document of a round."""
    return lifecycle.get_notice(caller.principal, caller.origin, case_no, round_no, cases=container.cases(),
                                identity=container.identity(), audit_log=container.audit_log())


@endpoint(bp, "/v1/cases/{case_no}/supplements", methods=["POST"], roles=(VILLAGER, VILLAGE_AGENT, WINDOW_CLERK),
          content_types=BODY_TYPES)
def supplement(case_no, caller):
    """补正: the applicant (or the window for them) supplies the materials; the round closes."""
    return _act(rules.SUPPLEMENT, case_no, caller)


@endpoint(bp, "/v1/cases/{case_no}/refusal", methods=["POST"], roles=(WINDOW_CLERK,), content_types=BODY_TYPES)
def refuse(case_no, caller):
    """不予受理, with reasons and legal basis."""
    return _act(rules.REFUSE, case_no, caller)


@endpoint(bp, "/v1/cases/{case_no}/special-procedure", methods=["POST"], roles=STAFF, content_types=BODY_TYPES)
def start_special_procedure(case_no, caller):
    """特别程序 starts (art. 45: hearing, testing, appraisal...; the clock pauses)."""
    return _act(rules.START_SPECIAL_PROCEDURE, case_no, caller)


@endpoint(bp, "/v1/cases/{case_no}/special-procedure/end", methods=["POST"], roles=STAFF, content_types=BODY_TYPES)
def end_special_procedure(case_no, caller):
    """The special procedure ends with its result; handling resumes."""
    return _act(rules.END_SPECIAL_PROCEDURE, case_no, caller)


@endpoint(bp, "/v1/cases/{case_no}/forward", methods=["POST"], roles=(WINDOW_CLERK,), content_types=BODY_TYPES)
def forward(case_no, caller):
    """报送县级: an entrusted item's case goes to the county department that decides it."""
    return _act(rules.FORWARD, case_no, caller)


@endpoint(bp, "/v1/cases/{case_no}/approvals", methods=["POST"], roles=(COUNTY_APPROVER,), content_types=BODY_TYPES)
def decide_joint_step(case_no, caller):
    """并联审批: the caller's department approves or rejects its step."""
    return _act(rules.DECIDE_JOINT_STEP, case_no, caller)


@endpoint(bp, "/v1/cases/{case_no}/conclusion", methods=["POST"], roles=STAFF, content_types=BODY_TYPES)
def conclude(case_no, caller):
    """办结: approved, or rejected with reasons and legal basis."""
    return _act(rules.CONCLUDE, case_no, caller)


@endpoint(bp, "/v1/cases/{case_no}/withdrawal", methods=["POST"], roles=APPLICANT, content_types=BODY_TYPES)
def withdraw(case_no, caller):
    """撤回: the applicant (or their consenting agent) withdraws the application."""
    return _act(rules.WITHDRAW, case_no, caller)


@endpoint(bp, "/v1/cases/{case_no}/handover", methods=["POST"], roles=(WINDOW_CLERK,), content_types=BODY_TYPES)
def handover(case_no, caller):
    """首问负责 passes to a named colleague of the township."""
    return _act(rules.HANDOVER, case_no, caller)


@endpoint(bp, "/v1/cases/{case_no}/extension", methods=["POST"], roles=STAFF, content_types=BODY_TYPES)
def extend(case_no, caller):
    """延长办理期限 (行政许可法第四十二条): once, with the head's approval, reason recorded."""
    return _act(rules.EXTEND, case_no, caller)


@endpoint(bp, "/v1/cases/{case_no}/legs", methods=["POST"], roles=(WINDOW_CLERK,), content_types=BODY_TYPES)
def record_leg(case_no, caller):
    """代办交接: the window receives the agent's paper materials, or hands the result back."""
    return _act(rules.RECORD_LEG, case_no, caller)


@endpoint(bp, "/v1/cases/{case_no}/legs/{leg_no}/receipt", methods=["POST"], roles=(WINDOW_CLERK, COUNTY_APPROVER,
                                                                                    VILLAGE_AGENT),
          content_types=BODY_TYPES)
def confirm_leg(case_no, leg_no, caller):
    """The receiving side signs for a handover (leg)."""
    body = json_body(bp.current_request) if bp.current_request.raw_body else {}
    # ASCII digits only: str.isdigit() also admits "²" (int() then raises) and "１"
    number = int(leg_no) if leg_no.isascii() and leg_no.isdigit() and len(leg_no) <= 6 else 0
    # the leg number joins the body after the body's schema check
    return _act(rules.CONFIRM_LEG, case_no, caller, body, path_params={"leg_no": number})


@endpoint(bp, "/v1/workbench/queue", roles=(WINDOW_CLERK, SUPERVISOR))
def clerk_queue(caller):
    """A window's cases by state (``?window=&status=&case_class=&cursor=&limit=``)."""
    return lifecycle.clerk_queue(caller.principal, caller.origin, query_params(bp.current_request),
                                 cases=container.cases(), audit_log=container.audit_log(), calendar=container.calendar())


@endpoint(bp, "/v1/workbench/approvals", roles=(COUNTY_APPROVER,))
def department_queue(caller):
    """The steps waiting at the approver's county department, late ones marked."""
    return lifecycle.department_queue(caller.principal, caller.origin, query_params(bp.current_request),
                                      cases=container.cases(), audit_log=container.audit_log(),
                                      calendar=container.calendar())


@endpoint(bp, "/v1/admin/townships/{township_code}/windows/{window}", methods=["PUT"], roles=(ADMINISTRATOR,),
          content_types=BODY_TYPES)
def put_window(township_code, window, caller):
    """A window with its A and B posts and the items it serves."""
    return lifecycle.put_window(caller.principal, caller.origin, township_code, window,
                                json_body(bp.current_request), cases=container.cases(), catalog=container.catalog(),
                                identity=container.identity(), audit_log=container.audit_log())


@endpoint(bp, "/v1/townships/{township_code}/windows", roles=(WINDOW_CLERK, SUPERVISOR, ADMINISTRATOR))
def list_windows(township_code, caller):
    """The township's windows and who is on duty at each."""
    return lifecycle.list_windows(caller.principal, township_code, cases=container.cases())


@endpoint(bp, "/v1/townships/{township_code}/windows/{window}/absence", methods=["PUT"],
          roles=(WINDOW_CLERK, SUPERVISOR), content_types=BODY_TYPES)
def set_absence(township_code, window, caller):
    """The A post is away (the B post works the queue) or back."""
    return lifecycle.set_absence(caller.principal, caller.origin, township_code, window,
                                 json_body(bp.current_request), cases=container.cases(),
                                 audit_log=container.audit_log())


@endpoint(bp, "/v1/me/messages", roles=(VILLAGER,))
def my_messages(caller):
    """Messages about the villager's cases, newest first (``?cursor=``)."""
    return lifecycle.my_messages(caller.principal, caller.origin, cases=container.cases(),
                                 audit_log=container.audit_log(), cursor=query_params(bp.current_request).get("cursor"))


@endpoint(bp, "/v1/me/alerts", roles=(WINDOW_CLERK, SUPERVISOR, COUNTY_APPROVER, ADMINISTRATOR))
def my_alerts(caller):
    """Deadline alerts (yellow/red) of every inbox the staff member reads, newest first (``?limit=``)."""
    return deadlines.my_alerts(caller.principal, caller.origin, query_params(bp.current_request),
                               cases=container.cases(), audit_log=container.audit_log())
