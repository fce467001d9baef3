"""Consents blueprint: villagers authorize village agents and revoke; agents see theirs."""
from __future__ import annotations

from chalice import Blueprint

from .. import container
from ..domain.access import VILLAGE_AGENT, VILLAGER
from ..usecases import consents
from .errors import BODY_TYPES, json_body, json_response
from .security import endpoint

bp = Blueprint(__name__)


@endpoint(bp, "/v1/consents", methods=["POST"], roles=(VILLAGER,), content_types=BODY_TYPES)
def grant(caller):
    """Authorize an agent for one case or a period (201)."""
    return json_response(consents.grant(caller.principal, caller.origin, json_body(bp.current_request),
                                        identity=container.identity(), cases=container.cases(),
                                        audit_log=container.audit_log()), 201)


@endpoint(bp, "/v1/consents", roles=(VILLAGER, VILLAGE_AGENT))
def list_consents(caller):
    """Consents given (villager) and received (agent)."""
    return consents.list_consents(caller.principal, identity=container.identity())


@endpoint(bp, "/v1/consents/{consent_id}/revoke", methods=["POST"], roles=(VILLAGER,), content_types=BODY_TYPES)
def revoke(consent_id, caller):
    """Revoke a consent from now on."""
    return consents.revoke(caller.principal, caller.origin, consent_id, identity=container.identity(),
                           audit_log=container.audit_log())
