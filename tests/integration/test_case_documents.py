"""The three case documents rendered from a case created and worked through the API (stored
case, stored notice, live deadline), read back as text: issue 6 item 4."""
import datetime as dt
import io
import itertools
import json

import pypdf

from chalicelib import container, settings
from chalicelib.adapters import pdf
from chalicelib.domain import documents
from chalicelib.usecases.intake import deadline_view
from tests.conftest import APPLICANT, valid_submission

_keys = itertools.count(1)


def act(client, headers, path, body=None):
    response = client.http.post(path, headers={**headers, "Idempotency-Key": f"doc-key-{next(_keys):08d}"},
                                body=json.dumps(body or {}, ensure_ascii=False))
    assert response.status_code == 200, response.body
    return response.json_body


def text(data: bytes) -> str:
    return "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages).replace("\n", "")


def test_receipt_notice_and_decision_of_a_real_case(client, queues, auth):
    me = auth.villager()
    clerk = auth.staff("clerk.docs", ["window_clerk"], ["431224100"], display_name="王窗口")
    filed = client.http.post("/v1/cases", headers=me,
                             body=json.dumps(valid_submission(item_code="HH-MZ-006"), ensure_ascii=False))
    assert filed.status_code == 201, filed.body
    no = filed.json_body["case_no"]
    queues.deliver(settings.CASE_INTAKE_QUEUE, "on_case_intake")
    act(client, clerk, f"/v1/cases/{no}/notices",
        {"materials": [{"name": "居民户口簿", "problem": "missing"},
                       {"name": "高龄津贴申请表", "problem": "defective", "detail": "申请人未签名"}],
         "other": ["请补充近6个月收入证明"]})
    repo = container.cases()
    found, township = container.catalog().get_offer("HH-MZ-006", "431224100")
    item = found[0]
    common = dict(issuer=township.name, item_name=item.name, township=township.record,
                  verify_url=f"{settings.PUBLIC_BASE_URL}/v1/public/documents/X/verify")
    today = dt.datetime.now(dt.timezone.utc).astimezone(documents.SHANGHAI).date().isoformat()

    case = repo.get_case(no)
    notice = pdf.render(documents.build(documents.ONE_TIME_NOTICE, case, document_id=f"GZ-{no}-1", issued_on=today,
                                        notice=repo.notice(no, 1), round=1, **common))
    found_text = text(notice)
    for expected in (no, item.name, "张*", "431***********1234", "居民户口簿", "高龄津贴申请表", "申请人未签名",
                     "请补充近6个月收入证明", "第1次告知"):
        assert expected in found_text, expected

    act(client, me, f"/v1/cases/{no}/supplements", {"materials": ["居民户口簿", "高龄津贴申请表"]})
    act(client, clerk, f"/v1/cases/{no}/accept", {})
    case = repo.get_case(no)
    deadline = deadline_view(case, dt.datetime.now(dt.timezone.utc), container.calendar())["deadline"]
    receipt = pdf.render(documents.build(documents.ACCEPTANCE_RECEIPT, case, document_id=f"SL-{no}",
                                         issued_on=today, deadline=deadline, **common))
    found_text = text(receipt)
    assert deadline["due_date"]
    for expected in (no, item.name, "张*", documents.zh_date(deadline["due_date"]), "10个工作日",
                     documents.zh_date(case["accepted_on"])):
        assert expected in found_text, expected

    act(client, clerk, f"/v1/cases/{no}/conclusion",
        {"result": "rejected", "reasons": "申请人未满八十周岁（身份证431224195001011234）",
         "legal_basis": "《中华人民共和国老年人权益保障法》第三十三条", "opinion": "经核查户籍信息"})
    case = repo.get_case(no)
    decision = pdf.render(documents.build(documents.DECISION, case, document_id=f"JD-{no}", issued_on=today,
                                          legal_basis=item.publicities.get("legal_basis"), **common))
    found_text = text(decision)
    for expected in (no, item.name, "张*", "不予许可", "申请人未满八十周岁", "老年人权益保障法》第三十三条",
                     "六十日内", "行政复议", "六个月内", "行政诉讼"):
        assert expected in found_text, expected

    for data in (notice, receipt, decision):
        found_text = text(data)
        assert APPLICANT["id_number"] not in found_text and APPLICANT["id_number"].encode() not in data
        assert APPLICANT["phone"] not in found_text and APPLICANT["name"] not in found_text
