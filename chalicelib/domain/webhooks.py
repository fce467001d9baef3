"""Operator webhooks (issue 3, item 6): what a station operator is told when one of its cases
changes, how the callback is signed, how failed attempts back off, and which URLs we may call.

Pure Python: no I/O. The adapter resolves host names and sends; the use case keeps the record.
A receiver's view of all this is ``docs/webhooks.md``.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from urllib.parse import urlsplit

from .cases import STATUS_LABELS
from .errors import DomainError

#: Event types. Lifecycle transitions use ``case.<transition>`` names of the same shape.
EVENT_CASE_CREATED = "case.created"
EVENT_CASE_CLASSIFIED = "case.classified"
EVENT_TYPE_PATTERN = re.compile(r"^case\.[a-z][a-z_]{0,39}$")

#: Delivery states: waiting for (another) attempt, received with a 2xx, gave up after every retry.
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
DELIVERY_STATUS_LABELS = {PENDING: "推送中", DELIVERED: "已送达", FAILED: "推送失败"}

DELIVERY_ID_PATTERN = re.compile(r"^whd_[0-9a-f]{32}$")
#: Receivers should refuse signatures older than this (seconds); docs/webhooks.md says so.
SIGNATURE_TOLERANCE_SECONDS = 300
ERROR_LIMIT = 200


class WebhookUrlRefused(DomainError):
    """A webhook URL we will not call (HTTP 400 if it surfaces in an API): wrong scheme,
    credentials in the URL, or a host that is or resolves to a private, loopback, link-local or
    otherwise non-public address (server-side request forgery guard)."""

    code = "WEBHOOK_URL_REFUSED"
    message = "回调地址不可用：必须是公网可访问的 https 地址"


def delivery_id_for(operator_id: str, case_no: str, event_type: str, version: Any, status: str) -> str:
    """The delivery id of one event: ``whd_`` + 32 hex digits, derived from the operator, the
    case number, the event type and the case's version and status. The same state change
    enqueued twice gets the same id (so it is recorded and sent once); retries and
    redeliveries keep it."""
    seed = "\x1f".join((operator_id, case_no, event_type, str(version), status))
    return "whd_" + hashlib.sha256(seed.encode()).hexdigest()[:32]


def case_event(case: Mapping[str, Any], event_type: str, delivery_id: str, occurred_at: str) -> dict[str, Any]:
    """The JSON event a receiver gets. No personal data: case number, status (and its zh-CN
    label), item code, township code, station id, event type, time (UTC ISO-8601) and the
    delivery id. Raises ValueError for an event type not of the form ``case.<name>``."""
    if not EVENT_TYPE_PATTERN.fullmatch(event_type):
        raise ValueError(f"bad webhook event type {event_type!r}")
    return {
        "delivery_id": delivery_id,
        "event_type": event_type,
        "occurred_at": occurred_at,
        "case_no": case["case_no"],
        "status": case["status"],
        "status_label": STATUS_LABELS.get(case["status"], case["status"]),
        "item_code": case["item_code"],
        "township_code": case["township_code"],
        "station_id": case.get("station_id"),
    }


def encode_event(event: Mapping[str, Any]) -> str:
    """The exact body text sent (compact JSON, UTF-8 characters as they are, keys sorted). It is
    stored with the delivery so every retry sends the same bytes."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Bianmin-Signature`` header: ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` where the
    MAC is keyed with the operator's webhook secret (UTF-8) over ``b"<t>." + body``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def backoff_seconds(receive_count: int, base: int, cap: int) -> int:
    """Seconds to wait before the next attempt after attempt number ``receive_count`` (1-based)
    failed: ``base × 2^(receive_count − 1)``, at most ``cap``; 0 when ``base`` is 0."""
    if base <= 0:
        return 0
    return min(cap, base * 2 ** max(0, receive_count - 1))


def trim_error(text: str, limit: int = ERROR_LIMIT) -> str:
    """An error text for the record: one line, at most ``limit`` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


# --- where we may send ------------------------------------------------------------------------

@dataclass(frozen=True)
class WebhookUrl:
    """A parsed webhook URL: ``scheme`` (http/https), ``host`` (lower case, no brackets),
    ``port`` (explicit or the scheme's default)."""

    url: str
    scheme: str
    host: str
    port: int


def parse_webhook_url(url: str, *, local: bool) -> WebhookUrl:
    """Check the shape of a webhook URL: https (http only in the ``local`` stage, and there only
    to a loopback host, checked again on the resolved addresses), a host, no user name or
    password, no fragment, at most 2,000 characters. Raises :class:`WebhookUrlRefused`."""
    if not isinstance(url, str) or not url or len(url) > 2000 or any(c.isspace() for c in url):
        raise WebhookUrlRefused(reason="malformed")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookUrlRefused(reason="malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or (scheme == "http" and not local):
        raise WebhookUrlRefused(reason="scheme")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise WebhookUrlRefused(reason="credentials")
    if parts.fragment:
        raise WebhookUrlRefused(reason="fragment")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise WebhookUrlRefused(reason="host")
    if scheme == "http" and not _loopback_name(host):
        raise WebhookUrlRefused(reason="scheme")
    return WebhookUrl(url=url, scheme=scheme, host=host, port=port or (443 if scheme == "https" else 80))


def _loopback_name(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo client, NAT64)."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refused(address: str, *, local: bool) -> str | None:
    """Why we may not connect to ``address`` (an IP address text), or None if we may.

    Only public unicast addresses are allowed; in the ``local`` stage loopback is allowed too.
    Private (10/8, 172.16/12, 192.168/16, fc00::/7), loopback, link-local (169.254/16 with the
    cloud metadata service, fe80::/10), shared (100.64/10), multicast, reserved and unspecified
    addresses are refused, also when carried inside an IPv6 address.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            candidates.insert(0, inner)  # the carried address decides first (and names the reason)
    for candidate in candidates:
        if local and candidate.is_loopback:
            return None
        if candidate.is_loopback:
            return "loopback"
        if candidate.is_link_local:
            return "link-local"
        if candidate.is_multicast:
            return "multicast"
        if candidate.is_unspecified:
            return "unspecified"
        if candidate.is_private or not candidate.is_global:
            return "private"
    return None


def allowed_addresses(target: WebhookUrl, addresses: Iterable[str], *, local: bool) -> list[str]:
    """The resolved addresses of ``target`` we may connect to. Every one must pass
    :func:`address_refused` (a host with one private address is refused as a whole, so a
    resolver cannot pick it later); plain http must be loopback only. Raises
    :class:`WebhookUrlRefused` when none resolved or any is refused."""
    addresses = list(dict.fromkeys(addresses))
    if not addresses:
        raise WebhookUrlRefused(reason="unresolved")
    for address in addresses:
        why = address_refused(address, local=local)
        if why:
            raise WebhookUrlRefused(reason=why)
        if target.scheme == "http" and not ipaddress.ip_address(address.split("%", 1)[0]).is_loopback:
            raise WebhookUrlRefused(reason="scheme")
    return addresses
