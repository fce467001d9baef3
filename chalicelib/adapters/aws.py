"""boto3 clients built lazily, once per container, with short timeouts (design.md)."""
from __future__ import annotations

import functools

import boto3
from botocore.config import Config

from .. import settings

_CONFIG = Config(connect_timeout=settings.CONNECT_TIMEOUT, read_timeout=settings.READ_TIMEOUT,
                 retries={"max_attempts": settings.MAX_ATTEMPTS, "mode": "standard"})


@functools.lru_cache(maxsize=None)
def client(service: str):
    """A cached boto3 client for ``service`` in the configured region and endpoint."""
    return boto3.client(service, region_name=settings.region(), endpoint_url=settings.endpoint_url(),
                        config=_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests switch between moto contexts)."""
    client.cache_clear()
