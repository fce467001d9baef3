"""Station operators in the identity table (``settings.IDENTITY_TABLE``): accounts, API keys,
used nonces and per-minute request counters; key and webhook secrets in Secrets Manager.

Access patterns (GetItem, PutItem, UpdateItem, TransactWriteItems on a key; no Query, never a table scan):

==========================================  ==========================================================
pattern                                     key
==========================================  ==========================================================
operator by id                              pk="OPERATOR#<operator_id>", sk="OPERATOR" (GetItem, consistent)
API key by id -> operator, status           pk="OPKEY#<key_id>", sk="OPKEY" (GetItem, consistent)
register operator + first key               TransactWrite of both items (each does-not-exist) + the audit record
issue / revoke a key                        TransactWrite: key Put does-not-exist / Update status if active,
                                            + the audit record
use a nonce once                            PutItem pk="NONCE#<key_id>#<nonce>", sk="NONCE", condition
                                            does-not-exist (SQS: or the same ``message_id``); TTL ``expires_at``
count a request in a minute                 UpdateItem pk="RATE#<operator_id>#<unix minute>", sk="RATE":
                                            ADD requests 1 if below the limit; TTL ``expires_at``
key secret                                  Secrets Manager ``settings.OPERATOR_KEY_SECRET_PREFIX + key_id``
webhook signing secret                      Secrets Manager ``settings.OPERATOR_WEBHOOK_SECRET_PREFIX + operator_id``
==========================================  ==========================================================

Secrets are read through :func:`adapters.secrets.get_secret` with a 60-second cache; the key
item (status) is read on every request, so a revocation takes effect at once.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from .. import settings
from ..domain.operators import KEY_ACTIVE, KEY_REVOKED, OPERATOR_ACTIVE
from ..logs import logger
from ..usecases.ports import WriteConflict
from . import secrets
from .models import AuditModel, _IdentityMeta, transaction_connection

OPERATOR_SK, KEY_SK, NONCE_SK, RATE_SK = "OPERATOR", "OPKEY", "NONCE", "RATE"
#: Seconds a cached key or webhook secret is used before it is read again.
SECRET_CACHE_SECONDS = 60
_CONDITION_FAILED = "ConditionalCheckFailedException"
_CONDITION_FAILED_REASON = "ConditionalCheckFailed"  # a transaction's cancellation reason


class StationAttribute(MapAttribute):
    """One livelihood service station: ``station_id``, 9-digit ``township_code``, 12-digit
    ``village_code`` (prefixed by the township)."""

    station_id = UnicodeAttribute()
    township_code = UnicodeAttribute()
    village_code = UnicodeAttribute()


class OperatorModel(Model):
    """A station operator: pk="OPERATOR#<operator_id>", sk="OPERATOR". ``status`` is
    ``active`` or ``suspended``; ``rate_limit_per_minute`` bounds signed API requests."""

    class Meta(_IdentityMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    operator_id = UnicodeAttribute()
    name = UnicodeAttribute()
    stations = ListAttribute(of=StationAttribute)
    webhook_url = UnicodeAttribute(null=True)
    rate_limit_per_minute = NumberAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    created_by = UnicodeAttribute()


class OperatorKeyModel(Model):
    """An operator API key: pk="OPKEY#<key_id>", sk="OPKEY". The secret is in Secrets Manager,
    never in the table. ``status`` is ``active`` or ``revoked`` (revoked keys are kept)."""

    class Meta(_IdentityMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    key_id = UnicodeAttribute()
    operator_id = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    revoked_at = UnicodeAttribute(null=True)
    revoked_by = UnicodeAttribute(null=True)


class NonceModel(Model):
    """A nonce already used with a key: pk="NONCE#<key_id>#<nonce>", sk="NONCE". ``message_id``
    is the SQS message that used it (None for HTTPS). TTL removes it after ``expires_at``."""

    class Meta(_IdentityMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    used_at = UnicodeAttribute()
    message_id = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()


class RateModel(Model):
    """Requests of one operator in one unix minute: pk="RATE#<operator_id>#<minute>", sk="RATE"."""

    class Meta(_IdentityMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    requests = NumberAttribute()
    expires_at = TTLAttribute()


def _reasons(exc: TransactWriteError) -> list[str | None]:
    """The cancellation reason code of each item of a failed transaction."""
    return [r.code if r else None for r in (exc.cancellation_reasons or [])]


def _utc(epoch_seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch_seconds, tz=dt.timezone.utc)


def _operator_dict(model: OperatorModel) -> dict[str, Any]:
    values = dict(model.attribute_values)
    values["stations"] = [s.as_dict() for s in model.stations or ()]
    values["rate_limit_per_minute"] = int(model.rate_limit_per_minute or settings.OPERATOR_RATE_LIMIT_PER_MINUTE)
    values.pop("pk", None), values.pop("sk", None)
    return values


def _key_dict(model: OperatorKeyModel) -> dict[str, Any]:
    values = dict(model.attribute_values)
    values.pop("pk", None), values.pop("sk", None)
    return values


class DynamoOperatorGate:
    """Operators, keys, nonces and rate counters (this module's table of access patterns).

    Operator and key dicts are the models' attributes without ``pk``/``sk``; stations are
    plain dicts.
    """

    def __init__(self) -> None:
        self._connection = transaction_connection()

    # --- reads -------------------------------------------------------------------------------

    def get_operator(self, operator_id: str) -> dict[str, Any] | None:
        """The operator ``{operator_id, name, stations, webhook_url, rate_limit_per_minute,
        status, created_at, created_by}`` or None (one consistent GetItem)."""
        try:
            return _operator_dict(OperatorModel.get(f"OPERATOR#{operator_id}", OPERATOR_SK, consistent_read=True))
        except DoesNotExist:
            return None

    def get_key(self, key_id: str) -> dict[str, Any] | None:
        """The key ``{key_id, operator_id, status, created_at, created_by, revoked_at,
        revoked_by}`` or None (one consistent GetItem, so a revocation counts at once)."""
        try:
            return _key_dict(OperatorKeyModel.get(f"OPKEY#{key_id}", KEY_SK, consistent_read=True))
        except DoesNotExist:
            return None

    def key_secret(self, key_id: str) -> str:
        """The secret of key ``key_id`` (cached 60 s). Raises Powertools' GetParameterError
        when Secrets Manager cannot give it."""
        return secrets.get_secret(settings.OPERATOR_KEY_SECRET_PREFIX + key_id, max_age=SECRET_CACHE_SECONDS)

    def webhook_target(self, operator_id: str) -> tuple[str, str] | None:
        """``(webhook_url, webhook signing secret)`` of an active operator (``usecases.ports.
        WebhookTargets``), or None when the operator is unknown, suspended (nothing is delivered
        to a suspended operator), has no URL, or its secret cannot be read (logged; the delivery
        counts a failed attempt and is retried). The secret is cached 60 s."""
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
        operator = self.get_operator(operator_id)
        if operator is None or operator["status"] != OPERATOR_ACTIVE or not operator.get("webhook_url"):
            return None
        try:
            secret = secrets.get_secret(settings.OPERATOR_WEBHOOK_SECRET_PREFIX + operator_id,
                                        max_age=SECRET_CACHE_SECONDS)
        except GetParameterError:
            logger.warning("operator webhook secret unreadable", extra={"operator_id": operator_id})
            return None
        return (operator["webhook_url"], secret) if secret else None

    # --- administration ----------------------------------------------------------------------

    def create_operator(self, operator: dict[str, Any], key: dict[str, Any], key_secret: str,
                        webhook_secret: str, audit: dict[str, Any]) -> None:
        """Store a new operator, its first key, both secrets and the audit record ``audit``.

        Order, so that a failure leaves nothing usable half-written: the key secret (under a
        fresh random key id, harmless alone); then the operator item, the key item (each must
        not exist: :class:`WriteConflict` when the operator id is taken) and the audit record
        in one transaction; then the webhook secret (safe to overwrite: the transaction made
        this call the operator's only creator). If that last write fails the two items are
        deleted again (the audit record stays: the trail is append-only) and the error is
        raised.
        """
        secrets.put_secret(settings.OPERATOR_KEY_SECRET_PREFIX + key["key_id"], key_secret,
                           f"Bianmin operator API key {key['key_id']} ({operator['operator_id']})")
        op_model = OperatorModel(f"OPERATOR#{operator['operator_id']}", OPERATOR_SK, **{
            **operator, "stations": [StationAttribute(**s) for s in operator["stations"]]})
        key_model = OperatorKeyModel(f"OPKEY#{key['key_id']}", KEY_SK, **key)
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.save(op_model, condition=OperatorModel.pk.does_not_exist())
                tx.save(key_model, condition=OperatorKeyModel.pk.does_not_exist())
                tx.save(AuditModel(**audit), condition=AuditModel.pk.does_not_exist())
        except TransactWriteError as exc:
            if _reasons(exc)[:1] == [_CONDITION_FAILED_REASON]:
                raise WriteConflict(operator["operator_id"]) from exc
            raise
        try:
            secrets.put_secret(settings.OPERATOR_WEBHOOK_SECRET_PREFIX + operator["operator_id"], webhook_secret,
                               f"Bianmin webhook signing secret ({operator['operator_id']})")
        except Exception:
            with TransactWrite(connection=self._connection) as tx:
                tx.delete(op_model)
                tx.delete(key_model)
            raise

    def add_key(self, key: dict[str, Any], key_secret: str, audit: dict[str, Any]) -> None:
        """Store another key of an existing operator: the secret first (a fresh random key id,
        harmless alone), then the key item (must not exist) and the audit record ``audit`` in
        one transaction."""
        secrets.put_secret(settings.OPERATOR_KEY_SECRET_PREFIX + key["key_id"], key_secret,
                           f"Bianmin operator API key {key['key_id']} ({key['operator_id']})")
        with TransactWrite(connection=self._connection) as tx:
            tx.save(OperatorKeyModel(f"OPKEY#{key['key_id']}", KEY_SK, **key),
                    condition=OperatorKeyModel.pk.does_not_exist())
            tx.save(AuditModel(**audit), condition=AuditModel.pk.does_not_exist())

    def revoke_key(self, key_id: str, revoked_at: str, revoked_by: str, audit: dict[str, Any]) -> bool:
        """Mark an active key revoked and append ``audit``, in one transaction (the secret
        stays in Secrets Manager for the record). False, and nothing written, when the key is
        not active (already revoked, or gone)."""
        model = OperatorKeyModel(f"OPKEY#{key_id}", KEY_SK)
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.update(model, actions=[OperatorKeyModel.status.set(KEY_REVOKED),
                                          OperatorKeyModel.revoked_at.set(revoked_at),
                                          OperatorKeyModel.revoked_by.set(revoked_by)],
                          condition=OperatorKeyModel.pk.exists() & (OperatorKeyModel.status == KEY_ACTIVE))
                tx.save(AuditModel(**audit), condition=AuditModel.pk.does_not_exist())
        except TransactWriteError as exc:
            if _reasons(exc)[:1] == [_CONDITION_FAILED_REASON]:
                return False
            raise
        return True

    # --- per request -------------------------------------------------------------------------

    def consume_nonce(self, key_id: str, nonce: str, *, used_at: str, expires_at: int,
                      message_id: str | None = None) -> bool:
        """Record ``nonce`` as used with ``key_id``; False when it was used before. With
        ``message_id`` (an SQS message) a record of the SAME message counts as unused, so a
        redelivery passes while another message with that nonce does not. ``expires_at``
        (unix seconds) is the TTL."""
        condition = NonceModel.pk.does_not_exist()
        if message_id is not None:
            condition = condition | (NonceModel.message_id == message_id)
        try:
            NonceModel(f"NONCE#{key_id}#{nonce}", NONCE_SK, used_at=used_at, message_id=message_id,
                       expires_at=_utc(expires_at)).save(condition=condition)
        except PutError as exc:
            if exc.cause_response_code == _CONDITION_FAILED:
                return False
            raise
        return True

    def count_request(self, operator_id: str, minute: int, limit: int) -> bool:
        """Count one request of ``operator_id`` in unix minute ``minute`` (seconds // 60);
        False, and nothing counted, when ``limit`` requests were counted already. One atomic
        UpdateItem (ADD with a condition); TTL removes the counter two minutes later."""
        model = RateModel(f"RATE#{operator_id}#{minute}", RATE_SK)
        try:
            model.update(actions=[RateModel.requests.add(1), RateModel.expires_at.set(_utc((minute + 2) * 60))],
                         condition=RateModel.requests.does_not_exist() | (RateModel.requests < limit))
        except UpdateError as exc:
            if exc.cause_response_code == _CONDITION_FAILED:
                return False
            raise
        return True
