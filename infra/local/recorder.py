"""Persistence for the local moto server: record state-changing requests, replay them on start.

moto keeps no state on disk but can replay a request log in its own format
(``POST /moto-api/recorder/replay-recording`` reads ``MOTO_RECORDER_FILEPATH``). moto's own
recorder logs every request, reads and queue polls included, so the log grows by the second
and replay slows down. This WSGI middleware writes the same format but only for requests that
change state: reads (Get*, Describe*, List*, Query, Scan, Receive*, GET/HEAD) are not logged,
nor SQS deletes, whose receipt handles would not match after a replay (the local runner keeps
its own ledger of consumed messages instead; see ``runner.ConsumedLedger``).
"""
from __future__ import annotations

import base64
import io
import json
import threading
from typing import Any, Callable
from urllib.parse import parse_qs

_READ_PREFIXES = ("Get", "Describe", "List", "Query", "Scan", "BatchGet", "TransactGet", "Receive",
                  "Sign", "Verify", "Head")
_NOT_REPLAYABLE = {"DeleteMessage", "DeleteMessageBatch", "ChangeMessageVisibility",
                   "ChangeMessageVisibilityBatch"}


def operation_of(environ: dict[str, Any], body: bytes) -> str | None:
    """The API operation name of a request: from ``X-Amz-Target`` (JSON protocols) or the
    ``Action`` form field (query protocol); None for REST (S3)."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    if b"Action=" in body[:200]:
        action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        return action[0] if action else None
    return None


def changes_state(environ: dict[str, Any], body: bytes) -> bool:
    """True when the request must be replayed to rebuild the state."""
    if environ.get("PATH_INFO", "").startswith("/moto-api/"):
        return False
    if environ.get("REQUEST_METHOD") in ("GET", "HEAD", "OPTIONS"):
        return False
    operation = operation_of(environ, body)
    if operation is None:
        return True
    return not (operation.startswith(_READ_PREFIXES) or operation in _NOT_REPLAYABLE)


class RecordingMiddleware:
    """Wraps the moto WSGI app; appends state-changing requests to ``path`` in moto's format."""

    def __init__(self, app: Callable, path: str) -> None:
        self.app = app
        self.path = path
        self.paused = False
        self.recorded = 0
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if not self.paused and changes_state(environ, body):
            self._append(environ, body)
        return self.app(environ, start_response)

    def _append(self, environ: dict[str, Any], body: bytes) -> None:
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").title()] = environ[key]
        uri = environ.get("REQUEST_URI") or environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
        entry = {"headers": headers, "method": environ["REQUEST_METHOD"],
                 "url": f"http://{environ.get('HTTP_HOST', 'localhost')}{uri}",
                 "body": base64.b64encode(body).decode("ascii"), "body_encoded": True}
        with self._lock, open(self.path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")
            self.recorded += 1
