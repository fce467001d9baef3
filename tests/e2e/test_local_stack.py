"""End to end on the local stack: `python -m infra.local.runner` (moto server + HTTP API +
queue pollers + schedules) driven over real HTTP, stopped and started again."""
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import time

import boto3
import pytest
import requests

from tests.conftest import ROOT, valid_submission

pytestmark = pytest.mark.e2e


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.port, self.moto_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.log = data_dir / "runner.log"

    def start(self):
        offset = self.log.stat().st_size if self.log.exists() else 0
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "infra.local.runner", "--port", str(self.port), "--moto-port",
             str(self.moto_port), "--data-dir", str(self.data_dir)],
            cwd=ROOT, env=env, stdout=self.log.open("a"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            if b"ready." in self.log.read_bytes()[offset:]:
                return
            time.sleep(0.2)
        raise AssertionError("local stack did not start:\n" + self.log.read_text())

    def stop(self):
        self.proc.send_signal(signal.SIGINT)  # what Ctrl-C does
        assert self.proc.wait(timeout=30) == 0, self.log.read_text()

    def aws(self, service):
        return boto3.client(service, region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{self.moto_port}",
                            aws_access_key_id="local", aws_secret_access_key="local")

    def villager(self, openid="openid-e2e"):
        """Log in like the mini-program (a wx.login() code for the local stand-in) and bind the
        applicant's ID; returns request headers."""
        self.headers = self.login_as(openid, valid_submission()["applicant"])
        return self.headers

    def login_as(self, openid, person):
        """Headers of ``openid`` logged in over HTTP and bound to ``person`` (name, id_number)."""
        from chalicelib.adapters.wechat import local_code_with_secret
        secret = json.loads(self.aws("secretsmanager").get_secret_value(SecretId="bianmin/wechat")["SecretString"])
        code = local_code_with_secret(secret["secret"], openid)
        tokens = requests.post(f"{self.base}/v1/auth/wx-login", json={"code": code}, timeout=10).json()
        bound = requests.put(f"{self.base}/v1/me/identity", json={"name": person["name"], "id_number": person["id_number"]},
                             headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=10)
        assert bound.status_code == 200, bound.text
        return {"Authorization": f"Bearer {bound.json()['access_token']}"}

    def wait_for(self, case_no, key="due_date", timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            case = requests.get(f"{self.base}/v1/cases/{case_no}", headers=self.headers, timeout=5).json()
            if case.get(key):
                return case
            time.sleep(0.3)
        raise AssertionError(f"{case_no} not classified:\n" + self.log.read_text())


@pytest.fixture
def stack(tmp_path):
    stack = Stack(tmp_path)
    stack.start()
    yield stack
    if stack.proc.poll() is None:
        stack.proc.kill()


def test_submit_classify_stop_restart(stack):
    # the catalog is served with every publicity
    services = requests.get(f"{stack.base}/v1/services?limit=100", timeout=5).json()["items"]
    assert len(services) >= 40 and all(s["publicities_complete"] for s in services)

    # without logging in, nothing about cases is reachable
    assert requests.get(f"{stack.base}/v1/cases/20261130000000000-431224100-AAAA", timeout=5).status_code == 401
    # the local administrator exists and can log in with the password the runner wrote
    password = (stack.data_dir / "admin-password.txt").read_text().strip()
    admin = requests.post(f"{stack.base}/v1/auth/staff-login", json={"username": "admin", "password": password}, timeout=10)
    assert admin.status_code == 200, admin.text

    # a villager logs in and applies; the queue consumer classifies it within seconds
    me = stack.villager()
    response = requests.post(f"{stack.base}/v1/cases", json=valid_submission(),
                             headers={**me, "Idempotency-Key": "e2e-first-case-01"}, timeout=5)
    assert response.status_code == 201, response.text
    case_no = response.json()["case_no"]
    started = time.monotonic()
    classified = stack.wait_for(case_no)
    assert classified["case_classes"] == ["promised"]
    assert time.monotonic() - started < 15

    # a double tap over real HTTP, concurrently, yields the same case (concurrency is tested
    # here, against the serialised moto server: in-process mock_aws is not thread-safe for
    # transactions, a failed one restores a stale copy of the table over a concurrent commit)
    def tap(_):
        return requests.post(f"{stack.base}/v1/cases", json=valid_submission(item_code="HH-MZ-003"),
                             headers={**me, "Idempotency-Key": "e2e-double-tap-02"}, timeout=10).json()["case_no"]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        tapped = set(pool.map(tap, range(4)))
    assert len(tapped) == 1

    # the administrator registers a station operator, which files a signed request over HTTP
    # and signed messages over SQS
    from chalicelib.domain import signing
    registered = requests.post(f"{stack.base}/v1/admin/operators", timeout=10, json={
        "operator_id": "op-e2e", "name": "端到端运营方", "webhook_url": "http://127.0.0.1:9/hooks",
        "stations": [{"station_id": "st-01", "township_code": "431224100", "village_code": "431224100201"}]},
        headers={"Authorization": f"Bearer {admin.json()['access_token']}"})
    assert registered.status_code == 201, registered.text
    key = {"key_id": registered.json()["key_id"], "secret": registered.json()["key_secret"]}
    raw = json.dumps({"station_id": "st-01", "submission": valid_submission(item_code="HH-SB-002")}).encode()
    filed = requests.post(f"{stack.base}/v1/operator/cases", data=raw, timeout=10, headers={
        "Content-Type": "application/json", "Idempotency-Key": "op-e2e-http-0001",
        **signing.sign_request(**key, method="POST", path="/v1/operator/cases", body=raw)})
    assert filed.status_code == 201, filed.text
    forged = requests.post(f"{stack.base}/v1/operator/cases", data=raw, timeout=10, headers={
        "Content-Type": "application/json", "Idempotency-Key": "op-e2e-http-0002",
        **signing.sign_request(key_id=key["key_id"], secret="x" * 40, method="POST", path="/v1/operator/cases",
                               body=raw)})
    assert forged.status_code == 401 and forged.json()["code"] == "SIGNATURE_MISMATCH"
    sqs = stack.aws("sqs")
    url = sqs.get_queue_url(QueueName="bianmin-operator-intake")["QueueUrl"]

    def send_signed(body):
        attributes = signing.sign_message(**key, queue="bianmin-operator-intake", body=body)
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes={
            k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()})
    send_signed(json.dumps({"operator_id": "op-e2e", "station_id": "st-01", "idempotency_key": "op-e2e-0000001",
                            "submission": valid_submission(item_code="HH-SB-001")}, ensure_ascii=False))
    dlq = sqs.get_queue_url(QueueName="bianmin-operator-intake-dlq")["QueueUrl"]
    send_signed("{broken")
    deadline = time.monotonic() + 15
    dead = []
    while time.monotonic() < deadline and not dead:
        dead = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1, MessageAttributeNames=["All"]).get("Messages", [])
    assert dead and dead[0]["Body"] == "{broken"
    assert "BODY_NOT_JSON" in dead[0]["MessageAttributes"]["error_details"]["StringValue"]

    # a burst of 24 concurrent submissions, half sharing keys in pairs: every answer is a case
    # that still exists, with the same content, after a restart
    def submit(i):
        headers = {**me, "Idempotency-Key": f"e2e-burst-{i // 2:04d}"} if i % 4 < 2 else me
        r = requests.post(f"{stack.base}/v1/cases", json=valid_submission(item_code="HH-MZ-002"),
                          headers=headers, timeout=30)
        return i, r.status_code, r.json().get("case_no")
    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        burst = list(pool.map(submit, range(24)))
    assert all(status in (200, 201) for _, status, _ in burst), burst
    for i, _, number in burst:
        if i % 4 < 2:
            assert number == dict((j, n) for j, _, n in burst)[i ^ 1]  # the pair shares one case
    burst_numbers = {n for _, _, n in burst}

    # personal data typed into a URL does not reach the access log in clear
    requests.get(f"{stack.base}/v1/cases/431224195001011234", headers=me, timeout=5)
    time.sleep(0.2)
    assert b"431224195001011234" not in stack.log.read_bytes()

    # stop (Ctrl-C), damage the last line of the recording as a crash would, start again
    stack.stop()
    recording = stack.data_dir / "moto-recording.jsonl"
    with recording.open("a") as f:
        f.write('{"headers": {}, "method": "POST", "url": "http://127.0.0.1/", "bo')
    stack.start()
    assert b"damaged line(s)" in stack.log.read_bytes()
    for number in burst_numbers:
        assert requests.get(f"{stack.base}/v1/cases/{number}", headers=me, timeout=5).status_code == 200, number
    again = requests.get(f"{stack.base}/v1/cases/{case_no}", headers=me, timeout=5).json()
    assert again["due_date"] == classified["due_date"]
    assert [h["step_name"] for h in again["history"]] == ["申请", "分类与时限计算"]
    replay = requests.post(f"{stack.base}/v1/cases", json=valid_submission(),
                           headers={**me, "Idempotency-Key": "e2e-first-case-01"}, timeout=5)
    assert replay.status_code == 200 and replay.json()["case_no"] == case_no
    assert "catalog: 44 items, 0 created, 0 updated, 44 unchanged" in stack.log.read_text()
    # consumed messages are not handled again after the replay
    time.sleep(2)
    assert len(again["history"]) == len(requests.get(f"{stack.base}/v1/cases/{case_no}", headers=me,
                                                     timeout=5).json()["history"])
    # the token issued before the restart still works (signing key kept), and the admin too
    assert requests.post(f"{stack.base}/v1/auth/staff-login", json={"username": "admin", "password": password},
                         timeout=10).status_code == 200
    stack.stop()
