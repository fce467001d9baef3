"""The PDF of each case document (adapters/pdf.py): text extracts, the font is embedded, nasty
values neither crash nor overflow, and one page of each is kept as a PNG for a person to look
at (``build/test-artifacts/``, git-ignored)."""
import io
import logging
from pathlib import Path

import pypdf
import pypdfium2
import pytest

from chalicelib.adapters import pdf
from chalicelib.domain import documents
from tests.unit.document_cases import DEADLINE, FULL_ID, NOTICE, TOWNSHIP, VERIFY_URL, a_case, rejected_case

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
COMMON = dict(verify_url=VERIFY_URL, issuer="示例镇便民服务中心", item_name="高龄津贴申领", township=TOWNSHIP)


def contents():
    return {
        "acceptance_receipt": documents.build(documents.ACCEPTANCE_RECEIPT, a_case(), document_id="SL-431224100-2026-000123",
                                              issued_on="2026-11-23", deadline=DEADLINE, **COMMON),
        "one_time_notice": documents.build(documents.ONE_TIME_NOTICE, a_case(status="supplement_required"),
                                           document_id="GZ-431224100-2026-000045", issued_on="2026-11-20",
                                           notice=NOTICE, round=1, **COMMON),
        "decision": documents.build(documents.DECISION, rejected_case(), document_id="JD-431224100-2026-000067",
                                    issued_on="2026-11-30", **COMMON),
    }


def text(data: bytes) -> str:
    """All pages' text, line breaks removed (wrapping may split a value)."""
    return "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages).replace("\n", "")


def png(data: bytes, name: str, page: int = 0) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pypdfium2.PdfDocument(data)[page].render(scale=2).to_pil().save(path)
    return path


EXPECTED = {
    "acceptance_receipt": ["受理通知书", "2026年12月7日", "10个工作日", "2026年11月23日"],
    "one_time_notice": ["一次性告知书", "居民户口簿", "高龄津贴申请表", "不符合要求", "请补充近6个月收入证明"],
    "decision": ["办结决定书", "不予许可", "申请人未满八十周岁", "六十日内", "行政复议", "六个月内", "行政诉讼"],
}


@pytest.mark.parametrize("kind", EXPECTED)
def test_each_document_renders_with_extractable_masked_text(kind):
    data = pdf.render(contents()[kind])
    assert data.startswith(b"%PDF-") and b"/Encrypt" not in data
    found = text(data)
    for expected in ["20261120100000123-431224100-AB12", "高龄津贴申领", "张*", "431***********1234",
                     "示例镇便民服务中心", documents.SEAL_NOTE, VERIFY_URL, *EXPECTED[kind]]:
        assert expected in found, expected
    assert FULL_ID not in found and FULL_ID.encode() not in data
    assert png(data, kind).stat().st_size > 10_000


def test_the_font_is_embedded_as_a_truetype_subset():
    reader = pypdf.PdfReader(io.BytesIO(pdf.render(contents()["decision"])))
    fonts = [f.get_object() for f in reader.pages[0]["/Resources"]["/Font"].values()]
    descendant = fonts[0]["/DescendantFonts"][0].get_object()
    descriptor = descendant["/FontDescriptor"].get_object()
    assert "/FontFile2" in descriptor and descriptor["/FontName"].endswith("WenQuanYiMicroHei")
    assert "+" in descriptor["/FontName"]  # a subset tag
    assert len(descriptor["/FontFile2"].get_object().get_data()) < 500_000  # not the 5 MB collection


def test_the_same_content_gives_the_same_bytes():
    content = contents()["acceptance_receipt"]
    assert pdf.render(content) == pdf.render(content)


def test_nasty_values_neither_crash_nor_overflow_the_page(caplog):
    nasty = ("😀👨‍👩‍👧 𠀀𠀁 生僻字䶮 " + "A" * 400 + "\n第二行\r\n\t" + "长" * 900
             + " https://example.com/" + "x" * 300)
    case = rejected_case(applicant={"name": "𠀀😀欧阳" * 30, "id_number": FULL_ID},
                         outcome={**rejected_case()["outcome"], "reasons": nasty, "opinion": nasty, "legal_basis": nasty})
    notice = {**NOTICE, "materials": [{"name": "居民户口簿", "problem": "missing", "detail": nasty}] * 6,
              "other": [nasty] * 3}
    built = [
        documents.build(documents.DECISION, case, document_id="JD-" + "9" * 200, issued_on="2026-11-30",
                        legal_basis=nasty, **{**COMMON, "item_name": nasty, "verify_url": VERIFY_URL + "&x=" + "y" * 110}),
        documents.build(documents.ONE_TIME_NOTICE, case, document_id="GZ-1", issued_on="2026-11-20", notice=notice,
                        **{**COMMON, "issuer": "示例镇便民服务中心" * 10, "township": {k: nasty for k in TOWNSHIP}}),
    ]
    for n, content in enumerate(built):
        with caplog.at_level(logging.WARNING, logger="fpdf"):
            data = pdf.render(content)
        assert not [r for r in caplog.records if "missing" in r.getMessage()], "a glyph reached fpdf2 missing"
        document = pypdfium2.PdfDocument(data)
        assert len(document) >= 2
        left, right = pdf.MARGIN * 72 / 25.4 - 1, (pdf.PAGE_W - pdf.MARGIN) * 72 / 25.4 + 1
        bottom = pdf.MARGIN * 72 / 25.4 * 0.5
        for page in document:
            chars = page.get_textpage()
            for i in range(chars.count_chars()):
                x0, y0, x1, y1 = chars.get_charbox(i)
                if x1 > x0:  # a drawn glyph (not a generated space or line break)
                    assert left <= x0 and x1 <= right and y0 >= bottom, (i, chars.get_text_range(i, 1))
        found = text(data)
        assert "□" in found and "😀" not in found and "𠀀" not in found and FULL_ID not in found
        png(data, f"nasty-{n}", page=len(document) - 1)


def test_a_verify_url_too_long_for_the_footer_is_refused():
    with pytest.raises(ValueError):
        documents.build(documents.DECISION, rejected_case(), document_id="JD-1", issued_on="2026-11-30",
                        **{**COMMON, "verify_url": "https://x/" + "y" * 200})


def test_the_seal_box_is_on_the_page_below_the_body():
    x1, y1, x2, y2 = pdf.seal_box_points()
    assert 0 < x1 < x2 < 595.3 and 0 < y1 < y2 < 841.9
