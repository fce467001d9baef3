"""Catalog files as officials keep them (issue 7 items 2 and 5): XLSX/CSV import with a per-row
report, all-or-nothing, idempotent reruns; export to XLSX/CSV that re-imports unchanged; the
GB/T 39046 JSON export; the CLI with its progress bar. moto in-process, the real Guang'an file."""
import copy
import csv
import functools
import io
import json

import pytest
from jsonschema import Draft202012Validator
from openpyxl import Workbook, load_workbook

from chalicelib import cli, container
from chalicelib.domain.catalog import content_hash
from chalicelib.usecases import catalog_changes, catalog_files
from tests.conftest import GUANGAN_CSV, ROOT, SEED, table_items

HEADINGS = ["事项编码", "事项名称", "事项类型", "行使层级", "实施主体/部门", "设定依据", "受理条件", "办理流程",
            "法定时限", "承诺时限", "收费标准"]
MATERIAL_HEADINGS = ["事项编码", "材料名称", "是否必要", "原件份数", "复印件份数", "备注"]


def official_row(code, name, **cells):
    """A row as a township official would fill it in (a dict by heading)."""
    row = {"事项编码": code, "事项名称": name, "事项类型": "行政给付", "行使层级": "乡镇级", "实施主体/部门": "乡镇人民政府",
           "设定依据": "《社会救助暂行办法》｜第九条\n《最低生活保障审核确认办法》",
           "受理条件": "户籍在本乡镇\n家庭人均收入低于当地低保标准",
           "办理流程": "申请｜申请人｜向乡镇提出书面申请\n受理｜乡镇｜当场受理｜即办\n审核｜乡镇｜入户调查｜10个工作日",
           "法定时限": 30, "承诺时限": "20个工作日", "收费标准": "不收费"}
    row.update(cells)
    return row


def workbook(rows, materials, headings=HEADINGS, material_headings=MATERIAL_HEADINGS):
    """An XLSX with the items on 事项 and the materials on 申报材料, Chinese headings."""
    book = Workbook()
    items = book.active
    items.title = "事项"
    items.append(headings)
    for row in rows:
        items.append([row.get(h) for h in headings])
    sheet = book.create_sheet("申报材料")
    sheet.append(material_headings)
    for row in materials:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def catalog_count():
    return sum(1 for i in table_items("bianmin-catalog") if i["entity"]["S"] == "item")


def problems_of(report):
    """``{(sheet, row, column, code)}`` of every problem in a report."""
    return {(e.get("sheet"), e["row"], p["column"], p["code"]) for e in report.to_dict()["errors"] for p in e["problems"]}


def test_the_guangan_file_imports_clean_and_loses_nothing(aws):
    # GIVEN the 1,135 real rows of Guang'an (names and codes only)
    data = GUANGAN_CSV.read_bytes()
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    # WHEN it is dry-run, THEN the report is clean and nothing is written
    dry = catalog_files.import_file(GUANGAN_CSV.name, data, container.catalog(), dry_run=True)
    assert (dry.errors, dry.total, len(dry.created), dry.written) == ([], 1135, 1135, 0)
    assert catalog_count() == 0
    # WHEN it is imported for real, THEN 1,135 items are readable, every code and name as published
    real = catalog_files.import_file(GUANGAN_CSV.name, data, container.catalog())
    assert (real.errors, real.written, real.write_error) == ([], 1135, None)
    stored = catalog_files.all_records(container.catalog())
    assert len(stored) == 1135
    assert {(r["code"], r["name"]) for r in stored} == {(r["itemCode"], r["name"]) for r in rows}
    assert {r["code"]: r["department"] for r in stored} == {r["itemCode"]: r["department"] for r in rows}
    # AND a rerun changes nothing
    again = catalog_files.import_file(GUANGAN_CSV.name, data, container.catalog())
    assert (again.unchanged, again.created, again.updated, again.written) == (1135, [], [], 0)


def test_an_officials_xlsx_imports_and_its_export_reimports_unchanged(aws):
    # GIVEN an XLSX with Chinese headings and the materials on a second sheet
    rows = [official_row("HH-XZ-001", "农村最低生活保障申请"),
            official_row("HH-XZ-002", "临时救助申请", 事项类型="5", 承诺时限="即办", 法定时限="5个工作日"),
            official_row("HH-XZ-003", "残疾人两项补贴申请", 行使层级="5", 收费标准="免费")]
    materials = [["HH-XZ-001", "居民身份证", "必要", 1, 1, "验原件留复印件"],
                 ["HH-XZ-001", "户口簿", "是", 1, 1, None],
                 ["HH-XZ-001", "收入证明", "非必要", None, 1, None],
                 ["HH-XZ-002", "临时救助申请书", "必要", 1, 0, "窗口提供格式文本"]]
    data = workbook(rows, materials)
    # WHEN imported
    report = catalog_files.import_file("乡镇事项.xlsx", data, container.catalog())
    assert report.errors == [] and sorted(report.created) == ["HH-XZ-001", "HH-XZ-002", "HH-XZ-003"]
    stored = {r["code"]: r for r in catalog_files.all_records(container.catalog())}
    first = stored["HH-XZ-001"]
    assert (first["item_type"], first["exercising_level"], first["department"]) == ("05", "5", "乡镇人民政府")
    assert first["publicities"]["materials"] == [
        {"name": "居民身份证", "required": True, "originals": 1, "copies": 1, "note": "验原件留复印件"},
        {"name": "户口簿", "required": True, "originals": 1, "copies": 1},
        {"name": "收入证明", "required": False, "copies": 1}]
    assert first["publicities"]["time_limit"] == {"legal": {"value": 30, "unit": "working_days"},
                                                  "promised": {"value": 20, "unit": "working_days"}}
    assert first["publicities"]["procedure"][1] == {"step": "受理", "level": "township", "description": "当场受理",
                                                    "time_limit": {"value": 0, "unit": "working_days"}}
    assert first["publicities"]["fees"] == {"standard": "不收费", "charged": False}
    assert first["publicities_complete"] is True
    assert stored["HH-XZ-003"]["publicities"]["materials"] == []
    # AND the same file again changes nothing
    again = catalog_files.import_file("乡镇事项.xlsx", data, container.catalog())
    assert (again.unchanged, again.written) == (3, 0)
    # WHEN the catalog is exported to XLSX and CSV and each is imported again, THEN nothing changes
    for fmt in ("xlsx", "csv"):
        exported = catalog_files.export_table(catalog_files.all_records(container.catalog()), fmt)
        back = catalog_files.import_file(f"export.{fmt}", exported, container.catalog())
        assert (back.errors, back.unchanged, back.created, back.updated) == ([], 3, [], []), fmt


def test_the_seed_catalog_round_trips_through_xlsx_and_csv_with_equal_hashes(seeded):
    # GIVEN the 44 seed items with every publicity (legal basis, procedure, materials, limits, fees)
    records = catalog_files.all_records(container.catalog())
    assert len(records) == 44
    for fmt in ("xlsx", "csv"):
        # WHEN exported and re-imported
        data = catalog_files.export_table(records, fmt)
        report = catalog_files.import_file(f"catalog.{fmt}", data, container.catalog())
        # THEN every content hash is equal: nothing to write
        assert (report.errors, report.unchanged, report.written) == ([], 44, 0), fmt
    # AND the XLSX has the materials on their own sheet, one row per material
    book = load_workbook(io.BytesIO(catalog_files.export_table(records, "xlsx")), read_only=True)
    assert book.sheetnames == ["事项", "申报材料"]
    material_rows = list(book["申报材料"].iter_rows(values_only=True))
    assert material_rows[0][:3] == ("事项编码", "材料名称", "是否必要")
    assert len(material_rows) - 1 == sum(len(r["publicities"]["materials"]) for r in records)


def test_text_that_looks_like_a_formula_is_exported_as_text_and_reimports_unchanged(seeded):
    # GIVEN an item whose name and materials start like spreadsheet formulas
    records = catalog_files.all_records(container.catalog())[:2]
    tricky = copy.deepcopy(records[0])
    tricky["name"] = '=HYPERLINK("http://evil.example","点我")'
    tricky["publicities"]["materials"][0]["name"] = "+cmd|' /C calc'!A0"
    tricky["publicities"]["materials"][1]["note"] = "@SUM(1+1)"
    records[0] = tricky
    # WHEN exported, THEN a spreadsheet shows the text instead of running it
    data = catalog_files.export_table(records, "csv")  # raises when a record does not re-import the same
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert '\'=HYPERLINK("http://evil.example","点我")' in rows[1]
    assert not any(cell.startswith(("=", "+", "@")) for row in rows for cell in row)
    book = load_workbook(io.BytesIO(catalog_files.export_table(records, "xlsx")))
    cells = [c for sheet in book for row in sheet.iter_rows() for c in row if c.value is not None]
    assert all(c.data_type != "f" for c in cells)
    assert tricky["name"] in [c.value for c in cells]
    # AND both files re-import to exactly the same content
    container.catalog().put_items([(tricky, content_hash(tricky), 2)])
    for fmt in ("csv", "xlsx"):
        report = catalog_files.import_file(f"x.{fmt}", catalog_files.export_table(records, fmt), container.catalog())
        assert (report.errors, report.unchanged, report.written) == ([], 2, 0), fmt


def test_a_broken_xlsx_is_reported_per_row_and_column_and_writes_nothing(seeded):
    # GIVEN a file without the 行使层级 column, a bad code, a duplicate code, a bad item type, bad
    # time limits, an empty name, and a materials row for a code not on the items sheet
    headings = [h for h in HEADINGS if h != "行使层级"]
    rows = [official_row("HH-OK-001", "农村最低生活保障申请"),                     # row 2: fine
            official_row("坏 编码!", "临时救助申请"),                               # row 3
            official_row("HH-OK-001", "重复的事项"),                               # row 4
            official_row("HH-OK-004", "事项类型错误", 事项类型="99"),                # row 5
            official_row("HH-OK-005", "时限错误", 法定时限="三十天", 承诺时限="2个月"),  # row 6
            official_row("HH-OK-006", "承诺超过法定", 法定时限="10个工作日", 承诺时限="20个工作日"),  # row 7
            official_row("HH-OK-007", "")]                                        # row 8
    materials = [["HH-OK-001", "居民身份证", "必要", 1, 1, None],
                 ["HH-NOPE-9", "户口簿", "必要", 1, 1, None],                        # row 3
                 ["HH-OK-001", "收入证明", "也许", 1, "两", None],                    # row 4
                 ["HH-OK-004", "证", "必要", 1, 0, None]]                             # row 5: name too short
    data = workbook(rows, materials, headings=headings)
    before = len(table_items("bianmin-catalog"))
    # WHEN dry-run, THEN every problem is listed with sheet, Excel row, column heading and code
    report = catalog_files.import_file("broken.xlsx", data, container.catalog(), dry_run=True)
    found = problems_of(report)
    assert found == {
        ("事项", 1, "行使层级", "COLUMN_MISSING"),
        ("事项", 3, "事项编码", "FIELD_FORMAT"),
        ("事项", 4, "事项编码", "DUPLICATE_CODE"),
        ("事项", 5, "事项类型", "FIELD_ENUM"),
        ("事项", 6, "法定时限", "TIME_LIMIT_FORMAT"),
        ("事项", 6, "承诺时限", "UNKNOWN_UNIT"),
        ("事项", 7, "承诺时限", "PROMISED_EXCEEDS_LEGAL"),
        ("事项", 8, "事项名称", "FIELD_REQUIRED"),
        ("申报材料", 3, "事项编码", "UNKNOWN_ITEM_CODE"),
        ("申报材料", 4, "是否必要", "YES_NO_FORMAT"),
        ("申报材料", 4, "复印件份数", "COUNT_FORMAT"),
        ("申报材料", 5, "材料名称", "FIELD_TOO_SHORT"),
    }, found
    errors = report.to_dict()["errors"]
    duplicate = next(e for e in errors if e["row"] == 4 and e.get("sheet") == "事项")
    assert duplicate["code"] == "HH-OK-001" and "第2行" in duplicate["problems"][0]["message"]
    assert all(p["message"] and p["field"] for e in errors for p in e["problems"])
    # AND a real run of the same file writes nothing either
    real = catalog_files.import_file("broken.xlsx", data, container.catalog())
    assert problems_of(real) == found and real.written == 0
    assert len(table_items("bianmin-catalog")) == before


def test_materials_written_in_one_cell_follow_the_marker_convention(aws):
    # GIVEN materials in the 申报材料 cell, numbered, separated by ；and newlines, with markers
    cell = "1.居民身份证（必要，原件1份，复印件1份）；2.户口簿（户主页）（必要）\n3、收入证明（非必要，出具单位：村委会，备注：无收入的写承诺书）"
    headings = HEADINGS + ["申报材料"]
    rows = [official_row("HH-CELL-01", "一格材料", 申报材料=cell),
            official_row("HH-CELL-02", "缺少标记", 申报材料="居民身份证")]
    report = catalog_files.import_file("cell.xlsx", workbook(rows, [], headings=headings), container.catalog())
    assert problems_of(report) == {("事项", 3, "申报材料", "MATERIAL_MARK_MISSING")}
    rows.pop()
    report = catalog_files.import_file("cell.xlsx", workbook(rows, [], headings=headings), container.catalog())
    assert report.errors == [] and report.written == 1
    stored = catalog_files.all_records(container.catalog())[0]
    assert stored["publicities"]["materials"] == [
        {"name": "居民身份证", "required": True, "originals": 1, "copies": 1},
        {"name": "户口簿（户主页）", "required": True},
        {"name": "收入证明", "required": False, "issuing_body": "村委会", "note": "无收入的写承诺书"}]


def test_english_field_names_are_read_as_headings_too(aws):
    text = ("code,name,department,item_type,exercising_level,category,delegation,keywords\r\n"
            "HH-EN-001,农村低保申请,乡镇人民政府,05,5,social_assistance,entrusted,低保、救助\r\n")
    report = catalog_files.import_file("english.csv", text.encode("gb18030"), container.catalog())
    assert report.errors == [] and report.created == ["HH-EN-001"]
    stored = catalog_files.all_records(container.catalog())[0]
    assert (stored["category"], stored["delegation"], stored["keywords"]) == ("social_assistance", "entrusted",
                                                                             ["低保", "救助"])


def test_cli_import_draws_a_bar_only_when_asked_or_on_a_terminal(aws, capsys):
    # GIVEN stderr is not a terminal (captured): no bar, only the JSON report on stdout
    assert cli.main(["import-catalog", str(GUANGAN_CSV), "--dry-run"]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and json.loads(quiet.out)["created"] == 1135
    # WHEN the bar is forced (what a terminal gets), THEN it is drawn on stderr for both stages
    assert cli.main(["import-catalog", str(GUANGAN_CSV), "--progress"]) == 0
    loud = capsys.readouterr()
    assert "检查" in loud.err and "写入" in loud.err and "1135/1135" in loud.err
    assert json.loads(loud.out)["written"] == 1135


def test_a_terminal_gets_the_bar_by_default():
    class Terminal(io.StringIO):
        def isatty(self):
            return True
    stream = Terminal()
    bars = cli.ProgressBars(None, stream)
    for done in range(1, 101):
        bars("check", done, 100)
    bars.close()
    assert "100/100" in stream.getvalue()
    assert not cli.ProgressBars(None, io.StringIO()).enabled


def test_gbt39046_export_validates_and_contains_every_item(seeded, tmp_path):
    out = tmp_path / "catalog.json"
    assert cli.main(["catalog-export", "--format", "gbt39046", str(out)]) == 0
    document = json.loads(out.read_text(encoding="utf-8"))
    schema = json.loads((ROOT / "schemas" / "catalog_gbt39046.json").read_text(encoding="utf-8"))
    Draft202012Validator(schema).validate(document)
    seed = json.loads((SEED / "catalog_items.json").read_text(encoding="utf-8"))
    assert document["item_count"] == len(seed) == 44
    assert {i["item_code"]: i["item_name"] for i in document["items"]} == {r["code"]: r["name"] for r in seed}
    first = next(i for i in document["items"] if i["item_code"] == "HH-MZ-001")
    assert (first["item_type_code"], first["item_type_name"], first["case_type_code"]) == ("05", "行政给付", "2")
    assert first["promised_time_limit"] == {"value": 20, "unit": "working_days", "unit_name": "工作日"}
    assert all(m["required"] in (True, False) for m in first["materials"])


def test_cli_exports_xlsx_and_csv_that_reimport_unchanged(seeded, tmp_path, capsys):
    for fmt in ("xlsx", "csv"):
        out = tmp_path / f"catalog.{fmt}"
        assert cli.main(["catalog-export", "--format", fmt, str(out)]) == 0
        assert json.loads(capsys.readouterr().out)["items"] == 44
        assert cli.main(["import-catalog", str(out)]) == 0
        report = json.loads(capsys.readouterr().out)
        assert (report["unchanged"], report["created"], report["updated"], report["written"]) == (44, 0, 0, 0)


@pytest.mark.parametrize("name,data,code", [
    ("x.xlsx", b"not a zip", "FILE_NOT_XLSX"),
    ("x.csv", b"\xff\xfe\x00\x00", "FILE_ENCODING"),
])
def test_unreadable_files_are_refused_with_a_code(name, data, code):
    with pytest.raises(Exception) as caught:
        catalog_files.read_catalog_file(name, data)
    assert caught.value.details[0].code == code


def test_aws_failing_midway_is_reported_and_a_rerun_finishes_the_job(aws, monkeypatch):
    # GIVEN DynamoDB refuses the heads of the third chunk (throttled beyond botocore's retries):
    # each chunk of 25 rows is 3 BatchWriteItem calls (markers, version rows, heads)
    import botocore.client
    from botocore.exceptions import ClientError
    original, writes = botocore.client.BaseClient._make_api_call, []

    def throttled(self, operation, params):
        if operation == "BatchWriteItem":
            writes.append(1)
            if len(writes) == 9:
                raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                                  operation)
        return original(self, operation, params)
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", throttled)
    data = GUANGAN_CSV.read_bytes()
    publish = functools.partial(catalog_changes.publish_pending, catalog=container.catalog(),
                                publisher=container.publicity_publisher())
    # WHEN the Guang'an file is imported, THEN the report says how far it got and why it stopped
    first = catalog_files.import_file(GUANGAN_CSV.name, data, container.catalog())
    assert first.written == 50 and "ProvisionedThroughputExceeded" in first.write_error
    assert catalog_count() == 50
    # AND the notices of the 25 rows not written wait for them instead of going out early
    assert publish() == {"changes": 50, "messages": 0, "failed": 0, "waiting": 25}
    # AND running the same file again writes the rest only, then nothing, and every row's change goes out
    second = catalog_files.import_file(GUANGAN_CSV.name, data, container.catalog())
    assert (second.unchanged, len(second.created), second.written, second.write_error) == (50, 1085, 1085, None)
    assert publish() == {"changes": 1085, "messages": 0, "failed": 0, "waiting": 0}
    third = catalog_files.import_file(GUANGAN_CSV.name, data, container.catalog())
    assert (third.unchanged, third.written) == (1135, 0)
    assert catalog_count() == 1135
