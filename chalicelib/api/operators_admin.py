"""Administrator blueprint for station operators: register an operator, issue and revoke its
API keys. Bearer token with the ``administrator`` role (403 otherwise). Responses that carry a
secret are sent once, with ``Cache-Control: no-store``.
"""
from __future__ import annotations

from chalice import Blueprint

from .. import container
from ..domain.access import ADMINISTRATOR
from ..usecases import operators
from .errors import BODY_TYPES, json_body, json_response
from .security import TOKEN, endpoint

bp = Blueprint(__name__)
_NO_STORE = {"Cache-Control": "no-store"}


@endpoint(bp, "/v1/admin/operators", methods=("POST",), access=TOKEN, roles=(ADMINISTRATOR,),
          content_types=BODY_TYPES)
def register_operator(caller):
    """201 with the operator, its first key id and secret, and its webhook secret (shown once)."""
    result = operators.register_operator(json_body(bp.current_request), principal=caller.principal,
                                         origin=caller.origin, gate=container.operator_gate(),
                                         audit_log=container.audit_log())
    return json_response(result, 201, _NO_STORE)


@endpoint(bp, "/v1/admin/operators/{operator_id}/keys", methods=("POST",), access=TOKEN, roles=(ADMINISTRATOR,),
          content_types=BODY_TYPES)
def issue_key(operator_id, caller):
    """201 with a new key id and secret (shown once)."""
    result = operators.issue_key(caller.principal, caller.origin, operator_id, gate=container.operator_gate(),
                                 audit_log=container.audit_log())
    return json_response(result, 201, _NO_STORE)


@endpoint(bp, "/v1/admin/operators/{operator_id}/keys/{key_id}/revoke", methods=("POST",), access=TOKEN,
          roles=(ADMINISTRATOR,), content_types=BODY_TYPES)
def revoke_key(operator_id, key_id, caller):
    """200 with the key, now revoked (also when it already was)."""
    return operators.revoke_key(caller.principal, caller.origin, operator_id, key_id,
                                gate=container.operator_gate(), audit_log=container.audit_log())
