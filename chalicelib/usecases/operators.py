"""Third-party station operators (issue 3, item 5): signed requests, administration, and the
cases operators file over HTTPS and over SQS.

Authentication of a signed request (``domain.signing`` has the canonical string), in order:

1. the four signature values are present and well formed (``SIGNATURE_HEADERS_MISSING``,
   ``SIGNATURE_HEADERS_MALFORMED``);
2. the timestamp is within ``settings.OPERATOR_SIGNATURE_WINDOW_SECONDS`` of the server clock
   (HTTPS) or of the message's ``SentTimestamp`` (SQS) (``TIMESTAMP_OUT_OF_WINDOW``);
3. the key exists and is active (``KEY_INVALID``, the same for unknown and revoked keys);
4. the signature matches (``SIGNATURE_MISMATCH``: forged, or method, path, query or body changed);
5. the key's operator is active (``OPERATOR_SUSPENDED``);
6. the nonce was not used with this key before (``NONCE_REUSED``). It is consumed only now, after
   the signature is known good, so a forger cannot burn an operator's nonces. Nonce records
   expire by TTL after the window; DynamoDB deletes expired items up to days late, and a replay
   after the deletion is still refused by step 2;
7. HTTPS only: the operator's per-minute budget (``RATE_LIMITED``, HTTP 429 with Retry-After).

Steps 1-6 raise :class:`Unauthenticated` (HTTP 401) with the code in brackets.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any, Mapping, Protocol

from .. import settings
from .. import validation as schemas
from ..domain import signing
from ..domain.access import (ADMINISTRATOR, STATION_OPERATOR, Forbidden, Origin, Principal, TooManyRequests,
                             Unauthenticated)
from ..domain.cases import utc_iso
from ..domain.errors import Conflict, FieldProblem, NotFound, UnknownReference, ValidationFailed
from ..domain.operators import (KEY_ACTIVE, KEY_REVOKED, OPERATOR_ACTIVE, station_of, station_problems,
                                webhook_url_problem)
from ..logs import logger as log
from . import audit, intake
from .ports import Clock, WriteConflict, utcnow


#: How long a queue message can wait before it is consumed: the operator intake queue's
#: ``MessageRetentionPeriod`` (infra/resources.json, 14 days; a test checks they agree). A nonce
#: used by a message is kept this much longer than the window, because the window is checked
#: against the time the message was SENT: a replayed message sent inside the window may be
#: consumed up to this long afterwards.
OPERATOR_QUEUE_RETENTION_SECONDS = 14 * 24 * 3600
#: Added to nonce lifetimes for clock differences between Lambda hosts (seconds).
NONCE_MARGIN_SECONDS = 60

_OPERATOR_ID = re.compile(r"^[A-Za-z0-9_-]{2,64}$")

_MESSAGES = {
    "SIGNATURE_HEADERS_MISSING": "缺少签名信息，请按接口文档对请求签名",
    "SIGNATURE_HEADERS_MALFORMED": "签名信息格式不正确",
    "TIMESTAMP_OUT_OF_WINDOW": "请求时间戳超出允许范围，请校准服务器时钟后重新签名",
    "KEY_INVALID": "密钥不存在或已吊销",
    "SIGNATURE_MISMATCH": "签名校验失败",
    "OPERATOR_SUSPENDED": "运营方账号已暂停使用",
    "NONCE_REUSED": "该随机数已使用过，请求可能被重放",
}




class OperatorGate(Protocol):
    """What this module needs from storage (``adapters.operator_repo.DynamoOperatorGate``)."""

    def get_operator(self, operator_id: str) -> dict[str, Any] | None: ...
    def get_key(self, key_id: str) -> dict[str, Any] | None: ...
    def key_secret(self, key_id: str) -> str: ...
    def create_operator(self, operator: dict[str, Any], key: dict[str, Any], key_secret: str,
                        webhook_secret: str, audit: dict[str, Any]) -> None: ...
    def add_key(self, key: dict[str, Any], key_secret: str, audit: dict[str, Any]) -> None: ...
    def revoke_key(self, key_id: str, revoked_at: str, revoked_by: str, audit: dict[str, Any]) -> bool: ...
    def consume_nonce(self, key_id: str, nonce: str, *, used_at: str, expires_at: int,
                      message_id: str | None = None) -> bool: ...
    def count_request(self, operator_id: str, minute: int, limit: int) -> bool: ...


def _refuse(code: str, details: list[FieldProblem] | None = None, **context: Any) -> Unauthenticated:
    return Unauthenticated(_MESSAGES[code], details, code=code, **context)


def operator_principal(operator_id: str) -> Principal:
    """The principal of a station operator: subject ``op_<operator_id>``, role station_operator."""
    return Principal(subject=f"op_{operator_id}", roles=frozenset({STATION_OPERATOR}), operator_id=operator_id)


def _signature_values(values: Mapping[str, str], names: tuple[str, str, str, str]) -> tuple[str, str, str, str]:
    """``(key_id, timestamp, nonce, signature)`` from ``values`` under ``names`` (headers or
    message attributes). Raises SIGNATURE_HEADERS_MISSING / SIGNATURE_HEADERS_MALFORMED."""
    found = [values.get(name.lower()) for name in names]
    missing = [FieldProblem(name, "FIELD_REQUIRED", "缺少该签名项") for name, v in zip(names, found) if not v]
    if missing:
        raise _refuse("SIGNATURE_HEADERS_MISSING", missing)
    patterns = (signing.KEY_ID_PATTERN, signing.TIMESTAMP_PATTERN, signing.NONCE_PATTERN, signing.SIGNATURE_PATTERN)
    hints = ("8-64位字母、数字、_ 或 -", "Unix 时间戳（秒）", "16-64位字母、数字、_ 或 -", "64位小写十六进制")
    bad = [FieldProblem(name, "FIELD_FORMAT", hint)
           for name, value, pattern, hint in zip(names, found, patterns, hints) if not pattern.fullmatch(value)]
    if bad:
        raise _refuse("SIGNATURE_HEADERS_MALFORMED", bad)
    return found[0], found[1], found[2], found[3]


def _verified_operator(key_id: str, canonical: str, claimed: str, gate: OperatorGate) -> dict[str, Any]:
    """Steps 3-5: the active operator whose active key signed ``canonical``."""
    key = gate.get_key(key_id)
    if key is None or key["status"] != KEY_ACTIVE:
        raise _refuse("KEY_INVALID")
    if not signing.verify(gate.key_secret(key_id), canonical, claimed):
        raise _refuse("SIGNATURE_MISMATCH")
    operator = gate.get_operator(key["operator_id"])
    if operator is None:
        raise _refuse("KEY_INVALID")
    if operator["status"] != OPERATOR_ACTIVE:
        raise _refuse("OPERATOR_SUSPENDED")
    return operator


def authenticate(*, method: str, path: str, query: Any, headers: Mapping[str, str], body: bytes | str | None,
                 gate: OperatorGate, now: Clock = utcnow) -> Principal:
    """Authenticate a signed HTTPS request (the module docstring's steps 1-7) and count it
    against the operator's per-minute budget.

    ``path`` is the request path without stage or query; ``query`` the decoded parameters
    (``multiValueQueryStringParameters``); ``headers`` any mapping (names compared without
    case); ``body`` the raw bytes. Returns the operator's :func:`operator_principal`.
    Raises :class:`Unauthenticated` (401) or :class:`TooManyRequests` (429, ``retry_after``
    seconds until the next minute).
    """
    lowered = {str(k).lower(): v for k, v in (headers or {}).items()}
    key_id, timestamp, nonce, claimed = _signature_values(lowered, signing.HEADERS)
    at = now()
    current = int(at.timestamp())
    window = settings.OPERATOR_SIGNATURE_WINDOW_SECONDS
    if not signing.within_window(int(timestamp), current, window):
        raise _refuse("TIMESTAMP_OUT_OF_WINDOW", server_time=current)
    canonical = signing.canonical_request(method, path, query, timestamp, nonce, body)
    operator = _verified_operator(key_id, canonical, claimed, gate)
    if not gate.consume_nonce(key_id, nonce, used_at=utc_iso(at),
                              expires_at=int(timestamp) + window + NONCE_MARGIN_SECONDS):
        raise _refuse("NONCE_REUSED")
    limit = int(operator.get("rate_limit_per_minute") or settings.OPERATOR_RATE_LIMIT_PER_MINUTE)
    if not gate.count_request(operator["operator_id"], current // 60, limit):
        raise TooManyRequests(f"请求过于频繁：每分钟最多 {limit} 次，请稍后再试", code="RATE_LIMITED",
                              retry_after=60 - current % 60)
    return operator_principal(operator["operator_id"])


#: Message attribute names of a signed queue message.
MESSAGE_ATTRIBUTES = ("key_id", "timestamp", "nonce", "signature")


def authenticate_message(*, queue: str, body: str, attributes: Mapping[str, str], sent_timestamp_ms: int,
                         message_id: str, gate: OperatorGate, now: Clock = utcnow) -> tuple[Principal, dict[str, Any]]:
    """Authenticate a signed message on ``queue`` (method ``SQS``, path ``/queues/<queue>``, the
    body as UTF-8): the module docstring's steps 1-6, with the timestamp checked against the
    message's ``SentTimestamp`` (milliseconds) because a message may wait in the queue. The
    nonce is recorded with ``message_id``: a redelivery of the same message is not a replay, a
    new message with a used nonce is. No rate limit (the queue absorbs bursts).

    ``attributes`` are the string message attributes ``{key_id, timestamp, nonce, signature}``.
    Returns ``(principal, operator)``; raises :class:`Unauthenticated`.
    """
    key_id, timestamp, nonce, claimed = _signature_values(attributes, MESSAGE_ATTRIBUTES)
    window = settings.OPERATOR_SIGNATURE_WINDOW_SECONDS
    if not signing.within_window(int(timestamp), int(sent_timestamp_ms) // 1000, window):
        raise _refuse("TIMESTAMP_OUT_OF_WINDOW", server_time=int(sent_timestamp_ms) // 1000)
    canonical = signing.canonical_request(signing.SQS_METHOD, signing.SQS_PATH_PREFIX + queue, None,
                                          timestamp, nonce, body)
    operator = _verified_operator(key_id, canonical, claimed, gate)
    expires = int(timestamp) + window + OPERATOR_QUEUE_RETENTION_SECONDS + NONCE_MARGIN_SECONDS
    if not gate.consume_nonce(key_id, nonce, used_at=utc_iso(now()), expires_at=expires, message_id=message_id):
        raise _refuse("NONCE_REUSED")
    return operator_principal(operator["operator_id"]), operator


# --- administration (administrator only) --------------------------------------------------------

def _new_key(operator_id: str, created_by: str, at: dt.datetime) -> tuple[dict[str, Any], str]:
    key = {"key_id": f"ak_{secrets.token_hex(12)}", "operator_id": operator_id, "status": KEY_ACTIVE,
           "created_at": utc_iso(at), "created_by": created_by}
    return key, "bmk_" + secrets.token_urlsafe(32)


def register_operator(body: Any, *, principal: Principal, origin: Origin, gate: OperatorGate, audit_log,
                      now: Clock = utcnow) -> dict[str, Any]:
    """``POST /v1/admin/operators``: register a station operator (``schemas/operator_registration.json``)
    with its stations and webhook URL. Administrator only (Forbidden otherwise).

    Returns ``{operator, key_id, key_secret, webhook_secret}``: the first API key and the
    webhook signing secret are shown this ONCE and can never be read through the API again.
    Raises ValidationFailed (shape; duplicate station; village outside its township; webhook
    URL not https, or not public outside the local stage) and Conflict ``OPERATOR_EXISTS``
    (409) when the id is taken. Nothing is written on bad input.
    Audited as ``operator.register`` on ``SUBJECT#op_<operator_id>``, in the same transaction
    as the operator (no record, no operator).
    """
    principal.require(ADMINISTRATOR)
    schemas.validate("operator_registration", body)
    problems = station_problems(body["stations"])
    url_problem = webhook_url_problem(body["webhook_url"], settings.STAGE)
    if url_problem:
        problems.append(url_problem)
    if problems:
        raise ValidationFailed(details=problems)
    operator_id = body["operator_id"]
    if gate.get_operator(operator_id) is not None:
        raise _operator_exists()
    at = now()
    operator = {"operator_id": operator_id, "name": body["name"], "stations": body["stations"],
                "webhook_url": body["webhook_url"],
                "rate_limit_per_minute": body.get("rate_limit_per_minute", settings.OPERATOR_RATE_LIMIT_PER_MINUTE),
                "status": OPERATOR_ACTIVE, "created_at": utc_iso(at), "created_by": principal.subject}
    key, key_secret = _new_key(operator_id, principal.subject, at)
    webhook_secret = "bmw_" + secrets.token_urlsafe(32)
    target = audit.subject_target(f"op_{operator_id}")
    trail = audit.entry(principal, origin, "operator.register", target, {
        "key_id": key["key_id"], "stations": [s["station_id"] for s in body["stations"]],
        "webhook_url": body["webhook_url"], "rate_limit_per_minute": operator["rate_limit_per_minute"]}, at)
    try:
        gate.create_operator(operator, key, key_secret, webhook_secret, trail)
    except WriteConflict as exc:
        raise _operator_exists() from exc
    except Exception:
        # Nothing of the operator remains (a failed webhook secret undoes the items), but the
        # transaction's "operator.register" record may: say in the trail that it did not stick.
        try:
            audit.record(audit_log, principal, origin, "operator.register.failed", target, {"key_id": key["key_id"]})
        except Exception:  # the original error matters more
            log.exception("audit record of a failed registration not written", extra={"operator_id": operator_id})
        raise
    return {"operator": operator_view(operator), "key_id": key["key_id"], "key_secret": key_secret,
            "webhook_secret": webhook_secret}


def _operator_exists() -> Conflict:
    return Conflict("该运营方编号已存在", [FieldProblem("operator_id", "OPERATOR_EXISTS", "运营方编号已被使用")],
                    code="OPERATOR_EXISTS")


def operator_view(operator: dict[str, Any]) -> dict[str, Any]:
    """The API shape of an operator (no secrets: those live in Secrets Manager only)."""
    return {k: operator.get(k) for k in ("operator_id", "name", "stations", "webhook_url",
                                          "rate_limit_per_minute", "status", "created_at")}


def _known_operator(operator_id: str, gate: OperatorGate) -> dict[str, Any]:
    operator = gate.get_operator(operator_id) if _OPERATOR_ID.fullmatch(operator_id or "") else None
    if operator is None:
        raise NotFound("未找到该运营方")
    return operator


def issue_key(principal: Principal, origin: Origin, operator_id: str, *, gate: OperatorGate, audit_log,
              now: Clock = utcnow) -> dict[str, Any]:
    """``POST /v1/admin/operators/{operator_id}/keys``: another API key (for rotation: issue,
    switch, then revoke the old one). Returns ``{operator_id, key_id, key_secret, status,
    created_at}``; the secret is shown this once. Administrator only; NotFound for an unknown
    operator. Audited as ``operator.key.issue`` (in the key's transaction)."""
    principal.require(ADMINISTRATOR)
    _known_operator(operator_id, gate)
    at = now()
    key, key_secret = _new_key(operator_id, principal.subject, at)
    gate.add_key(key, key_secret, audit.entry(principal, origin, "operator.key.issue",
                                              audit.subject_target(f"op_{operator_id}"), {"key_id": key["key_id"]}, at))
    return {"operator_id": operator_id, "key_id": key["key_id"], "key_secret": key_secret,
            "status": key["status"], "created_at": key["created_at"]}


def revoke_key(principal: Principal, origin: Origin, operator_id: str, key_id: str, *, gate: OperatorGate,
               audit_log, now: Clock = utcnow) -> dict[str, Any]:
    """``POST /v1/admin/operators/{operator_id}/keys/{key_id}/revoke``: the key stops working at
    once (every request reads its status). Revoking a revoked key changes nothing and answers
    the same. Administrator only; NotFound for an unknown operator or a key of another
    operator. Audited as ``operator.key.revoke`` in the same transaction, only when it changed
    something."""
    principal.require(ADMINISTRATOR)
    _known_operator(operator_id, gate)
    key = gate.get_key(key_id) if signing.KEY_ID_PATTERN.fullmatch(key_id or "") else None
    if key is None or key["operator_id"] != operator_id:
        raise NotFound("未找到该密钥")
    at = now()
    if key["status"] == KEY_ACTIVE:
        trail = audit.entry(principal, origin, "operator.key.revoke", audit.subject_target(f"op_{operator_id}"),
                            {"key_id": key_id}, at)
        if gate.revoke_key(key_id, utc_iso(at), principal.subject, trail):
            key = {**key, "status": KEY_REVOKED, "revoked_at": utc_iso(at)}
        else:  # revoked meanwhile by another request
            key = gate.get_key(key_id) or key
    return {k: key.get(k) for k in ("operator_id", "key_id", "status", "created_at", "revoked_at")}


# --- cases filed by operators ----------------------------------------------------------------------

def _station_for(operator: dict[str, Any], station_id: str, submission: Any) -> dict[str, Any]:
    """The operator's station for a submission: it must be one of the operator's stations
    (UnknownReference ``UNKNOWN_STATION``) in the submission's township (ValidationFailed
    ``STATION_TOWNSHIP_MISMATCH``). Returns ``{operator_id, station_id, township_code, village_code}``."""
    station = station_of(operator, station_id)
    if station is None:
        raise UnknownReference("该服务站不属于本运营方", [FieldProblem("station_id", "UNKNOWN_STATION",
                                                               "服务站编号不存在或不属于本运营方")])
    if submission.get("township_code") != station["township_code"]:
        raise ValidationFailed("办件所属乡镇与服务站所在乡镇不一致", [FieldProblem(
            "submission.township_code", "STATION_TOWNSHIP_MISMATCH", "应为服务站所在乡镇的代码")])
    return {"operator_id": operator["operator_id"], **station}


def _submit(submission: dict[str, Any], station: dict[str, Any], idempotency_key: str, *, principal: Principal,
            origin: Origin, ports: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """``intake.submit_case`` for an operator at ``station``; ``ports`` are its repositories
    (catalog, cases, publisher, events, identity, id_keys, audit_log)."""
    return intake.submit_case(submission, principal=principal, origin=origin, idempotency_key=idempotency_key,
                              station=station, **ports)


def file_case(body: Any, *, principal: Principal, origin: Origin, idempotency_key: str | None, gate: OperatorGate,
              catalog, cases, publisher, events, identity, id_keys, audit_log) -> tuple[dict[str, Any], bool]:
    """``POST /v1/operator/cases``: an authenticated operator files a case at one of its
    stations (``schemas/operator_case_request.json``). The case records the operator, the
    station and the station's village. The ``Idempotency-Key`` header is required; the same key
    again returns the same case (also a key first used over SQS: both are scoped to the
    operator). Returns ``(case view, created)``. Raises ValidationFailed, UnknownReference
    (unknown station, item or township), IdempotencyKeyReused. The creation is audited with
    the case (``intake.submit_case``)."""
    principal.require(STATION_OPERATOR)
    if not idempotency_key:
        raise ValidationFailed("缺少幂等键", [FieldProblem("Idempotency-Key", "FIELD_REQUIRED",
                                                       "运营方提交办件必须带 Idempotency-Key 请求头")])
    schemas.validate("operator_case_request", body)
    operator = _known_operator(principal.operator_id or "", gate)
    station = _station_for(operator, body["station_id"], body["submission"])
    return _submit(body["submission"], station, idempotency_key, principal=principal, origin=origin,
                   ports=dict(catalog=catalog, cases=cases, publisher=publisher, events=events, identity=identity,
                              id_keys=id_keys, audit_log=audit_log))


def file_case_message(*, queue: str, body: str, attributes: Mapping[str, str], sent_timestamp_ms: int,
                      message_id: str, gate: OperatorGate, catalog, cases, publisher, events, identity, id_keys,
                      audit_log, max_bytes: int, max_depth: int, now: Clock = utcnow) -> tuple[dict[str, Any], bool, str]:
    """A signed message on the operator intake queue (``schemas/operator_intake_message.json``):
    authenticated by :func:`authenticate_message` first, then parsed (at most ``max_bytes``,
    ``max_depth`` levels), then filed like :func:`file_case` (channel ``operator_sqs`` in the
    audit trail). The body's ``operator_id`` must be the signing key's operator (Forbidden
    ``OPERATOR_MISMATCH``). Returns ``(case view, created, operator_id)``. Every DomainError
    means the message will never succeed."""
    principal, operator = authenticate_message(queue=queue, body=body, attributes=attributes,
                                               sent_timestamp_ms=sent_timestamp_ms, message_id=message_id,
                                               gate=gate, now=now)
    message = schemas.parse_json(body, max_bytes, max_depth)
    schemas.validate("operator_intake_message", message)
    if message["operator_id"] != operator["operator_id"]:
        raise Forbidden("消息中的运营方与签名密钥不符", [FieldProblem("operator_id", "OPERATOR_MISMATCH",
                                                           "应为签名密钥所属运营方")], code="OPERATOR_MISMATCH")
    station = _station_for(operator, message["station_id"], message["submission"])
    view, created = _submit(message["submission"], station, message["idempotency_key"], principal=principal,
                            origin=Origin(request_id=message_id, channel="operator_sqs"),
                            ports=dict(catalog=catalog, cases=cases, publisher=publisher, events=events,
                                       identity=identity, id_keys=id_keys, audit_log=audit_log))
    return view, created, operator["operator_id"]


def get_case(principal: Principal, origin: Origin, case_no: str, *, cases, identity, audit_log) -> dict[str, Any]:
    """``GET /v1/operator/cases/{case_no}``: a case this operator filed
    (``domain.access.may_read_case``, applied by ``intake.get_case``). Any other case, a
    malformed number and a missing case all answer the same NotFound. The read is audited
    (``case.read``) before the data is returned: no audit record, no data."""
    principal.require(STATION_OPERATOR)
    return intake.get_case(principal, origin, case_no, cases=cases, identity=identity, audit_log=audit_log)
