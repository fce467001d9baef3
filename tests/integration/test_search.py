"""Catalog search (issue 7 item 2): what a villager types -> the relevant items first, through
``GET /v1/services?q=``, with the category, level and township filters, and no Scan: the
per-container index is built from Queries once and a warm search makes no AWS call."""
import time
from contextlib import contextmanager
from urllib.parse import quote

import botocore.client

from chalicelib import container
from chalicelib.usecases import catalog as catalog_uc
from tests.conftest import GUANGAN_CSV


def search(client, query="", **params):
    parts = [f"q={quote(query)}"] if query else []
    parts += [f"{k}={quote(str(v))}" for k, v in params.items()]
    response = client.http.get("/v1/services?" + "&".join(parts))
    assert response.status_code == 200, response.body
    return response.json_body


def codes(body):
    return [i["code"] for i in body["items"]]


@contextmanager
def aws_calls():
    """Count botocore API calls (``service.Operation``) made inside the block."""
    calls = []
    original = botocore.client.BaseClient._make_api_call

    def counting(self, operation, params):
        calls.append(f"{self.meta.service_model.service_name}.{operation}")
        return original(self, operation, params)
    botocore.client.BaseClient._make_api_call = counting
    try:
        yield calls
    finally:
        botocore.client.BaseClient._make_api_call = original


def test_dibao_finds_the_minimum_living_allowance_item_first(client):
    body = search(client, "低保")
    assert codes(body)[0] == "HH-MZ-001"
    assert "HH-MZ-004" in codes(body)  # 低保 changes: an exact keyword, not in the name
    assert body["items"][0]["score"] > body["items"][1]["score"]
    assert body["items"][0]["name"] == "最低生活保障审核确认（农村低保申请）"


def test_yanglao_finds_the_pension_items(client):
    found = codes(search(client, "养老"))
    assert {"HH-SB-001", "HH-SB-002", "HH-SB-003"} <= set(found[:5])
    assert all(code.startswith(("HH-SB", "HH-MZ-006")) for code in found)  # 高龄津贴 lists 养老 as its keyword


def test_filters_combine_with_the_query_and_terms_all_match(client):
    body = search(client, "救助", category="social_assistance")
    assert body["items"] and all(i["category"] == "social_assistance" for i in body["items"])
    assert all(i["exercising_level"] == "4" for i in search(client, "补贴", level="4")["items"])
    assert codes(search(client, "残疾 护理")) == ["HH-MZ-008"]
    assert search(client, "无此事项词")["items"] == []
    assert codes(search(client, "ＨＨ-mz-001")) == ["HH-MZ-001"]  # full-width and case folded: the code


def test_township_filter_and_pages(client):
    all_items = search(client, township="431224101", limit=100)
    assert all_items["total"] == 44 and codes(all_items) == sorted(codes(all_items))
    first = search(client, "补贴", limit=2)
    second = search(client, "补贴", limit=2, cursor=first["next_cursor"])
    assert first["total"] == second["total"] > 4 and not set(codes(first)) & set(codes(second))
    assert client.http.get("/v1/services?q=x&township=999999999").status_code == 404
    wrong = client.http.get(f"/v1/services?q={quote('养老')}&cursor={first['next_cursor']}")
    assert wrong.status_code == 400 and wrong.json_body["details"][0]["code"] == "INVALID_CURSOR"
    assert client.http.get("/v1/services?q=" + "x" * 51).status_code == 400


def test_a_township_filter_lists_only_what_that_township_offers(client):
    # GIVEN a third township that offers two items only
    from tests.conftest import SEED
    import json as _json
    third = {**_json.loads((SEED / "townships.json").read_text())[1], "code": "431224102", "name": "第三乡（样例）",
             "offers": {"HH-MZ-001": {}, "HH-SB-002": {}}}
    catalog_uc.import_townships([third], container.catalog())
    # WHEN a villager of that township searches, THEN only what it offers comes back
    assert codes(search(client, township="431224102")) == ["HH-MZ-001", "HH-SB-002"]
    assert codes(search(client, "低保", township="431224102")) == ["HH-MZ-001"]
    assert search(client, "残疾", township="431224102")["items"] == []
    # AND the other townships still list every item they offer
    assert search(client, township="431224100", limit=100)["total"] == 44


def test_with_the_guangan_catalog_imported(client, capsys):
    records = catalog_uc.records_from_file("guangan_items.csv", GUANGAN_CSV.read_bytes())
    report = catalog_uc.import_catalog(records, container.catalog())
    assert report.created and not report.errors
    container.refresh_search_index()
    with aws_calls() as cold:
        started = time.perf_counter()
        body = search(client, "低保")
        cold_ms = (time.perf_counter() - started) * 1000
    assert codes(body)[0] == "HH-MZ-001"
    assert set(cold) == {"dynamodb.Query"}, cold  # the index, page by page: never a Scan
    timings = []
    with aws_calls() as warm:
        for query in ("低保", "养老", "残疾证", "社会救助", "教师资格"):
            started = time.perf_counter()
            found = search(client, query)
            timings.append((time.perf_counter() - started) * 1000)
            assert found["items"], query
    assert warm == []
    assert {"HH-SB-001", "HH-SB-002"} <= set(codes(search(client, "养老", limit=100)))
    with capsys.disabled():
        print(f"\nsearch index over {44 + len(records)} items: cold {len(cold)} Query calls, {cold_ms:.0f} ms; "
              f"warm 0 calls, {sum(timings) / len(timings):.1f} ms a search (in-process moto, chalice.test)")
