"""Operator webhooks on the local stack (`python -m infra.local.runner`): an operator's case
reaches its webhook through the case events queue (intake, case events and webhook pollers of
the runner); the runner's poller feeds bianmin-webhooks to on_webhook_delivery, honours its
visibility changes and batch item failures, and moves a message that failed maxReceiveCount
times to bianmin-webhooks-dlq."""
import json
import os
import subprocess
import sys
import time

import boto3
import pytest
import requests

from chalicelib import settings
from tests.conftest import ROOT, valid_submission
from tests.e2e.test_local_stack import Stack
from tests.integration.test_webhooks import SECRET, Receiver

pytestmark = pytest.mark.e2e

ENQUEUE = """
import json, sys
from chalicelib import container
from chalicelib.usecases import webhooks
case = json.loads(sys.argv[1])
print(webhooks.enqueue_case_event(case, "case.created", publisher=container.webhook_publisher(),
                                  deliveries=container.webhook_deliveries()))
"""


@pytest.fixture
def stack(tmp_path, monkeypatch):
    monkeypatch.setenv("BIANMIN_WEBHOOK_BACKOFF_SECONDS", "0")
    stack = Stack(tmp_path)
    stack.start()
    yield stack
    if stack.proc.poll() is None:
        stack.proc.kill()


def aws(stack, service):
    return boto3.client(service, region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{stack.moto_port}",
                        aws_access_key_id="local", aws_secret_access_key="local")


def enqueue(stack, operator_id, case_no):
    """Run the product's enqueue_case_event against the stack (as the case events consumer does)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    env.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{stack.moto_port}", AWS_ACCESS_KEY_ID="local",
               AWS_SECRET_ACCESS_KEY="local", AWS_DEFAULT_REGION="us-east-1")
    case = {"case_no": case_no, "status": "submitted", "township_code": "431224100", "item_code": "HH-MZ-001",
            "submitted_at": "2026-11-30T06:30:05.123+00:00", "operator_id": operator_id, "station_id": "st-001",
            "version": 1}
    out = subprocess.run([sys.executable, "-c", ENQUEUE, json.dumps(case)], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True, timeout=60)
    return out.stdout.strip().splitlines()[-1]


def wait(predicate, stack, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError("timed out:\n" + stack.log.read_text())


def test_runner_retries_a_flaky_receiver_and_dead_letters_a_broken_one(stack):
    flaky, broken = Receiver(statuses=[500, 502]), Receiver(default=500)
    try:
        ddb, sm = aws(stack, "dynamodb"), aws(stack, "secretsmanager")
        for operator_id, receiver in (("op-flaky", flaky), ("op-broken", broken)):
            ddb.put_item(TableName=settings.IDENTITY_TABLE, Item={  # as adapters.operator_repo stores it
                "pk": {"S": f"OPERATOR#{operator_id}"}, "sk": {"S": "OPERATOR"}, "operator_id": {"S": operator_id},
                "name": {"S": "测试运营方"}, "webhook_url": {"S": receiver.url}, "status": {"S": "active"},
                "rate_limit_per_minute": {"N": "120"}, "created_at": {"S": "2026-11-30T06:00:00.000+00:00"},
                "created_by": {"S": "staff_admin"}, "stations": {"L": [{"M": {
                    "station_id": {"S": "st-001"}, "township_code": {"S": "431224100"},
                    "village_code": {"S": "431224100201"}}}]}})
            sm.create_secret(Name=settings.OPERATOR_WEBHOOK_SECRET_PREFIX + operator_id, SecretString=SECRET)
        flaky_id = enqueue(stack, "op-flaky", "20261130143005123-431224100-FLKY")
        broken_id = enqueue(stack, "op-broken", "20261130143005123-431224100-BRKN")

        sqs = aws(stack, "sqs")
        dlq = sqs.get_queue_url(QueueName=settings.WEBHOOK_DLQ)["QueueUrl"]

        def dead_letters():
            return int(sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
                       ["Attributes"]["ApproximateNumberOfMessages"])
        wait(lambda: len(flaky.requests) >= 3 and dead_letters() == 1, stack)
        time.sleep(1.5)  # nothing more arrives
        assert len(flaky.requests) == 3 and all(r["verified"] for r in flaky.requests)
        assert {r["headers"]["X-Bianmin-Delivery"] for r in flaky.requests} == {flaky_id}
        assert len({e["delivery_id"] for e in flaky.events()}) == 1
        assert len(broken.requests) == settings.WEBHOOK_MAX_ATTEMPTS
        assert {r["headers"]["X-Bianmin-Delivery"] for r in broken.requests} == {broken_id}

        def record(operator_id, delivery_id):
            return ddb.get_item(TableName=settings.CASES_TABLE, ConsistentRead=True, Key={
                "pk": {"S": f"DELIVERY#{operator_id}"}, "sk": {"S": delivery_id}})["Item"]
        assert record("op-flaky", flaky_id)["status"]["S"] == "delivered"
        assert "failed_operator" not in record("op-flaky", flaky_id)
        assert record("op-broken", broken_id)["status"]["S"] == "failed"
        failed = ddb.query(TableName=settings.CASES_TABLE, IndexName="failed_deliveries",
                           KeyConditionExpression="failed_operator = :o",
                           ExpressionAttributeValues={":o": {"S": "op-broken"}})["Items"]
        assert [i["sk"]["S"] for i in failed] == [broken_id]
    finally:
        flaky.close()
        broken.close()


def test_an_operator_case_reaches_the_webhook_through_the_case_events_queue(stack):
    from chalicelib.domain import signing
    receiver = Receiver()
    try:
        password = (stack.data_dir / "admin-password.txt").read_text().strip()
        admin = requests.post(f"{stack.base}/v1/auth/staff-login", json={"username": "admin", "password": password},
                              timeout=10).json()["access_token"]
        registered = requests.post(f"{stack.base}/v1/admin/operators", timeout=10, json={
            "operator_id": "op-events", "name": "端到端运营方", "webhook_url": receiver.url,
            "stations": [{"station_id": "st-01", "township_code": "431224100", "village_code": "431224100201"}]},
            headers={"Authorization": f"Bearer {admin}"})
        assert registered.status_code == 201, registered.text
        receiver.secret = registered.json()["webhook_secret"]
        key = {"key_id": registered.json()["key_id"], "secret": registered.json()["key_secret"]}
        raw = json.dumps({"station_id": "st-01", "submission": valid_submission()}).encode()
        filed = requests.post(f"{stack.base}/v1/operator/cases", data=raw, timeout=10, headers={
            "Content-Type": "application/json", "Idempotency-Key": "op-events-0001",
            **signing.sign_request(**key, method="POST", path="/v1/operator/cases", body=raw)})
        assert filed.status_code == 201, filed.text
        case_no = filed.json()["case_no"]
        wait(lambda: len(receiver.requests) >= 2, stack)
        time.sleep(1.5)  # nothing more arrives
        assert sorted((e["event_type"], e["case_no"]) for e in receiver.events()) == [
            ("case.classified", case_no), ("case.created", case_no)]
        assert all(r["verified"] for r in receiver.requests)
    finally:
        receiver.close()
