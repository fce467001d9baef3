"""DynamoDB records of the current eight-publicity notices (catalog table, ``NoticeModel``)."""
from __future__ import annotations

from typing import Any

from pynamodb.exceptions import PutError

from .models import NoticeModel


def _code(township_code: str, item_code: str) -> str:
    return f"NOTICE#{township_code}#{item_code}"


class DynamoNotices:
    """The current notice of each (township, item)."""

    def get(self, township_code: str, item_code: str) -> dict[str, Any] | None:
        """The current notice record (``domain.publicity.notice_record`` shape), or None (one GetItem)."""
        try:
            return NoticeModel.get(_code(township_code, item_code), consistent_read=True).doc
        except NoticeModel.DoesNotExist:
            return None

    def put_if_newer(self, record: dict[str, Any]) -> bool:
        """Record ``record`` as current unless one of the same or a higher ``(item_version,
        township_version)`` is there (conditional PutItem). True when this call recorded it."""
        iv, tv = int(record["item_version"]), int(record["township_version"])
        condition = (NoticeModel.code.does_not_exist() | (NoticeModel.item_version < iv)
                     | ((NoticeModel.item_version == iv) & (NoticeModel.township_version < tv)))
        try:
            NoticeModel(_code(record["township_code"], record["item_code"]), item_version=iv, township_version=tv,
                        doc=record, updated_at=record["generated_at"]).save(condition=condition)
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True
