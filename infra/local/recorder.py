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
    for text in (environ.get("QUERY_STRING", ""), body.decode("utf-8", "replace") if b"Action=" in body else ""):
        action = parse_qs(text).get("Action")
        if action:
            return action[0]
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
    """Wraps the moto WSGI app: serialises requests and appends each state-changing request
    that succeeded (2xx) to ``path`` in moto's format, in the order they took effect.

    moto's backends are not thread-safe (a transaction deep-copies whole tables while another
    thread writes: "dictionary changed size during iteration"), and a log written on arrival
    would replay failed or reordered writes. So every request except ``ReceiveMessage`` (which
    may long-poll) runs under one lock, and is logged after it succeeded.
    """

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
        if operation_of(environ, body) == "ReceiveMessage" or environ.get("PATH_INFO", "").startswith("/moto-api/"):
            # long polls must not hold the lock; the replay endpoint sends requests to this
            # server and waits for them, so it must not hold it either
            return self.app(environ, start_response)
        record = not self.paused and changes_state(environ, body)
        statuses: list[str] = []

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
            statuses.append(status)
            return start_response(status, headers, exc_info)

        with self._lock:
            result = self.app(environ, capture)
            try:
                chunks = list(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            if record and statuses and statuses[-1].startswith("2"):
                self._append(environ, body)
            if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
                forget_tracked_instances("dynamodb")
        return chunks

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
        with open(self.path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")
            self.recorded += 1


def forget_tracked_instances(service: str) -> None:
    """Drop moto's list of every model object ever created for ``service``.

    moto keeps each ``BaseModel`` instance in ``instances_tracked`` for its dashboard, and a
    DynamoDB transaction deep-copies every table it touches, so a long-running server keeps
    every copy: about 1.3 MB per transaction on a 4 MB table, until the machine runs out of
    memory. Nothing but the dashboard reads the list in server mode.
    """
    from moto.core.model_instances import model_data
    for model in model_data.get(service, {}).values():
        if getattr(model, "instances_tracked", None):
            model.instances_tracked = []


def repair(path: str) -> int:
    """Drop damaged lines (not a JSON request entry, as a crash or a full disk leaves them) so
    the replay can run; returns how many were dropped. Every good line is kept, also after a
    damaged one."""
    with open(path, "rb") as log:
        lines = log.read().split(b"\n")
    good = []
    for line in lines:
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and {"method", "url", "headers"} <= set(entry):
            good.append(line)
    dropped = sum(1 for line in lines if line.strip()) - len(good)
    if dropped:
        with open(path, "wb") as log:
            log.write(b"".join(line + b"\n" for line in good))
    return dropped
