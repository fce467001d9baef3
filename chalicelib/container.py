"""Wiring: the adapters each use case gets, built lazily once per container."""
from __future__ import annotations

import functools
import time

from . import settings


@functools.lru_cache(maxsize=None)
def catalog():
    """The catalog repository (DynamoDB)."""
    from .adapters.catalog_repo import DynamoCatalogRepository
    return DynamoCatalogRepository()


@functools.lru_cache(maxsize=None)
def cases():
    """The case repository (DynamoDB)."""
    from .adapters.case_repo import DynamoCaseRepository
    return DynamoCaseRepository()


@functools.lru_cache(maxsize=None)
def intake_publisher():
    """Publisher to the case-intake queue."""
    from .adapters.queues import SqsPublisher
    return SqsPublisher(settings.CASE_INTAKE_QUEUE)


@functools.lru_cache(maxsize=None)
def publicity_publisher():
    """Publisher to the publicity queue (eight-publicity notice requests, issue 7)."""
    from .adapters.queues import SqsPublisher
    return SqsPublisher(settings.PUBLICITY_QUEUE)


@functools.lru_cache(maxsize=None)
def operator_dead_letters():
    """Publisher to the operator-intake dead-letter queue (permanently invalid messages)."""
    from .adapters.queues import SqsPublisher
    return SqsPublisher(settings.OPERATOR_INTAKE_DLQ)


@functools.lru_cache(maxsize=None)
def objects():
    """The materials bucket: presigned uploads and downloads, objects by version (S3)."""
    from .adapters.object_store import S3ObjectStore
    return S3ObjectStore()


@functools.lru_cache(maxsize=None)
def materials():
    """Upload slots and application materials (cases table)."""
    from .adapters.material_repo import DynamoMaterialRepository
    return DynamoMaterialRepository()


@functools.lru_cache(maxsize=None)
def calendars():
    """Calendar years loaded as data and the missing-year alert markers (catalog table)."""
    from .adapters.calendar_repo import DynamoCalendarRepository
    return DynamoCalendarRepository()


#: ``(monotonic time built, calendar)`` of this container's working-day calendar.
_calendar_cache: list = []
#: After a failed read of the loaded years, try again this soon (seconds) rather than wait a period.
_CALENDAR_RETRY_SECONDS = 30


def calendar():
    """The working-day calendar: ``chinese-calendar`` overridden by the years loaded as data
    (one Query of ``by_listing``), rebuilt every ``settings.CALENDAR_REFRESH_SECONDS`` so other
    containers see a newly loaded year within minutes (:func:`refresh_calendar` makes the
    loading container see it at once). If the loaded years cannot be read, the error is logged
    and the library alone answers (years it does not know stay provisional) until a retry
    ``_CALENDAR_RETRY_SECONDS`` later; the last good calendar is kept while it is fresh enough."""
    now = time.monotonic()
    if _calendar_cache and now < _calendar_cache[0]:
        return _calendar_cache[1]
    from .domain.calendar import WorkingDayCalendar, calendar_from_years
    try:
        years = calendars().list_years()
        built, expires = calendar_from_years(years), now + settings.CALENDAR_REFRESH_SECONDS
        if len(built.loaded_years) < len(years):
            from .logs import logger
            logger.error("a loaded calendar year no longer validates; it is ignored",
                         extra={"loaded": [r.get("year") for r in years], "used": built.loaded_years})
    except Exception:
        from .logs import logger
        logger.exception("loaded calendar years unreadable; the library's years only for now")
        built = _calendar_cache[1] if _calendar_cache else WorkingDayCalendar()
        expires = now + _CALENDAR_RETRY_SECONDS
    _calendar_cache[:] = [expires, built]
    return built


def refresh_calendar() -> None:
    """Forget this container's calendar: the next :func:`calendar` reads the loaded years again."""
    _calendar_cache.clear()


#: ``(monotonic expiry, entries)`` of this container's catalog search index.
_search_cache: list = []


def search_index():
    """The catalog search index (``domain.search.SearchEntry`` per item): every page of the
    ``by_listing`` index read once, kept ``settings.SEARCH_INDEX_SECONDS``; a search itself makes
    no AWS call while it is fresh. A failed rebuild raises (the request answers 500) and the next
    request tries again."""
    now = time.monotonic()
    if _search_cache and now < _search_cache[0]:
        return _search_cache[1]
    from .domain.search import entry_of
    entries = tuple(entry_of(item) for item, _version in catalog().all_items())
    _search_cache[:] = [now + settings.SEARCH_INDEX_SECONDS, entries]
    return entries


def refresh_search_index() -> None:
    """Forget this container's search index: the next search reads the catalog again."""
    _search_cache.clear()


@functools.lru_cache(maxsize=None)
def tokens():
    """Access tokens (JWT HS256, key from Secrets Manager)."""
    from .adapters import secrets
    from .adapters.tokens import JwtTokens
    return JwtTokens(secrets.token_key)


@functools.lru_cache(maxsize=None)
def identity():
    """Accounts, sessions, login codes, agent appointments and consents (DynamoDB)."""
    from .adapters.identity_repo import DynamoIdentityRepository
    return DynamoIdentityRepository()


@functools.lru_cache(maxsize=None)
def audit_log():
    """The append-only audit table."""
    from .adapters.audit_repo import DynamoAuditLog
    return DynamoAuditLog()


def id_keys():
    """``id_number -> keyed hash`` under the pepper from Secrets Manager."""
    from .adapters import secrets
    from .domain.people import id_key

    def key(id_number: str) -> str:
        return id_key(secrets.id_pepper(), id_number)
    return key


@functools.lru_cache(maxsize=None)
def wechat():
    """code2Session: WeChat's API in a cloud stage, the local stand-in in ``local``."""
    from .adapters import wechat as wx
    return wx.LocalWeChat() if settings.STAGE == "local" else wx.WeChatApi()


@functools.lru_cache(maxsize=None)
def passwords():
    """The staff password hasher (argon2id)."""
    from .adapters.passwords import Argon2Passwords
    return Argon2Passwords()


@functools.lru_cache(maxsize=None)
def operator_gate():
    """Operator accounts, keys, nonces and rate counters (signed operator API)."""
    from .adapters.operator_repo import DynamoOperatorGate
    return DynamoOperatorGate()


@functools.lru_cache(maxsize=None)
def webhook_publisher():
    """Publisher to the operator webhook delivery queue."""
    from .adapters.queues import SqsPublisher
    return SqsPublisher(settings.WEBHOOK_QUEUE)


@functools.lru_cache(maxsize=None)
def webhook_deliveries():
    """Webhook delivery records (cases table)."""
    from .adapters.webhook_deliveries import DynamoWebhookDeliveries
    return DynamoWebhookDeliveries()


def webhook_targets():
    """Operators' webhook URL and signing secret: the operator gate (``webhook_target``)."""
    return operator_gate()


@functools.lru_cache(maxsize=None)
def webhook_sender():
    """Signed webhook POSTs (stdlib HTTP with the SSRF guard; plain http to loopback in ``local``)."""
    from .adapters.webhook_http import UrllibWebhookSender
    return UrllibWebhookSender()


@functools.lru_cache(maxsize=None)
def case_event_publisher():
    """Publisher to the case events queue (every committed state change)."""
    from .adapters.queues import SqsPublisher
    return SqsPublisher(settings.CASE_EVENTS_QUEUE)


def operator_webhooks():
    """``notify(case, event_type)`` for the case events consumer (``events.handle_case_event``):
    queues the operator webhook of an operator's case (nothing for other cases). Use cases do
    not call it: they publish case events."""
    from .usecases import webhooks

    def notify(case, event_type):
        return webhooks.enqueue_case_event(case, event_type, publisher=webhook_publisher(),
                                           deliveries=webhook_deliveries())
    return notify


@functools.lru_cache(maxsize=None)
def document_publisher():
    """Publisher to the documents queue (requests to generate and seal a case document)."""
    from .adapters.queues import SqsPublisher
    return SqsPublisher(settings.DOCUMENTS_QUEUE)


@functools.lru_cache(maxsize=None)
def documents():
    """Sealed document records (cases table)."""
    from .adapters.document_repo import DynamoDocuments
    return DynamoDocuments()


@functools.lru_cache(maxsize=None)
def seals():
    """E-seal records: certificates and key ids (catalog table)."""
    from .adapters.document_repo import DynamoSeals
    return DynamoSeals()


@functools.lru_cache(maxsize=None)
def seal_keys():
    """E-seal private keys: KMS, or PEM files locally (``settings.SEAL_KEYS``)."""
    from .adapters.seal_keys import seal_keys as backend
    return backend()


@functools.lru_cache(maxsize=None)
def notices():
    """Current eight-publicity notice records (catalog table)."""
    from .adapters.notice_repo import DynamoNotices
    return DynamoNotices()


_CACHED = (catalog, cases, intake_publisher, publicity_publisher, operator_dead_letters, calendars, tokens, identity, audit_log,
           wechat, passwords, operator_gate, webhook_publisher, webhook_deliveries, webhook_sender,
           case_event_publisher, objects, document_publisher, documents, seals, seal_keys, materials,
           notices)


def reset() -> None:
    """Forget every cached adapter (tests that switch AWS stand-ins)."""
    for fn in _CACHED:
        fn.cache_clear()
    refresh_calendar()
    refresh_search_index()
    from .usecases import calendar_years
    calendar_years.forget_alerts()
    from .adapters import aws, queues, secrets
    aws.reset_clients()
    secrets.reset()
    queues.queue_url.cache_clear()
