"""Mini-program blueprint: villagers and village agents file and follow cases."""
from __future__ import annotations

from chalice import Blueprint

from .. import container
from ..domain.cases import CHANNEL_MINI_PROGRAM
from ..usecases import intake
from .errors import api_view, idempotency_key, json_body, json_response

bp = Blueprint(__name__)


# Other content types are accepted so that a wrong one gets our 400 BODY_NOT_JSON (with the
# field) rather than a bare 415. No CORS: the mini-program does not need it.
_BODY_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded",
               "application/octet-stream", "multipart/form-data"]


@bp.route("/v1/cases", methods=["POST"], content_types=_BODY_TYPES)
@api_view
def submit_case():
    """201 with the new case; 200 with the same case when the Idempotency-Key was seen."""
    request = bp.current_request
    body = json_body(request)
    key = idempotency_key(request)
    has_agent = isinstance(body, dict) and bool(body.get("agent"))
    view, created = intake.submit_case(
        body, channel=CHANNEL_MINI_PROGRAM, submitted_by="agent" if has_agent else "applicant",
        role="village_agent" if has_agent else "villager",
        idempotency=(CHANNEL_MINI_PROGRAM, key) if key else None,
        catalog=container.catalog(), cases=container.cases(), publisher=container.intake_publisher())
    return json_response(view, 201 if created else 200, {"Location": f"/v1/cases/{view['case_no']}"})


@bp.route("/v1/cases/{case_no}", methods=["GET"])
@api_view
def get_case(case_no):
    """Status, classes, due date and history of one case (personal data masked)."""
    return intake.get_case(case_no, container.cases())
