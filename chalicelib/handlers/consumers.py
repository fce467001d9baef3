"""SQS consumers. Each reports partial batch failures (Powertools ``BatchProcessor``), so only
the failed messages return to the queue; the queue's redrive policy moves a message that keeps
failing to its dead-letter queue. Permanently bad messages are not retried at all."""
from __future__ import annotations

import json
from typing import Any

from .. import container, settings
from .. import validation as schemas
from ..domain.cases import CHANNEL_OPERATOR
from ..domain.errors import DomainError, NotFound
from ..logs import logger
from ..usecases import intake
from ..usecases.ports import BatchCatalog


def _process(event: dict[str, Any], context: Any, record_handler) -> dict[str, Any]:
    """Run ``record_handler(record, catalog)`` per record with Powertools' BatchProcessor; the
    catalog reads are shared by the batch."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    processor = BatchProcessor(event_type=EventType.SQS)
    catalog = BatchCatalog(container.catalog())
    return process_partial_response(event=event, record_handler=lambda record: record_handler(record, catalog),
                                    processor=processor, context=context)


def _classify_record(record, catalog) -> None:
    try:
        message = json.loads(record.body)
        schemas.validate("intake_event", message)
    except (ValueError, DomainError) as exc:
        logger.error("dropping malformed intake event", extra={"message_id": record.message_id,
                                                                "error": str(exc)})
        return
    try:
        outcome = intake.classify_case(message["case_no"], catalog=catalog,
                                       cases=container.cases(), calendar=container.calendar())
    except NotFound:
        logger.error("intake event for an unknown case", extra={"case_no": message["case_no"]})
        return
    logger.info("case classified", extra={"case_no": message["case_no"], "outcome": outcome})


def case_intake(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """``bianmin-case-intake``: classify each submitted case and record its first due date."""
    return _process(event, context, _classify_record)


def _operator_record(record, catalog) -> None:
    try:
        message = json.loads(record.body)
    except ValueError:
        _dead_letter(record, {"code": "BODY_NOT_JSON", "message": "消息体不是有效的 JSON", "details": []})
        return
    try:
        schemas.validate("operator_intake_message", message)
        view, created = intake.submit_case(
            message["submission"], channel=CHANNEL_OPERATOR,
            submitted_by=f"operator:{message['operator_id']}/{message['station_id']}", role="station_operator",
            idempotency=(f"operator:{message['operator_id']}", message["idempotency_key"]),
            catalog=catalog, cases=container.cases(), publisher=container.intake_publisher())
    except DomainError as exc:  # bad input never gets better by retrying
        _dead_letter(record, exc.to_dict())
        return
    logger.info("operator case intake", extra={"case_no": view["case_no"], "case_created": created,
                                               "operator_id": message["operator_id"]})


def _dead_letter(record, error: dict[str, Any]) -> None:
    """Move a permanently invalid message to the operator DLQ with the error attached."""
    logger.error("operator intake message rejected", extra={"message_id": record.message_id, "error": error})
    container.operator_dead_letters().publish(
        {"original_body": record.body, "original_message_id": record.message_id, "error": error},
        attributes={"error_code": error.get("code", "INVALID")})


def operator_intake(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """``bianmin-operator-intake``: a station operator's case lands exactly like an API intake."""
    return _process(event, context, _operator_record)


def requeue_stalled_intake() -> int:
    """Scheduled: publish intake events again for cases stuck unclassified."""
    count = intake.requeue_stalled_intake(container.cases(), container.intake_publisher())
    if count:
        logger.warning("re-published stalled intake events", extra={"count": count})
    return count


__all__ = ["case_intake", "operator_intake", "requeue_stalled_intake", "settings"]
