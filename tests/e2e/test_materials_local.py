"""Application materials end to end over real HTTP (docs/materials.md).

1. moto's ``ThreadedMotoServer`` on 127.0.0.1 with the resources made by
   ``infra.local.stack.ensure_resources`` (so the S3 -> SQS notification is the one the local
   stack configures); the app in ``chalice.test.Client`` talking to that server; real bytes
   POSTed with ``requests`` to the presigned form; the message S3 put on
   bianmin-material-uploads received from the real queue and handed to ``on_material_upload``
   in a Lambda-shaped event; the material downloaded through its presigned GET.
2. The local runner (``make run``): the same upload with nothing but HTTP, and the runner's
   own poller of bianmin-material-uploads (found among the app's SQS handlers) attaches it.
"""
from __future__ import annotations

import hashlib
import json
import time

import boto3
import pytest
import requests

from tests.conftest import SEED, Auth, Queues, valid_submission
from tests.e2e.test_local_stack import free_port, stack  # noqa: F401,F811  (the runner fixture)
from tests.integration.test_materials import EXE, pdf_bytes

pytestmark = pytest.mark.e2e


@pytest.fixture
def moto_server(monkeypatch):
    """A moto server on a free port of 127.0.0.1 that the app's boto3 clients and PynamoDB
    models use (``AWS_ENDPOINT_URL``; the models read their host at import, so it is set on
    them here and their cached connections dropped)."""
    from moto.server import ThreadedMotoServer
    from pynamodb.models import Model

    from chalicelib import container
    from chalicelib.adapters import models, operator_repo
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    classes = [c for module in (models, operator_repo) for c in vars(module).values()
               if isinstance(c, type) and issubclass(c, Model) and c is not Model and hasattr(c.Meta, "table_name")]
    for cls in classes:
        monkeypatch.setattr(cls.Meta, "host", endpoint)
        cls._connection = None
    container.reset()
    try:
        yield endpoint
    finally:
        for cls in classes:
            cls._connection = None
        container.reset()
        server.stop()


@pytest.fixture
def http_client(moto_server):
    from chalice.test import Client

    from app import app
    from chalicelib import cli
    from infra.local.stack import ensure_resources
    ensure_resources(boto3.session.Session(region_name="us-east-1"))
    list(cli.seed(SEED))
    with Client(app) as client:
        yield client


def test_upload_check_and_download_over_real_http(http_client, moto_server):
    from chalicelib import settings
    auth, queues = Auth(http_client), Queues(http_client)
    assert queues.sqs.meta.endpoint_url == moto_server  # the real queue on the server
    queues.take_all(settings.MATERIAL_UPLOADS_QUEUE)  # S3's s3:TestEvent
    villager = auth.villager()
    filed = http_client.http.post("/v1/cases", headers=villager,
                                  body=json.dumps(valid_submission(), ensure_ascii=False))
    case_no = filed.json_body["case_no"]

    answered = http_client.http.post(f"/v1/cases/{case_no}/materials/1/slots", headers=villager,
                                     body=json.dumps({"content_type": "application/pdf"}))
    assert answered.status_code == 201, answered.body
    slot = answered.json_body
    assert slot["upload"]["url"].startswith(moto_server)
    data = pdf_bytes()
    posted = requests.post(slot["upload"]["url"], data=slot["upload"]["fields"],
                           files={"file": ("申请书.pdf", data, "application/pdf")}, timeout=10)
    assert posted.status_code in (200, 201, 204), posted.text

    # what S3 put on the queue, received from it and handed to the handler like Lambda would
    [result] = queues.deliver(settings.MATERIAL_UPLOADS_QUEUE, "on_material_upload")
    assert result == {"batchItemFailures": []}
    assert queues.receive(settings.MATERIAL_UPLOADS_QUEUE) == []
    listed = http_client.http.get(f"/v1/cases/{case_no}/materials", headers=villager).json_body
    material = listed["materials"][0]
    assert (material["status"], material["trust_level"]) == ("uploaded", "C")
    assert material["versions"][0]["sha256"] == hashlib.sha256(data).hexdigest()

    link = http_client.http.get(f"/v1/cases/{case_no}/materials/1", headers=villager).json_body
    assert link["url"].startswith(moto_server)
    downloaded = requests.get(link["url"], timeout=10)
    assert downloaded.status_code == 200 and downloaded.content == data

    # a Windows program named .pdf, sent as application/pdf, through a second slot: refused
    second = http_client.http.post(f"/v1/cases/{case_no}/materials/1/slots", headers=villager,
                                   body=json.dumps({"content_type": "application/pdf"})).json_body
    requests.post(second["upload"]["url"], data=second["upload"]["fields"],
                  files={"file": ("申请书.pdf", EXE, "application/pdf")}, timeout=10)
    queues.deliver(settings.MATERIAL_UPLOADS_QUEUE, "on_material_upload")
    material = http_client.http.get(f"/v1/cases/{case_no}/materials", headers=villager).json_body["materials"][0]
    assert material["last_rejection"]["code"] == "FILE_TYPE_NOT_ALLOWED"
    assert (material["current_version"], material["status"]) == (1, "uploaded")  # version 1 stands
    assert requests.get(http_client.http.get(f"/v1/cases/{case_no}/materials/1", headers=villager)
                        .json_body["url"], timeout=10).content == data


def test_the_local_runner_attaches_an_upload_by_itself(stack):  # noqa: F811
    headers = stack.villager("openid-materials")
    filed = requests.post(f"{stack.base}/v1/cases", headers=headers, json=valid_submission(), timeout=10)
    case_no = filed.json()["case_no"]
    slot = requests.post(f"{stack.base}/v1/cases/{case_no}/materials/2/slots", headers=headers,
                         json={"content_type": "application/pdf"}, timeout=10).json()
    data = pdf_bytes("居民身份证")
    posted = requests.post(slot["upload"]["url"], data=slot["upload"]["fields"],
                           files={"file": ("id.pdf", data, "application/pdf")}, timeout=10)
    assert posted.status_code in (200, 201, 204), posted.text
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        listed = requests.get(f"{stack.base}/v1/cases/{case_no}/materials", headers=headers, timeout=5).json()
        material = listed["materials"][1]
        if material["status"] != "missing":
            break
        time.sleep(0.3)
    assert material["status"] == "uploaded", stack.log.read_text()[-3000:]
    link = requests.get(f"{stack.base}/v1/cases/{case_no}/materials/2", headers=headers, timeout=5).json()
    assert requests.get(link["url"], timeout=10).content == data
    assert "bianmin-material-uploads -> on_material_upload" in stack.log.read_text()
