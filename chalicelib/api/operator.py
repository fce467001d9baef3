"""Operator blueprint: third-party station operators (民生服务站运营方), server to server.

Every route is ``access=OPERATOR``: the request is signed with an operator API key
(HMAC-SHA256, ``docs/operator-api.md``) and verified by ``usecases.operators.authenticate``
before the view runs; each accepted request counts against the operator's per-minute budget.
"""
from __future__ import annotations

from chalice import Blueprint

from .. import container
from ..usecases import operators
from .errors import BODY_TYPES, idempotency_key, json_body, json_response
from .security import OPERATOR, endpoint

bp = Blueprint(__name__)


@endpoint(bp, "/v1/operator/cases", methods=("POST",), access=OPERATOR, content_types=BODY_TYPES)
def file_case(caller):
    """201 with the new case, 200 with the same case for an Idempotency-Key seen before."""
    request = bp.current_request
    view, created = operators.file_case(
        json_body(request), principal=caller.principal, origin=caller.origin,
        idempotency_key=idempotency_key(request), gate=container.operator_gate(),
        catalog=container.catalog(), cases=container.cases(), publisher=container.intake_publisher(),
        events=container.case_event_publisher(), identity=container.identity(), id_keys=container.id_keys(),
        audit_log=container.audit_log())
    return json_response(view, 201 if created else 200, {"Location": f"/v1/operator/cases/{view['case_no']}"})


@endpoint(bp, "/v1/operator/cases/{case_no}", access=OPERATOR)
def get_case(case_no, caller):
    """A case this operator filed (404 for any other); audited."""
    return operators.get_case(caller.principal, caller.origin, case_no, cases=container.cases(),
                              identity=container.identity(), audit_log=container.audit_log())
