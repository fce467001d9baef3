"""SQS consumers. Each reports partial batch failures (Powertools ``BatchProcessor``), so only
the failed messages return to the queue; the queue's redrive policy moves a message that keeps
failing to its dead-letter queue. Permanently bad messages are not retried at all."""
from __future__ import annotations

import json
from typing import Any

from .. import container, settings
from .. import validation as schemas
from ..domain.errors import DomainError, NotFound
from ..logs import logger
from ..usecases import calendar_years, deadlines, events, intake, lifecycle, materials, operators
from ..usecases.ports import BatchCatalog

#: The submission inside an operator message gets the API's limits (64 KB, 16 levels) plus
#: room for the envelope; SQS itself would accept 1 MiB.
MAX_MESSAGE_BYTES = schemas.MAX_BODY_BYTES + 4 * 1024
MAX_MESSAGE_DEPTH = schemas.MAX_DEPTH + 1


def _process(event: dict[str, Any], context: Any, record_handler) -> dict[str, Any]:
    """Run ``record_handler(record, catalog)`` per record with Powertools' BatchProcessor; the
    catalog reads are shared by the batch."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    processor = BatchProcessor(event_type=EventType.SQS)
    catalog = BatchCatalog(container.catalog())

    def handle(record) -> None:
        try:
            record_handler(record, catalog)
        except Exception:  # Powertools logs failures at DEBUG only: say why it will be retried
            logger.exception("message failed; it returns to the queue", extra={"message_id": record.message_id})
            raise
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)


def _message(record, schema: str, what: str) -> dict[str, Any] | None:
    """The record's JSON body valid against ``schemas/<schema>.json``, or None when it is not
    (logged as dropped: a malformed message never gets better, so it is not retried)."""
    try:
        message = schemas.parse_json(record.body, MAX_MESSAGE_BYTES, MAX_MESSAGE_DEPTH)
        schemas.validate(schema, message)
        return message
    except DomainError as exc:
        logger.error(f"dropping malformed {what}", extra={"message_id": record.message_id, "error": str(exc)})
        return None


def _classify_record(record, catalog) -> None:
    message = _message(record, "intake_event", "intake event")
    if message is None:
        return
    try:
        outcome = intake.classify_case(message["case_no"], catalog=catalog, cases=container.cases(),
                                       calendar=container.calendar(), events=container.case_event_publisher(),
                                       markers=container.calendars())
    except NotFound:
        logger.error("intake event for an unknown case", extra={"case_no": message["case_no"]})
        return
    log = logger.warning if outcome == "failed" else logger.info
    log("case intake classification", extra={"case_no": message["case_no"], "outcome": outcome})


def case_intake(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """``bianmin-case-intake``: classify each submitted case and record its first due date."""
    return _process(event, context, _classify_record)


def _operator_record(record, catalog) -> None:
    """A signed operator message (``usecases.operators.file_case_message``); any domain error
    (unsigned, forged, replayed, bad shape, unknown item) sends it to the DLQ unchanged."""
    attributes = {name: (value.string_value or "") for name, value in record.message_attributes.items()}
    try:
        view, created, operator_id = operators.file_case_message(
            queue=settings.OPERATOR_INTAKE_QUEUE, body=record.body, attributes=attributes,
            sent_timestamp_ms=int(record.attributes.sent_timestamp), message_id=record.message_id,
            gate=container.operator_gate(), catalog=catalog, cases=container.cases(),
            publisher=container.intake_publisher(), events=container.case_event_publisher(),
            identity=container.identity(), id_keys=container.id_keys(), audit_log=container.audit_log(),
            max_bytes=MAX_MESSAGE_BYTES, max_depth=MAX_MESSAGE_DEPTH)
    except DomainError as exc:  # bad input never gets better by retrying
        _dead_letter(record, exc.to_dict())
        return
    logger.info("operator case intake", extra={"case_no": view["case_no"], "case_created": created,
                                               "operator_id": operator_id})


def _dead_letter(record, error: dict[str, Any]) -> None:
    """Move a permanently invalid message to the operator DLQ unchanged (the same shape as a
    message the redrive policy moves there), with the error in message attributes."""
    logger.error("operator intake message rejected", extra={"message_id": record.message_id, "error": error})
    problems = list(error.get("details", []))
    details = json.dumps(problems, ensure_ascii=False)
    while len(details) > 2000:  # attribute size: drop whole problems, keep valid JSON
        problems.pop()
        details = json.dumps(problems, ensure_ascii=False)
    container.operator_dead_letters().publish_raw(record.body, attributes={
        "error_code": error.get("code", "INVALID"), "error_message": error.get("message", ""),
        "error_details": details, "original_message_id": record.message_id})


def operator_intake(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """``bianmin-operator-intake``: a station operator's case lands exactly like an API intake."""
    return _process(event, context, _operator_record)


def requeue_stalled_intake() -> int:
    """Scheduled: publish intake events again for cases stuck unclassified."""
    count = intake.requeue_stalled_intake(container.cases(), container.intake_publisher())
    if count:
        logger.warning("re-published stalled intake events", extra={"count": count})
    return count


def _case_event_record(record, catalog) -> None:
    try:
        event = schemas.parse_json(record.body, MAX_MESSAGE_BYTES, MAX_MESSAGE_DEPTH)
        outcome = events.handle_case_event(
            event, cases=container.cases(), notify_operator=container.operator_webhooks(),
            responsible_active=lambda case: lifecycle.responsible_is_active(container.identity(), case),
            request_document=container.document_publisher().publish)
    except DomainError as exc:
        logger.error("dropping malformed case event", extra={"message_id": record.message_id, "error": str(exc)})
        return
    logger.info("case event", extra={"event_id": event["event_id"], "event_type": event["event_type"],
                                     "outcome": outcome})


def case_events(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """``bianmin-case-events``: applicant messages and operator webhooks for each state change
    (the only place operator webhooks are queued)."""
    return _process(event, context, _case_event_record)


def _document_record(record, catalog) -> None:
    from ..usecases import case_documents
    try:
        message = schemas.parse_json(record.body, MAX_MESSAGE_BYTES, MAX_MESSAGE_DEPTH)
        outcome = case_documents.issue_document(
            message, cases=container.cases(), catalog=catalog, documents=container.documents(),
            seals=container.seals(), keys=container.seal_keys(), objects=container.objects(),
            calendar=container.calendar())
    except DomainError as exc:  # malformed, or the case does not exist: retrying cannot help
        logger.error("dropping document request", extra={"message_id": record.message_id, "error": str(exc)})
        return
    logger.info("case document", extra={"case_no": message["case_no"], "kind": message["kind"], "outcome": outcome})


def case_documents(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """``bianmin-documents``: generate, e-seal, store and record receipts, one-time notices and
    decisions (idempotent per document)."""
    return _process(event, context, _document_record)


def _publicity_record(record, catalog) -> None:
    """One notice request (``usecases.publicity.generate_notice``): a malformed message or an
    unknown item or township is dropped (logged); an item version not visible yet, or an AWS
    error, is retried."""
    from ..usecases import publicity
    message = _message(record, "publicity_request", "publicity request")
    if message is None:
        return
    try:
        outcome = publicity.generate_notice(message, catalog=container.catalog(), notices=container.notices(),
                                            objects=container.objects())
    except NotFound as exc:
        logger.error("dropping publicity request", extra={"message_id": record.message_id, "error": str(exc)})
        return
    logger.info("publicity notice", extra={"item_code": message["item_code"], "item_version": message["item_version"],
                                           "township_code": message["township_code"], "outcome": outcome,
                                           "reason": message.get("reason")})


def publicity_requests(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """``bianmin-publicity``: the eight-publicity notice (HTML, PDF, QR code) of one item in one
    township per message, stored by version (idempotent)."""
    return _process(event, context, _publicity_record)


def _material_upload_record(record, catalog) -> None:
    """One S3 notification message: every ObjectCreated record in it is checked and attached
    or refused (``usecases.materials.consume_upload``); a message that is not S3's shape is
    dropped (it never gets better), an AWS error or a case that kept changing is retried."""
    message = _message(record, "material_upload_event", "material upload event")
    if message is None:
        return
    from ..adapters.file_inspect import opens
    for s3_record in message.get("Records", []):
        outcome = materials.consume_upload(s3_record, cases=container.cases(), materials=container.materials(),
                                           objects=container.objects(), inspect=opens,
                                           identity=container.identity())
        logger.info("material upload", extra={"message_id": record.message_id, "outcome": outcome})


def material_uploads(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """``bianmin-material-uploads``: uploaded materials, straight from S3's event notifications."""
    return _process(event, context, _material_upload_record)


def republish_case_events() -> int:
    """Scheduled: publish outbox events whose publish after commit was lost, and the catalog
    changes' publicity messages likewise (``catalog_changes.republish_stalled``)."""
    from ..usecases import catalog_changes
    catalog_changes.republish_stalled(catalog=container.catalog(), publisher=container.publicity_publisher())
    return events.republish_stalled_events(container.cases(), container.case_event_publisher())


def sweep_deadlines(context: Any = None) -> dict[str, Any]:
    """Scheduled: recompute the provisional due dates of years loaded since (the safety net of
    a calendar load), then raise and announce the deadline warnings due today (Asia/Shanghai)."""
    cases, calendar = container.cases(), container.calendar()
    recomputed = calendar_years.recompute_loaded_years(cases, calendar)
    report = deadlines.sweep(cases, calendar, container.case_event_publisher(),
                             time_left_ms=getattr(context, "get_remaining_time_in_millis", None))
    return {**report, "recomputed": recomputed}
