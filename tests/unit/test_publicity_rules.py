"""The notice's text and HTML, the search ranking and the Open311 mapping, on seed records
(pure domain: no AWS)."""
import json

from chalicelib.domain import open311, publicity, search
from chalicelib.domain.catalog import ServiceItem, Township
from tests.conftest import SEED

ITEMS = {r["code"]: ServiceItem(r) for r in json.loads((SEED / "catalog_items.json").read_text())}
TOWNSHIP = Township(json.loads((SEED / "townships.json").read_text())[0])
ENTRIES = [search.entry_of(i) for i in ITEMS.values()]


def test_every_publicity_has_text_and_empty_ones_say_so():
    sections = publicity.notice_sections(ITEMS["HH-MZ-001"], TOWNSHIP)
    assert [label for _k, label, _l in sections] == ["办事依据", "办事条件", "办理程序", "申报材料", "承诺时限",
                                                     "收费标准", "经办人员", "监督电话"]
    bare = ServiceItem({"code": "X-1", "name": "只有名称", "category": "other", "exercising_level": "4"})
    lines = dict((k, v) for k, _l, v in publicity.notice_sections(bare, TOWNSHIP))
    assert lines["legal_basis"] == lines["fees"] == [publicity.NOT_PUBLISHED]
    assert publicity.numbered(["a", "b"]) == "1. a\n2. b" and publicity.numbered(["a"]) == "a"


def test_html_escapes_every_catalog_value():
    record = json.loads(json.dumps(ITEMS["HH-MZ-001"].record))
    record["name"] = "<script>alert(1)</script>"
    record["department"] = "\"><img src=x>"
    page = publicity.notice_html(ServiceItem(record), TOWNSHIP, item_version=1, township_version=1,
                                 url="http://x/<b>", qr_png_base64="QUJD", issued_on="2026-11-30")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script" not in page
    assert "<img src=x>" not in page and "http://x/&lt;b&gt;" in page


def test_ranking():
    def top(query, **kw):
        return [e.code for e, _s in search.search(ENTRIES, query, **kw)]
    assert top("低保")[:2] == ["HH-MZ-001", "HH-MZ-004"]
    assert top("养老")[0] == "HH-MZ-006" and set(top("养老")[1:4]) == {"HH-SB-001", "HH-SB-002", "HH-SB-003"}
    assert top("县民政局") and all(ITEMS[c].record.get("department") == "县民政局" or "县民政局" in
                                  str(ITEMS[c].record.get("deciding_department")) for c in top("县民政局"))
    assert top("", category="housing") == sorted(top("", category="housing"))
    assert search.terms_of(" 低保，  低保 养老 ") == ["低保", "养老"]


def test_open311_service_and_definition():
    entry = next(e for e in ENTRIES if e.code == "HH-MZ-001")
    svc = open311.service(entry)
    assert svc["service_name"] == ITEMS["HH-MZ-001"].name and svc["keywords"].startswith("低保, ")
    definition = open311.service_definition(ITEMS["HH-MZ-001"])
    assert {a["variable"] for a in definition["attributes"]} == {False}
