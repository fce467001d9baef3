"""The whole product on one machine: ``make run``.

Starts, in one foreground process:

1. a moto server on 127.0.0.1 (default port 5000) whose state-changing requests are recorded
   to ``.local/moto-recording.jsonl`` and replayed on the next start (state kept across
   restarts; ``.local/`` is git-ignored);
2. every table, index, queue and bucket of ``infra/resources.json`` (``stack.py``); after a
   replay, the records naming S3 object versions re-pointed at the replayed ones (``versions.py``);
3. the catalog seed (``data/seed``) through the administrator's import code (idempotent);
4. the Chalice app's HTTP API on http://127.0.0.1:8000 (``chalice local`` machinery);
5. a poller per SQS event source of the app, invoking the app's own handler with Lambda-shaped
   SQS events and honouring ``batchItemFailures``; a timer per scheduled handler.

Ctrl-C (SIGINT) or SIGTERM stops everything cleanly. Nothing here is part of the Lambda package.
"""
from __future__ import annotations

import argparse
import collections
import datetime as dt
import hashlib
import json
import os
import signal
import sys
import threading
import time
import types
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_ID = "123456789012"
REGION = "us-east-1"


def _configure_environment(data_dir: Path, moto_port: int) -> None:
    """Point every AWS client of this process at the local moto server (before imports)."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ["AWS_DEFAULT_REGION"] = REGION
    os.environ["AWS_REGION"] = REGION
    os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{moto_port}"
    os.environ["MOTO_RECORDER_FILEPATH"] = str(data_dir / "moto-recording.jsonl")
    os.environ.pop("MOTO_ENABLE_RECORDING", None)  # any value turns moto's own recorder on
    os.environ.setdefault("BIANMIN_DEADLINE_SWEEP_MINUTES", "1")  # the cloud sweeps hourly (settings.py)
    # one process serves every route here: a year loaded with the CLI shows within seconds
    os.environ.setdefault("BIANMIN_CALENDAR_REFRESH_SECONDS", "10")
    # e-seal keys as PEM files: moto's KMS key material would not survive the replay of a restart
    os.environ["BIANMIN_SEAL_KEYS"] = "file"
    os.environ.setdefault("BIANMIN_SEAL_KEY_DIR", str(data_dir / "seal-keys"))


class ConsumedLedger:
    """Which queue messages were already consumed, so replayed messages are not handled twice.

    Replay re-sends every recorded SendMessage (SQS deletes cannot be replayed: their receipt
    handles change), so the runner remembers a digest of each consumed ``(queue, body)`` and
    deletes that many replayed copies without invoking the handler.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.counts: collections.Counter[str] = collections.Counter()
        if path.exists():
            self.counts.update(line.strip() for line in path.read_text().splitlines() if line.strip())
        self._lock = threading.Lock()

    @staticmethod
    def digest(queue: str, body: str) -> str:
        return hashlib.sha256(f"{queue}\n{body}".encode()).hexdigest()

    def take(self, queue: str, body: str) -> bool:
        """True (and one fewer remembered) when this message was consumed before the restart."""
        key = self.digest(queue, body)
        with self._lock:
            if self.counts[key] > 0:
                self.counts[key] -= 1
                return True
            return False

    def remember(self, queue: str, body: str) -> None:
        with self._lock, open(self.path, "a") as f:
            f.write(self.digest(queue, body) + "\n")


def _masked_access_log(handler: Any) -> Any:
    """The local API's request handler (a class, or Chalice's ``functools.partial`` of one) with
    ID and phone numbers masked in its access log: a path such as /v1/cases/<an ID number typed
    by mistake> must not land in clear."""
    import functools

    from chalicelib.domain.people import mask_text
    if isinstance(handler, functools.partial):
        return functools.partial(_masked_access_log(handler.func), *handler.args, **handler.keywords)

    class MaskedHandler(handler):
        def log_message(self, format: str, *args: Any) -> None:
            super().log_message("%s", mask_text(format % args))
    return MaskedHandler


class LocalStack:
    """Owns the servers and worker threads of one ``make run``."""

    def __init__(self, host: str, port: int, moto_port: int, data_dir: Path, seed: bool = True,
                 poll_seconds: float = 1.0, quiet: bool = False) -> None:
        self.host, self.port, self.moto_port = host, port, moto_port
        self.data_dir = data_dir
        self.seed = seed
        self.poll_seconds = poll_seconds
        self.quiet = quiet
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.servers: list[Any] = []
        self.consumed_before_restart = 0
        self.replayed = False

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"[bianmin] {text}", flush=True)

    # -- moto -------------------------------------------------------------------------------
    def start_moto(self) -> None:
        import logging
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        from moto.moto_server.werkzeug_app import (DomainDispatcherApplication, MotoRequestHandler,
                                                   create_backend_app)
        from werkzeug.serving import make_server

        from .recorder import RecordingMiddleware

        self.recording = RecordingMiddleware(DomainDispatcherApplication(create_backend_app),
                                             os.environ["MOTO_RECORDER_FILEPATH"])
        path = Path(os.environ["MOTO_RECORDER_FILEPATH"])
        if path.exists() and path.stat().st_size:
            # Replay through a private port (moto's state lives in this process, not in the
            # server), so that no client request arrives, unrecorded, while the replay runs.
            import requests

            from .recorder import repair
            dropped = repair(str(path))
            if dropped:
                self.say(f"WARNING: {dropped} damaged line(s) of {path} were dropped (requests cut short "
                         "by a crash); every other recorded request is restored")
            lines = sum(1 for _ in path.open())
            started = time.monotonic()
            private = make_server("127.0.0.1", 0, self.recording, threaded=True, request_handler=MotoRequestHandler)
            threading.Thread(target=private.serve_forever, daemon=True).start()
            self.recording.paused = True
            try:
                requests.post(f"http://127.0.0.1:{private.server_port}/moto-api/recorder/replay-recording",
                              timeout=3600).raise_for_status()
            finally:
                self.recording.paused = False
                private.shutdown()
                private.server_close()
            self.say(f"restored {lines} recorded requests in {time.monotonic() - started:.1f} s")
            self.replayed = True
        server = make_server("127.0.0.1", self.moto_port, self.recording, threaded=True,
                             request_handler=MotoRequestHandler)
        self._serve(server, "moto")
        self.say(f"moto server on http://127.0.0.1:{self.moto_port} (state in {path})")

    def _serve(self, server, name: str) -> None:
        self.servers.append(server)
        thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    # -- resources and seed -----------------------------------------------------------------
    def create_resources(self) -> None:
        import boto3

        from .stack import ensure_resources
        report = ensure_resources(boto3.session.Session(region_name=REGION), account_id=ACCOUNT_ID)
        self.say(f"resources: {len(report['created'])} created, {len(report['existing'])} existing, "
                 f"not emulated: {', '.join(report['skipped']) or '-'}")

    def repoint_versions(self) -> None:
        """After a replay, point the records that name S3 object versions at the replayed
        versions (``versions.py``: the replay gave every object a new VersionId). Not recorded:
        the next replay reproduces the old ids and this repairs them again the same way."""
        if not self.replayed:
            return
        from .versions import repoint_versions
        self.recording.paused = True
        try:
            changed = repoint_versions()
        finally:
            self.recording.paused = False
        self.say(f"re-pointed {changed} object versions after replay")

    def seed_catalog(self) -> None:
        from chalicelib import cli
        for line in cli.seed(ROOT / "data" / "seed"):
            self.say(line)

    def seed_admin(self) -> None:
        """The local administrator ``admin``: created on the first start with the password in
        ``$BIANMIN_ADMIN_PASSWORD`` or a random one written to ``<data dir>/admin-password.txt``
        (mode 600). Later starts leave the account alone."""
        import secrets as random_secrets

        from chalicelib import cli, container
        if container.identity().get_staff("admin"):
            self.say("administrator: admin (password in "
                     f"{self.data_dir / 'admin-password.txt'} unless you set BIANMIN_ADMIN_PASSWORD)")
            return
        password = os.environ.get("BIANMIN_ADMIN_PASSWORD") or random_secrets.token_urlsafe(12)
        cli.create_admin("admin", "本地管理员", password)
        secret_file = self.data_dir / "admin-password.txt"
        secret_file.write_text(password + "\n", encoding="utf-8")
        secret_file.chmod(0o600)
        self.say(f"administrator: admin, password written to {secret_file}")

    # -- the app ----------------------------------------------------------------------------
    def start_api(self) -> None:
        from chalice.cli.factory import CLIFactory
        factory = CLIFactory(str(ROOT), environ=os.environ)
        config = factory.create_config_obj(chalice_stage_name="local")
        self.app = config.chalice_app
        import app as app_module  # loaded by the factory; the handlers live there
        self.app_module = app_module
        server = factory.create_local_server(self.app, config, self.host, self.port)
        server.server.daemon_threads = True
        server.server.RequestHandlerClass = _masked_access_log(server.server.RequestHandlerClass)
        server.server.socket.listen(128)  # http.server's default backlog of 5 drops bursts
        self._serve(server.server, "api")
        self.say(f"HTTP API on http://{self.host}:{self.port}  (try /v1/services)")

    def start_workers(self) -> None:
        from chalice.app import Rate, ScheduledEventConfig, SQSEventConfig
        self.ledger = ConsumedLedger(self.data_dir / "consumed-messages.txt")
        for source in self.app.event_sources:
            handler = getattr(self.app_module, source.name)
            if isinstance(source, SQSEventConfig):
                target = self._poll_queue
                args: tuple = (source.queue, source.batch_size, handler)
                self.say(f"worker: queue {source.queue} -> {source.name}")
            elif isinstance(source, ScheduledEventConfig):
                expression = source.schedule_expression
                if not isinstance(expression, Rate):
                    raise SystemExit(f"local runner supports Rate schedules only: {source.name}")
                seconds = expression.value * {"MINUTES": 60, "HOURS": 3600, "DAYS": 86400}[expression.unit]
                target, args = self._every, (seconds, handler, source.name)
                self.say(f"schedule: {source.name} every {seconds} s")
            else:
                raise SystemExit(f"local runner cannot drive {type(source).__name__} ({source.name})")
            thread = threading.Thread(target=target, args=args, name=source.name, daemon=True)
            thread.start()
            self.threads.append(thread)

    def _context(self, name: str) -> Any:
        deadline = time.monotonic() + 60
        return types.SimpleNamespace(
            function_name=name, function_version="$LATEST", memory_limit_in_mb=512,
            invoked_function_arn=f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:bianmin-local-{name}",
            aws_request_id=str(uuid.uuid4()), log_group_name=f"/aws/lambda/{name}", log_stream_name="local",
            get_remaining_time_in_millis=lambda: int(max(0.0, deadline - time.monotonic()) * 1000))

    def _poll_queue(self, queue: str, batch_size: int, handler) -> None:
        import boto3
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        arn = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{queue}"
        redrive = self._redrive_target(sqs, url)
        while not self.stop_event.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=min(batch_size, 10), WaitTimeSeconds=1,
                    AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
            except Exception as exc:  # the moto server is shutting down
                if not self.stop_event.is_set():
                    self.say(f"poll {queue} failed: {exc}")
                    time.sleep(self.poll_seconds)
                continue
            fresh = []
            for m in messages:
                if self.ledger.take(queue, m["Body"]):
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                    self.consumed_before_restart += 1
                else:
                    fresh.append(m)
            if fresh:
                self._invoke_sqs(sqs, url, arn, queue, fresh, handler, redrive)

    @staticmethod
    def _redrive_target(sqs, url: str) -> tuple[str, int] | None:
        """``(dead-letter queue URL, maxReceiveCount)`` from the queue's redrive policy."""
        policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"]).get(
            "Attributes", {}).get("RedrivePolicy")
        if not policy:
            return None
        policy = json.loads(policy)
        dlq_name = policy["deadLetterTargetArn"].rsplit(":", 1)[1]
        return sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"], int(policy["maxReceiveCount"])

    def _dead_letter(self, sqs, url: str, queue: str, message: dict, redrive: tuple[str, int]) -> None:
        """Move a message that failed ``maxReceiveCount`` times to the dead-letter queue, as SQS
        does, but with recorded requests: moto's own move happens inside a receive, which is
        not recorded, so after a restart the message would be back on the main queue."""
        dlq_url, _ = redrive
        attributes = {k: {"DataType": v["DataType"], "StringValue": v["StringValue"]}
                      for k, v in message.get("MessageAttributes", {}).items() if "StringValue" in v}
        sqs.send_message(QueueUrl=dlq_url, MessageBody=message["Body"],
                         **({"MessageAttributes": attributes} if attributes else {}))
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        self.ledger.remember(queue, message["Body"])
        self.say(f"message {message['MessageId']} failed {redrive[1]} times: moved to the dead-letter queue")

    def _invoke_sqs(self, sqs, url: str, arn: str, queue: str, messages: list[dict], handler,
                    redrive: tuple[str, int] | None = None) -> None:
        event = {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}), "md5OfBody": m.get("MD5OfBody", ""),
            "messageAttributes": {k: {"stringValue": v.get("StringValue"), "dataType": v["DataType"]}
                                  for k, v in m.get("MessageAttributes", {}).items()},
            "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": REGION} for m in messages]}
        try:
            result = handler(event, self._context(queue)) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        except Exception as exc:  # like Lambda: the whole batch returns to the queue
            self.say(f"handler for {queue} raised {exc!r}; batch left for retry")
            failed = {m["MessageId"] for m in messages}
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                self.ledger.remember(queue, m["Body"])
            elif redrive and int(m.get("Attributes", {}).get("ApproximateReceiveCount", 0)) >= redrive[1]:
                self._dead_letter(sqs, url, queue, m, redrive)

    def _every(self, seconds: int, handler, name: str) -> None:
        while not self.stop_event.wait(seconds):
            event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event",
                     "source": "aws.events", "account": ACCOUNT_ID, "region": REGION,
                     "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{name}"], "detail": {}}
            try:
                self.say(f"scheduled {name}: {handler(event, self._context(name))}")
            except Exception as exc:
                self.say(f"scheduled {name} raised {exc!r}")

    # -- lifecycle --------------------------------------------------------------------------
    def preflight(self) -> None:
        """Fail early and clearly: the data folder must not be in use by another run, and both
        ports must be free (before minutes of replay, not after)."""
        import fcntl
        import socket
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.data_dir / "runner.lock", "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SystemExit(f"another `make run` is using {self.data_dir}; stop it, or give this one its "
                             f"own folder and ports: BIANMIN_DATA_DIR=... BIANMIN_PORT=... BIANMIN_MOTO_PORT=...") from None
        for port, what, variable in ((self.moto_port, "local AWS (moto)", "BIANMIN_MOTO_PORT"),
                                     (self.port, "HTTP API", "BIANMIN_PORT")):
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(("127.0.0.1" if what.startswith("local") else self.host, port))
                except OSError:
                    raise SystemExit(f"port {port} for the {what} is in use; stop the program using it or "
                                     f"choose another port: {variable}=NNNN make run") from None

    def start(self) -> None:
        self.preflight()
        self.start_moto()
        self.create_resources()
        self.repoint_versions()  # before the pollers: the upload consumer must see the recorded versions
        if self.seed:
            self.seed_catalog()
        self.seed_admin()
        self.start_api()
        self.start_workers()
        self.say("ready. Ctrl-C stops everything; data is kept for the next start.")

    def stop(self) -> None:
        if not self.servers:
            return
        self.stop_event.set()
        for thread in self.threads:
            if thread.name not in ("moto", "api"):
                thread.join(timeout=5)
        for server in reversed(self.servers):
            server.shutdown()
        self.say("stopped.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run Bianmin locally on the embedded AWS stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("BIANMIN_PORT", 8000)))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("BIANMIN_MOTO_PORT", 5000)))
    parser.add_argument("--data-dir", default=os.environ.get("BIANMIN_DATA_DIR", str(ROOT / ".local")))
    parser.add_argument("--no-seed", action="store_true", help="do not import the seed catalog")
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir).resolve()
    _configure_environment(data_dir, args.moto_port)
    sys.path.insert(0, str(ROOT))
    stack = LocalStack(args.host, args.port, args.moto_port, data_dir, seed=not args.no_seed)
    stopping = threading.Event()
    # Explicit handlers: a process started in the background of a script inherits SIGINT ignored.
    # Before the stack is up, a signal interrupts the start; afterwards it asks for a clean stop.
    def on_signal(*_: Any) -> None:
        if not ready.is_set():
            raise KeyboardInterrupt
        stopping.set()
    ready = threading.Event()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        stack.start()
        ready.set()
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
