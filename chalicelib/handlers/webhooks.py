"""``bianmin-webhooks`` consumer: one signed POST per message (``usecases.webhooks.deliver``).

Partial batch failures through Powertools' ``AsyncBatchProcessor``: the storage work of a batch
runs in this thread, one record after another, while the HTTP attempts run side by side in
worker threads (ten slow receivers cost about one request timeout, not ten, within the
function's 60 s). A failed attempt is made visible again after its backoff
(``ChangeMessageVisibility``) and reported failed; after ``settings.WEBHOOK_MAX_ATTEMPTS``
receives SQS moves it to ``bianmin-webhooks-dlq``. Two messages of one delivery in one batch
(the case event that queued it arrived twice) make one attempt; the copy is dropped.
"""
from __future__ import annotations

import functools
from typing import Any

from .. import container
from .. import validation as schemas
from ..domain.errors import DomainError
from ..logs import logger
from ..usecases import webhooks

MAX_MESSAGE_BYTES = 1024
#: One thread per message of a batch (the default executor has only CPUs + 4 of them).
SEND_THREADS = 10


@functools.lru_cache(maxsize=None)
def _send_pool():
    from concurrent.futures import ThreadPoolExecutor
    return ThreadPoolExecutor(max_workers=SEND_THREADS, thread_name_prefix="webhook-send")


class RetryLater(Exception):
    """The attempt failed; the message returns to the queue after its backoff."""


def _message(record) -> dict[str, str] | None:
    try:
        message = schemas.parse_json(record.body, MAX_MESSAGE_BYTES, 2)
        schemas.validate("webhook_delivery_message", message)
    except DomainError as exc:  # never gets better by retrying
        logger.error("dropping malformed webhook message", extra={"message_id": record.message_id, "error": str(exc)})
        return None
    return message


def webhook_delivery(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Deliver each message of the batch; returns ``{"batchItemFailures": [...]}``."""
    import asyncio  # here, not at module level: boto3 and asyncio stay out of the API's cold start

    from aws_lambda_powertools.utilities.batch import (AsyncBatchProcessor, EventType,
                                                        async_process_partial_response)

    from ..adapters import queues
    sender = container.webhook_sender()
    seen: set[tuple[str, str]] = set()

    async def send(url: str, body: bytes, headers: dict) -> Any:
        return await asyncio.get_running_loop().run_in_executor(_send_pool(), sender.send, url, body, headers)

    async def handle(record) -> None:
        message = _message(record)
        if message is None:
            return
        key = (message["operator_id"], message["delivery_id"])
        if key in seen:  # checked and added before any await: the batch's records share one loop
            logger.info("webhook message repeated in its batch; one attempt made", extra={
                "operator_id": key[0], "delivery_id": key[1], "message_id": record.message_id})
            return
        seen.add(key)
        outcome = await webhooks.deliver(message, int(record.attributes.approximate_receive_count or 1),
                                         deliveries=container.webhook_deliveries(),
                                         targets=container.webhook_targets(), send=send)
        if outcome.retry_in is not None:
            queues.change_visibility(record.event_source_arn.rsplit(":", 1)[-1], record.receipt_handle,
                                     outcome.retry_in)
            raise RetryLater(outcome.error)

    processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return async_process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
