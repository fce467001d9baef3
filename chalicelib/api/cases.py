"""Cases blueprint: villagers, village agents and window clerks file and follow cases."""
from __future__ import annotations

from chalice import Blueprint

from .. import container
from ..domain.access import SUPERVISOR, VILLAGE_AGENT, VILLAGER, WINDOW_CLERK
from ..usecases import audit, intake
from .errors import BODY_TYPES, idempotency_key, json_body, json_response, query_params
from .security import endpoint

bp = Blueprint(__name__)


@endpoint(bp, "/v1/cases", methods=["POST"], roles=(VILLAGER, VILLAGE_AGENT, WINDOW_CLERK), content_types=BODY_TYPES)
def submit_case(caller):
    """201 with the new case; 200 with the same case when the Idempotency-Key was seen."""
    request = bp.current_request
    view, created = intake.submit_case(
        json_body(request), principal=caller.principal, origin=caller.origin,
        idempotency_key=idempotency_key(request), catalog=container.catalog(), cases=container.cases(),
        publisher=container.intake_publisher(), events=container.case_event_publisher(),
        identity=container.identity(), id_keys=container.id_keys(), audit_log=container.audit_log())
    return json_response(view, 201 if created else 200, {"Location": f"/v1/cases/{view['case_no']}"})


@endpoint(bp, "/v1/cases", roles=(VILLAGER, VILLAGE_AGENT))
def my_cases(caller):
    """The caller's cases (villager) or the cases they carry (agent); ``?cursor=``."""
    return intake.my_cases(caller.principal, caller.origin, cases=container.cases(), identity=container.identity(),
                           audit_log=container.audit_log(), cursor=query_params(bp.current_request).get("cursor"),
                           calendar=container.calendar())


@endpoint(bp, "/v1/cases/{case_no}")
def get_case(case_no, caller):
    """Status, classes, due date and history of one case (personal data masked)."""
    return intake.get_case(caller.principal, caller.origin, case_no, cases=container.cases(),
                           identity=container.identity(), audit_log=container.audit_log(),
                           calendar=container.calendar())


@endpoint(bp, "/v1/cases/{case_no}/audit", roles=(VILLAGER, WINDOW_CLERK, SUPERVISOR))
def case_audit(case_no, caller):
    """Who read or changed the case, when and from where; ``?cursor=``."""
    return audit.case_audit(caller.principal, caller.origin, case_no, cases=container.cases(),
                            log=container.audit_log(), cursor=query_params(bp.current_request).get("cursor"))
