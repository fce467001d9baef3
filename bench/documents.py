#!/usr/bin/env python
"""E-sealed documents: AWS calls per generated document and per verification, and the time to
render and seal one document (warm), in-process under moto (KMS backend).

Run from the project root: ``.venv/bin/python bench/documents.py``. Calls are counted by
wrapping ``botocore.client.BaseClient._make_api_call`` (every client: boto3's and PynamoDB's).
Timings under moto include moto's own KMS signing (in-process RSA); in AWS a KMS ``Sign`` is a
network round trip (typically 10-30 ms) instead.
"""
from __future__ import annotations

import collections
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import Auth, Queues, seeded_client, valid_submission  # noqa: E402

CALLS: collections.Counter = collections.Counter()


def _count():
    import botocore.client
    original = botocore.client.BaseClient._make_api_call

    def counting(self, operation, params):
        CALLS[f"{self.meta.service_model.service_name}:{operation}"] += 1
        return original(self, operation, params)
    botocore.client.BaseClient._make_api_call = counting


def measured(label, fn):
    CALLS.clear()
    result = fn()
    print(f"{label}: {sum(CALLS.values())} calls {dict(sorted(CALLS.items()))}")
    return result


def main() -> None:
    _count()
    from chalicelib import container, settings
    from chalicelib.adapters import pades, pdf
    from chalicelib.domain import documents
    from chalicelib.usecases import case_documents
    with seeded_client() as client:
        auth, queues = Auth(client), Queues(client)
        me, clerk = auth.villager(), auth.staff("clerk.bench", ["window_clerk"], ["431224100"])
        numbers = []
        for i in range(3):
            no = client.http.post("/v1/cases", headers={**me, "Idempotency-Key": f"bench-doc-{i:04d}"},
                                  body=json.dumps(valid_submission(), ensure_ascii=False)).json_body["case_no"]
            numbers.append(no)
        queues.deliver(settings.CASE_INTAKE_QUEUE, "on_case_intake")
        for i, no in enumerate(numbers):
            client.http.post(f"/v1/cases/{no}/accept", headers={**clerk, "Idempotency-Key": f"bench-acc-{i:04d}"},
                             body="{}")
        queues.deliver(settings.CASE_EVENTS_QUEUE, "on_case_event")
        messages = queues.bodies(settings.DOCUMENTS_QUEUE)
        wired = dict(cases=container.cases(), catalog=container.catalog(), documents=container.documents(),
                     seals=container.seals(), keys=container.seal_keys(), objects=container.objects(),
                     calendar=container.calendar())
        measured("first document (creates root + township seal)",
                 lambda: case_documents.issue_document(messages[0], **wired))
        measured("next document (warm)", lambda: case_documents.issue_document(messages[1], **wired))
        measured("redelivered document", lambda: case_documents.issue_document(messages[1], **wired))
        [doc] = container.documents().of_case(numbers[1])
        data = container.objects().get_bytes(doc["s3_key"], doc["s3_version_id"])
        measured("verification by id (QR)", lambda: case_documents.verify_issued(
            doc["document_id"], documents=container.documents(), seals=container.seals(), objects=container.objects()))
        measured("verification of an upload", lambda: case_documents.verify_upload(
            data, documents=container.documents(), seals=container.seals()))
        seal, key, root = case_documents.township_seal("431224100", "示例镇", seals=container.seals(),
                                                       keys=container.seal_keys())
        renders, seals_, checks = [], [], []
        for _ in range(10):
            content = documents.build("acceptance_receipt", {"case_no": numbers[2], "due_date": "2026-12-30"},
                                      document_id="DX", verify_url="http://x/v", issuer="示例镇",
                                      issued_on="2026-11-30", item_name="农村最低生活保障")
            t0 = time.perf_counter()
            raw = pdf.render(content)
            t1 = time.perf_counter()
            sealed = pades.seal_pdf(raw, key=key, certificate_pem=seal["certificate_pem"],
                                    root_pem=root["certificate_pem"], signer_name="示例镇", reason="r", location="l")
            t2 = time.perf_counter()
            pades.check_pdf(sealed, root["certificate_pem"])
            t3 = time.perf_counter()
            renders.append(t1 - t0), seals_.append(t2 - t1), checks.append(t3 - t2)
        ms = lambda xs: round(statistics.median(xs[1:]) * 1000, 1)  # noqa: E731
        print(f"warm, median of 9: render {ms(renders)} ms, seal {ms(seals_)} ms (incl. moto KMS Sign), "
              f"validate {ms(checks)} ms; sealed PDF {len(sealed)} bytes")


if __name__ == "__main__":
    main()
