"""Wiring: the adapters each use case gets, built lazily once per container."""
from __future__ import annotations

import functools

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
def operator_dead_letters():
    """Publisher to the operator-intake dead-letter queue (permanently invalid messages)."""
    from .adapters.queues import SqsPublisher
    return SqsPublisher(settings.OPERATOR_INTAKE_DLQ)


@functools.lru_cache(maxsize=None)
def calendar():
    """The working-day calendar (chinese-calendar; loaded years arrive with the deadlines issue)."""
    from .domain.calendar import WorkingDayCalendar
    return WorkingDayCalendar()


def reset() -> None:
    """Forget every cached adapter (tests that switch AWS stand-ins)."""
    for fn in (catalog, cases, intake_publisher, operator_dead_letters, calendar):
        fn.cache_clear()
    from .adapters import aws, queues
    aws.reset_clients()
    queues.queue_url.cache_clear()
