"""SQS publisher. Queue URLs are looked up once per container and cached."""
from __future__ import annotations

import functools
import json
from typing import Any

from .aws import client


@functools.lru_cache(maxsize=None)
def queue_url(name: str) -> str:
    """The URL of queue ``name`` (one GetQueueUrl per container)."""
    return client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


class SqsPublisher:
    """Sends JSON messages to a named queue."""

    def __init__(self, queue_name: str) -> None:
        self.queue_name = queue_name

    def publish(self, message: dict[str, Any], attributes: dict[str, str] | None = None) -> None:
        """Send ``message`` as JSON; ``attributes`` become string message attributes."""
        self.publish_raw(json.dumps(message, ensure_ascii=False), attributes)

    def publish_raw(self, body: str, attributes: dict[str, str] | None = None) -> None:
        """Send ``body`` as it is (e.g. a rejected message to a dead-letter queue)."""
        kwargs: dict[str, Any] = {"QueueUrl": queue_url(self.queue_name), "MessageBody": body}
        if attributes:
            kwargs["MessageAttributes"] = {k: {"DataType": "String", "StringValue": v}
                                           for k, v in attributes.items() if v}
        client("sqs").send_message(**kwargs)


    def publish_many(self, messages: list[dict[str, Any]]) -> None:
        """Send ``messages`` as JSON, ten per SendMessageBatch call. Raises RuntimeError naming
        the first failure when SQS refuses any entry (the caller's outbox sends them again)."""
        url = queue_url(self.queue_name)
        for start in range(0, len(messages), 10):
            chunk = messages[start:start + 10]
            result = client("sqs").send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "MessageBody": json.dumps(m, ensure_ascii=False)} for i, m in enumerate(chunk)])
            if result.get("Failed"):
                raise RuntimeError(f"{len(result['Failed'])} messages refused: {result['Failed'][0]}")


def change_visibility(queue_name: str, receipt_handle: str, seconds: int) -> None:
    """Make a received message visible again after ``seconds`` (0: at once; SQS allows up to
    12 hours from its first receipt). Used for retry backoff."""
    client("sqs").change_message_visibility(QueueUrl=queue_url(queue_name), ReceiptHandle=receipt_handle,
                                            VisibilityTimeout=seconds)
