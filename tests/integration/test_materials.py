"""Application materials (docs/materials.md) in moto, in process: slots through the app, real
bytes POSTed to the presigned form with ``requests`` (moto intercepts it), the S3 event that
lands on bianmin-material-uploads handed to ``on_material_upload`` like Lambda would, downloads
through the presigned GET.

GIVEN a villager's case of HH-MZ-001 (seven materials on its checklist) WHEN files arrive THEN
good ones are attached at trust level C with their SHA-256, bad ones are refused with a stable
code the applicant sees, and nothing is half-written."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json

import boto3
import pytest
import requests

from chalicelib import settings
from chalicelib.domain import materials as rules
from tests.conftest import OTHER_PERSON, VILLAGE, table_items, valid_submission

FIRST = "1"  # 最低生活保障申请书, by its position on the checklist


def pdf_bytes(text="最低生活保障申请书") -> bytes:
    from fpdf import FPDF
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text=f"application {hashlib.sha256(text.encode()).hexdigest()[:12]}")
    return bytes(pdf.output())


def png_bytes() -> bytes:
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200  # a Windows program


class Materials:
    """Drive the materials routes and the upload consumer for one test."""

    def __init__(self, client, queues):
        self.client, self.queues = client, queues

    def slot(self, headers, case_no, code=FIRST, content_type="application/pdf", key=None):
        extra = {"Idempotency-Key": key} if key else {}
        return self.client.http.post(f"/v1/cases/{case_no}/materials/{code}/slots", headers={**headers, **extra},
                                     body=json.dumps({"content_type": content_type}))

    def upload(self, slot, data, filename="scan.pdf", content_type=None):
        form = slot["upload"]
        response = requests.post(form["url"], data=form["fields"],
                                 files={"file": (filename, data, content_type or slot["content_type"])})
        assert response.status_code in (200, 201, 204), response.text
        return self.queues.deliver(settings.MATERIAL_UPLOADS_QUEUE, "on_material_upload")

    def listing(self, headers, case_no):
        return self.client.http.get(f"/v1/cases/{case_no}/materials", headers=headers)

    def material(self, headers, case_no, code=FIRST):
        listed = self.listing(headers, case_no)
        assert listed.status_code == 200, listed.body
        return next(m for m in listed.json_body["materials"] if code in (m["code"], str(m["index"])))

    def download(self, headers, case_no, code=FIRST, version=None):
        query = f"?version={version}" if version is not None else ""
        return self.client.http.get(f"/v1/cases/{case_no}/materials/{code}{query}", headers=headers)

    def verify(self, headers, case_no, code=FIRST, body=None):
        return self.client.http.post(f"/v1/cases/{case_no}/materials/{code}/verify", headers=headers,
                                     body=json.dumps(body or {}))


@pytest.fixture
def mats(client, queues):
    queues.take_all(settings.MATERIAL_UPLOADS_QUEUE)  # S3's s3:TestEvent from configuring the notification
    return Materials(client, queues)


@pytest.fixture
def villager(auth):
    return auth.villager()


@pytest.fixture
def case_no(client, villager):
    created = client.http.post("/v1/cases", headers=villager,
                               body=json.dumps(valid_submission(village_code=VILLAGE), ensure_ascii=False))
    assert created.status_code == 201, created.body
    return created.json_body["case_no"]


def slot_items(case_no):
    return [i for i in table_items(settings.CASES_TABLE) if i["pk"]["S"] == f"CASE#{case_no}"
            and i["sk"]["S"].startswith(("SLOT#", "MAT#"))]


def versions(key):
    s3 = boto3.client("s3", region_name="us-east-1")
    return s3.list_object_versions(Bucket=settings.MATERIALS_BUCKET, Prefix=key).get("Versions", [])


def test_a_pdf_goes_up_gets_checked_and_comes_back_identical(client, mats, villager, case_no):
    answered = mats.slot(villager, case_no)
    assert answered.status_code == 201, answered.body
    slot = answered.json_body
    code = rules.material_code("最低生活保障申请书")
    assert slot["material"] == {"code": code, "name": "最低生活保障申请书"}
    assert slot["key"] == f"materials/{case_no}/{code}/{slot['slot_id']}"
    assert slot["upload"]["fields"]["key"] == slot["key"] and slot["status"] == "open"
    policy = json.loads(__import__("base64").b64decode(slot["upload"]["fields"]["policy"]))
    assert ["content-length-range", 1, settings.MATERIAL_MAX_BYTES] in policy["conditions"]
    assert {"Content-Type": "application/pdf"} in policy["conditions"]
    assert {"key": slot["key"]} in policy["conditions"]

    data = pdf_bytes()
    [result] = mats.upload(slot, data)
    assert result == {"batchItemFailures": []}
    material = mats.material(villager, case_no, code)
    assert (material["status"], material["trust_level"], material["current_version"]) == ("uploaded", "C", 1)
    assert material["versions"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    assert material["versions"][0]["uploaded_by"]["role"] == "villager"

    link = mats.download(villager, case_no, code)
    assert link.status_code == 200, link.body
    assert link.json_body["sha256"] == hashlib.sha256(data).hexdigest()
    assert requests.get(link.json_body["url"]).content == data

    case = client.http.get(f"/v1/cases/{case_no}", headers=villager).json_body
    assert case["materials"] == {code: {"version": 1, "trust_level": "C"}}
    [entry] = [h for h in case["history"] if h["step_name"] == "上传材料"]
    assert entry["data"]["version"] == 1 and entry["data"]["trust_level"] == "C"


def test_redelivery_is_idempotent_and_a_second_object_in_a_used_slot_never_replaces_it(client, mats, villager,
                                                                                      case_no, queues):
    slot = mats.slot(villager, case_no).json_body
    first = pdf_bytes("first")
    form = slot["upload"]
    requests.post(form["url"], data=form["fields"], files={"file": ("a.pdf", first, "application/pdf")})
    [message] = queues.receive(settings.MATERIAL_UPLOADS_QUEUE)
    queues.send(settings.MATERIAL_UPLOADS_QUEUE, message["Body"])  # SQS delivers it twice
    sqs = boto3.client("sqs", region_name="us-east-1")
    sqs.change_message_visibility(QueueUrl=queues.url(settings.MATERIAL_UPLOADS_QUEUE),
                                  ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    queues.deliver(settings.MATERIAL_UPLOADS_QUEUE, "on_material_upload")
    history = client.http.get(f"/v1/cases/{case_no}", headers=villager).json_body["history"]
    assert [h["step_name"] for h in history].count("上传材料") == 1

    # the same form again (a replayed POST policy): a second object under the same key
    requests.post(form["url"], data=form["fields"], files={"file": ("b.pdf", pdf_bytes("second"), "application/pdf")})
    queues.deliver(settings.MATERIAL_UPLOADS_QUEUE, "on_material_upload")
    material = mats.material(villager, case_no)
    assert material["current_version"] == 1 and material["versions"][0]["sha256"] == hashlib.sha256(first).hexdigest()
    assert [v["VersionId"] for v in versions(slot["key"])] == [
        json.loads(mats.client.http.get(f"/v1/cases/{case_no}/materials/1", headers=villager).body)["url"]
        .split("versionId=")[1].split("&")[0]]
    assert requests.get(mats.download(villager, case_no).json_body["url"]).content == first


@pytest.mark.parametrize("data,filename,expected", [
    (EXE, "申请书.pdf", "FILE_TYPE_NOT_ALLOWED"),
    (b"%PDF-1.7\n this is not really a pdf at all", "broken.pdf", "FILE_UNREADABLE"),
])
def test_a_bad_file_is_refused_with_a_reason_and_the_material_can_be_sent_again(mats, villager, case_no, data,
                                                                               filename, expected):
    slot = mats.slot(villager, case_no).json_body
    mats.upload(slot, data, filename, "application/pdf")
    material = mats.material(villager, case_no)
    assert material["status"] == "rejected" and material["current_version"] is None
    assert material["last_rejection"]["code"] == expected
    assert material["last_rejection"]["message"] == rules.REJECTIONS[expected]
    assert versions(slot["key"]) == []  # the refused object is gone
    assert mats.download(villager, case_no).json_body["code"] == "MATERIAL_NOT_UPLOADED"
    # a new slot, a good file
    again = mats.slot(villager, case_no).json_body
    mats.upload(again, pdf_bytes())
    material = mats.material(villager, case_no)
    assert (material["status"], material["current_version"]) == ("uploaded", 1)


def test_an_oversized_file_is_refused(mats, villager, case_no, monkeypatch):
    monkeypatch.setattr(settings, "MATERIAL_MAX_BYTES", 2048)  # moto does not enforce the policy's range
    slot = mats.slot(villager, case_no).json_body
    assert slot["max_bytes"] == 2048
    mats.upload(slot, pdf_bytes() + b"%" + b"0" * 4096)
    rejection = mats.material(villager, case_no)["last_rejection"]
    assert rejection["code"] == "FILE_TOO_LARGE" and "2KB" in rejection["message"]


def test_an_upload_after_the_slot_expired_is_refused(mats, villager, case_no):
    slot = mats.slot(villager, case_no).json_body
    form = slot["upload"]
    requests.post(form["url"], data=form["fields"], files={"file": ("a.pdf", pdf_bytes(), "application/pdf")})
    # the S3 event says when the object was created: make it two minutes after the slot ran out
    queue = mats.queues
    [message] = queue.take_all(settings.MATERIAL_UPLOADS_QUEUE)
    body = json.loads(message["Body"])
    late = dt.datetime.fromisoformat(slot["expires_at"]) + dt.timedelta(minutes=2)
    body["Records"][0]["eventTime"] = late.isoformat().replace("+00:00", "Z")
    queue.send(settings.MATERIAL_UPLOADS_QUEUE, body)
    queue.deliver(settings.MATERIAL_UPLOADS_QUEUE, "on_material_upload")
    material = mats.material(villager, case_no)
    assert material["last_rejection"]["code"] == "SLOT_EXPIRED" and material["current_version"] is None


def test_a_png_replaces_the_pdf_as_version_two_and_the_old_version_stays_readable(client, mats, villager, case_no):
    first = pdf_bytes()
    mats.upload(mats.slot(villager, case_no).json_body, first)
    second = png_bytes()
    mats.upload(mats.slot(villager, case_no, content_type="image/png").json_body, second, "photo.png")
    material = mats.material(villager, case_no)
    assert material["current_version"] == 2
    assert [v["replaces"] for v in material["versions"]] == [None, 1]
    assert [v["content_type"] for v in material["versions"]] == ["application/pdf", "image/png"]
    assert requests.get(mats.download(villager, case_no).json_body["url"]).content == second
    assert requests.get(mats.download(villager, case_no, version=1).json_body["url"]).content == first
    assert mats.download(villager, case_no, version=3).json_body["code"] == "MATERIAL_VERSION_NOT_FOUND"
    history = client.http.get(f"/v1/cases/{case_no}", headers=villager).json_body["history"]
    uploads = [h for h in history if h["step_name"] == "上传材料"]
    assert [(h["data"]["version"], h["data"]["replaces"]) for h in uploads] == [(1, None), (2, 1)]
    assert "替换第1版" in uploads[1]["opinion"]


def test_a_clerk_checks_the_original_and_trust_rises_from_c_to_b(client, mats, auth, villager, case_no):
    mats.upload(mats.slot(villager, case_no).json_body, pdf_bytes())
    clerk = auth.staff("clerk.mat", ["window_clerk"], ["431224100"])
    other_clerk = auth.staff("clerk.far", ["window_clerk"], ["431224101"])
    assert mats.verify(other_clerk, case_no).status_code == 404
    refused = mats.verify(villager, case_no)
    assert (refused.status_code, refused.json_body["code"]) == (403, "ACTION_NOT_ALLOWED")
    assert mats.verify(clerk, case_no, body={"version": 2}).json_body["code"] == "MATERIAL_VERSION_NOT_CURRENT"
    checked = mats.verify(clerk, case_no, body={"version": 1, "note": "与原件一致"})
    assert checked.status_code == 200, checked.body
    assert (checked.json_body["status"], checked.json_body["trust_level"]) == ("checked", "B")
    again = mats.verify(clerk, case_no)
    assert again.status_code == 200 and again.json_body["trust_level"] == "B"
    history = client.http.get(f"/v1/cases/{case_no}", headers=villager).json_body["history"]
    assert [h["step_name"] for h in history].count("核验材料原件") == 1
    assert mats.material(villager, case_no)["versions"][0]["checked"]["by"] == "staff_clerk.mat"
    not_uploaded = mats.verify(clerk, case_no, code="2")
    assert (not_uploaded.status_code, not_uploaded.json_body["code"]) == (404, "MATERIAL_NOT_UPLOADED")
    # a replacement starts again at C
    mats.upload(mats.slot(villager, case_no).json_body, pdf_bytes("v2"))
    material = mats.material(villager, case_no)
    assert (material["current_version"], material["trust_level"]) == (2, "C")
    assert [v["trust_level"] for v in material["versions"]] == ["B", "C"]


def test_refusals_for_people_and_materials_that_do_not_fit(client, mats, auth, villager, case_no):
    before = slot_items(case_no)
    other = auth.villager("openid-other", OTHER_PERSON)
    hidden = mats.slot(other, case_no)
    missing = mats.slot(other, "20200101000000000-431224100-ZZZZ")
    assert hidden.status_code == missing.status_code == 404 and hidden.body == missing.body
    unconsented = auth.agent("openid-zhaoliu", {"name": "赵六", "id_number": "431224197004046669"})
    assert mats.slot(unconsented, case_no).status_code == 404
    clerk = auth.staff("clerk.up", ["window_clerk"], ["431224100"])
    assert mats.slot(clerk, case_no).json_body["code"] == "FORBIDDEN"
    off_list = mats.slot(villager, case_no, code="m00000000")
    assert (off_list.status_code, off_list.json_body["code"]) == (404, "MATERIAL_NOT_ON_CHECKLIST")
    assert mats.slot(villager, case_no, code="99").json_body["code"] == "MATERIAL_NOT_ON_CHECKLIST"
    wrong_type = mats.slot(villager, case_no, content_type="application/x-msdownload")
    assert (wrong_type.status_code, wrong_type.json_body["details"][0]["field"]) == (400, "content_type")
    assert slot_items(case_no) == before  # nothing written for any of them
    # nobody else downloads or lists either
    mats.upload(mats.slot(villager, case_no).json_body, pdf_bytes())
    for stranger in (other, unconsented, auth.staff("clerk.other", ["window_clerk"], ["431224101"])):
        assert mats.download(stranger, case_no).status_code == 404
        assert mats.listing(stranger, case_no).status_code == 404


def test_a_closed_case_takes_no_slot(client, mats, villager, case_no):
    withdrawn = client.http.post(f"/v1/cases/{case_no}/withdrawal", headers={**villager, "Idempotency-Key": "wd-000001"},
                                 body=json.dumps({"reason": "不再需要"}))
    assert withdrawn.status_code == 200, withdrawn.body
    closed = mats.slot(villager, case_no)
    assert (closed.status_code, closed.json_body["code"]) == (409, "CASE_CLOSED")


def test_an_agent_uploads_for_the_villager_only_with_consent(client, mats, auth, villager):
    agent = auth.agent()
    refused = client.http.post("/v1/cases", headers=agent, body=json.dumps(valid_submission(village_code=VILLAGE)))
    assert refused.json_body["code"] == "CONSENT_REQUIRED"
    consent = auth.consent(villager, agent)
    filed = client.http.post("/v1/cases", headers=agent,
                             body=json.dumps(valid_submission(village_code=VILLAGE), ensure_ascii=False))
    case_no = filed.json_body["case_no"]
    slot = mats.slot(agent, case_no, content_type="image/png")
    assert slot.status_code == 201, slot.body
    mats.upload(slot.json_body, png_bytes(), "id.png")
    material = mats.material(agent, case_no)
    assert material["versions"][0]["uploaded_by"]["role"] == "village_agent"
    revoked = auth.post(f"/v1/consents/{consent['consent_id']}/revoke", {}, villager)
    assert revoked.status_code == 200
    assert mats.slot(agent, case_no).status_code == 404  # consent gone: the case is gone for the agent


def test_the_same_idempotency_key_answers_the_same_slot(mats, villager, case_no):
    first = mats.slot(villager, case_no, key="slot-key-0001")
    again = mats.slot(villager, case_no, key="slot-key-0001")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json_body["slot_id"] == again.json_body["slot_id"]
    assert first.json_body["expires_at"] == again.json_body["expires_at"]
    other = mats.slot(villager, case_no, code="2", key="slot-key-0001")
    assert (other.status_code, other.json_body["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    fresh = mats.slot(villager, case_no)
    assert fresh.json_body["slot_id"] != first.json_body["slot_id"]  # no key: a new slot each time


def test_reads_and_writes_are_audited(client, mats, villager, case_no):
    mats.upload(mats.slot(villager, case_no).json_body, pdf_bytes())
    mats.download(villager, case_no)
    mats.listing(villager, case_no)
    trail = client.http.get(f"/v1/cases/{case_no}/audit", headers=villager).json_body["records"]
    actions = [r["action"] for r in trail]
    for action in ("material.slot", "material.upload", "material.list", "material.read"):
        assert action in actions, actions


def test_an_upload_arriving_after_the_case_was_withdrawn_is_refused(client, mats, villager, case_no):
    slot = mats.slot(villager, case_no).json_body
    withdrawn = client.http.post(f"/v1/cases/{case_no}/withdrawal", headers={**villager, "Idempotency-Key": "wd-000002"},
                                 body=json.dumps({}))
    assert withdrawn.status_code == 200, withdrawn.body
    mats.upload(slot, pdf_bytes())
    material = mats.material(villager, case_no)
    assert material["last_rejection"]["code"] == "CASE_CLOSED" and material["current_version"] is None
    assert versions(slot["key"]) == []
