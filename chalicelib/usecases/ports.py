"""Ports: the interfaces use cases need from storage and messaging, and the errors adapters
raise through them. Adapters in ``chalicelib/adapters`` implement these."""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Iterable, Protocol

from ..domain.cases import Classification, HistoryEntry
from ..domain.catalog import ServiceItem, Township

#: What use cases take as ``now``: a function answering the current time (tests pass fixed ones).
Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    """Current time, timezone-aware UTC (the default ``now`` of every use case)."""
    return dt.datetime.now(dt.timezone.utc)


class CatalogRepository(Protocol):
    """Service items and township settings (implemented by ``adapters.catalog_repo``).
    ``get_offer`` returns ``((item, version) | None, township | None)``; ``list_items`` a page and
    an opaque cursor; ``existing_hashes`` ``{code: (content_hash, version)}``; ``put_items`` takes
    ``(record, content_hash, version)`` rows. ``get_offer_at`` reads the item at the version a
    case was filed under; the versioned writes (``save_item``, ``save_township``) and the change
    outbox are described in ``adapters.catalog_repo``."""

    def get_offer(self, item_code: str, township_code: str) -> tuple[tuple[ServiceItem, int] | None,
                                                                      Township | None]: ...
    def get_offer_at(self, item_code: str, version: int | None, township_code: str
                     ) -> tuple[tuple[ServiceItem, int] | None, Township | None]: ...
    def list_items(self, *, category: str | None, level: str | None, limit: int,
                   cursor: str | None) -> tuple[list[ServiceItem], str | None]: ...
    def existing_hashes(self, codes: Iterable[str]) -> dict[str, tuple[str, int]]: ...
    def put_items(self, rows: list[tuple[dict[str, Any], str, int]]) -> None: ...
    def put_township(self, record: dict[str, Any]) -> str: ...


class BatchCatalog:
    """A catalog repository that remembers what it read, for the life of one queue batch (ten
    cases of one item and township read the catalog once, not ten times)."""

    def __init__(self, inner: CatalogRepository) -> None:
        self._inner = inner
        self._offers: dict[tuple[str, str], Any] = {}

    def get_offer(self, item_code: str, township_code: str):
        key = (item_code, township_code)
        if key not in self._offers:
            self._offers[key] = self._inner.get_offer(item_code, township_code)
        return self._offers[key]

    def get_offer_at(self, item_code: str, version: int | None, township_code: str):
        key = (item_code, version, township_code)
        if key not in self._offers:
            self._offers[key] = self._inner.get_offer_at(item_code, version, township_code)
        return self._offers[key]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CaseRepository(Protocol):
    """Cases, their append-only history and idempotency records (``adapters.case_repo``).
    Writes raise :class:`CaseNumberTaken`, :class:`IdempotencyHit`, :class:`WriteConflict` or
    :class:`StaleCase` below; ``get`` returns ``(case, history)`` or None."""

    def create(self, case: dict[str, Any], first: HistoryEntry,
               idempotency: tuple[str, str] | None, audit: dict[str, Any] | None = None,
               event: dict[str, Any] | None = None) -> None: ...
    def by_applicant(self, applicant_key: str, limit: int,
                     cursor: str | None) -> tuple[list[dict[str, Any]], str | None]: ...
    def by_agent(self, agent_subject: str, limit: int,
                 cursor: str | None) -> tuple[list[dict[str, Any]], str | None]: ...
    def idempotency_record(self, scope_key: str) -> tuple[str, str] | None: ...
    def get(self, case_no: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None: ...
    def get_case(self, case_no: str) -> dict[str, Any] | None: ...
    def record_classification(self, case: dict[str, Any], result: Classification,
                              entry: HistoryEntry, at: dt.datetime, event: dict[str, Any] | None = None) -> None: ...
    def record_intake_failure(self, case: dict[str, Any], reason: str, entry: HistoryEntry) -> None: ...
    def pending_intake(self, shard: str, submitted_before: str, limit: int = 100) -> list[str]: ...
    def mark_published(self, case_no: str, seq: int, at: dt.datetime) -> None: ...
    def pending_events(self, shard: str, created_before: str, limit: int = 100) -> list[dict[str, Any]]: ...
    def due_for_check(self, shard: str, day_iso: str, limit: int = 100, cursor: Any = None
                      ) -> tuple[list[str], Any]: ...
    def apply(self, case: dict[str, Any], change: Any, *, idempotency: tuple[str, str] | None,
              audit: dict[str, Any] | None, event: dict[str, Any] | None, at: dt.datetime) -> None: ...
    def add_message(self, message: dict[str, Any]) -> bool: ...
    def messages(self, recipient: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]: ...


class Publisher(Protocol):
    """A queue: ``publish`` sends a dict as JSON, ``publish_raw`` a body as it is,
    ``publish_many`` dicts in batches of ten."""

    def publish(self, message: dict[str, Any], attributes: dict[str, str] | None = None) -> None: ...
    def publish_raw(self, body: str, attributes: dict[str, str] | None = None) -> None: ...
    def publish_many(self, messages: list[dict[str, Any]]) -> None: ...


class WebhookTargets(Protocol):
    """Where an operator's webhooks go (the operator record in the identity table and its
    signing secret in Secrets Manager). ``webhook_target`` returns ``(url, secret)``, or None
    when the operator has no webhook URL or secret."""

    def webhook_target(self, operator_id: str) -> tuple[str, str] | None: ...


class WebhookDeliveries(Protocol):
    """Webhook delivery records (``adapters.webhook_deliveries``). Records are dicts with the
    keys listed in ``models.WebhookDeliveryModel``; times are ``datetime`` (UTC) arguments.

    ``create`` returns False when the delivery id exists already; ``get`` is a consistent read
    (None when absent); ``record_failure`` and ``mark_delivered`` never turn a delivered record
    back and ignore a record that no longer exists; ``reopen`` (failed -> pending, out of the
    failed list) returns False when the record was not failed; ``failed`` returns a page of an
    operator's failed deliveries, newest first, and the next opaque cursor (ValidationFailed
    for a cursor it did not issue for that operator)."""

    def create(self, record: dict[str, Any]) -> bool: ...
    def get(self, operator_id: str, delivery_id: str) -> dict[str, Any] | None: ...
    def mark_delivered(self, operator_id: str, delivery_id: str, *, at: dt.datetime,
                       status_code: int | None) -> None: ...
    def record_failure(self, operator_id: str, delivery_id: str, *, at: dt.datetime, error: str,
                       status_code: int | None, final: bool) -> None: ...
    def reopen(self, operator_id: str, delivery_id: str, *, at: dt.datetime) -> bool: ...
    def reclose(self, operator_id: str, delivery_id: str, *, failed_at: str, at: dt.datetime) -> None: ...
    def failed(self, operator_id: str, limit: int,
               cursor: str | None) -> tuple[list[dict[str, Any]], str | None]: ...


class CaseNumberTaken(Exception):
    """The generated case number already exists (retry with a new one)."""


class IdempotencyHit(Exception):
    """The idempotency key was already used; ``case_no`` and ``request_hash`` are the stored ones."""

    def __init__(self, case_no: str, request_hash: str) -> None:
        super().__init__(case_no)
        self.case_no = case_no
        self.request_hash = request_hash


class WriteConflict(Exception):
    """A concurrent transaction touched the same items; the caller may retry."""


class StaleCase(Exception):
    """The case changed since it was read (version condition failed)."""


class StaleCatalog(Exception):
    """A catalog item or township settings changed since they were read (version condition)."""


class StaleCalendar(Exception):
    """A calendar year changed since it was read (another load won the version condition)."""


class WriteRefused(Exception):
    """Storage refused the write itself, not because somebody else wrote first (DynamoDB's
    ValidationException: e.g. the case item would pass its 400 KB item limit). The same write
    fails the same way every time: not to be retried."""


