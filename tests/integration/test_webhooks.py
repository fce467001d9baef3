"""Operator webhooks end to end inside moto: a case event is recorded and queued, the SQS
consumer POSTs it to a real HTTP receiver on 127.0.0.1, retries with backoff through
ChangeMessageVisibility, dead-letters it after WEBHOOK_MAX_ATTEMPTS receives, and an operator
lists and redelivers failed deliveries (through the use cases: the signed operator API arrives
with the operator branch)."""
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from chalicelib import container, settings
from chalicelib.adapters.webhook_http import UrllibWebhookSender
from chalicelib.domain.access import STATION_OPERATOR, VILLAGER, Forbidden, Origin, Principal
from chalicelib.domain.errors import Conflict, NotFound, ValidationFailed
from chalicelib.usecases import webhooks
from tests.conftest import ROOT, table_items, valid_submission

SECRET = "whsec-test-0123456789abcdef"
OTHER_SECRET = "whsec-other-fedcba9876543210"
ORIGIN = Origin(ip="203.0.113.9", user_agent="station-client/1", request_id="req-1", channel="operator_api")


def _doc_examples():
    """The Python examples of docs/webhooks.md (the receiver's side is tested with the doc's own code)."""
    return re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "webhooks.md").read_text(encoding="utf-8"), re.S)


def _doc_verifier():
    namespace = {}
    exec(next(block for block in _doc_examples() if "def verify_signature" in block), namespace)
    return namespace["verify_signature"]


verify_signature = _doc_verifier()


class InFlight:
    """Requests being answered at this moment across receivers, and the most at once."""

    def __init__(self):
        self.lock, self.now, self.peak = threading.Lock(), 0, 0

    def enter(self):
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self):
        with self.lock:
            self.now -= 1


class Receiver:
    """An operator's webhook endpoint on 127.0.0.1: answers ``statuses`` in order, then
    ``default``; records every request and whether its signature verified."""

    def __init__(self, statuses=(), default=200, delay=0.0, secret=SECRET, in_flight=None):
        self.statuses, self.default, self.delay, self.secret = list(statuses), default, delay, secret
        self.in_flight = in_flight  # shared InFlight: how many receivers are answering at once
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.requests.append({
                    "path": self.path, "headers": dict(self.headers), "body": body,
                    "verified": verify_signature(outer.secret, self.headers.get("X-Bianmin-Signature", ""), body)})
                status = outer.statuses.pop(0) if outer.statuses else outer.default
                if outer.in_flight:
                    outer.in_flight.enter()
                time.sleep(outer.delay)
                if outer.in_flight:
                    outer.in_flight.leave()
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_port}/bianmin/hook"

    def events(self):
        return [json.loads(r["body"]) for r in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers():
    made = []

    def make(*args, **kwargs):
        made.append(Receiver(*args, **kwargs))
        return made[-1]
    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture(autouse=True)
def immediate_retries(monkeypatch):
    """Backoff base 0: a failed message is visible again at once (tests drive retries in a row)."""
    monkeypatch.setattr(settings, "WEBHOOK_BACKOFF_SECONDS", 0)


def register_operator(operator_id, url, secret=SECRET):
    """The operator as an administrator's registration stores it (through the operator gate),
    with a known webhook secret (``url`` None: an operator without a webhook URL)."""
    from chalicelib.usecases import audit
    now = "2026-11-30T06:00:00.000+00:00"
    container.operator_gate().create_operator(
        {"operator_id": operator_id, "name": "测试运营方", "webhook_url": url, "rate_limit_per_minute": 120,
         "stations": [{"station_id": "st-001", "township_code": "431224100", "village_code": "431224100201"}],
         "status": "active", "created_at": now, "created_by": "staff_admin"},
        {"key_id": f"ak_test_{operator_id}", "operator_id": operator_id, "status": "active", "created_at": now,
         "created_by": "staff_admin"},
        "bmk_test-key-secret", secret,
        audit.entry(None, Origin(channel="test"), "operator.register", audit.subject_target(f"op_{operator_id}")))


def operator(operator_id="op-001"):
    return Principal(subject=f"op_{operator_id}", roles=frozenset({STATION_OPERATOR}), operator_id=operator_id)


def operator_case(client, operator_id="op-001", station_id="st-001", **overrides):
    """A stored case as an operator filed it (intake sets operator_id and station_id)."""
    from chalicelib.domain.access import Origin
    from chalicelib.usecases import intake
    body = valid_submission(**overrides)
    view, _ = intake.submit_case(
        body, principal=operator(operator_id), origin=Origin(channel="test"), idempotency_key=None,
        catalog=container.catalog(), cases=container.cases(), publisher=container.intake_publisher(),
        events=container.case_event_publisher(), identity=container.identity(), id_keys=container.id_keys(), audit_log=container.audit_log(),
        station={"operator_id": operator_id, "station_id": station_id, "township_code": body["township_code"],
                 "village_code": None})
    return container.cases().get_case(view["case_no"])


def enqueue(case, event_type="case.created"):
    return webhooks.enqueue_case_event(case, event_type, publisher=container.webhook_publisher(),
                                       deliveries=container.webhook_deliveries())


class WebhookQueue:
    """Feeds bianmin-webhooks to ``on_webhook_delivery`` the way Lambda's event source mapping
    does: real receipt handles and receive counts, successes deleted, failures left to SQS."""

    def __init__(self, test_client):
        self.client = test_client
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.url = self.sqs.get_queue_url(QueueName=settings.WEBHOOK_QUEUE)["QueueUrl"]
        self.arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.responses = []

    def invoke_once(self):
        """One receive and one invocation; False when nothing was visible."""
        batch = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                         AttributeNames=["All"]).get("Messages", [])
        if not batch:
            return False
        event = {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m["Attributes"], "messageAttributes": {}, "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs", "eventSourceARN": self.arn, "awsRegion": "us-east-1"} for m in batch]}
        result = self.client.lambda_.invoke("on_webhook_delivery", event).payload
        self.responses.append(result)
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for m in batch:
            if m["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
        return True

    def drain(self, rounds=30):
        """Invoke until nothing is visible (a message past maxReceiveCount moves to the DLQ on
        the next receive, as in SQS)."""
        for _ in range(rounds):
            if not self.invoke_once():
                return self.responses
        raise AssertionError("the webhook queue did not drain")

    def send(self, body):
        self.sqs.send_message(QueueUrl=self.url, MessageBody=body if isinstance(body, str) else json.dumps(body))

    def dead_letters(self):
        url = self.sqs.get_queue_url(QueueName=settings.WEBHOOK_DLQ)["QueueUrl"]
        return [json.loads(m["Body"]) for m in self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])]

    def visible(self):
        return int(self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["ApproximateNumberOfMessages"])
                   ["Attributes"]["ApproximateNumberOfMessages"])


@pytest.fixture
def hooks(client):
    return WebhookQueue(client)


def failed_list(operator_id="op-001", **kwargs):
    return webhooks.failed_deliveries(operator(operator_id), deliveries=container.webhook_deliveries(), **kwargs)


def redeliver(delivery_id, operator_id="op-001"):
    return webhooks.redeliver(operator(operator_id), ORIGIN, delivery_id, deliveries=container.webhook_deliveries(),
                              publisher=container.webhook_publisher(), log=container.audit_log())


# --- the done-when of issue 3, item 6 ------------------------------------------------------------

def test_receiver_failing_twice_then_succeeding_gets_the_event_once(client, hooks, receivers):
    receiver = receivers(statuses=[500, 503])
    register_operator("op-001", receiver.url)
    case = operator_case(client)
    delivery_id = enqueue(case)
    responses = hooks.drain()
    assert [len(r["batchItemFailures"]) for r in responses] == [1, 1, 0]
    assert len(receiver.requests) == 3
    assert {r["headers"]["X-Bianmin-Delivery"] for r in receiver.requests} == {delivery_id}
    assert {r["headers"]["X-Bianmin-Event"] for r in receiver.requests} == {"case.created"}
    assert all(r["verified"] for r in receiver.requests)
    assert len({e["delivery_id"] for e in receiver.events()}) == 1     # one distinct event
    assert len({r["body"] for r in receiver.requests}) == 1            # the same bytes each time
    event = receiver.events()[0]
    assert event == {"delivery_id": delivery_id, "event_type": "case.created", "occurred_at": event["occurred_at"],
                     "case_no": case["case_no"], "status": "submitted", "status_label": "已提交",
                     "item_code": "HH-MZ-001", "township_code": "431224100", "station_id": "st-001"}
    record = container.webhook_deliveries().get("op-001", delivery_id)
    assert record["status"] == "delivered" and record["attempts"] == 3 and record["last_error"] is None
    assert record["last_status_code"] == 200 and record["delivered_at"]
    assert failed_list()["deliveries"] == [] and hooks.dead_letters() == []


def test_receiver_that_always_fails_lands_in_the_dlq_then_redelivery_succeeds(client, hooks, receivers):
    receiver = receivers(default=500)
    register_operator("op-001", receiver.url)
    delivery_id = enqueue(operator_case(client))
    hooks.drain()
    assert len(receiver.requests) == settings.WEBHOOK_MAX_ATTEMPTS == 6
    assert hooks.dead_letters() == [{"operator_id": "op-001", "delivery_id": delivery_id}]
    assert hooks.visible() == 0
    listed = failed_list()
    assert [d["delivery_id"] for d in listed["deliveries"]] == [delivery_id] and listed["next_cursor"] is None
    failed = listed["deliveries"][0]
    assert (failed["status"], failed["status_label"], failed["attempts"]) == ("failed", "推送失败", 6)
    assert failed["last_error"] == "HTTP 500" and failed["last_status_code"] == 500 and failed["failed_at"]
    assert failed["event"] == json.loads(receiver.requests[0]["body"])

    receiver.default = 200                      # the operator fixed its endpoint
    assert redeliver(delivery_id) == {"delivery_id": delivery_id, "status": "pending", "status_label": "推送中"}
    assert failed_list()["deliveries"] == []    # out of the list while it is retried
    with pytest.raises(Conflict):               # not twice
        redeliver(delivery_id)
    hooks.drain()
    assert len(receiver.requests) == 7 and receiver.requests[-1]["verified"]
    assert {r["headers"]["X-Bianmin-Delivery"] for r in receiver.requests} == {delivery_id}
    assert len({r["body"] for r in receiver.requests}) == 1
    record = container.webhook_deliveries().get("op-001", delivery_id)
    assert (record["status"], record["attempts"], record["redeliveries"]) == ("delivered", 7, 1)
    assert failed_list()["deliveries"] == []
    with pytest.raises(Conflict) as caught:     # delivered: nothing to redeliver
        redeliver(delivery_id)
    assert caught.value.code == "DELIVERY_NOT_FAILED"
    audit = [i for i in table_items(settings.AUDIT_TABLE) if i["action"]["S"] == "webhook.redeliver"]
    assert len(audit) == 1 and audit[0]["pk"]["S"] == "SUBJECT#op_op-001"
    assert audit[0]["origin"]["S"].count("203.0.113.9") == 1


def test_case_without_an_operator_publishes_nothing(client, hooks, auth):
    case = container.cases().get_case(client.http.post(
        "/v1/cases", headers=auth.villager(),
        body=json.dumps(valid_submission(), ensure_ascii=False)).json_body["case_no"])
    assert case.get("operator_id") is None
    assert enqueue(case) is None
    assert hooks.visible() == 0
    assert not [i for i in table_items(settings.CASES_TABLE) if i["pk"]["S"].startswith("DELIVERY#")]


# --- idempotency ---------------------------------------------------------------------------------

def test_a_delivered_delivery_is_not_sent_again(client, hooks, receivers):
    receiver = receivers()
    register_operator("op-001", receiver.url)
    case = operator_case(client)
    delivery_id = enqueue(case)
    hooks.drain()
    hooks.send({"operator_id": "op-001", "delivery_id": delivery_id})   # a duplicate message
    assert enqueue(case) == delivery_id                                  # the same state change again
    hooks.drain()
    assert len(receiver.requests) == 1
    assert hooks.responses[-1] == {"batchItemFailures": []}


def test_two_messages_of_one_delivery_in_one_batch_make_one_attempt(client, hooks, receivers):
    """The case event that queued it arrived twice while it was pending: two messages, one POST."""
    receiver = receivers()
    register_operator("op-001", receiver.url)
    case = operator_case(client)
    delivery_id = enqueue(case)
    assert enqueue(case) == delivery_id and hooks.visible() == 2
    hooks.drain()
    assert len(hooks.responses) == 1 and len(receiver.requests) == 1
    assert container.webhook_deliveries().get("op-001", delivery_id)["attempts"] == 1


def test_each_state_change_is_its_own_delivery(client, hooks, receivers):
    receiver = receivers()
    register_operator("op-001", receiver.url)
    case = operator_case(client)
    first, second = enqueue(case, "case.created"), enqueue(case, "case.classified")
    third = enqueue({**case, "version": case["version"] + 1, "status": "accepted"}, "case.accepted")
    hooks.drain()
    assert len({first, second, third}) == 3
    assert sorted(r["headers"]["X-Bianmin-Event"] for r in receiver.requests) == [
        "case.accepted", "case.classified", "case.created"]


def test_a_pending_delivery_enqueued_again_is_published_again(client, hooks, receivers):
    """E.g. the first publish failed after the record was written, and the caller retried."""
    receiver = receivers()
    register_operator("op-001", receiver.url)
    case = operator_case(client)
    delivery_id = enqueue(case)
    hooks.sqs.purge_queue(QueueUrl=hooks.url)    # the message never made it
    assert enqueue(case) == delivery_id
    hooks.drain()
    assert len(receiver.requests) == 1


# --- consumer details ----------------------------------------------------------------------------

def test_failed_attempt_waits_its_backoff_through_the_visibility_timeout(client, hooks, receivers, monkeypatch):
    monkeypatch.setattr(settings, "WEBHOOK_BACKOFF_SECONDS", 1)
    receiver = receivers(statuses=[500])
    register_operator("op-001", receiver.url)
    enqueue(operator_case(client))
    assert hooks.invoke_once()
    assert not hooks.invoke_once()               # hidden for 1 s (not the queue's 120 s)
    time.sleep(1.2)
    assert hooks.invoke_once()
    assert len(receiver.requests) == 2 and hooks.responses[-1] == {"batchItemFailures": []}


def test_operator_without_a_webhook_url_counts_failed_attempts(client, hooks):
    register_operator("op-001", None)
    delivery_id = enqueue(operator_case(client))
    hooks.drain()
    record = container.webhook_deliveries().get("op-001", delivery_id)
    assert (record["status"], record["attempts"]) == ("failed", 6)
    assert record["last_error"] == "no webhook URL or secret configured" and record["last_status_code"] is None


def test_redirects_are_not_followed(client, hooks, receivers):
    receiver = receivers(statuses=[302])
    register_operator("op-001", receiver.url)
    delivery_id = enqueue(operator_case(client))
    assert hooks.invoke_once()
    assert [r["path"] for r in receiver.requests] == ["/bianmin/hook"]   # /elsewhere never asked
    assert container.webhook_deliveries().get("op-001", delivery_id)["last_error"] == "HTTP 302"


def test_a_batch_sends_side_by_side(client, hooks, receivers):
    """Ten slow receivers in one batch are called side by side, not one after another (a slow
    operator must not hold up the others). Counted, not timed: a wall-clock bound failed on a
    loaded CI machine while the sends did overlap."""
    in_flight = InFlight()
    slow = [receivers(delay=0.5, in_flight=in_flight) for _ in range(10)]
    for n, receiver in enumerate(slow):
        register_operator(f"op-{n:03d}", receiver.url)
        enqueue(operator_case(client, operator_id=f"op-{n:03d}"))
    assert hooks.invoke_once()
    assert in_flight.peak >= 2, in_flight.peak   # one after another would never exceed 1
    assert hooks.responses == [{"batchItemFailures": []}] and all(len(r.requests) == 1 for r in slow)


@pytest.mark.parametrize("body", ["not json", {"operator_id": "op-001"},
                                  {"operator_id": "op-001", "delivery_id": "whd_" + "a" * 32}])
def test_malformed_or_unknown_messages_are_dropped_not_retried(client, hooks, body):
    hooks.send(body)
    assert hooks.drain() == [{"batchItemFailures": []}]


def test_a_slow_receiver_is_cut_off_by_the_timeouts(aws, receivers, monkeypatch):
    monkeypatch.setattr(settings, "WEBHOOK_READ_TIMEOUT", 0.3)
    receiver = receivers(delay=2.0)
    started = time.monotonic()
    result = UrllibWebhookSender(local=True).send(receiver.url, b"{}", {"Content-Type": "application/json"})
    assert result.error == "network: timed out" and result.status is None
    assert time.monotonic() - started < 1.5


def test_a_trickling_receiver_is_cut_off_by_the_total_deadline(aws, monkeypatch):
    """Each byte arrives within the read timeout; the whole answer would take 5 s."""
    import socket
    monkeypatch.setattr(settings, "WEBHOOK_READ_TIMEOUT", 1)
    monkeypatch.setattr(settings, "WEBHOOK_TOTAL_TIMEOUT", 1)
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle():
        conn, _ = listener.accept()
        conn.recv(65536)
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"." * 50:
            if stop.wait(0.1):
                break
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                break
        conn.close()
    threading.Thread(target=trickle, daemon=True).start()
    started = time.monotonic()
    result = UrllibWebhookSender(local=True).send(f"http://127.0.0.1:{listener.getsockname()[1]}/", b"{}", {})
    stop.set()
    listener.close()
    assert result.error == "network: timed out"
    assert time.monotonic() - started < 2


# --- SSRF guard on the real sender ---------------------------------------------------------------

def test_outside_local_loopback_and_plain_http_are_refused_without_connecting(aws, receivers):
    receiver = receivers()
    sender = UrllibWebhookSender(local=False)
    port = receiver.server.server_port
    for url, reason in ((receiver.url, "scheme"), (f"https://127.0.0.1:{port}/", "loopback"),
                        (f"https://localhost:{port}/", "loopback"), (f"https://[::1]:{port}/", "loopback"),
                        (f"https://2130706433:{port}/", "loopback")):   # 127.0.0.1 written as one number
        assert sender.send(url, b"{}", {}).error == f"refused: {reason}", url
    assert receiver.requests == []


def test_a_name_resolving_to_a_private_address_is_refused():
    def resolver(host, port):
        return {"hooks.example.com": ["93.184.216.34", "10.0.0.7"], "meta.example.com": ["169.254.169.254"]}[host]
    sender = UrllibWebhookSender(local=False, resolver=resolver)
    assert sender.send("https://hooks.example.com/h", b"{}", {}).error == "refused: private"
    assert sender.send("https://meta.example.com/h", b"{}", {}).error == "refused: link-local"


def test_connection_goes_to_the_checked_address_not_a_second_lookup(aws, receivers):
    """The host name resolves once; the socket connects to that address (no DNS rebinding)."""
    receiver = receivers()
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])   # a second lookup would get a private address
    sender = UrllibWebhookSender(local=True, resolver=lambda host, port: next(answers))
    url = f"http://localhost:{receiver.server.server_port}/bianmin/hook"
    assert sender.send(url, b"{}", {"Content-Type": "application/json"}).ok
    assert receiver.requests[0]["headers"]["Host"] == f"localhost:{receiver.server.server_port}"


# --- the operator's list and redelivery ----------------------------------------------------------

def _failed_delivery(n, operator_id="op-001"):
    import datetime as dt
    repo = container.webhook_deliveries()
    at = dt.datetime(2026, 11, 30, 8, 0, n, tzinfo=dt.timezone.utc)
    delivery_id = f"whd_{n:032x}"
    repo.create({"delivery_id": delivery_id, "operator_id": operator_id, "case_no": f"20261130160000000-431224100-000{n}",
                 "event_type": "case.created", "body": json.dumps({"delivery_id": delivery_id}), "created_at": at})
    repo.record_failure(operator_id, delivery_id, at=at, error="HTTP 500", status_code=500, final=True)
    return delivery_id


def test_failed_list_pages_newest_first_with_an_opaque_cursor(aws):
    ids = [_failed_delivery(n) for n in range(1, 4)]
    _failed_delivery(9, operator_id="op-002")
    first = failed_list(limit=2)
    assert [d["delivery_id"] for d in first["deliveries"]] == [ids[2], ids[1]]
    second = failed_list(limit=2, cursor=first["next_cursor"])
    assert [d["delivery_id"] for d in second["deliveries"]] == [ids[0]] and second["next_cursor"] is None
    for cursor in ("garbage", "e30", first["next_cursor"] + "x"):
        with pytest.raises(ValidationFailed):
            failed_list(cursor=cursor)
    with pytest.raises(ValidationFailed):        # another operator's cursor
        failed_list("op-002", cursor=first["next_cursor"])
    assert [d["delivery_id"] for d in failed_list("op-002")["deliveries"]] == [f"whd_{9:032x}"]


def test_redeliver_only_own_failed_deliveries(aws):
    mine = _failed_delivery(1)
    theirs = _failed_delivery(2, operator_id="op-002")
    for delivery_id in (theirs, "whd_" + "f" * 32, "../etc", ""):
        with pytest.raises(NotFound):
            redeliver(delivery_id)
    with pytest.raises(Forbidden):
        webhooks.redeliver(Principal(subject="u_1", roles=frozenset({VILLAGER})), ORIGIN, mine,
                           deliveries=container.webhook_deliveries(), publisher=container.webhook_publisher(),
                           log=container.audit_log())
    with pytest.raises(Forbidden):
        webhooks.failed_deliveries(Principal(subject="u_1", roles=frozenset({VILLAGER})),
                                   deliveries=container.webhook_deliveries())
    assert redeliver(mine)["status"] == "pending"
    assert [d["delivery_id"] for d in failed_list("op-002")["deliveries"]] == [theirs]


def test_a_redelivery_that_cannot_be_queued_stays_failed(aws, monkeypatch):
    mine = _failed_delivery(1)

    class Down:
        def publish(self, message, attributes=None):
            raise ConnectionError("sqs unreachable")
    with pytest.raises(ConnectionError):
        webhooks.redeliver(operator(), ORIGIN, mine, deliveries=container.webhook_deliveries(), publisher=Down(),
                           log=container.audit_log())
    assert [d["delivery_id"] for d in failed_list()["deliveries"]] == [mine]


def test_doc_examples_are_valid_python():
    blocks = _doc_examples()
    assert len(blocks) == 2
    for block in blocks:
        compile(block, "docs/webhooks.md", "exec")
    now = 1_800_000_000
    body = b'{"delivery_id":"whd_x"}'
    from chalicelib.domain.webhooks import signature
    assert verify_signature(SECRET, signature(SECRET, now, body), body, now=now + 299)
    assert not verify_signature(SECRET, signature(SECRET, now, body), body, now=now + 301)
    assert not verify_signature(SECRET, signature(OTHER_SECRET, now, body), body, now=now)
    assert not verify_signature(SECRET, signature(SECRET, now, body), body + b" ", now=now)
    assert not verify_signature(SECRET, "garbage", body, now=now)


def test_operator_routes_are_declared_signed_operator_only():
    import app  # noqa: F401  (registers the blueprints)
    from chalicelib.api import security
    assert security.ROUTES[("GET", "/v1/operator/webhooks/failed")] == security.OPERATOR
    assert security.ROUTES[("POST", "/v1/operator/webhooks/{delivery_id}/redeliver")] == security.OPERATOR


# --- TLS through the pinned connection -----------------------------------------------------------

def _certificate(tmp_path, names):
    """A self-signed certificate for DNS ``names`` (cert and key PEM paths)."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path, receivers):
    import ssl
    cert, key = _certificate(tmp_path, ["hooks.station.example"])
    receiver = receivers()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    receiver.server.socket = server_context.wrap_socket(receiver.server.socket, server_side=True)
    trusted = ssl.create_default_context(cafile=str(cert))
    return receiver, trusted


def test_https_goes_to_the_checked_address_and_verifies_the_url_host(tls_receiver):
    """The URL's host name resolves (here: to loopback, allowed in local); TLS then checks the
    certificate against that host name, not against the address connected to."""
    receiver, trusted = tls_receiver
    port = receiver.server.server_port
    sender = UrllibWebhookSender(local=True, context=trusted, resolver=lambda host, p: ["127.0.0.1"])
    result = sender.send(f"https://hooks.station.example:{port}/bianmin/hook", b"{}",
                         {"Content-Type": "application/json"})
    assert result.ok and result.status == 200
    assert receiver.requests[0]["headers"]["Host"] == f"hooks.station.example:{port}"
    wrong_name = UrllibWebhookSender(local=True, context=trusted, resolver=lambda host, p: ["127.0.0.1"])
    assert "CERTIFICATE_VERIFY_FAILED" in wrong_name.send(f"https://other.example:{port}/", b"{}", {}).error
    untrusted = UrllibWebhookSender(local=True, resolver=lambda host, p: ["127.0.0.1"])
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.send(f"https://hooks.station.example:{port}/", b"{}", {}).error
    assert len(receiver.requests) == 1


def test_an_operator_hears_of_its_case_being_filed_and_classified(client, hooks, receivers, queues):
    # GIVEN an operator registered by an administrator, with its webhook on 127.0.0.1
    from tests.integration.test_operator_api import Operator, register
    receiver = receivers()
    creds = register(client, "op-hooks", webhook_url=receiver.url)
    receiver.secret = creds["webhook_secret"]
    # WHEN it files a signed case and the intake consumer classifies it
    case_no = Operator(client, creds).file().json_body["case_no"]
    assert hooks.visible() == 0                  # nothing is queued for it but the case event
    queues.deliver(settings.CASE_EVENTS_QUEUE, "on_case_event")
    hooks.drain()
    queues.deliver(settings.CASE_INTAKE_QUEUE, "on_case_intake")
    queues.deliver(settings.CASE_EVENTS_QUEUE, "on_case_event")
    hooks.drain()
    # THEN it was told twice, signed, without personal data
    events = receiver.events()
    assert [(e["event_type"], e["case_no"]) for e in events] == [("case.created", case_no), ("case.classified", case_no)]
    assert all(r["verified"] for r in receiver.requests)
    assert "431224195001011234" not in json.dumps(events) and "张三" not in json.dumps(events, ensure_ascii=False)
