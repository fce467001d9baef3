"""A restart of the local runner keeps S3 objects reachable (docs/materials.md, docs/documents.md).

Replaying the recording re-creates every S3 object with a NEW VersionId while the replayed
DynamoDB records still name the old one, and the replayed upload makes moto send a new S3
event. Before the fix, sealed documents verified as ``STORED_FILE_CHANGED`` after a restart and
an uploaded material was deleted by its own consumer (``SLOT_ALREADY_USED``). Here: upload a
material through a slot, let a clerk accept the case (a receipt is sealed), stop, start with the
same data folder, and everything must still be there, byte for byte.
"""
import hashlib
import time

import pytest
import requests

from tests.conftest import valid_submission
from tests.e2e.test_lifecycle_local import Desk, file_case
from tests.e2e import test_local_stack
from tests.integration.test_materials import EXE, pdf_bytes

pytestmark = pytest.mark.e2e
stack = test_local_stack.stack  # the fixture: a fresh local stack in a temporary data folder


def _until(probe, timeout, what, runner):
    """``probe()``'s first truthy answer within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = probe()
        if answer:
            return answer
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen:\n" + runner.log.read_text()[-4000:])


def test_materials_and_sealed_documents_survive_a_restart(stack):
    desk = Desk(stack)
    me = stack.villager("openid-replay")
    window = requests.put(f"{stack.base}/v1/admin/townships/431224100/windows/2", headers=desk.admin, timeout=10,
                          json={"name": "民政窗口", "a_post": "clerk.a", "b_post": "clerk.b",
                                "categories": ["social_assistance"]})
    assert window.status_code == 200, window.text
    case_no = file_case(stack, me)
    assert valid_submission()["item_code"] == "HH-MZ-001"

    # a material through a slot (presigned POST), attached by the runner's upload consumer
    slot = requests.post(f"{stack.base}/v1/cases/{case_no}/materials/2/slots", headers=me,
                         json={"content_type": "application/pdf"}, timeout=10).json()
    data = pdf_bytes("居民身份证")
    posted = requests.post(slot["upload"]["url"], data=slot["upload"]["fields"],
                           files={"file": ("id.pdf", data, "application/pdf")}, timeout=10)
    assert posted.status_code in (200, 201, 204), posted.text

    def material():
        listed = requests.get(f"{stack.base}/v1/cases/{case_no}/materials", headers=me, timeout=10).json()
        return listed["materials"][1]
    _until(lambda: material()["status"] == "uploaded", 30, "the upload's attachment", stack)
    # a refused upload through a second slot: its object version is deleted (a DeleteObject
    # whose VersionId no replay can reproduce)
    refused = requests.post(f"{stack.base}/v1/cases/{case_no}/materials/2/slots", headers=me,
                            json={"content_type": "application/pdf"}, timeout=10).json()
    requests.post(refused["upload"]["url"], data=refused["upload"]["fields"],
                  files={"file": ("id.pdf", EXE, "application/pdf")}, timeout=10)
    _until(lambda: material()["last_rejection"], 30, "the refusal", stack)

    # the clerk accepts: the documents consumer seals the acceptance receipt
    accepted = desk.act(desk.clerk_a, case_no, "accept")
    assert accepted.status_code == 200, accepted.text

    def receipt():
        documents = requests.get(f"{stack.base}/v1/cases/{case_no}/documents", headers=me, timeout=10).json()
        return next((d for d in documents["documents"] if d["kind"] == "acceptance_receipt"), None)
    document_id = _until(receipt, 60, "the sealed receipt", stack)["document_id"]
    sealed = requests.get(requests.get(f"{stack.base}/v1/cases/{case_no}/documents/{document_id}", headers=me,
                                       timeout=10).json()["url"], timeout=10).content
    assert sealed.startswith(b"%PDF")

    for _ in range(2):  # the repair is not recorded: the second start repairs the same way
        stack.stop()
        stack.start()
        time.sleep(4)  # the replayed uploads' S3 events reach the upload consumer meanwhile
        _check_after_restart(stack, me, case_no, slot["slot_id"], data, document_id, sealed, material)
    assert stack.log.read_text().count("re-pointed 5 object versions after replay") == 2  # 3 document rows, slot, version
    stack.stop()


def _check_after_restart(stack, me, case_no, slot_id, data, document_id, sealed, material):
    """The material and the sealed receipt are what they were before the restart."""
    # the material: still on the checklist, its download the identical bytes
    after = material()
    assert (after["status"], after["current_version"]) == ("uploaded", 1), after
    assert after["last_rejection"]["code"] == "FILE_TYPE_NOT_ALLOWED"
    assert after["versions"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    link = requests.get(f"{stack.base}/v1/cases/{case_no}/materials/2", headers=me, timeout=10)
    assert link.status_code == 200, link.text
    downloaded = requests.get(link.json()["url"], timeout=10)
    assert downloaded.status_code == 200, downloaded.text
    assert hashlib.sha256(downloaded.content).hexdigest() == hashlib.sha256(data).hexdigest()
    # the replayed upload's event found the recorded version ("already"); only the refused
    # upload's object, back with the replay, may be deleted again as a second use of its slot
    assert not [line for line in stack.log.read_text().splitlines()
                if "SLOT_ALREADY_USED" in line and slot_id in line]

    # the receipt: verifies by id and downloads, byte for byte what was sealed
    verified = requests.get(f"{stack.base}/v1/public/documents/{document_id}/verification", timeout=30).json()
    assert verified["valid"] and verified["reason"] == "VALID", verified
    link = requests.get(f"{stack.base}/v1/cases/{case_no}/documents/{document_id}", headers=me, timeout=10)
    assert link.status_code == 200, link.text
    again = requests.get(link.json()["url"], timeout=10)
    assert again.status_code == 200 and again.content == sealed, again.text[:300]
