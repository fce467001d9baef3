"""Catalog files as officials keep them: XLSX and CSV import, XLSX/CSV/GB/T 39046 export.

The table shape (documented for people in ``docs/catalog-import.md``):

- one row per item on the items sheet (the sheet named 事项/事项目录/事项清单, else the first
  sheet that is not 申报材料); row 1 holds the headings, in Chinese as officials write them
  (:data:`COLUMNS`) or as the English field names of ``schemas/catalog_item.json``;
- materials either in the 申报材料 cell of the item's row (one material per line, or separated by
  ；/; outside brackets, each ending with a marker such as ``（必要，原件1份，复印件1份）``) or on a
  second sheet named 申报材料 (:data:`MATERIAL_COLUMNS`: one row per material);
- lists (受理条件, 特别程序, 联办机构 ...) one entry per line; structured entries (设定依据,
  办理流程, 决定机关, 并联审批部门) with their parts separated by ``｜`` (or ``|``).

The Guang'an CSV export (``itemCode, taskType`` ...) is recognised by its headings and read by
:func:`..catalog.records_from_guangan_csv`. openpyxl is imported only when an XLSX is read or
written (it is a CLI/admin dependency, not loaded by the API).

Validation of the records themselves is :func:`..catalog.import_catalog` (schema, item rules,
duplicate codes); this module adds what only the file knows: row numbers, column headings,
cell formats (time limits, yes/no, codes given as labels) and the materials sheet.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ..domain.calendar import CALENDAR_DAYS, WORKING_DAYS
from ..domain.catalog import CATEGORY_LABELS, content_hash
from ..domain.errors import FieldProblem, ValidationFailed
from . import catalog as catalog_uc

ITEMS_SHEET = "事项"
MATERIALS_SHEET = "申报材料"
_ITEM_SHEET_NAMES = ("事项", "事项目录", "事项清单")

#: GB/T 39046-2020 appendix A item type codes and their labels.
ITEM_TYPE_LABELS = {"01": "行政许可", "02": "行政处罚", "03": "行政强制", "04": "行政征收", "05": "行政给付",
                    "06": "行政检查", "07": "行政确认", "08": "行政奖励", "09": "行政裁决", "10": "其他行政权力",
                    "20": "公共服务"}
#: GB/T 39046 exercising level codes (4 county, 5 township/street, 6 village/community).
LEVEL_LABELS = {"1": "国家级", "2": "省级", "3": "市级", "4": "县级", "5": "乡镇（街道）级", "6": "村（社区）级"}
_LEVEL_ALIASES = {"国家": "1", "省": "2", "省级": "2", "市": "3", "市级": "3", "县": "4", "县级": "4", "区县级": "4",
                  "乡镇": "5", "乡镇级": "5", "镇级": "5", "乡级": "5", "街道": "5", "镇（乡、街道）级": "5",
                  "乡（镇、街道）级": "5", "村": "6", "村级": "6", "社区": "6", "村（居）级": "6"}
DELEGATION_LABELS = {"devolved": "下放", "entrusted": "委托", "own": "自有"}
PROCEDURE_LEVEL_LABELS = {"applicant": "申请人", "village": "村", "township": "乡镇", "county": "县"}
_PROCEDURE_LEVEL_ALIASES = {"村级": "village", "村（居）委会": "village", "乡镇级": "township", "乡镇人民政府": "township",
                            "县级": "county", "县直部门": "county"}
HANDLING_FORM_LABELS = {"1": "窗口办理", "2": "网上办理", "3": "移动端办理", "4": "快递"}
_YES = {"是", "y", "yes", "true", "1", "✓", "√"}
_NO = {"否", "n", "no", "false", "0"}
_MATERIAL_REQUIRED = {"必要", "必需", "必须", "必交", "必要材料"}
_MATERIAL_OPTIONAL = {"非必要", "非必需", "选交", "可选", "容缺", "非必要材料"}
_SEP = re.compile(r"\s*[｜|]\s*")
#: A list cell holding only this means an empty list (as officials write 无 for "none").
NONE_TEXT = "无"


@dataclass(frozen=True)
class Column:
    """One column of the items sheet: ``key`` (our name), ``heading`` (what the export writes),
    ``aliases`` (other headings read, the English field names among them)."""

    key: str
    heading: str
    aliases: tuple[str, ...] = ()
    required: bool = False


#: The items sheet, in export order. Required columns must be present in an import file.
COLUMNS = (
    Column("code", "事项编码", ("事项代码", "code"), True),
    Column("name", "事项名称", ("name",), True),
    Column("basic_code", "基本编码", ("basic_code",)),
    Column("implementation_code", "实施编码", ("implementation_code",)),
    Column("category", "事项分类", ("服务类别", "category")),
    Column("department", "实施主体", ("实施主体/部门", "实施部门", "实施机构", "部门", "department"), True),
    Column("item_type", "事项类型", ("item_type",), True),
    Column("exercising_level", "行使层级", ("exercising_level",), True),
    Column("delegation", "权力来源", ("承接方式", "delegation")),
    Column("service_object", "服务对象", ("service_object",)),
    Column("handling_forms", "办理形式", ("handling_forms",)),
    Column("co_departments", "联办机构", ("联办部门", "co_departments")),
    Column("deciding_department", "决定机关", ("决定部门", "deciding_department")),
    Column("joint_departments", "并联审批部门", ("joint_departments",)),
    Column("special_procedures", "特别程序", ("special_procedures",)),
    Column("appointment_supported", "是否支持预约", ("支持预约", "appointment_supported")),
    Column("online_supported", "是否网上办理", ("网上办理", "online_supported")),
    Column("keywords", "关键词", ("keywords",)),
    Column("legal_basis", "设定依据", ("办事依据", "法律依据", "legal_basis", "publicities.legal_basis")),
    Column("conditions", "受理条件", ("办事条件", "申请条件", "conditions", "publicities.conditions")),
    Column("procedure", "办理流程", ("办理程序", "procedure", "publicities.procedure")),
    Column("materials", "申报材料", ("申请材料", "materials", "publicities.materials")),
    Column("legal_limit", "法定时限", ("法定办结时限", "legal_time_limit", "publicities.time_limit.legal")),
    Column("promised_limit", "承诺时限", ("承诺办结时限", "promised_time_limit", "publicities.time_limit.promised")),
    Column("fees_charged", "是否收费", ("fees_charged", "publicities.fees.charged")),
    Column("fees_standard", "收费标准", ("fee_standard", "fees", "publicities.fees.standard")),
    Column("fees_basis", "收费依据", ("fee_basis", "publicities.fees.basis")),
    Column("source", "来源", ("信息来源", "source")),
)

#: The materials sheet (申报材料): one row per material of an item.
MATERIAL_COLUMNS = (
    Column("code", "事项编码", ("code", "item_code"), True),
    Column("name", "材料名称", ("name",), True),
    Column("required", "是否必要", ("必要性", "是否必需", "required"), True),
    Column("originals", "原件份数", ("原件", "originals")),
    Column("copies", "复印件份数", ("复印件", "copies")),
    Column("issuing_body", "出具单位", ("来源渠道", "issuing_body")),
    Column("note", "备注", ("note",)),
)

_PUBLICITY_KEYS = ("legal_basis", "conditions", "procedure", "materials", "legal_limit", "promised_limit",
                   "fees_charged", "fees_standard", "fees_basis")

#: Field path prefix -> column key, to name the column of a schema or rule problem.
_PATH_COLUMNS = (
    ("publicities.time_limit.legal", "legal_limit"), ("publicities.time_limit.promised", "promised_limit"),
    ("publicities.time_limit", "promised_limit"), ("publicities.fees.charged", "fees_charged"),
    ("publicities.fees.basis", "fees_basis"), ("publicities.fees", "fees_standard"),
    ("publicities.legal_basis", "legal_basis"), ("publicities.conditions", "conditions"),
    ("publicities.procedure", "procedure"), ("publicities.materials", "materials"),
)


@dataclass
class ParsedFile:
    """What :func:`read_table` made of a file: the records, each one's row number, problems
    found in its cells (by record index), problems elsewhere in the file, the headings used."""

    records: list[dict[str, Any]]
    rows: list[int]
    sheet: str | None = None
    cell_problems: dict[int, list[FieldProblem]] = field(default_factory=dict)
    file_errors: list[catalog_uc.RowProblem] = field(default_factory=list)
    headings: dict[str, str] = field(default_factory=dict)
    header_row: int = 1
    #: item code -> the 申报材料 sheet's row of each of its materials (by index), and that sheet's headings
    material_rows: dict[str, list[int]] = field(default_factory=dict)
    material_headings: dict[str, str] = field(default_factory=dict)

    def column_of(self, path: str) -> str | None:
        """The heading of the column a field path came from (or should have come from)."""
        key = path.split(".")[0].split("[")[0]
        for prefix, column in _PATH_COLUMNS:
            if path.startswith(prefix):
                key = column
                break
        return self.headings.get(key) or _BY_KEY[key].heading if key in _BY_KEY else None


_BY_KEY = {c.key: c for c in COLUMNS}


# --- cells -------------------------------------------------------------------------------------

def _text(value: Any) -> str:
    """A cell as text: numbers without a trailing ``.0``, dates as ISO, None as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value).replace("\r\n", "\n").replace("\r", "\n").strip()


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def _split_outside_brackets(text: str) -> list[str]:
    """Split on newlines, and on ；/; that are not inside （）/()/《》."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "（(《【[":
            depth += 1
        elif char in "）)》】]":
            depth = max(0, depth - 1)
        if char == "\n" or (char in "；;" and depth == 0):
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _yes_no(text: str) -> bool | None:
    low = text.strip().lower()
    return True if low in _YES else False if low in _NO else None


_LIMIT = re.compile(r"^(\d+)\s*(个)?\s*(工作日|自然日|日|天)?$")


def parse_limit(text: str) -> tuple[dict[str, int | str] | None, FieldProblem | None]:
    """A time limit cell as ``({"value", "unit"}, None)`` or ``(None, problem)``.

    Accepted: ``即办`` (0 working days), ``20``/``20个工作日``/``20工作日`` (working days),
    ``20日``/``20天``/``20个自然日`` (calendar days). Another unit (月, 小时...) is
    UNKNOWN_UNIT; anything else TIME_LIMIT_FORMAT.
    """
    text = text.strip().replace(" ", "")
    if text in ("即办", "当场办结", "立即办理"):
        return {"value": 0, "unit": WORKING_DAYS}, None
    match = _LIMIT.match(text)
    if match:
        unit = CALENDAR_DAYS if match.group(3) in ("自然日", "日", "天") else WORKING_DAYS
        return {"value": int(match.group(1)), "unit": unit}, None
    if re.match(r"^\d+(\.\d+)?\s*个?\s*\S+$", text) and not re.match(r"^\d+\.\d+", text):
        return None, FieldProblem("", "UNKNOWN_UNIT", f"时限单位“{re.sub(r'^[0-9个 ]+', '', text)}”无法识别，应为工作日或自然日")
    return None, FieldProblem("", "TIME_LIMIT_FORMAT", f"时限“{text[:20]}”应为整数天数，如“20个工作日”“15日”或“即办”")


def limit_text(limit: dict[str, Any]) -> str:
    """The cell text of a time limit (inverse of :func:`parse_limit`)."""
    if limit["unit"] == WORKING_DAYS:
        return "即办" if limit["value"] == 0 else f"{limit['value']}个工作日"
    return f"{limit['value']}个自然日"


def _code_of(text: str, labels: dict[str, str], aliases: dict[str, str] | None = None,
             pad: bool = False) -> str:
    """A code given as itself, without its leading zero (``5`` -> ``05``), as ``05 行政给付`` or as
    its label; unknown text is returned as is (the schema then reports it)."""
    text = text.strip()
    first = text.split()[0] if text.split() else text
    if first in labels:
        return first
    if pad and first.isdigit() and first.zfill(2) in labels:
        return first.zfill(2)
    by_label = {v: k for k, v in labels.items()} | (aliases or {})
    return by_label.get(text, text)


def _codes(text: str, labels: dict[str, str]) -> list[str]:
    return [_code_of(part, labels) for part in re.split(r"[、,，;；\s]+", text) if part]


def _material_from_text(line: str) -> tuple[dict[str, Any] | None, FieldProblem | None]:
    """One material written in a cell: ``名称（必要，原件1份，复印件2份，出具单位：…，备注：…）``.
    A leading ``1.``/``1、``/``(1)`` number is dropped. The marker is required."""
    line = re.sub(r"^\s*(?:\d{1,3}|[一二三四五六七八九十]{1,3})\s*[\.、．]\s*|^\s*[（(]\d{1,3}[）)]\s*", "", line)
    marks = "|".join(sorted(_MATERIAL_REQUIRED | _MATERIAL_OPTIONAL, key=len, reverse=True))
    match = re.match(rf"^(.*)[（(]({marks})((?:[，,].*)?)[）)]$", line, re.S)
    if not match:
        return None, FieldProblem("", "MATERIAL_MARK_MISSING",
                                  f"材料“{line[:30]}”未注明是否必要，请在名称后加“（必要）”或“（非必要）”")
    material: dict[str, Any] = {"name": match.group(1).strip(), "required": match.group(2) in _MATERIAL_REQUIRED}
    rest = match.group(3)
    parts = re.match(r"^(?:[，,]原件(\d+)份?)?(?:[，,]复印件(\d+)份?)?(?:[，,]出具单位[:：](.*?))?(?:[，,]备注[:：](.*))?$",
                     rest, re.S)
    if not parts:
        return None, FieldProblem("", "MATERIAL_FORMAT",
                                  f"材料“{line[:30]}”的说明应为“（必要，原件1份，复印件1份，出具单位：…，备注：…）”")
    for key, value in zip(("originals", "copies"), parts.group(1, 2)):
        if value is not None:
            material[key] = int(value)
    if parts.group(3) is not None:
        material["issuing_body"] = parts.group(3).strip()
    if parts.group(4) is not None:
        material["note"] = parts.group(4).strip()
    return material, None


def material_text(material: dict[str, Any]) -> str:
    """One material as a cell line (inverse of :func:`_material_from_text`)."""
    extra = "必要" if material["required"] else "非必要"
    if "originals" in material:
        extra += f"，原件{material['originals']}份"
    if "copies" in material:
        extra += f"，复印件{material['copies']}份"
    if "issuing_body" in material:
        extra += f"，出具单位：{material['issuing_body']}"
    if "note" in material:
        extra += f"，备注：{material['note']}"
    return f"{material['name']}（{extra}）"


def _none(text: str) -> str:
    """A list cell's text, '' when it says :data:`NONE_TEXT` (an empty list)."""
    return "" if text.strip() == NONE_TEXT else text


def _list_text(values: list[str], sep: str = "\n") -> str:
    """A list as cell text; an empty list is :data:`NONE_TEXT` (an absent one is '')."""
    return sep.join(values) if values else NONE_TEXT


def _parts(line: str, names: tuple[str, ...]) -> dict[str, str]:
    values = _SEP.split(line)
    return {n: v for n, v in zip(names, values) if v}


def _department(text: str) -> dict[str, str]:
    parts = _parts(text, ("code", "name"))
    return parts if "name" in parts else {"name": text} if not _SEP.search(text) else parts


# --- one row ----------------------------------------------------------------------------------

def record_from_row(cells: dict[str, str]) -> tuple[dict[str, Any], list[FieldProblem]]:
    """An item record from one row, ``cells`` by column key (texts, '' = empty). Returns the
    record and the problems found in cell formats (path = the field the cell fills). Empty cells
    leave fields out (the schema then names a missing required field); ``category`` defaults to
    ``other`` and ``delegation`` to ``own``."""
    problems: list[FieldProblem] = []
    record: dict[str, Any] = {}
    get = cells.get
    for key in ("code", "name", "basic_code", "implementation_code", "department", "source"):
        if get(key):
            record[key] = get(key)
    record["category"] = _code_of(get("category") or "other", CATEGORY_LABELS)
    if get("item_type"):
        record["item_type"] = _code_of(get("item_type"), ITEM_TYPE_LABELS, pad=True)
    if get("exercising_level"):
        record["exercising_level"] = _code_of(get("exercising_level"), LEVEL_LABELS, _LEVEL_ALIASES)
    record["delegation"] = _code_of(get("delegation") or "own", DELEGATION_LABELS)
    if get("service_object"):
        record["service_object"] = _codes(_none(get("service_object")), {})
    if get("handling_forms"):
        record["handling_forms"] = _codes(_none(get("handling_forms")), HANDLING_FORM_LABELS)
    for key in ("co_departments", "special_procedures"):
        if get(key):
            record[key] = _lines(_none(get(key)))
    if get("deciding_department"):
        record["deciding_department"] = _department(get("deciding_department"))
    if get("joint_departments"):
        record["joint_departments"] = [_department(line) for line in _lines(_none(get("joint_departments")))]
    for key in ("appointment_supported", "online_supported"):
        if get(key):
            value = _yes_no(get(key))
            if value is None:
                problems.append(FieldProblem(key, "YES_NO_FORMAT", "应填“是”或“否”"))
            else:
                record[key] = value
    if get("keywords"):
        record["keywords"] = [k for k in (p.strip() for p in re.split(r"[、,，\n]", _none(get("keywords")))) if k]
    if any(get(k) for k in _PUBLICITY_KEYS):
        record["publicities"] = _publicities(cells, problems)
    return record, problems


def _publicities(cells: dict[str, str], problems: list[FieldProblem]) -> dict[str, Any]:
    get = cells.get
    pub: dict[str, Any] = {}
    if get("legal_basis"):
        pub["legal_basis"] = [_parts(line, ("law", "article", "text")) for line in _lines(get("legal_basis"))]
    if get("conditions"):
        pub["conditions"] = _lines(get("conditions"))
    if get("procedure"):
        steps = []
        for i, line in enumerate(_lines(get("procedure"))):
            step: dict[str, Any] = _parts(line, ("step", "level", "description", "time_limit"))
            if "level" in step:
                level = step["level"]
                step["level"] = {v: k for k, v in PROCEDURE_LEVEL_LABELS.items()}.get(
                    level, _PROCEDURE_LEVEL_ALIASES.get(level, level))
            if "time_limit" in step:
                limit, problem = parse_limit(step["time_limit"])
                if problem:
                    problem.path = f"publicities.procedure[{i}].time_limit"
                    problems.append(problem)
                    del step["time_limit"]
                else:
                    step["time_limit"] = limit
            steps.append(step)
        pub["procedure"] = steps
    materials = []
    for i, line in enumerate(_split_outside_brackets(get("materials") or "")):
        material, problem = _material_from_text(line)
        if problem:
            problem.path = f"publicities.materials[{i}]"
            problems.append(problem)
        else:
            materials.append(material)
    pub["materials"] = materials
    limits: dict[str, Any] = {}
    for key, name in (("legal_limit", "legal"), ("promised_limit", "promised")):
        if get(key):
            limit, problem = parse_limit(get(key))
            if problem:
                problem.path = f"publicities.time_limit.{name}"
                problems.append(problem)
            else:
                limits[name] = limit
    if not any(p.path.startswith("publicities.time_limit") for p in problems):
        pub["time_limit"] = limits  # one side missing: the schema names it
    fees: dict[str, Any] = {}
    if get("fees_standard"):
        fees["standard"] = get("fees_standard")
    if get("fees_charged"):
        charged = _yes_no(get("fees_charged"))
        if charged is None:
            problems.append(FieldProblem("publicities.fees.charged", "YES_NO_FORMAT", "应填“是”或“否”"))
        else:
            fees["charged"] = charged
    elif get("fees_standard"):
        fees["charged"] = not re.match(r"^(不收费|免费|无)", get("fees_standard"))
    if get("fees_basis"):
        fees["basis"] = get("fees_basis")
    pub["fees"] = fees
    return pub


def row_of(record: dict[str, Any], *, materials_in_cell: bool) -> dict[str, str]:
    """One record as cells by column key (inverse of :func:`record_from_row`). With
    ``materials_in_cell`` false the 申报材料 cell stays empty (the materials go on their sheet)."""
    cells: dict[str, str] = {}
    for key in ("code", "name", "basic_code", "implementation_code", "department", "source"):
        cells[key] = record.get(key, "")
    cells["category"] = CATEGORY_LABELS.get(record["category"], record["category"])
    cells["item_type"] = ITEM_TYPE_LABELS.get(record["item_type"], record["item_type"])
    cells["exercising_level"] = LEVEL_LABELS.get(record["exercising_level"], record["exercising_level"])
    cells["delegation"] = DELEGATION_LABELS.get(record["delegation"], record["delegation"])
    lists = {"service_object": list(record.get("service_object", [])),
             "handling_forms": [HANDLING_FORM_LABELS.get(c, c) for c in record.get("handling_forms", [])],
             "co_departments": record.get("co_departments"), "special_procedures": record.get("special_procedures"),
             "joint_departments": [f"{d['code']}｜{d['name']}" for d in record.get("joint_departments", [])],
             "keywords": record.get("keywords")}
    for key, values in lists.items():
        cells[key] = _list_text(values, "、" if key in ("service_object", "handling_forms", "keywords") else "\n") \
            if key in record else ""
    dep = record.get("deciding_department")
    cells["deciding_department"] = f"{dep['code']}｜{dep['name']}" if dep else ""
    for key in ("appointment_supported", "online_supported"):
        cells[key] = "" if key not in record else ("是" if record[key] else "否")
    pub = record.get("publicities")
    if pub:
        cells["legal_basis"] = "\n".join(
            "｜".join([b["law"], b.get("article", ""), b["text"]] if "text" in b else
                     [b["law"], b["article"]] if "article" in b else [b["law"]]) for b in pub["legal_basis"])
        cells["conditions"] = "\n".join(pub["conditions"])
        cells["procedure"] = "\n".join(_step_text(s) for s in pub["procedure"])
        cells["materials"] = "\n".join(material_text(m) for m in pub["materials"]) if materials_in_cell else ""
        cells["legal_limit"] = limit_text(pub["time_limit"]["legal"])
        cells["promised_limit"] = limit_text(pub["time_limit"]["promised"])
        cells["fees_charged"] = "是" if pub["fees"]["charged"] else "否"
        cells["fees_standard"] = pub["fees"]["standard"]
        cells["fees_basis"] = pub["fees"].get("basis", "")
    return cells


def _step_text(step: dict[str, Any]) -> str:
    parts = [step["step"], PROCEDURE_LEVEL_LABELS.get(step["level"], step["level"]), step.get("description", "")]
    if "time_limit" in step:
        parts.append(limit_text(step["time_limit"]))
    while parts and parts[-1] == "":
        parts.pop()
    return "｜".join(parts)


# --- files ------------------------------------------------------------------------------------

#: Rows above the headings that may hold a title (e.g. 广安区政务服务事项清单 in a merged row 1).
_TITLE_ROWS = 5


def _header_row(rows: Iterable[tuple[Any, ...]], columns: tuple[Column, ...]) -> tuple[list[str], int, Any]:
    """Find the heading row: the first of the top rows naming at least two known columns (a
    title row above it is skipped), else row 1. Returns ``(headings, row number, the rest)``."""
    rows = iter(rows)
    known = {name for c in columns for name in (c.heading, *c.aliases)}
    seen: list[tuple[Any, ...]] = []
    for _ in range(_TITLE_ROWS):
        row = next(rows, None)
        if row is None:
            break
        seen.append(row)
        texts = [_text(v) for v in row]
        if sum(t in known for t in texts) >= 2:
            return texts, len(seen), rows
    if not seen:
        return [], 1, rows
    return [_text(v) for v in seen[0]], 1, _chain(seen[1:], rows)


def _chain(first: list, rest):
    yield from first
    yield from rest


def _headings(header: list[str], columns: tuple[Column, ...], sheet: str | None,
              errors: list[catalog_uc.RowProblem], row: int = 1) -> dict[str, int]:
    """``{key: column index}`` from a header row; missing required columns and headings used
    twice become problems of the heading row (``row``) in ``errors``. Unknown headings are ignored."""
    by_heading = {name: c.key for c in columns for name in (c.heading, *c.aliases)}
    found: dict[str, int] = {}
    problems, headings = [], {}
    for index, heading in enumerate(header):
        key = by_heading.get(heading.strip())
        if key is None:
            continue
        if key in found:
            problems.append(FieldProblem(key, "COLUMN_DUPLICATE", f"列“{heading}”与第{found[key] + 1}列重复"))
            headings[key] = heading
            continue
        found[key] = index
    for column in columns:
        if column.required and column.key not in found:
            problems.append(FieldProblem(column.key, "COLUMN_MISSING", f"缺少必需的列“{column.heading}”"))
            headings[column.key] = column.heading
    if problems:
        errors.append(catalog_uc.RowProblem(row, None, problems, sheet, headings))
    return found


def _blank(values: Iterable[Any]) -> bool:
    return all(_text(v) == "" for v in values)


def read_table(item_rows: Iterable[tuple[Any, ...]], material_rows: Iterable[tuple[Any, ...]] | None = None, *,
               sheet: str | None = None) -> ParsedFile:
    """Read the items (and optionally the materials sheet) given as rows of cell values from row
    1: the heading row (after an optional title row, see :func:`_header_row`), then the items.
    Rows entirely empty are skipped (their numbers still count). Problems are collected, never
    raised: see :class:`ParsedFile`."""
    header, header_number, item_rows = _header_row(item_rows, COLUMNS)
    parsed = ParsedFile([], [], sheet, header_row=header_number)
    found = _headings(header, COLUMNS, sheet, parsed.file_errors, header_number)
    parsed.headings = {key: header[i] for key, i in found.items()}
    for number, values in enumerate(item_rows, start=header_number + 1):
        if _blank(values):
            continue
        cells = {key: _text(values[i]) if i < len(values) else "" for key, i in found.items()}
        record, problems = record_from_row(cells)
        if problems:
            parsed.cell_problems[len(parsed.records)] = problems
        parsed.records.append(record)
        parsed.rows.append(number)
    if material_rows is not None:
        _attach_materials(parsed, material_rows)
    return parsed


def _attach_materials(parsed: ParsedFile, material_rows: Iterable[tuple[Any, ...]]) -> None:
    """Add the rows of the 申报材料 sheet to their items' materials (in sheet order)."""
    header, header_number, material_rows = _header_row(material_rows, MATERIAL_COLUMNS)
    found = _headings(header, MATERIAL_COLUMNS, MATERIALS_SHEET, parsed.file_errors, header_number)
    headings = parsed.material_headings = {key: header[i] for key, i in found.items()}
    by_code = {r.get("code"): r for r in parsed.records if r.get("code")}
    from_sheet: set[str] = set()
    for number, values in enumerate(material_rows, start=header_number + 1):
        if _blank(values):
            continue
        cells = {key: _text(values[i]) if i < len(values) else "" for key, i in found.items()}
        code = cells.get("code", "")
        problems: list[FieldProblem] = []
        record = by_code.get(code)
        if not code:
            problems.append(FieldProblem("code", "FIELD_REQUIRED", "缺少事项编码"))
        elif record is None:
            problems.append(FieldProblem("code", "UNKNOWN_ITEM_CODE", f"事项编码“{code[:60]}”不在事项表中"))
        elif (record.get("publicities") or {}).get("materials") and code not in from_sheet:
            problems.append(FieldProblem("code", "MATERIALS_TWICE", "该事项已在事项表的“申报材料”列填写材料，请只用一种方式"))
        material: dict[str, Any] = {}
        if cells.get("name"):
            material["name"] = cells["name"]
        else:
            problems.append(FieldProblem("name", "FIELD_REQUIRED", "缺少材料名称"))
        required = cells.get("required", "")
        value = True if required in _MATERIAL_REQUIRED else False if required in _MATERIAL_OPTIONAL else _yes_no(required)
        if value is None:
            problems.append(FieldProblem("required", "YES_NO_FORMAT", "应填“是”或“否”（或“必要”“非必要”）"))
        material["required"] = value
        for key in ("originals", "copies"):
            if cells.get(key):
                if re.fullmatch(r"\d{1,2}", cells[key]):
                    material[key] = int(cells[key])
                else:
                    problems.append(FieldProblem(key, "COUNT_FORMAT", "份数应为 0 到 99 的整数"))
        for key in ("issuing_body", "note"):
            if cells.get(key):
                material[key] = cells[key]
        if problems:
            parsed.file_errors.append(catalog_uc.RowProblem(
                number, code or None, problems, MATERIALS_SHEET,
                {p.path: headings.get(p.path) or _MATERIAL_BY_KEY[p.path].heading for p in problems}))
            continue
        if record.get("publicities") is None:
            record["publicities"] = {"materials": []}
        record["publicities"]["materials"].append(material)
        parsed.material_rows.setdefault(code, []).append(number)
        from_sheet.add(code)


_MATERIAL_BY_KEY = {c.key: c for c in MATERIAL_COLUMNS}


def _decode(data: bytes) -> str:
    """CSV bytes as text: UTF-8 (with or without BOM), else GB18030 (what Excel on a Chinese
    Windows writes for "CSV"). Raises ValidationFailed(FILE_ENCODING)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationFailed("文件编码无法识别", [FieldProblem("file", "FILE_ENCODING", "请另存为 UTF-8 编码的 CSV")])


def _csv_rows(text: str) -> list[list[str]]:
    try:
        return [[_csv_value(v) for v in r] for r in csv.reader(io.StringIO(text, newline=""))]
    except csv.Error as exc:
        raise ValidationFailed("CSV 文件格式有误", [FieldProblem("file", "FILE_NOT_CSV", str(exc)[:200])]) from exc


def read_catalog_file(name: str, data: bytes) -> ParsedFile:
    """Read an import file by extension: ``.xlsx`` (items sheet + optional 申报材料 sheet),
    ``.csv`` (the table shape, or the Guang'an export recognised by its ``itemCode``/``taskType``
    headings), ``.json`` (a list of records, rows = positions). Raises ValidationFailed for a file
    that cannot be read at all (not XLSX, bad encoding, Guang'an CSV without its columns)."""
    lower = name.lower()
    if lower.endswith(".xlsx"):
        return _read_xlsx(data)
    if lower.endswith(".csv"):
        text = _decode(data)
        rows = _csv_rows(text)
        header = [h.strip() for h in (rows[0] if rows else [])]
        if "itemCode" in header or "taskType" in header:
            records = catalog_uc.records_from_guangan_csv(text)
            return ParsedFile(records, list(range(2, len(records) + 2)),
                              headings={"code": "itemCode", "name": "name", "department": "department",
                                        "item_type": "taskType"})
        return read_table(rows)
    records = catalog_uc.records_from_file(name, data)
    return ParsedFile(records, list(range(1, len(records) + 1)))


def _read_xlsx(data: bytes) -> ParsedFile:
    from openpyxl import load_workbook  # lazy: the API never loads it
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException: not an XLSX
        raise ValidationFailed("文件不是有效的 Excel（.xlsx）文件", [FieldProblem(
            "file", "FILE_NOT_XLSX", "请用 Excel 或 WPS 另存为 .xlsx 格式")]) from exc
    try:
        names = book.sheetnames
        items = next((n for n in names if n in _ITEM_SHEET_NAMES), None) or \
            next((n for n in names if n != MATERIALS_SHEET), None)
        if items is None:
            raise ValidationFailed("Excel 文件中没有事项表", [FieldProblem("file", "SHEET_MISSING", "缺少事项工作表")])
        materials = book[MATERIALS_SHEET].iter_rows(values_only=True) if MATERIALS_SHEET in names else None
        return read_table(book[items].iter_rows(values_only=True), materials, sheet=items)
    finally:
        book.close()


def import_file(name: str, data: bytes, repo, *, dry_run: bool = False,
                progress: Callable[[str, int, int], None] | None = None) -> catalog_uc.ImportReport:
    """Read and import one catalog file (see :func:`read_catalog_file`) with
    :func:`..catalog.import_catalog`: every problem of the file is reported by row (as numbered
    in Excel), sheet, column heading and stable code before anything is written, and a file with
    any problem writes nothing. Raises ValidationFailed for an unreadable file."""
    parsed = read_catalog_file(name, data)
    report = catalog_uc.import_catalog(parsed.records, repo, dry_run=dry_run, rows=parsed.rows,
                                       parse_problems=parsed.cell_problems, column_of=parsed.column_of,
                                       file_errors=parsed.file_errors, sheet=parsed.sheet, progress=progress)
    # A missing column is said once, on the heading row; each row's FIELD_REQUIRED for it would repeat it.
    missing = {p.path for e in parsed.file_errors if e.row == parsed.header_row and e.sheet == parsed.sheet
               for p in e.problems if p.code == "COLUMN_MISSING"}
    if missing:
        for error in report.errors:
            if error.row != parsed.header_row or error.sheet != parsed.sheet:
                error.problems = [p for p in error.problems if not (p.code == "FIELD_REQUIRED" and p.path in missing)]
        report.errors = [e for e in report.errors if e.problems]
    _move_material_problems(parsed, report)
    return report


_MATERIAL_PATH = re.compile(r"^publicities\.materials\[(\d+)\](?:\.(\w+))?")


def _move_material_problems(parsed: ParsedFile, report: catalog_uc.ImportReport) -> None:
    """A problem of a material that came from the 申报材料 sheet (e.g. a one-character name) is
    reported on that sheet's row and column, where the official has to fix it."""
    moved = []
    for error in report.errors:
        rows = parsed.material_rows.get(error.code or "") if error.sheet == parsed.sheet else None
        if not rows:
            continue
        keep = []
        for problem in error.problems:
            match = _MATERIAL_PATH.match(problem.path)
            if not match or int(match.group(1)) >= len(rows):
                keep.append(problem)
                continue
            key = match.group(2) or "name"
            heading = parsed.material_headings.get(key) or (_MATERIAL_BY_KEY[key].heading if key in _MATERIAL_BY_KEY
                                                            else None)
            moved.append(catalog_uc.RowProblem(rows[int(match.group(1))], error.code, [problem], MATERIALS_SHEET,
                                               {problem.path: heading} if heading else {}))
        error.problems = keep
    report.errors = [e for e in report.errors if e.problems] + moved


# --- export -----------------------------------------------------------------------------------

def all_records(repo, page_size: int = 100) -> list[dict[str, Any]]:
    """Every item record of the catalog, ordered by code (Query pages of the listing index)."""
    records, cursor = [], None
    while True:
        items, cursor = repo.list_items(category=None, level=None, limit=page_size, cursor=cursor)
        records += [i.record for i in items]
        if not cursor:
            return records


def _for_import(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "publicities_complete"}


def check_round_trip(records: list[dict[str, Any]], parsed: ParsedFile) -> list[str]:
    """Codes of records whose exported row does not read back to the same content hash
    (``publicities_complete`` is computed on import, so it is left out of both sides)."""
    back = {r.get("code"): r for r in parsed.records}
    bad = [r["code"] for r in records if content_hash(_for_import(r)) != content_hash(_for_import(back.get(r["code"], {})))]
    bad += [f"{p.sheet or ''}:{p.row}" for p in parsed.file_errors]
    bad += [parsed.records[i].get("code", "?") for i, problems in parsed.cell_problems.items() if problems]
    return bad


def _not_round_trip(bad: list[str]) -> ValidationFailed:
    return ValidationFailed("部分事项无法按表格格式原样导出", [
        FieldProblem("code", "EXPORT_NOT_ROUND_TRIP", f"事项“{code}”的内容含有表格格式无法表达的字符（如｜或换行）")
        for code in bad[:50]])


def export_table(records: list[dict[str, Any]], fmt: str) -> bytes:
    """The catalog as ``xlsx`` (items sheet + 申报材料 sheet) or ``csv`` (UTF-8 with BOM so
    Excel opens it, materials in their cell), in the shape :func:`read_catalog_file` reads;
    text that a spreadsheet would run as a formula stays text (:func:`csv_cell`, text cells).
    The result is read back before it is returned; a record that would not re-import to the
    same content hash raises ValidationFailed(EXPORT_NOT_ROUND_TRIP) naming its code."""
    headings = [c.heading for c in COLUMNS]
    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(headings)
        for record in records:
            cells = row_of(record, materials_in_cell=True)
            writer.writerow([csv_cell(cells.get(c.key, "")) for c in COLUMNS])
        data = ("\ufeff" + out.getvalue()).encode("utf-8")
    elif fmt == "xlsx":
        data = _xlsx(records, headings)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    bad = check_round_trip(records, read_catalog_file(f"export.{fmt}", data))
    if bad:
        raise _not_round_trip(bad)
    return data


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str) -> str:
    """A CSV cell a spreadsheet will not run: text starting with = + - @ tab or CR gets a
    leading apostrophe (OWASP "CSV injection"), which :func:`_csv_value` removes on import."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv_value(value: str) -> str:
    """The text of a CSV cell :func:`csv_cell` protected (others as they are)."""
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_START) else value


def _xlsx(records: list[dict[str, Any]], headings: list[str]) -> bytes:
    from openpyxl import Workbook  # lazy: the API never loads it
    from openpyxl.cell import WriteOnlyCell
    book = Workbook(write_only=True)
    items = book.create_sheet(ITEMS_SHEET)
    materials = book.create_sheet(MATERIALS_SHEET)

    def row(sheet, values):
        """Text cells are stored as text: openpyxl would store "=..." as a formula, which Excel
        runs and which reads back empty."""
        cells = []
        for value in values:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"
            cells.append(cell)
        sheet.append(cells)

    row(items, headings)
    row(materials, [c.heading for c in MATERIAL_COLUMNS])
    for record in records:
        cells = row_of(record, materials_in_cell=False)
        row(items, [cells.get(c.key, "") or None for c in COLUMNS])
        for m in (record.get("publicities") or {}).get("materials", []):
            row(materials, [record["code"], m["name"], "必要" if m["required"] else "非必要", m.get("originals"),
                            m.get("copies"), m.get("issuing_body"), m.get("note")])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
