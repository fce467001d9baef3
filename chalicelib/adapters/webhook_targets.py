"""Where an operator's webhooks go: ``webhook_url`` of the operator record in the identity table
(pk="OPERATOR#<operator_id>", sk="OPERATOR") and the signing secret
``settings.OPERATOR_WEBHOOK_SECRET_PREFIX + operator_id`` in Secrets Manager.

A stand-in until the operator gate (``adapters.operator_repo.DynamoOperatorGate.webhook_target``)
is merged; it reads exactly the same item attribute and secret.
"""
from __future__ import annotations

from .. import settings
from ..logs import logger
from . import secrets
from .aws import client

#: Seconds a webhook secret is cached (a rotated secret is used within a minute).
SECRET_MAX_AGE = 60


class DynamoWebhookTargets:
    """Implements ``usecases.ports.WebhookTargets``: one GetItem plus one cached secret read."""

    def webhook_target(self, operator_id: str) -> tuple[str, str] | None:
        """``(url, secret)`` of the operator, or None when it has no webhook URL or its secret
        cannot be read. Raises on other DynamoDB errors (the message is retried)."""
        item = client("dynamodb").get_item(
            TableName=settings.IDENTITY_TABLE, ProjectionExpression="webhook_url",
            Key={"pk": {"S": f"OPERATOR#{operator_id}"}, "sk": {"S": "OPERATOR"}}).get("Item") or {}
        url = item.get("webhook_url", {}).get("S")
        if not url:
            return None
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
        try:
            secret = secrets.get_secret(settings.OPERATOR_WEBHOOK_SECRET_PREFIX + operator_id, max_age=SECRET_MAX_AGE)
        except GetParameterError:
            logger.warning("operator webhook secret unreadable", extra={"operator_id": operator_id})
            return None
        return (url, secret) if secret else None
