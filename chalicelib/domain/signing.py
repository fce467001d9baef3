"""Signed operator requests: the canonical request and its HMAC-SHA256 signature.

Station operators (民生服务站运营方) call the API server to server and sign every request with a
secret key issued by an administrator (``docs/operator-api.md``). The rule, in full:

1. The canonical string is six lines joined by ``\\n`` (no trailing newline)::

       METHOD                  upper case: GET, POST (``SQS`` for queue messages)
       PATH                    the URL path as sent, without the query string (``/v1/operator/cases``)
       CANONICAL_QUERY         see below; an empty line when there is no query
       TIMESTAMP               unix time in whole seconds (decimal digits), the X-Bianmin-Timestamp header
       NONCE                   16-64 of ``A-Z a-z 0-9 _ -``, new for every request, the X-Bianmin-Nonce header
       BODY_SHA256             lowercase hex SHA-256 of the raw body bytes (of b"" when there is none)

2. CANONICAL_QUERY: every (name, value) pair, each RFC 3986 percent-encoded (UTF-8; only
   ``A-Z a-z 0-9 - . _ ~`` stay as they are, a space is ``%20``), sorted by encoded name then
   encoded value, joined as ``name=value`` with ``&``. A repeated name gives one pair per value.

3. The signature is ``HMAC-SHA256(key secret as UTF-8 bytes, canonical string as UTF-8)`` in
   lowercase hex (64 characters), sent in ``X-Bianmin-Signature`` with the key id in
   ``X-Bianmin-Key-Id``.

The same scheme as AWS Signature V4 and Stripe webhooks in spirit: the body hash binds the body,
the timestamp bounds replay to a window, the nonce makes a replay inside the window detectable.
This module is pure (standard library only); checking the window and the nonce is the use
case's job (``usecases.operators``).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from typing import Iterable, Mapping, Sequence, Union
from urllib.parse import quote

HEADER_KEY_ID = "X-Bianmin-Key-Id"
HEADER_TIMESTAMP = "X-Bianmin-Timestamp"
HEADER_NONCE = "X-Bianmin-Nonce"
HEADER_SIGNATURE = "X-Bianmin-Signature"
#: The four signature headers, in the order documented.
HEADERS = (HEADER_KEY_ID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)

#: Method and path signed for a message on the operator intake queue (``bianmin-operator-intake``).
SQS_METHOD = "SQS"
SQS_PATH_PREFIX = "/queues/"

KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
NONCE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
TIMESTAMP_PATTERN = re.compile(r"^[0-9]{1,12}$")
SIGNATURE_PATTERN = re.compile(r"^[0-9a-f]{64}$")

#: Query parameters: a mapping of name to a value or a list of values (API Gateway's
#: ``multiValueQueryStringParameters``), or a sequence of ``(name, value)`` pairs.
Query = Union[Mapping[str, Union[str, Sequence[str]]], Sequence[tuple[str, str]], None]


def _encode(text: str) -> str:
    """RFC 3986 percent-encoding of UTF-8: only unreserved characters stay (``-._~`` and
    alphanumerics); a space becomes ``%20``, never ``+``."""
    return quote(text, safe="-_.~")


def _pairs(query: Query) -> Iterable[tuple[str, str]]:
    if not query:
        return []
    if isinstance(query, Mapping):
        out = []
        for name, value in query.items():
            values = [value] if isinstance(value, str) else list(value or [])
            out.extend((name, v) for v in values)
        return out
    return list(query)


def canonical_query(query: Query) -> str:
    """The CANONICAL_QUERY line: decoded ``(name, value)`` pairs re-encoded per RFC 3986,
    sorted, ``name=value`` joined with ``&``; ``""`` when there are none."""
    encoded = sorted((_encode(name), _encode(value)) for name, value in _pairs(query))
    return "&".join(f"{name}={value}" for name, value in encoded)


def body_sha256(body: bytes | str | None) -> str:
    """Lowercase hex SHA-256 of the body bytes (a ``str`` is taken as UTF-8; None as empty)."""
    data = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    return hashlib.sha256(data).hexdigest()


def canonical_request(method: str, path: str, query: Query, timestamp: str | int, nonce: str,
                      body: bytes | str | None) -> str:
    """The canonical string ``METHOD\\nPATH\\nCANONICAL_QUERY\\nTIMESTAMP\\nNONCE\\nBODY_SHA256``.

    ``timestamp`` is unix seconds (an int, or the header text as received); ``body`` the raw
    bytes (a ``str`` is encoded as UTF-8).
    """
    return "\n".join([method.upper(), path, canonical_query(query), str(timestamp), nonce, body_sha256(body)])


def signature(secret: str | bytes, canonical: str) -> str:
    """``HMAC-SHA256(secret, canonical)`` in lowercase hex (64 characters)."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def verify(secret: str | bytes, canonical: str, claimed: str) -> bool:
    """True when ``claimed`` is the signature of ``canonical`` under ``secret``. Constant-time
    comparison (``hmac.compare_digest``), so the time taken leaks nothing about the right value."""
    return hmac.compare_digest(signature(secret, canonical).encode("ascii"),
                               (claimed or "").encode("ascii", "replace"))


def new_nonce() -> str:
    """A fresh nonce: 32 URL-safe random characters (192 bits)."""
    return secrets.token_urlsafe(24)


def sign_request(*, key_id: str, secret: str | bytes, method: str, path: str, query: Query = None,
                 body: bytes | str | None = b"", timestamp: int | None = None,
                 nonce: str | None = None) -> dict[str, str]:
    """The four signature headers for a request, ready to send.

    ``timestamp`` defaults to now (unix seconds), ``nonce`` to :func:`new_nonce`. Send the
    body bytes exactly as hashed here (serialise JSON once and send that string). Example::

        headers = sign_request(key_id="ak_...", secret="...", method="POST",
                               path="/v1/operator/cases", body=raw)
    """
    ts = int(time.time()) if timestamp is None else int(timestamp)
    nonce = nonce or new_nonce()
    canonical = canonical_request(method, path, query, ts, nonce, body)
    return {HEADER_KEY_ID: key_id, HEADER_TIMESTAMP: str(ts), HEADER_NONCE: nonce,
            HEADER_SIGNATURE: signature(secret, canonical)}


def sign_message(*, key_id: str, secret: str | bytes, queue: str, body: str,
                 timestamp: int | None = None, nonce: str | None = None) -> dict[str, str]:
    """The signature for a message on queue ``queue``, as SQS string message attributes
    ``{key_id, timestamp, nonce, signature}``: method ``SQS``, path ``/queues/<queue>``, no
    query, the message body (UTF-8)."""
    headers = sign_request(key_id=key_id, secret=secret, method=SQS_METHOD, path=SQS_PATH_PREFIX + queue,
                           body=body, timestamp=timestamp, nonce=nonce)
    return {"key_id": headers[HEADER_KEY_ID], "timestamp": headers[HEADER_TIMESTAMP],
            "nonce": headers[HEADER_NONCE], "signature": headers[HEADER_SIGNATURE]}


def within_window(timestamp: int, reference: int, window: int) -> bool:
    """True when ``timestamp`` is at most ``window`` seconds before or after ``reference``
    (all unix seconds). ``settings.OPERATOR_SIGNATURE_WINDOW_SECONDS`` is the window."""
    return abs(timestamp - reference) <= window
