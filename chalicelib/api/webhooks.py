"""Operator blueprint, webhooks: a station operator lists its failed webhook deliveries and has
one sent again. Signed operator requests only (``security.OPERATOR``); an operator sees only
its own deliveries (another operator's delivery id is 404)."""
from __future__ import annotations

from chalice import Blueprint

from .. import container
from .. import validation as schemas
from ..usecases import webhooks
from .errors import json_response, query_params
from .security import OPERATOR, endpoint

bp = Blueprint(__name__)


@endpoint(bp, "/v1/operator/webhooks/failed", access=OPERATOR)
def failed_webhooks(caller):
    """Failed deliveries, newest first; ``?limit=1..100&cursor=`` (opaque)."""
    q = query_params(bp.current_request)
    schemas.validate("webhook_failed_query", q)
    return webhooks.failed_deliveries(caller.principal, deliveries=container.webhook_deliveries(),
                                      limit=int(q.get("limit", 20)), cursor=q.get("cursor"))


@endpoint(bp, "/v1/operator/webhooks/{delivery_id}/redeliver", methods=["POST"], access=OPERATOR)
def redeliver_webhook(delivery_id, caller):
    """202: the failed delivery is queued again with the same delivery id."""
    view = webhooks.redeliver(caller.principal, caller.origin, delivery_id, deliveries=container.webhook_deliveries(),
                              publisher=container.webhook_publisher(), log=container.audit_log())
    return json_response(view, 202)
