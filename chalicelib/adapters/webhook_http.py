"""Send one signed webhook POST with the standard library (``urllib.request``).

- The host is resolved here and every address checked (``domain.webhooks.allowed_addresses``);
  the connection then goes to the checked address itself, not to a second lookup, so a DNS
  answer that changes between check and connect (rebinding) cannot reach a private address.
  TLS still verifies the certificate against the host name (SNI).
- Redirects are not followed (a 3xx is a failed attempt) and proxy variables are ignored.
- Timeouts: connect ``settings.WEBHOOK_CONNECT_TIMEOUT``, each read
  ``settings.WEBHOOK_READ_TIMEOUT``, and the whole request at most
  ``settings.WEBHOOK_TOTAL_TIMEOUT`` seconds (a watchdog closes the socket of a receiver that
  trickles its answer).
- The response body is not read.
"""
from __future__ import annotations

import http.client
import socket
import ssl
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable

from .. import settings
from ..domain.webhooks import WebhookUrlRefused, allowed_addresses, parse_webhook_url, trim_error

Resolver = Callable[[str, int], list[str]]


@dataclass(frozen=True)
class SendResult:
    """What one attempt came to: ``status`` the HTTP status (None if none was received),
    ``error`` None on a 2xx, else a short text without personal data (``HTTP 503``,
    ``network: timed out``, ``refused: private``)."""

    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), as text."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [info[4][0] for info in infos]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        return None  # urllib then raises HTTPError with the 3xx status


class _Pinned:
    """Connection factory for ``AbstractHTTPHandler.do_open``: connects to ``address`` whatever
    the URL's host, with a connect timeout shorter than the read timeout, and remembers the
    connection so the watchdog can close it."""

    def __init__(self, connection_class, address: str) -> None:
        self.connection_class = connection_class
        self.address = address
        self.connection: http.client.HTTPConnection | None = None
        self.closed = threading.Event()

    def __call__(self, host: str, **kwargs):
        connection = self.connection_class(host, **kwargs)

        def connect(address, timeout, source_address=None):
            sock = socket.create_connection((self.address, address[1]), settings.WEBHOOK_CONNECT_TIMEOUT,
                                            source_address)
            sock.settimeout(settings.WEBHOOK_READ_TIMEOUT)
            return sock
        connection._create_connection = connect
        self.connection = connection
        return connection

    def abort(self) -> None:
        """Watchdog: cut the connection (a blocked read then fails at once)."""
        self.closed.set()
        sock = getattr(self.connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _PinnedHTTP(urllib.request.HTTPHandler):
    def __init__(self, pinned: _Pinned) -> None:
        super().__init__()
        self.pinned = pinned

    def http_open(self, req):
        return self.do_open(self.pinned, req)


class _PinnedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, pinned: _Pinned, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self.pinned = pinned

    def https_open(self, req):
        return self.do_open(self.pinned, req, context=self._context)


class UrllibWebhookSender:
    """POSTs webhook bodies (see the module docstring for the rules it applies).

    ``local`` allows plain http to loopback (the ``local`` stage); ``resolver`` maps
    ``(host, port)`` to address texts (tests pass a fixed one instead of DNS); ``context`` is
    the TLS context (default: the system's trusted CAs, certificate and host name checked).
    """

    def __init__(self, *, local: bool | None = None, resolver: Resolver = system_resolver,
                 context: ssl.SSLContext | None = None) -> None:
        self.local = settings.STAGE == "local" if local is None else local
        self.resolver = resolver
        self.context = context or ssl.create_default_context()

    def check(self, url: str) -> tuple[str, list[str]]:
        """``(scheme, allowed addresses)`` of ``url``. Raises ``WebhookUrlRefused``."""
        target = parse_webhook_url(url, local=self.local)
        try:
            addresses = self.resolver(target.host, target.port)
        except (OSError, UnicodeError):
            raise WebhookUrlRefused(reason="unresolved") from None
        return target.scheme, allowed_addresses(target, addresses, local=self.local)

    def send(self, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
        """POST ``body`` to ``url`` with ``headers``. Never raises: every outcome is a
        :class:`SendResult`."""
        try:
            scheme, addresses = self.check(url)
        except WebhookUrlRefused as exc:
            return SendResult(None, trim_error(f"refused: {exc.context.get('reason', 'url')}"))
        pinned = _Pinned(http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection,
                         addresses[0])
        opener = urllib.request.OpenerDirector()
        for handler in (urllib.request.ProxyHandler({}), _NoRedirect(), urllib.request.HTTPErrorProcessor(),
                        urllib.request.HTTPDefaultErrorHandler(),
                        _PinnedHTTPS(pinned, self.context) if scheme == "https" else _PinnedHTTP(pinned)):
            opener.add_handler(handler)
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        watchdog = threading.Timer(settings.WEBHOOK_TOTAL_TIMEOUT, pinned.abort)
        watchdog.daemon = True
        watchdog.start()
        try:
            with opener.open(request, timeout=settings.WEBHOOK_READ_TIMEOUT) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            exc.close()
            return SendResult(exc.code, f"HTTP {exc.code}")
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            text = "timed out" if pinned.closed.is_set() else (str(reason) or type(reason).__name__)
            return SendResult(None, trim_error(f"network: {text}"))
        finally:
            watchdog.cancel()
        if 200 <= status < 300:
            return SendResult(status, None)
        return SendResult(status, f"HTTP {status}")
