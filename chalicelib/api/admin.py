"""Administration blueprint: staff accounts and village agent appointments (administrator)."""
from __future__ import annotations

from chalice import Blueprint

from .. import container
from ..domain.access import ADMINISTRATOR
from ..usecases import identity
from .errors import BODY_TYPES, json_body, json_response
from .security import endpoint

bp = Blueprint(__name__)


@endpoint(bp, "/v1/admin/accounts", methods=["POST"], roles=(ADMINISTRATOR,), content_types=BODY_TYPES)
def create_account(caller):
    """Create a staff account (201)."""
    return json_response(identity.create_staff_account(
        caller.principal, caller.origin, json_body(bp.current_request), identity=container.identity(),
        passwords=container.passwords(), audit_log=container.audit_log()), 201)


@endpoint(bp, "/v1/admin/accounts/{username}/disable", methods=["POST"], roles=(ADMINISTRATOR,),
          content_types=BODY_TYPES)
def disable_account(username, caller):
    """Disable a staff account."""
    return identity.disable_staff_account(caller.principal, caller.origin, username, identity=container.identity(),
                                          audit_log=container.audit_log())


@endpoint(bp, "/v1/admin/agents", methods=["POST"], roles=(ADMINISTRATOR,), content_types=BODY_TYPES)
def appoint_agent(caller):
    """Appoint, update or end a village agent's appointment."""
    return identity.appoint_agent(caller.principal, caller.origin, json_body(bp.current_request),
                                  identity=container.identity(), id_keys=container.id_keys(),
                                  audit_log=container.audit_log())
