"""Audit records in the append-only audit table (``models.AuditModel``)."""
from __future__ import annotations

import base64
import json
from typing import Any

from pynamodb.exceptions import QueryError

from .models import AuditModel


class DynamoAuditLog:
    """Append and read audit records. ``append`` never overwrites (does-not-exist condition)."""

    def append(self, record: dict[str, Any]) -> None:
        """Store one record ``{pk, sk, at, actor, roles, action, target, origin, detail}``.
        Raises on any failure: callers fail closed (no audit, no data)."""
        AuditModel(**record).save(condition=AuditModel.pk.does_not_exist())

    def query(self, pk: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Records of one partition, oldest first: ``(records, next cursor or None)``."""
        start = _decode(cursor, pk) if cursor else None
        result = AuditModel.query(pk, limit=limit, last_evaluated_key=start, consistent_read=True)
        try:
            rows = [r.attribute_values for r in result]
        except QueryError as exc:  # a start key DynamoDB does not accept
            raise ValueError("bad cursor") from exc
        last = result.last_evaluated_key
        return rows, (base64.urlsafe_b64encode(json.dumps(last).encode()).decode() if last else None)


def _decode(cursor: str, pk: str) -> dict[str, Any]:
    """The start key in a cursor of this partition. Raises ValueError otherwise."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("bad cursor") from exc
    if (not isinstance(key, dict) or set(key) != {"pk", "sk"} or key["pk"] != {"S": pk}
            or not isinstance(key["sk"], dict) or set(key["sk"]) != {"S"} or not isinstance(key["sk"]["S"], str)
            or not 0 < len(key["sk"]["S"]) <= 100):
        raise ValueError("bad cursor")
    return key
