"""Audit records in the append-only audit table (``models.AuditModel``)."""
from __future__ import annotations

import base64
import json
from typing import Any

from pynamodb.exceptions import PutError

from .models import AuditModel


class DynamoAuditLog:
    """Append and read audit records. ``append`` never overwrites (does-not-exist condition)."""

    def append(self, record: dict[str, Any]) -> None:
        """Store one record ``{pk, sk, at, actor, roles, action, target, origin, detail}``.
        Raises on any failure: callers fail closed (no audit, no data)."""
        try:
            AuditModel(**record).save(condition=AuditModel.pk.does_not_exist())
        except PutError:
            raise

    def query(self, pk: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Records of one partition, oldest first: ``(records, next cursor or None)``."""
        start = json.loads(base64.urlsafe_b64decode(cursor.encode())) if cursor else None
        result = AuditModel.query(pk, limit=limit, last_evaluated_key=start, consistent_read=True)
        rows = [r.attribute_values for r in result]
        last = result.last_evaluated_key
        return rows, (base64.urlsafe_b64encode(json.dumps(last).encode()).decode() if last else None)
