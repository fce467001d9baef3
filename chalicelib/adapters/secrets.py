"""Secrets from AWS Secrets Manager through Powertools' parameters utility (cached per
container, so a warm Lambda does not call Secrets Manager on every request)."""
from __future__ import annotations

import functools
import json
from typing import Any

from .. import settings
from .aws import client

#: Seconds a secret value is kept in memory before it is fetched again (rotation delay).
CACHE_SECONDS = 300


@functools.lru_cache(maxsize=None)
def _provider():
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    return SecretsProvider(boto3_client=client("secretsmanager"))


def get_secret(name: str, max_age: int = CACHE_SECONDS) -> str:
    """The current value of secret ``name`` (a string). Raises Powertools' ``GetParameterError``
    when it cannot be read."""
    return _provider().get(name, max_age=max_age)


def get_json_secret(name: str, max_age: int = CACHE_SECONDS) -> dict[str, Any]:
    """Secret ``name`` parsed as a JSON object."""
    return json.loads(get_secret(name, max_age))


def put_secret(name: str, value: str, description: str = "") -> None:
    """Create secret ``name`` with ``value`` (or store a new version when it exists)."""
    sm = client("secretsmanager")
    try:
        sm.create_secret(Name=name, SecretString=value, Description=description)
    except sm.exceptions.ResourceExistsException:
        sm.put_secret_value(SecretId=name, SecretString=value)
    _provider().clear_cache()


def reset() -> None:
    """Forget the provider and its cache (tests switch AWS stand-ins)."""
    _provider.cache_clear()


def token_key() -> bytes:
    """The HS256 key of the API's own access tokens."""
    return get_secret(settings.TOKEN_KEY_SECRET).encode()


def id_pepper() -> bytes:
    """The key of the resident-ID keyed hash."""
    return get_secret(settings.ID_PEPPER_SECRET).encode()


def document_id_key() -> bytes:
    """The key of sealed documents' ids (``domain.seals.document_number``): the ID pepper, with
    the domain separation ``domain.seals.DOCUMENT_ID_CONTEXT`` (no second secret to provision;
    like resident-ID keys, document ids change if the pepper is ever replaced)."""
    return id_pepper()
