"""Webhook delivery records in the cases table (``models.WebhookDeliveryModel``): GetItem,
conditional PutItem/UpdateItem, and a Query of the sparse ``failed_deliveries`` index. No scans,
no filter expressions."""
from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from .. import settings
from ..domain.cases import utc_iso
from ..domain.errors import invalid_cursor
from ..domain.webhooks import DELIVERED, FAILED, PENDING
from .models import WebhookDeliveryModel as Delivery

_FIELDS = ("delivery_id", "operator_id", "case_no", "event_type", "body", "status", "attempts", "last_error",
           "last_status_code", "created_at", "updated_at", "last_attempt_at", "delivered_at", "failed_at",
           "redeliveries", "redelivered_at")
_CURSOR_KEYS = {"pk", "sk", "failed_operator", "failed_at"}


def delivery_pk(operator_id: str) -> str:
    """The partition of an operator's deliveries."""
    return f"DELIVERY#{operator_id}"


def _conditional_failed(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def _as_dict(model: Delivery) -> dict[str, Any]:
    values = model.attribute_values
    row = {k: values.get(k) for k in _FIELDS}
    for k in ("attempts", "last_status_code", "redeliveries"):
        if row[k] is not None:
            row[k] = int(row[k])
    return row



def _encode_cursor(key: dict | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None, operator_id: str) -> dict | None:
    """The start key inside ``cursor``: exactly a key of the index for this operator."""
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        ok = (isinstance(key, dict) and set(key) == _CURSOR_KEYS
              and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) and 0 < len(v["S"]) <= 200
                      for v in key.values())
              and key["failed_operator"]["S"] == operator_id and key["pk"]["S"] == delivery_pk(operator_id))
    except (ValueError, TypeError, AttributeError):
        ok = False
    if not ok:
        raise invalid_cursor()
    return key


class DynamoWebhookDeliveries:
    """Implements ``usecases.ports.WebhookDeliveries`` on the cases table."""

    def create(self, record: dict[str, Any]) -> bool:
        """Write a new pending delivery ``{delivery_id, operator_id, case_no, event_type, body,
        created_at (datetime)}``. False when that delivery id exists already."""
        at: dt.datetime = record["created_at"]
        model = Delivery(delivery_pk(record["operator_id"]), record["delivery_id"],
                         delivery_id=record["delivery_id"], operator_id=record["operator_id"],
                         case_no=record["case_no"], event_type=record["event_type"], body=record["body"],
                         status=PENDING, attempts=0, redeliveries=0, created_at=utc_iso(at), updated_at=utc_iso(at),
                         expires_at=at + dt.timedelta(days=settings.WEBHOOK_RECORD_KEEP_DAYS))
        try:
            model.save(condition=Delivery.pk.does_not_exist())
        except PutError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def get(self, operator_id: str, delivery_id: str) -> dict[str, Any] | None:
        """The record as a dict (consistent read), or None."""
        try:
            return _as_dict(Delivery.get(delivery_pk(operator_id), delivery_id, consistent_read=True))
        except DoesNotExist:
            return None

    def _update(self, operator_id: str, delivery_id: str, actions: list, condition) -> bool:
        try:
            Delivery(delivery_pk(operator_id), delivery_id).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if _conditional_failed(exc):
                return False
            raise
        return True

    def mark_delivered(self, operator_id: str, delivery_id: str, *, at: dt.datetime,
                       status_code: int | None) -> None:
        """Delivered: out of the failed list, kept 30 more days."""
        stamp = utc_iso(at)
        self._update(operator_id, delivery_id, [
            Delivery.status.set(DELIVERED), Delivery.attempts.add(1), Delivery.delivered_at.set(stamp),
            Delivery.last_attempt_at.set(stamp), Delivery.updated_at.set(stamp),
            Delivery.last_status_code.set(status_code) if status_code is not None else Delivery.last_status_code.remove(),
            Delivery.last_error.remove(), Delivery.failed_operator.remove(), Delivery.failed_at.remove(),
            Delivery.expires_at.set(at + dt.timedelta(days=settings.WEBHOOK_DELIVERED_KEEP_DAYS)),
        ], Delivery.pk.exists())

    def record_failure(self, operator_id: str, delivery_id: str, *, at: dt.datetime, error: str,
                       status_code: int | None, final: bool) -> None:
        """One more failed attempt; ``final`` marks it failed (into the failed list)."""
        stamp = utc_iso(at)
        actions = [Delivery.attempts.add(1), Delivery.last_error.set(error), Delivery.last_attempt_at.set(stamp),
                   Delivery.updated_at.set(stamp),
                   Delivery.last_status_code.set(status_code) if status_code is not None
                   else Delivery.last_status_code.remove()]
        if final:
            actions += [Delivery.status.set(FAILED), Delivery.failed_operator.set(operator_id),
                        Delivery.failed_at.set(stamp)]
        self._update(operator_id, delivery_id, actions, Delivery.pk.exists() & (Delivery.status != DELIVERED))

    def reopen(self, operator_id: str, delivery_id: str, *, at: dt.datetime) -> bool:
        """failed -> pending for a redelivery (out of the failed list). False if not failed."""
        stamp = utc_iso(at)
        return self._update(operator_id, delivery_id, [
            Delivery.status.set(PENDING), Delivery.failed_operator.remove(), Delivery.failed_at.remove(),
            Delivery.redeliveries.add(1), Delivery.redelivered_at.set(stamp), Delivery.updated_at.set(stamp),
        ], Delivery.status == FAILED)

    def reclose(self, operator_id: str, delivery_id: str, *, failed_at: str, at: dt.datetime) -> None:
        """Undo :meth:`reopen` when the redelivery could not be queued (back into the list)."""
        self._update(operator_id, delivery_id, [
            Delivery.status.set(FAILED), Delivery.failed_operator.set(operator_id), Delivery.failed_at.set(failed_at),
            Delivery.updated_at.set(utc_iso(at)),
        ], Delivery.status == PENDING)

    def failed(self, operator_id: str, limit: int,
               cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the operator's failed deliveries, newest failure first."""
        start = _decode_cursor(cursor, operator_id)
        result = Delivery.failed_deliveries.query(operator_id, scan_index_forward=False, limit=limit,
                                                  last_evaluated_key=start)
        rows = [_as_dict(m) for m in result]
        return rows, _encode_cursor(result.last_evaluated_key)
