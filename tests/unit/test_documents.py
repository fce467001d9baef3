"""What the three case documents say (domain/documents.py: pure, no PDF)."""
import dataclasses

import pytest

from chalicelib.domain import documents
from tests.unit.document_cases import DEADLINE, FULL_ID, NOTICE, TOWNSHIP, VERIFY_URL, a_case, approved_case, \
    rejected_case

COMMON = dict(verify_url=VERIFY_URL, issuer="示例镇便民服务中心", item_name="高龄津贴申领", township=TOWNSHIP)


def text_of(content):
    return "\n".join(content.texts())


def test_the_receipt_says_who_what_when_and_the_due_date_in_working_days():
    content = documents.build(documents.ACCEPTANCE_RECEIPT, a_case(), document_id="SL-1", issued_on="2026-11-23",
                              deadline=DEADLINE, **COMMON)
    rows = dict(content.rows)
    assert content.title == "受理通知书"
    assert rows["办件编号"] == "20261120100000123-431224100-AB12" and rows["事项名称"] == "高龄津贴申领"
    assert rows["申请人"] == "张*" and rows["身份证号码"] == "431***********1234"
    assert rows["收件日期"] == "2026年11月20日" and rows["受理日期"] == "2026年11月23日"
    assert rows["承诺办理时限"] == "10个工作日（不含法定节假日）" and rows["承诺办结日期"] == "2026年12月7日"
    assert "补正齐全" in content.paragraphs[1] and "第三十二条" in content.paragraphs[1]
    assert "监督电话：0745-0000000" in content.contact
    assert content.seal_note == "本文书加盖电子印章，扫描二维码可核验真伪" and content.verify_url == VERIFY_URL
    assert FULL_ID not in text_of(content) and "13812345678" not in text_of(content)


def test_dates_are_asia_shanghai_days():
    # 2026-11-19T17:30Z is 2026-11-20 01:30 in Shanghai
    content = documents.build(documents.ACCEPTANCE_RECEIPT, a_case(submitted_at="2026-11-19T17:30:00+00:00"),
                              document_id="SL-1", issued_on="2026-11-23", deadline=DEADLINE, **COMMON)
    assert dict(content.rows)["收件日期"] == "2026年11月20日"


def test_a_deemed_acceptance_and_a_provisional_or_paused_due_date_are_said_so():
    case = a_case(acceptance_basis="deemed_received", accepted_on="2026-11-20")
    provisional = {**DEADLINE, "due_date": "2027-01-08", "due_date_provisional": True}
    content = documents.build(documents.ACCEPTANCE_RECEIPT, case, document_id="SL-1", issued_on="2026-12-01",
                              deadline=provisional, **COMMON)
    assert "即为受理" in content.paragraphs[1]
    assert dict(content.rows)["承诺办结日期"].startswith("2027年1月8日（暂按周末推算")
    paused = documents.build(documents.ACCEPTANCE_RECEIPT, case, document_id="SL-1", issued_on="2026-12-01",
                             deadline={**DEADLINE, "due_date": None, "paused": True}, **COMMON)
    assert "暂停" in dict(paused.rows)["承诺办结日期"]


def test_the_notice_lists_every_material_with_its_problem_and_the_supplement_rules():
    content = documents.build(documents.ONE_TIME_NOTICE, a_case(status="supplement_required"), document_id="GZ-1",
                              issued_on="2026-11-20", notice=NOTICE, round=1, **COMMON)
    assert content.title == "一次性告知书" and content.subtitle == "（第1次告知）"
    assert content.list_headers == ("序号", "材料名称", "问题", "具体要求")
    assert content.list_rows == (("1", "居民户口簿", "缺少", "—"),
                                 ("2", "高龄津贴申请表", "不符合要求", "申请人未签名，请本人签字或按手印"),
                                 ("3", "请补充近6个月收入证明", "其他事项", "—"))
    assert "一次性告知" in content.paragraphs[1] and "共3项" in content.paragraphs[1]
    assert "补正期间不计入办理时限" in content.closing[1]
    late = documents.build(documents.ONE_TIME_NOTICE, a_case(), document_id="GZ-1", issued_on="2026-11-30",
                           notice={**NOTICE, "late": True}, supplement_days=15, **COMMON)
    assert "15个工作日内" in late.closing[0] and "即为受理" in late.closing[1]
    with pytest.raises(ValueError):
        documents.build(documents.ONE_TIME_NOTICE, a_case(), document_id="GZ-1", issued_on="2026-11-20", **COMMON)


def test_a_rejection_gives_reasons_legal_basis_and_remedies():
    content = documents.build(documents.DECISION, rejected_case(), document_id="JD-1", issued_on="2026-11-30", **COMMON)
    rows, body = dict(content.rows), "".join(content.paragraphs)
    assert rows["办理结果"] == "不予许可（不予批准）" and rows["办结日期"] == "2026年11月30日"
    assert "申请人未满八十周岁" in body and "法律依据：《中华人民共和国老年人权益保障法》第三十三条" in body
    assert "六十日内" in body and "行政复议法" in body and "六个月内" in body and "行政诉讼法" in body


def test_an_approval_says_so_with_the_items_legal_basis_and_a_county_decision_names_the_department():
    basis = [{"law": "《中华人民共和国老年人权益保障法》", "article": "第三十三条", "text": "..."}]
    case = approved_case(outcome={**approved_case()["outcome"], "level": "county", "licence_name": "高龄津贴证"},
                         forwarded_to={"code": "MZJ", "name": "县民政局"})
    content = documents.build(documents.DECISION, case, document_id="JD-2", issued_on="2026-11-30",
                              legal_basis=basis, **COMMON)
    rows, body = dict(content.rows), "".join(content.paragraphs)
    assert rows["办理结果"] == "准予许可（批准）" and rows["决定机关"] == "县民政局" and rows["证照名称"] == "高龄津贴证"
    assert "依据《中华人民共和国老年人权益保障法》第三十三条的规定，县民政局决定准予" in body
    with pytest.raises(ValueError):
        documents.build(documents.DECISION, a_case(), document_id="JD-3", issued_on="2026-11-30", **COMMON)


def test_free_text_is_masked_and_made_safe_for_the_layout():
    nasty = "退回\r\n理由：身份证 431224195001011234，电话13812345678\x00\u200b" + "Ｘ" * 2000
    content = documents.build(documents.DECISION, rejected_case(outcome={**rejected_case()["outcome"], "reasons": nasty}),
                              document_id="JD-1", issued_on="2026-11-30", **COMMON)
    body = "".join(content.paragraphs)
    assert FULL_ID not in body and "13812345678" not in body and "431***********1234" in body
    assert "\x00" not in body and "\u200b" not in body and "\r" not in body
    assert all(len(p) <= documents.MAX_PARAGRAPH_CHARS for p in content.paragraphs) and "…" in body


def test_clean():
    assert documents.clean(None) == ""
    assert documents.clean(" a\n\n b\t c ") == "a b c"
    assert documents.clean("a\r\nb", one_line=False) == "a\nb"
    assert documents.clean("x" * 10, limit=5) == "xxxx…"
    assert documents.clean("\ud800") == "□"
    assert documents.zh_date("2026-01-05") == "2026年1月5日"


def test_the_contract_signature_still_holds():
    """The document consumer calls build(kind, case, document_id=, verify_url=, issuer=, issued_on=,
    item_name=, deadline=) and reads the eight original fields."""
    content = documents.build(documents.ACCEPTANCE_RECEIPT, a_case(), document_id="SL-1", verify_url=VERIFY_URL,
                              issuer="示例镇便民服务中心", issued_on="2026-11-23", item_name="高龄津贴申领", deadline=None)
    names = [f.name for f in dataclasses.fields(content)][:8]
    assert names == ["kind", "title", "document_id", "issuer", "issued_on", "rows", "paragraphs", "verify_url"]
