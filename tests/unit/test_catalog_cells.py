"""The cell conventions of catalog files (docs/catalog-import.md), without AWS: time limits,
materials in one cell, codes given as labels, and every seed record surviving row -> record."""
import json

import pytest

from chalicelib.usecases import catalog_files as cf
from tests.conftest import SEED


@pytest.mark.parametrize("text,expected", [
    ("即办", {"value": 0, "unit": "working_days"}),
    ("20", {"value": 20, "unit": "working_days"}),
    ("20个工作日", {"value": 20, "unit": "working_days"}),
    ("20 工作日", {"value": 20, "unit": "working_days"}),
    ("15日", {"value": 15, "unit": "calendar_days"}),
    ("15天", {"value": 15, "unit": "calendar_days"}),
    ("0个自然日", {"value": 0, "unit": "calendar_days"}),
])
def test_time_limits_officials_write_are_read(text, expected):
    assert cf.parse_limit(text) == (expected, None)
    assert cf.parse_limit(cf.limit_text(expected)) == (expected, None)


@pytest.mark.parametrize("text,code", [
    ("三十天", "TIME_LIMIT_FORMAT"), ("2个月", "UNKNOWN_UNIT"), ("8小时", "UNKNOWN_UNIT"),
    ("-3", "TIME_LIMIT_FORMAT"), ("2.5个工作日", "TIME_LIMIT_FORMAT"), ("", "TIME_LIMIT_FORMAT"),
])
def test_bad_time_limits_have_a_stable_code(text, code):
    limit, problem = cf.parse_limit(text)
    assert limit is None and problem.code == code and problem.message


def test_materials_split_on_semicolons_outside_brackets_only():
    cell = "身份证（必要；原件1份）；户口簿（必要）\n承诺书（非必要）"
    assert cf._split_outside_brackets(cell) == ["身份证（必要；原件1份）", "户口簿（必要）", "承诺书（非必要）"]


@pytest.mark.parametrize("code,labels,expected", [
    ("5", cf.ITEM_TYPE_LABELS, "05"), ("05", cf.ITEM_TYPE_LABELS, "05"), ("行政给付", cf.ITEM_TYPE_LABELS, "05"),
    ("05 行政给付", cf.ITEM_TYPE_LABELS, "05"), ("公共服务", cf.ITEM_TYPE_LABELS, "20"), ("99", cf.ITEM_TYPE_LABELS, "99"),
])
def test_item_types_are_read_as_code_or_label(code, labels, expected):
    assert cf._code_of(code, labels, pad=True) == expected


def test_every_seed_record_survives_the_row_shape_both_ways():
    for record in json.loads((SEED / "catalog_items.json").read_text(encoding="utf-8")):
        for in_cell in (True, False):
            cells = cf.row_of(record, materials_in_cell=in_cell)
            back, problems = cf.record_from_row(cells)
            if not in_cell:
                back["publicities"]["materials"] = record["publicities"]["materials"]  # they go on their sheet
            assert problems == [] and back == record, record["code"]


def test_an_empty_list_is_written_as_none_and_read_back_empty():
    record = {"code": "HH-T-001", "name": "测试事项", "category": "other", "department": "乡镇人民政府",
              "item_type": "20", "exercising_level": "5", "delegation": "own", "special_procedures": [],
              "keywords": []}
    cells = cf.row_of(record, materials_in_cell=True)
    assert cells["special_procedures"] == cells["keywords"] == "无"
    assert cf.record_from_row(cells) == (record, [])


def test_problem_paths_name_the_file_columns():
    parsed = cf.read_table([["事项编码", "事项名称", "实施主体/部门", "法定时限"]])
    assert parsed.column_of("department") == "实施主体/部门"
    assert parsed.column_of("publicities.time_limit.legal.value") == "法定时限"
    assert parsed.column_of("publicities.time_limit.promised.value") == "承诺时限"
    assert parsed.column_of("publicities.materials[2].name") == "申报材料"
    assert parsed.column_of("(row)") is None
    assert {p.code for e in parsed.file_errors for p in e.problems} == {"COLUMN_MISSING"}


def test_the_api_loads_neither_openpyxl_nor_tqdm_but_reading_an_xlsx_does():
    from tests.unit.test_lazy_imports import _loaded_after
    assert not _loaded_after("import app; import chalicelib.usecases.catalog_files, chalicelib.cli") & {
        "openpyxl", "tqdm"}
    assert "openpyxl" in _loaded_after("from chalicelib.usecases import catalog_files; "
                                       "catalog_files.export_table([], 'xlsx')")


def test_a_title_row_above_the_headings_is_skipped_and_rows_keep_their_excel_numbers():
    rows = [("广安区便民服务事项清单", None, None), (None, None, None),
            ("事项编码", "事项名称", "实施主体"), ("HH-T-001", "测试事项", "乡镇人民政府")]
    parsed = cf.read_table(rows, sheet="事项")
    assert parsed.header_row == 3 and parsed.rows == [4] and parsed.records[0]["name"] == "测试事项"
    assert {(e.row, p.code) for e in parsed.file_errors for p in e.problems} == {
        (3, "COLUMN_MISSING")}  # 事项类型 and 行使层级, said on the heading row
