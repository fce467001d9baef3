"""Operator webhooks (issue 3, item 6): record and queue an event when an operator's case
changes, deliver it (signed, retried with backoff, dead-lettered), list failed deliveries and
redeliver them. The receiver's side is ``docs/webhooks.md``.

Delivery is at least once: a receiver may see one delivery id more than once (a retry after a
lost 2xx, a redelivery) and deduplicates on it. A delivery that has been answered with a 2xx is
never sent again.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping

from .. import settings
from ..domain import webhooks as rules
from ..domain.access import Forbidden, Origin, Principal
from ..domain.cases import utc_iso
from ..domain.errors import Conflict, NotFound
from ..logs import logger
from . import audit
from .ports import Clock, utcnow

#: ``send(url, body, headers)``: one HTTP attempt; the result has ``ok``, ``status``, ``error``.
Send = Callable[[str, bytes, dict], Awaitable[Any]]




def enqueue_case_event(case: Mapping[str, Any], event_type: str, *, publisher, deliveries,
                       now: Clock = utcnow) -> str | None:
    """Tell the case's operator about ``event_type`` (``case.created``, ``case.classified``,
    ``case.<transition>``). Does nothing and returns None for a case without ``operator_id``.
    Called by the case events consumer (``events.handle_case_event``) for each committed
    change, never by the use cases that make the change.

    Otherwise records a pending delivery (``case`` needs ``case_no``, ``status``,
    ``township_code``, ``item_code``, ``operator_id``; ``station_id``, ``version`` and
    ``occurred_at``, the change's commit time, default: now, are used when present) and
    publishes one message ``{operator_id, delivery_id}`` to the webhook queue; returns the
    delivery id. The id is derived from the case's number, version and
    status and the event type, so calling this twice for one state change records one delivery
    (the message is published again only while it is still pending, e.g. when the first publish
    failed). Raises ValueError for a malformed event type; storage and queue errors propagate.
    """
    operator_id = case.get("operator_id")
    if not operator_id:
        return None
    at = now()
    delivery_id = rules.delivery_id_for(operator_id, case["case_no"], event_type, case.get("version"), case["status"])
    body = rules.encode_event(rules.case_event(case, event_type, delivery_id, case.get("occurred_at") or utc_iso(at)))
    created = deliveries.create({"delivery_id": delivery_id, "operator_id": operator_id, "case_no": case["case_no"],
                                 "event_type": event_type, "body": body, "created_at": at})
    if not created:
        existing = deliveries.get(operator_id, delivery_id)
        if existing is not None and existing["status"] != rules.PENDING:
            return delivery_id
    publisher.publish({"operator_id": operator_id, "delivery_id": delivery_id})
    logger.info("webhook queued", extra={"operator_id": operator_id, "delivery_id": delivery_id,
                                         "event_type": event_type, "case_no": case["case_no"], "new": created})
    return delivery_id


@dataclass(frozen=True)
class Outcome:
    """What one queue message came to. ``result`` is ``delivered``, ``already_delivered``,
    ``unknown`` (no such delivery: dropped), ``retry`` or ``failed`` (every attempt used; the
    queue moves the message to its dead-letter queue). ``retry_in`` (seconds) is set when the
    message must come back: the consumer makes it visible again after that long and reports
    it failed."""

    result: str
    retry_in: int | None = None
    error: str | None = None


async def deliver(message: Mapping[str, str], receive_count: int, *, deliveries, targets, send: Send,
                  now: Clock = utcnow) -> Outcome:
    """One attempt at the delivery named by a queue message ``{operator_id, delivery_id}``
    (``schemas/webhook_delivery_message.json``, already validated) received for the
    ``receive_count``-th time (1-based).

    POSTs the recorded body to the operator's URL with ``X-Bianmin-Delivery``,
    ``X-Bianmin-Event`` and ``X-Bianmin-Signature`` headers. A 2xx marks the delivery delivered.
    Anything else (no URL or secret, refused URL, network error, non-2xx, redirect) counts one
    failed attempt and asks for a retry after ``backoff_seconds``; at
    ``settings.WEBHOOK_MAX_ATTEMPTS`` receives the delivery is marked failed instead (listed for
    redelivery). Storage work runs in the caller's thread; only ``send`` is awaited, so the
    consumer can run the HTTP attempts of a batch side by side."""
    operator_id, delivery_id = message["operator_id"], message["delivery_id"]
    ids = {"operator_id": operator_id, "delivery_id": delivery_id, "receive_count": receive_count}
    record = deliveries.get(operator_id, delivery_id)
    if record is None:
        logger.error("webhook message for an unknown delivery; dropped", extra=ids)
        return Outcome("unknown")
    if record["status"] == rules.DELIVERED:
        logger.info("webhook already delivered; not sent again", extra=ids)
        return Outcome("already_delivered")
    ids["event_type"] = record["event_type"]
    target = targets.webhook_target(operator_id)
    if target is None:
        status, error = None, "no webhook URL or secret configured"
    else:
        url, secret = target
        body = record["body"].encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Bianmin-Webhooks/1",
                   "X-Bianmin-Delivery": delivery_id, "X-Bianmin-Event": record["event_type"],
                   "X-Bianmin-Signature": rules.signature(secret, int(now().timestamp()), body)}
        result = await send(url, body, headers)
        status, error = result.status, result.error
    at = now()
    if error is None:
        deliveries.mark_delivered(operator_id, delivery_id, at=at, status_code=status)
        logger.info("webhook delivered", extra={**ids, "http_status": status})
        return Outcome("delivered")
    error = rules.trim_error(error)
    final = receive_count >= settings.WEBHOOK_MAX_ATTEMPTS
    deliveries.record_failure(operator_id, delivery_id, at=at, error=error, status_code=status, final=final)
    if final:
        logger.error("webhook failed every attempt; to the dead-letter queue", extra={**ids, "error": error})
        return Outcome("failed", 0, error)
    delay = rules.backoff_seconds(receive_count, settings.WEBHOOK_BACKOFF_SECONDS, settings.WEBHOOK_BACKOFF_MAX_SECONDS)
    logger.warning("webhook attempt failed; will retry", extra={**ids, "error": error, "retry_in": delay})
    return Outcome("retry", delay, error)


def _operator_of(principal: Principal) -> str:
    if principal is None or not principal.operator_id:
        raise Forbidden()
    return principal.operator_id


def delivery_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """The API shape of a delivery record: ids, status (with zh-CN label), attempts, last error,
    times, and the event exactly as sent."""
    return {
        "delivery_id": record["delivery_id"], "event_type": record["event_type"], "case_no": record["case_no"],
        "status": record["status"], "status_label": rules.DELIVERY_STATUS_LABELS.get(record["status"], record["status"]),
        "attempts": record.get("attempts") or 0, "last_error": record.get("last_error"),
        "last_status_code": record.get("last_status_code"), "created_at": record.get("created_at"),
        "last_attempt_at": record.get("last_attempt_at"), "failed_at": record.get("failed_at"),
        "redeliveries": record.get("redeliveries") or 0, "event": json.loads(record["body"]),
    }


def failed_deliveries(principal: Principal, *, deliveries, limit: int = 20,
                      cursor: str | None = None) -> dict[str, Any]:
    """``GET /v1/operator/webhooks/failed``: the calling operator's deliveries that failed every
    attempt and were not redelivered since, newest failure first, ``limit`` (1-100) per page
    with an opaque ``next_cursor``. Raises Forbidden for a caller that is not an operator,
    ValidationFailed for a bad cursor."""
    operator_id = _operator_of(principal)
    limit = max(1, min(100, int(limit)))
    rows, next_cursor = deliveries.failed(operator_id, limit, cursor)
    return {"deliveries": [delivery_view(r) for r in rows], "next_cursor": next_cursor}


def redeliver(principal: Principal, origin: Origin, delivery_id: str, *, deliveries, publisher, log,
              now: Clock = utcnow) -> dict[str, Any]:
    """``POST /v1/operator/webhooks/{delivery_id}/redeliver``: queue a failed delivery again with
    the same delivery id and body (a fresh signature on each attempt, and the full retry
    schedule again). It leaves the failed list at once and comes back if it fails every attempt
    again. The action is recorded in the audit trail of the operator.

    Raises NotFound for an unknown id or another operator's delivery, Conflict
    (``DELIVERY_NOT_FAILED``) when it is pending or delivered, Forbidden for a non-operator.
    """
    operator_id = _operator_of(principal)
    record = deliveries.get(operator_id, delivery_id) if rules.DELIVERY_ID_PATTERN.fullmatch(delivery_id or "") else None
    if record is None:
        raise NotFound("未找到该推送记录")
    if record["status"] != rules.FAILED:
        raise Conflict("只有推送失败的记录可以重新推送", code="DELIVERY_NOT_FAILED",
                       delivery_status=record["status"])
    at = now()
    audit.record(log, principal, origin, "webhook.redeliver", audit.subject_target(principal.subject),
                 {"delivery_id": delivery_id, "case_no": record["case_no"], "event_type": record["event_type"]}, now=at)
    if not deliveries.reopen(operator_id, delivery_id, at=at):
        raise Conflict("该推送记录已在重新推送中", code="DELIVERY_NOT_FAILED")
    try:
        publisher.publish({"operator_id": operator_id, "delivery_id": delivery_id})
    except Exception:
        deliveries.reclose(operator_id, delivery_id, failed_at=record["failed_at"], at=at)
        raise
    logger.info("webhook redelivery queued", extra={"operator_id": operator_id, "delivery_id": delivery_id})
    return {"delivery_id": delivery_id, "status": rules.PENDING, "status_label": rules.DELIVERY_STATUS_LABELS[rules.PENDING]}
