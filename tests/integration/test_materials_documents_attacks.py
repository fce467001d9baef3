"""Attacks on issue 6 (application materials and e-sealed documents): each test here shows a
real defect (it fails today and passes once fixed). Driven through the app, moto and the SQS
handlers like the feature's own tests (``test_materials.py``, ``test_documents.py``)."""
from __future__ import annotations

import io
import json
import struct
import zlib

import pytest
import requests

from chalicelib import container, settings
from tests.conftest import VILLAGE, valid_submission
from tests.integration import test_materials as materials_tests
from tests.integration.test_materials import pdf_bytes, versions


# the materials tests' fixtures, shared (bound by assignment: pytest finds them in this module)
mats, villager, case_no = materials_tests.mats, materials_tests.villager, materials_tests.case_no


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_of(width: int, height: int, idat: bytes | None = None, bit_depth: int = 1, color_type: int = 0) -> bytes:
    """A PNG with the declared size; ``idat`` None: real (all-black, highly compressible) rows."""
    if idat is None:
        row = b"\x00" + bytes((width * bit_depth + 7) // 8)
        idat = zlib.compress(row * height, 9)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


# --- upload content -------------------------------------------------------------------------------


def test_a_png_decompression_bomb_is_refused(mats, villager, case_no):
    """A 12000 x 12000 PNG (144 Mpx, 17 KB on the wire) is a decompression bomb: it expands to
    ~430 MB of RGB when a clerk's browser or a thumbnailer opens it. docs/materials.md promises
    "decompression bombs refused", but ``file_inspect._image_opens`` only gets Pillow's
    DecompressionBombWarning (between 1x and 2x ``Image.MAX_IMAGE_PIXELS``), never an error, so
    the file is attached at trust level C. Fix: ``adapters/file_inspect.py`` turn
    ``DecompressionBombWarning`` into an error (``warnings.catch_warnings`` + ``simplefilter("error")``)
    or check ``width * height`` against a limit suited to a scanned page."""
    slot = mats.slot(villager, case_no, content_type="image/png").json_body
    mats.upload(slot, png_of(12000, 12000), "photo.png")
    material = mats.material(villager, case_no)
    assert material["current_version"] is None, material
    assert material["last_rejection"]["code"] == "FILE_UNREADABLE"


def test_a_png_whose_image_data_is_garbage_is_refused(mats, villager, case_no):
    """A PNG with a valid header and a CRC-correct IDAT chunk full of garbage cannot be displayed,
    yet it is attached: ``Image.verify()`` checks chunk CRCs, it never decompresses the pixels.
    The applicant thinks the material is in and the checklist says ``complete``; the clerk finds
    a broken image days later. Fix: ``adapters/file_inspect.py`` decode the image
    (``Image.open(...).load()`` after ``verify``, on a fresh ``Image.open``) within the pixel limit."""
    slot = mats.slot(villager, case_no, content_type="image/png").json_body
    mats.upload(slot, png_of(100, 100, idat=b"garbage!" * 64, bit_depth=8, color_type=2), "photo.png")
    material = mats.material(villager, case_no)
    assert material["current_version"] is None, material
    assert material["last_rejection"]["code"] == "FILE_UNREADABLE"


def test_a_jpeg_with_garbage_scan_data_is_refused(mats, villager, case_no):
    """A JPEG whose headers are intact but whose compressed scan data is garbage (a truncated or
    corrupted phone upload) is attached as a readable material: Pillow's ``verify()`` is a no-op
    for JPEG. Fix: ``adapters/file_inspect.py`` decode JPEGs (``load()``), refusing
    "image file is truncated" and decoder errors as ``FILE_UNREADABLE``."""
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 120, 200)).save(out, "JPEG")
    good = out.getvalue()
    start_of_scan = good.index(b"\xff\xda")
    broken = good[:start_of_scan + 14] + b"\x00garbage" * 20  # no scan data, no EOI
    slot = mats.slot(villager, case_no, content_type="image/jpeg").json_body
    mats.upload(slot, broken, "photo.jpg")
    material = mats.material(villager, case_no)
    assert material["current_version"] is None, material
    assert material["last_rejection"]["code"] == "FILE_UNREADABLE"


def test_a_password_protected_pdf_is_refused(mats, villager, case_no):
    """A PDF encrypted with a user (open) password is attached at trust level C, but nobody at
    the window can open it without the applicant's password: the material looks uploaded, the
    checklist counts it, and the case stalls. ``_pdf_opens`` reads the catalog and the page
    count, which are not encrypted. Fix: ``adapters/file_inspect.py`` refuse a PDF whose
    trailer has ``/Encrypt`` unless it opens with the empty user password (pyHanko
    ``reader.security_handler`` / ``decrypt("")``), e.g. as ``FILE_UNREADABLE`` (or a dedicated
    ``FILE_ENCRYPTED`` code with a message asking for an unprotected file)."""
    import pypdf
    writer = pypdf.PdfWriter()
    writer.add_blank_page(595, 842)
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    slot = mats.slot(villager, case_no).json_body
    mats.upload(slot, out.getvalue(), "申请书.pdf")
    material = mats.material(villager, case_no)
    assert material["current_version"] is None, material
    assert material["last_rejection"]["code"] in ("FILE_UNREADABLE", "FILE_ENCRYPTED")


# --- the upload consumer ----------------------------------------------------------------------


def _posted_event(mats, slot, data):
    """POST ``data`` through the slot's form and take S3's notification off the queue (parsed)."""
    form = slot["upload"]
    response = requests.post(form["url"], data=form["fields"], files={"file": ("a", data, slot["content_type"])})
    assert response.status_code in (200, 201, 204), response.text
    [message] = mats.queues.take_all(settings.MATERIAL_UPLOADS_QUEUE)
    return json.loads(message["Body"])


@pytest.mark.parametrize("event_time", ["not-a-time", "2026-01-01T00:00:00"])
def test_a_malformed_event_time_is_not_a_poison_message(mats, villager, case_no, event_time):
    """An S3 record whose ``eventTime`` is not an ISO time with an offset (garbage, or a naive
    time) passes the message schema (``maxLength`` only) and then crashes ``consume_upload``
    (``datetime.fromisoformat`` ValueError, or a naive/aware comparison TypeError). The message
    is retried five times into the DLQ (alarm), and the uploaded file is never attached nor
    refused: the applicant sees nothing. The consumer's contract is "a message that is not S3's
    shape is dropped". Fix: ``schemas/material_upload_event.json`` (``format: date-time``) or
    ``usecases/materials.consume_upload`` (parse defensively; naive = UTC; unparsable = now)."""
    slot = mats.slot(villager, case_no).json_body
    body = _posted_event(mats, slot, pdf_bytes())
    body["Records"][0]["eventTime"] = event_time
    mats.queues.send(settings.MATERIAL_UPLOADS_QUEUE, body)
    try:
        results = mats.queues.deliver(settings.MATERIAL_UPLOADS_QUEUE, "on_material_upload")
    except Exception as exc:  # the whole batch failed: Lambda retries it
        pytest.fail(f"the consumer raised {type(exc).__name__}: the message goes back to the queue")
    assert all(not r.get("batchItemFailures") for r in results), results


def test_a_rejected_upload_does_not_undo_the_clerks_check(client, mats, auth, villager, case_no):
    """Race: a clerk raises version 1 to trust level B while a bad replacement (a Windows
    program) is being refused. ``_reject`` reads the material's head, the clerk's check commits,
    then ``reject_upload`` saves the whole head again with the trust level it read (C): its
    condition is only ``version == 1``. The checklist then shows 待核验 (C) although version 1 is
    recorded as B and the case summary says B; the clerk is asked to check an original that was
    already checked (and a second 核验材料原件 entry follows). The interleaving is real: the
    clerk's POST goes through the API between the consumer's read and its write. Fix:
    ``adapters/material_repo.reject_upload``: update only ``doc.last_rejection`` (UpdateItem),
    or add ``trust_level == <read>`` to the condition and retry on failure."""
    from chalicelib.adapters.file_inspect import opens
    from chalicelib.adapters.material_repo import DynamoMaterialRepository
    from chalicelib.usecases import materials as usecase
    from tests.integration.test_materials import EXE
    mats.upload(mats.slot(villager, case_no).json_body, pdf_bytes())
    clerk = auth.staff("clerk.race", ["window_clerk"], ["431224100"])
    bad = mats.slot(villager, case_no).json_body
    [record] = _posted_event(mats, bad, EXE)["Records"]

    class ClerkChecksMeanwhile(DynamoMaterialRepository):
        """The real repository; the clerk's check lands right after the consumer's read."""
        done = False

        def head(self, case_no_, code):
            read = super().head(case_no_, code)
            if not self.done:
                self.done = True
                checked = mats.verify(clerk, case_no, body={"version": 1})
                assert checked.status_code == 200 and checked.json_body["trust_level"] == "B", checked.body
            return read

    outcome = usecase.consume_upload(record, cases=container.cases(), materials=ClerkChecksMeanwhile(),
                                     objects=container.objects(), inspect=opens)
    assert outcome == "rejected"
    material = mats.material(villager, case_no)
    assert material["versions"][0]["trust_level"] == "B"
    assert (material["trust_level"], material["status"]) == ("B", "checked"), material


def test_an_upload_arriving_after_the_agents_consent_was_revoked_is_refused(client, mats, auth, villager):
    """A villager revokes their agent's consent; the agent had asked for a slot just before and
    uploads through it afterwards (the slot lives 10 minutes). The consumer re-checks the case's
    state on arrival (CASE_CLOSED) but not the uploader's right to act: the file is attached to
    the villager's case in the name of an agent who no longer may see it, against the villager's
    explicit revocation. Fix: ``usecases/materials.consume_upload`` re-check ``agent_may_act``
    for a slot requested as ``village_agent`` (consents of the applicant at the event time) and
    refuse with a stable code (e.g. ``CONSENT_REVOKED``)."""
    agent = auth.agent()
    consent = auth.consent(villager, agent)
    filed = client.http.post("/v1/cases", headers=agent,
                             body=json.dumps(valid_submission(village_code=VILLAGE), ensure_ascii=False))
    case_no = filed.json_body["case_no"]
    slot = mats.slot(agent, case_no).json_body
    assert auth.post(f"/v1/consents/{consent['consent_id']}/revoke", {}, villager).status_code == 200
    mats.upload(slot, pdf_bytes())
    clerk = auth.staff("clerk.revoked", ["window_clerk"], ["431224100"])
    material = mats.material(clerk, case_no)
    assert material["current_version"] is None, material["versions"]
    assert versions(slot["key"]) == []


# --- documents --------------------------------------------------------------------------------


def test_a_document_request_for_a_notice_round_that_does_not_exist_is_dropped(client, queues, auth):
    """A documents-queue message asking for a one-time notice at a history seq that issued no
    notice (a replayed or hand-made message, or a seq shifted by a bug upstream) raises
    ``ValueError("no notice round ...")`` in ``_round_of``: not a DomainError, so the consumer
    retries it five times into ``bianmin-documents-dlq`` and raises the DLQ alarm, for a message
    that can never succeed (docs/documents.md: "A malformed message or an unknown case is
    dropped with an error log"). Same for a ``decision`` asked for a case that is not concluded.
    Fix: ``usecases/case_documents._round_of`` / ``issue_document``: raise a DomainError
    (e.g. NotFound/ValidationFailed ``DOCUMENT_EVENT_MISMATCH``) when the seq's history entry is
    not the event of that kind, so ``handlers/consumers._document_record`` drops it."""
    villager = auth.villager()
    created = client.http.post("/v1/cases", headers=villager, body=json.dumps(valid_submission(), ensure_ascii=False))
    no = created.json_body["case_no"]
    case, history = container.cases().get(no)
    message = {"type": "document.requested", "case_no": no, "kind": "one_time_notice", "event_id": f"{no}#1",
               "seq": int(history[0]["seq"]), "at": history[0]["at"], "township_code": "431224100"}
    queues.send(settings.DOCUMENTS_QUEUE, message)
    try:
        results = queues.deliver(settings.DOCUMENTS_QUEUE, "on_document_request")
    except Exception as exc:
        pytest.fail(f"the documents consumer raised {type(exc).__name__}: retried into the DLQ")
    assert all(not r.get("batchItemFailures") for r in results), results


def test_a_pdf_whose_seal_blob_is_destroyed_is_reported_as_a_broken_seal_not_as_not_a_pdf(client, auth, queues):
    """Verification of a sealed document whose signature container (``/Contents``) was zeroed
    answers ``NOT_PDF`` "该文件不是PDF文件": the citizen or official checking a real PDF is told it
    is not a PDF at all, instead of "电子印章已损坏" (``SIGNATURE_BROKEN``, which docs/documents.md
    defines as "its structure is broken"). ``pades.check_pdf`` maps every exception of
    ``embedded_signatures`` (where pyHanko parses the CMS) to NOT_PDF. Fix:
    ``adapters/pades.check_pdf``: parse the file first (NOT_PDF only when the reader fails),
    then treat a failure to load a signature field's CMS as SIGNATURE_BROKEN."""
    import re

    from tests.integration.test_documents import act, deliver_documents, post_pdf
    villager = auth.villager()
    clerk = auth.staff("clerk.blob", ["window_clerk"], ["431224100"])
    no = client.http.post("/v1/cases", headers=villager,
                          body=json.dumps(valid_submission(), ensure_ascii=False)).json_body["case_no"]
    queues.deliver(settings.CASE_INTAKE_QUEUE, "on_case_intake")
    assert act(client, clerk, f"/v1/cases/{no}/accept").status_code == 200
    deliver_documents(queues)
    [doc] = container.documents().of_case(no)
    data = container.objects().get_bytes(doc["s3_key"], doc["s3_version_id"])
    blob = re.search(rb"/Contents\s*<([0-9a-fA-F]+)>", data)
    destroyed = data[:blob.start(1)] + b"0" * len(blob.group(1)) + data[blob.end(1):]
    answer = post_pdf(client, destroyed).json_body
    assert answer["valid"] is False
    assert answer["reason"] == "SIGNATURE_BROKEN", answer
