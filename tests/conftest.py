"""Shared fixtures: moto in-process (``mock_aws``) with the resources of ``infra/resources.json``
and the seed catalog, plus helpers to drive the app's SQS handlers like Lambda would."""
from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

# The AWS stand-in must be configured before chalicelib reads its settings.
os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"})
for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "MOTO_ENABLE_RECORDING"):
    os.environ.pop(_name, None)

import boto3  # noqa: E402
import pytest  # noqa: E402
from moto import mock_aws  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "data" / "seed"
GUANGAN_CSV = ROOT / "data" / "catalog" / "guangan_items.csv"

APPLICANT = {"name": "张三", "id_number": "431224195001011234", "phone": "13812345678"}
AGENT = {"name": "李四", "id_number": "431224198002024567", "village": "示例村"}


def valid_submission(**overrides):
    body = {"item_code": "HH-MZ-001", "township_code": "431224100", "applicant": dict(APPLICANT)}
    body.update(overrides)
    return body



_LONG_FIRST = ("tests/test_package.py", "tests/e2e/")


def pytest_collection_modifyitems(items):
    """The long files (the package build with cfn-lint, the local-stack runs: about a minute
    each) first, so that with ``-n auto --dist loadfile`` they run beside the short ones instead
    of alone at the end (a stable sort: the order within each group stays)."""
    items.sort(key=lambda item: 0 if item.nodeid.startswith(_LONG_FIRST) else 1)


@contextlib.contextmanager
def seeded_client():
    """moto with every resource, the seed catalog and a ``chalice.test.Client`` of the app, for
    a module-scoped world (the ``client`` fixture below is the per-test one)."""
    from chalice.test import Client

    from chalicelib import cli, container
    from infra.local.stack import ensure_resources
    with mock_aws():
        container.reset()
        ensure_resources(boto3.session.Session(region_name="us-east-1"))
        seed_catalog()
        from app import app
        with Client(app) as client:
            yield client
        container.reset()


@pytest.fixture
def aws():
    """moto with every table, index, queue and bucket of infra/resources.json."""
    from chalicelib import container
    from infra.local.stack import ensure_resources
    with mock_aws():
        container.reset()
        ensure_resources(boto3.session.Session(region_name="us-east-1"))
        yield
        container.reset()


_SEEDED_ROWS: list = []


def seed_catalog():
    """Import the seed townships and catalog with the admin code (``cli.seed``) the first time in
    this process; later, write the catalog rows that import left (and nothing else: its
    publicity messages were sent and their markers cleared) back with BatchWriteItem. The
    import costs about 1.3 s on moto (township transactions, 88 publicity messages) and runs
    before most tests; its own behaviour is tested where it is the subject (test_catalog*,
    test_publicity, the local-stack tests)."""
    from chalicelib import cli, settings
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    if not _SEEDED_ROWS:
        list(cli.seed(SEED))
        _SEEDED_ROWS.extend(table_items(settings.CATALOG_TABLE))
        sqs = boto3.client("sqs", region_name="us-east-1")
        sqs.purge_queue(QueueUrl=sqs.get_queue_url(QueueName=settings.PUBLICITY_QUEUE)["QueueUrl"])
        return
    for start in range(0, len(_SEEDED_ROWS), 25):
        requests = [{"PutRequest": {"Item": row}} for row in _SEEDED_ROWS[start:start + 25]]
        while requests:
            left = ddb.batch_write_item(RequestItems={settings.CATALOG_TABLE: requests})
            requests = left.get("UnprocessedItems", {}).get(settings.CATALOG_TABLE, [])


@pytest.fixture
def seeded(aws):
    """The local stack with the seed townships and catalog imported by the admin code
    (:func:`seed_catalog`)."""
    seed_catalog()


@pytest.fixture
def client(seeded):
    from chalice.test import Client

    from app import app
    with Client(app) as test_client:
        yield test_client


class Queues:
    """Read queues and feed their messages to the app's handlers (what Lambda's SQS event
    source mapping does in AWS and the local runner does on `make run`)."""

    def __init__(self, test_client=None):
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.client = test_client

    def url(self, name):
        return self.sqs.get_queue_url(QueueName=name)["QueueUrl"]

    def receive(self, name, max_messages=10):
        return self.sqs.receive_message(QueueUrl=self.url(name), MaxNumberOfMessages=max_messages,
                                        WaitTimeSeconds=0, MessageAttributeNames=["All"],
                                        AttributeNames=["All"]).get("Messages", [])

    def take_all(self, name):
        """Every message currently visible, with its attributes (and delete them)."""
        out = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.url(name), MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                             MessageAttributeNames=["All"]).get("Messages", [])
            if not batch:
                return out
            for m in batch:
                out.append(m)
                self.sqs.delete_message(QueueUrl=self.url(name), ReceiptHandle=m["ReceiptHandle"])

    def bodies(self, name):
        """Every message body currently visible, parsed (and delete them)."""
        return [json.loads(m["Body"]) for m in self.take_all(name)]

    def send(self, name, body, attributes=None):
        """Send ``body`` (a str as is, else JSON); ``attributes`` become string message attributes."""
        kwargs = {}
        if attributes:
            kwargs["MessageAttributes"] = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
        return self.sqs.send_message(QueueUrl=self.url(name), **kwargs,
                                     MessageBody=body if isinstance(body, str) else json.dumps(body, ensure_ascii=False))

    def deliver(self, name, handler_name):
        """Invoke ``handler_name`` with what is on ``name``; delete what it did not report as
        failed. Returns the handler's responses."""
        responses = []
        while True:
            batch = self.receive(name)
            if not batch:
                return responses
            event = self.client.events.generate_sqs_event(
                message_bodies=[m["Body"] for m in batch], queue_name=name)
            for record, message in zip(event["Records"], batch):  # what Lambda's event carries
                record["messageId"] = message["MessageId"]
                record["attributes"].update(message.get("Attributes", {}))
                record["messageAttributes"] = {
                    k: {"stringValue": v.get("StringValue"), "dataType": v["DataType"], "stringListValues": [],
                        "binaryListValues": []} for k, v in message.get("MessageAttributes", {}).items()}
            result = self.client.lambda_.invoke(handler_name, event).payload or {}
            responses.append(result)
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            for m in batch:
                if m["MessageId"] not in failed:
                    self.sqs.delete_message(QueueUrl=self.url(name), ReceiptHandle=m["ReceiptHandle"])
            if failed:
                return responses


@pytest.fixture
def queues(client):
    return Queues(client)


def table_items(table):
    """All items of a table (tests only: product code never scans)."""
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    items, kwargs = [], {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# --- identities -------------------------------------------------------------------------------

VILLAGE = "431224100201"          # a village of the default township 431224100
OTHER_VILLAGE = "431224101201"    # a village of the sample township 431224101
OTHER_PERSON = {"name": "王五", "id_number": "431224196003035672"}
AGENT_PERSON = {"name": "李四", "id_number": "431224198002024567"}


def bearer(token):
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


class Auth:
    """Log people in through the real endpoints (WeChat stand-in, staff passwords)."""

    def __init__(self, test_client):
        self.client = test_client
        self._admin = None

    def post(self, path, body, headers=None):
        return self.client.http.post(path, headers=headers or {"Content-Type": "application/json"},
                                     body=json.dumps(body, ensure_ascii=False))

    def wx_login(self, openid):
        from chalicelib.adapters.wechat import mint_local_code
        response = self.post("/v1/auth/wx-login", {"code": mint_local_code(openid)})
        assert response.status_code == 200, response.body
        return response.json_body

    def villager(self, openid="openid-zhangsan", person=None, verified=False):
        """Headers of a bound villager (default: the APPLICANT of ``valid_submission``);
        ``verified``: a window clerk then checked the binding against the ID card."""
        tokens = self.wx_login(openid)
        person = person or APPLICANT
        bound = self.client.http.put("/v1/me/identity", headers=bearer(tokens["access_token"]),
                                     body=json.dumps({"name": person["name"], "id_number": person["id_number"]},
                                                     ensure_ascii=False))
        assert bound.status_code == 200, bound.body
        if not verified:
            return bearer(bound.json_body["access_token"])
        self.verify(tokens["subject"], person)
        return bearer(self.wx_login(openid)["access_token"])  # a new login carries the verification

    def verify(self, subject, person):
        """A window clerk verifies ``subject``'s binding to ``person``'s ID at the window."""
        if getattr(self, "_verifier", None) is None:
            self._verifier = self.staff("clerk.verifier", ["window_clerk"], ["431224100"])
        response = self.post("/v1/identity-verifications", {"subject": subject, "name": person["name"],
                                                              "id_number": person["id_number"]}, self._verifier)
        assert response.status_code == 200, response.body
        return response.json_body

    def admin(self):
        """Headers of an administrator (account created in the identity table with the CLI's code)."""
        if self._admin is None:
            from chalicelib import cli
            cli.create_admin("admin.test", "测试管理员", "Admin-Passw0rd-Test")
            self._admin = self.staff_login("admin.test", "Admin-Passw0rd-Test")
        return self._admin

    def staff_login(self, username, password):
        response = self.post("/v1/auth/staff-login", {"username": username, "password": password})
        assert response.status_code == 200, response.body
        return bearer(response.json_body["access_token"])

    def staff(self, username, roles, township_codes=None, department=None, display_name="测试人员"):
        body = {"username": username, "display_name": display_name, "roles": roles, "password": "Very-Secret-42x"}
        if township_codes:
            body["township_codes"] = township_codes
        if department:
            body["department"] = department
        response = self.post("/v1/admin/accounts", body, self.admin())
        assert response.status_code == 201, response.body
        return self.staff_login(username, "Very-Secret-42x")

    def agent(self, openid="openid-lisi", person=None, villages=(VILLAGE,)):
        """Headers of an appointed village agent (appointed, then logged in and bound)."""
        person = person or AGENT_PERSON
        response = self.post("/v1/admin/agents", {"name": person["name"], "id_number": person["id_number"],
                                                   "township_code": villages[0][:9], "villages": list(villages)},
                             self.admin())
        assert response.status_code == 200, response.body
        return self.villager(openid, person, verified=True)

    def subject(self, headers):
        return self.client.http.get("/v1/me", headers=headers).json_body["subject"]

    def consent(self, villager_headers, agent_headers, scope="period", case_no=None, valid_until=None):
        import datetime as dt
        body = {"agent_subject": self.subject(agent_headers), "scope": scope}
        if scope == "case":
            body["case_no"] = case_no
        else:
            body["valid_until"] = valid_until or (dt.date.today() + dt.timedelta(days=30)).isoformat()
        response = self.post("/v1/consents", body, villager_headers)
        assert response.status_code == 201, response.body
        return response.json_body


@pytest.fixture
def auth(client):
    return Auth(client)
