"""Catalog import (administrator and seed) and the public catalog API."""
import json

import pytest

from chalicelib import cli, container
from chalicelib.usecases import catalog as catalog_uc
from tests.conftest import GUANGAN_CSV, SEED, table_items

EIGHT = ["legal_basis", "conditions", "procedure", "materials", "time_limit", "fees",
         "handling_staff", "supervision_phone"]


def all_services(client, query=""):
    items, cursor, pages = [], None, 0
    while True:
        url = f"/v1/services?limit=7{query}" + (f"&cursor={cursor}" if cursor else "")
        response = client.http.get(url)
        assert response.status_code == 200, response.body
        page = response.json_body
        items += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            return items, pages


def test_seed_serves_at_least_40_items_with_all_eight_publicities(client):
    items, pages = all_services(client)
    assert len(items) >= 40 and pages > 1
    assert len({i["code"] for i in items}) == len(items)
    for summary in items:
        detail = client.http.get(f"/v1/services/{summary['code']}").json_body
        publicities = detail["eight_publicities"]
        assert list(publicities) == EIGHT
        for key in EIGHT:
            value = publicities[key]["value"]
            assert value, (summary["code"], key)
        assert publicities["handling_staff"]["value"]["staff"], summary["code"]
        assert publicities["supervision_phone"]["value"]["sample"] is True  # marked sample values


def test_the_categories_of_the_huaihua_report_are_covered(client):
    categories = {i["category"] for i in all_services(client)[0]}
    assert {"social_assistance", "elderly_disability", "social_insurance", "family_planning", "housing",
            "agriculture", "civil_affairs", "judicial", "petition"} <= categories
    names = " ".join(i["name"] for i in all_services(client)[0])
    for word in ("低保", "特困", "临时救助", "医疗救助", "高龄津贴", "残疾人", "养老保险", "医保",
                 "生育登记", "婚育证明", "独生子女", "危房改造", "宅基地"):
        assert word in names, word
    homestead = next(i for i in all_services(client)[0] if "宅基地" in i["name"])
    assert homestead["delegation"] == "entrusted"


def test_filter_by_category_and_level(client):
    items, _ = all_services(client, "&category=social_assistance")
    assert items and all(i["category"] == "social_assistance" for i in items)
    items, _ = all_services(client, "&level=5")
    assert items and all(i["exercising_level"] == "5" for i in items)
    assert client.http.get("/v1/services?level=6&category=petition").json_body["items"] == []


@pytest.mark.parametrize("query,field", [("limit=0", "limit"), ("limit=abc", "limit"), ("level=9", "level"),
                                         ("category=x", "category"), ("cursor=bm90IGpzb24", "cursor"),
                                         ("color=red", "color")])
def test_bad_query_parameters_name_the_field(client, query, field):
    response = client.http.get(f"/v1/services?{query}")
    assert response.status_code == 400
    assert field in {d["field"] for d in response.json_body["details"]}


def test_a_cursor_from_another_filter_is_refused(client):
    cursor = client.http.get("/v1/services?limit=2&category=housing").json_body["next_cursor"]
    response = client.http.get(f"/v1/services?limit=2&cursor={cursor}")
    assert response.status_code == 400 and response.json_body["details"][0]["code"] == "INVALID_CURSOR"


def test_unknown_service_is_404(client):
    response = client.http.get("/v1/services/HH-XX-999")
    assert response.status_code == 404 and response.json_body["code"] == "NOT_FOUND"


def test_second_seed_writes_nothing(seeded):
    report = cli.import_file(SEED / "catalog_items.json")
    assert (report.total, report.unchanged, report.created, report.updated) == (44, 44, [], [])


def test_guangan_catalog_imports_every_item_flagged_incomplete(seeded):
    # GIVEN the 1,135 real items of Guang'an (names, codes and type codes only)
    report = cli.import_file(GUANGAN_CSV)
    assert report.errors == []
    assert (report.total, len(report.created), report.incomplete) == (1135, 1135, 1135)
    # THEN every code is stored once, as published, flagged incomplete
    stored = {i["code"]["S"]: i for i in table_items("bianmin-catalog") if i["entity"]["S"] == "item"}
    import csv
    codes = [row["itemCode"] for row in csv.DictReader(GUANGAN_CSV.open(encoding="utf-8"))]
    assert set(codes) <= set(stored) and len(set(codes)) == 1135
    sample = json.loads(stored[codes[0]]["doc"]["S"])
    assert sample["publicities_complete"] is False and sample["implementation_code"] == codes[0]
    assert sample["item_type"] == "10"
    # AND a second run changes nothing
    again = cli.import_file(GUANGAN_CSV)
    assert again.unchanged == 1135 and not again.created and not again.updated


def test_a_broken_file_is_reported_per_row_and_writes_nothing(seeded):
    records = json.loads((SEED / "catalog_items.json").read_text(encoding="utf-8"))[:3]
    good = dict(records[0], code="HH-NEW-001")
    duplicate = dict(records[1], code="HH-NEW-001")
    bad_type = dict(records[2], code="HH-NEW-003", item_type="99")
    missing = {k: v for k, v in records[2].items() if k != "name"} | {"code": "HH-NEW-004"}
    before = len(table_items("bianmin-catalog"))
    report = catalog_uc.import_catalog([good, duplicate, bad_type, missing], container.catalog())
    assert {(e.row, p.path, p.code) for e in report.errors for p in e.problems} == {
        (2, "code", "DUPLICATE_CODE"), (3, "item_type", "FIELD_ENUM"), (4, "name", "FIELD_REQUIRED")}
    assert len(table_items("bianmin-catalog")) == before


def test_csv_without_required_columns_is_refused(seeded):
    with pytest.raises(Exception) as caught:
        catalog_uc.records_from_file("x.csv", "name,code\n低保,1\n".encode())
    assert {d.path for d in caught.value.details} >= {"itemCode", "taskType"}


def forged(key, scope="|"):
    import base64
    raw = json.dumps({"k": key, "s": scope}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("query,key,scope", [
    ("", {"code": {"S": "HH-MZ-003"}}, "|"),                                       # index key missing
    ("&category=housing", {"code": {"S": "HH-ZJ-001"}, "listing": {"S": "item"}}, "housing|"),
    ("", {"code": {"S": "HH-MZ-003"}, "listing": {"S": "item"}, "x": {"S": "1"}}, "|"),  # extra key
    ("", {"code": {"S": "H" * 100}, "listing": {"S": "item"}}, "|"),
    ("", {"code": {"N": "1"}, "listing": {"S": "item"}}, "|"),
    ("&level=5", {"code": {"S": "HH-MZ-003"}, "exercising_level": {"S": "6"}}, "|5"),
])
def test_forged_cursors_are_refused_not_500(client, query, key, scope):
    response = client.http.get(f"/v1/services?limit=2{query}&cursor={forged(key, scope)}")
    assert response.status_code == 400 and response.json_body["details"][0]["code"] == "INVALID_CURSOR"


def test_level_and_category_filters_page_through_their_own_index(client):
    both, _ = all_services(client, "&category=social_assistance&level=5")
    assert both and all(i["category"] == "social_assistance" and i["exercising_level"] == "5" for i in both)
    level, _ = all_services(client, "&level=5")
    assert len(level) > len(both)


def test_a_row_too_large_or_promising_more_than_the_law_is_refused_before_writing(seeded):
    records = json.loads((SEED / "catalog_items.json").read_text(encoding="utf-8"))[:3]
    huge = dict(records[0], code="HH-BIG-001", source="长" * 1999,
                keywords=["关键词" * 60] * 50, special_procedures=["程序" * 100] * 50,
                co_departments=["部门" * 100] * 50)
    huge["publicities"] = dict(huge["publicities"], conditions=["条件" * 1000] * 50)
    slow = json.loads(json.dumps(records[1]))
    slow["code"] = "HH-SLOW-001"
    slow["publicities"]["time_limit"] = {"legal": {"value": 20, "unit": "working_days"},
                                         "promised": {"value": 30, "unit": "working_days"}}
    endless = json.loads(json.dumps(records[2]))
    endless["code"] = "HH-LONG-001"
    endless["publicities"]["time_limit"]["promised"]["value"] = 100000
    before = len(table_items("bianmin-catalog"))
    report = catalog_uc.import_catalog([huge, slow, endless], container.catalog())
    assert {(e.row, p.code) for e in report.errors for p in e.problems} == {
        (1, "ROW_TOO_LARGE"), (2, "PROMISED_EXCEEDS_LEGAL"), (3, "FIELD_RANGE")}
    assert len(table_items("bianmin-catalog")) == before


def test_township_office_hours_must_be_a_time_of_day(seeded):
    township = json.loads((SEED / "townships.json").read_text(encoding="utf-8"))[0]
    township["office_hours"] = {"open": "29:00", "close": "17:30"}
    with pytest.raises(Exception) as caught:
        catalog_uc.import_townships([township], container.catalog())
    assert [d.path for d in caught.value.details] == ["[0].office_hours.open"]


def test_an_existing_local_table_gains_new_indexes(aws):
    import boto3

    from infra.local.stack import ensure_resources, load_template
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    template = load_template()
    props = template["Resources"]["CatalogTable"]["Properties"]
    ddb.delete_table(TableName=props["TableName"])
    old = dict(props, GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"][:2],
               AttributeDefinitions=[a for a in props["AttributeDefinitions"]
                                     if a["AttributeName"] in ("code", "listing", "category")])
    ddb.create_table(**{k: old[k] for k in ("TableName", "AttributeDefinitions", "KeySchema", "BillingMode",
                                             "GlobalSecondaryIndexes")})
    ensure_resources(boto3.session.Session(region_name="us-east-1"), template)
    indexes = {i["IndexName"] for i in ddb.describe_table(TableName=props["TableName"])["Table"]["GlobalSecondaryIndexes"]}
    assert indexes == {i["IndexName"] for i in props["GlobalSecondaryIndexes"]}


@pytest.mark.parametrize("legal,promised", [
    ({"value": 1, "unit": "calendar_days"}, {"value": 1000, "unit": "working_days"}),
    ({"value": 0, "unit": "working_days"}, {"value": 5, "unit": "working_days"}),
    ({"value": 20, "unit": "working_days"}, {"value": 5.0, "unit": "working_days"}),
])
def test_promises_are_checked_across_units_and_types(seeded, legal, promised):
    record = json.loads((SEED / "catalog_items.json").read_text(encoding="utf-8"))[0]
    record["code"] = "HH-ODD-001"
    record["publicities"]["time_limit"] = {"legal": legal, "promised": promised}
    report = catalog_uc.import_catalog([record], container.catalog())
    assert report.errors and not report.created


@pytest.mark.parametrize("data", [b"[" * 100000, b"[" * 40 + b"]" * 40, b"[" + b"9" * 5000 + b"]", b'[{"name": "\\ud800"}]',
                                  b"\xef\xbb\xbf[1"])
def test_unreadable_json_files_give_a_report_not_a_traceback(data):
    with pytest.raises(Exception) as caught:
        catalog_uc.records_from_file("items.json", data)
    assert caught.value.details[0].path == "(body)"


def test_a_json_file_with_a_bom_is_read():
    assert catalog_uc.records_from_file("items.json", b"\xef\xbb\xbf[]") == []


def test_a_broken_csv_gives_a_report():
    with pytest.raises(Exception) as caught:
        catalog_uc.records_from_file("items.csv", b"department,main_item,name,itemCode,taskType,areaCode\r" + b"x" * 10)
    assert caught.value.code == "VALIDATION_FAILED"
