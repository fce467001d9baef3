"""Catalog use cases: import (administrator and seed), list and read services."""
from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from .. import validation as schemas
from ..domain.catalog import ServiceItem, content_hash, eight_publicities, item_problems
from ..domain.errors import FieldProblem, NotFound, ValidationFailed, invalid_cursor

#: GB/T 39046 item type codes as the Guang'an export writes them (no leading zero).
_TASK_TYPES = {"1": "01", "2": "02", "3": "03", "4": "04", "5": "05", "6": "06", "7": "07",
               "8": "08", "9": "09", "10": "10", "20": "20"}
_WRITE_CHUNK = 25
_GUANGAN_COLUMNS = ("department", "main_item", "name", "itemCode", "taskType", "areaCode")


@dataclass
class RowProblem:
    """A problem with one row of an import file.

    ``row`` is the row as its author sees it: for a spreadsheet or CSV the Excel row number
    (header = row 1, first data row = 2), for a JSON list the 1-based position. ``sheet`` names
    the worksheet (None for CSV/JSON). ``headings`` maps a problem's field path to the column
    heading the file used for it (empty for JSON), so a report can say which cell to fix.
    """

    row: int
    code: str | None
    problems: list[FieldProblem]
    sheet: str | None = None
    headings: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"row": self.row, "code": self.code,
                               "problems": [p.to_dict() | {"column": self.headings.get(p.path)} for p in self.problems]}
        if self.sheet:
            out["sheet"] = self.sheet
        return out


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    dry_run: bool
    total: int = 0
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    incomplete: int = 0
    errors: list[RowProblem] = field(default_factory=list)
    written: int = 0
    write_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "total": self.total, "created": len(self.created),
                "updated": len(self.updated), "unchanged": self.unchanged,
                "publicities_incomplete": self.incomplete, "written": self.written,
                "write_error": self.write_error, "errors": [e.to_dict() for e in self.errors]}


def records_from_guangan_csv(text: str) -> list[dict[str, Any]]:
    """Turn the Guang'an catalog export (columns ``department, main_item, name, itemCode,
    taskType, areaCode, link``) into item records with names and codes only.

    They are flagged ``publicities_complete=false``: the source has no legal basis, materials,
    limits or fees. The official implementation code is kept as ``code``.
    Raises ValidationFailed when a required column is missing.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in _GUANGAN_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValidationFailed("导入文件缺少必需的列",
                               [FieldProblem(c, "COLUMN_MISSING", "缺少该列") for c in missing])
    records = []
    for row in reader:
        code = (row.get("itemCode") or "").strip()
        record: dict[str, Any] = {
            "code": code,
            "implementation_code": code,
            "basic_code": code.split("-")[0] if code else "",
            "name": (row.get("name") or "").strip(),
            "category": "other",
            "department": (row.get("department") or "").strip(),
            "item_type": _TASK_TYPES.get((row.get("taskType") or "").strip(), (row.get("taskType") or "").strip()),
            "exercising_level": "4",
            "delegation": "own",
            "publicities_complete": False,
        }
        if row.get("link"):
            record["source"] = row["link"].strip()
        records.append(record)
    return records


def records_from_file(name: str, data: bytes) -> list[dict[str, Any]]:
    """Parse an import file by extension: ``.json`` (a list of records) or ``.csv`` (Guang'an
    export shape). Raises ValidationFailed for an unreadable file."""
    if name.lower().endswith(".csv"):
        try:
            return records_from_guangan_csv(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ValidationFailed("文件不是 UTF-8 编码", [FieldProblem("file", "FILE_ENCODING", "请另存为 UTF-8")]) from exc
        except csv.Error as exc:
            raise ValidationFailed("CSV 文件格式有误", [FieldProblem("file", "FILE_NOT_CSV", str(exc)[:200])]) from exc
    records = schemas.parse_json(data.removeprefix(b"\xef\xbb\xbf"), max_bytes=64 * 1024 * 1024, max_depth=32)
    if not isinstance(records, list):
        raise ValidationFailed("JSON 文件应为事项列表", [FieldProblem("file", "FIELD_TYPE", "应为列表")])
    return records


def import_catalog(records: Iterable[dict[str, Any]], repo, *, dry_run: bool = False,
                   rows: list[int] | None = None, parse_problems: dict[int, list[FieldProblem]] | None = None,
                   column_of: Callable[[str], str | None] | None = None, file_errors: list[RowProblem] | None = None,
                   sheet: str | None = None, progress: Callable[[str, int, int], None] | None = None) -> ImportReport:
    """Validate every record and, unless ``dry_run`` or any row fails, write the changed ones.

    Validation is all-or-nothing: one bad row (schema error, rule of :func:`item_problems`, or
    duplicate code) means nothing is written and the report lists every problem per row. Writes
    go in chunks of 25; if one fails (network, throttling) the report says how many rows were
    written and why it stopped (``write_error``), and a rerun finishes the job, because unchanged
    rows (same content hash) are not rewritten. ``publicities_complete`` is computed, not trusted from the file.
    ``repo`` is a catalog repository (``existing_hashes``, ``put_items``).

    For records read from a spreadsheet (:mod:`.catalog_files`): ``rows`` gives each record's
    row number (default: 1-based position), ``parse_problems`` the problems found while reading
    the cells of record ``i`` (0-based), ``column_of`` turns a field path into the column heading
    of the file, ``file_errors`` are problems found elsewhere in the file (missing columns, the
    materials sheet): any of them blocks writing too. ``progress(stage, done, total)`` is called
    as rows are checked (``"check"``) and written (``"write"``).
    """
    report = ImportReport(dry_run=dry_run)
    report.errors.extend(file_errors or [])
    records = list(records)
    prepared: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(records):
        row = rows[index] if rows else index + 1
        report.total += 1
        problems = list((parse_problems or {}).get(index, []))
        schema_problems = schemas.problems_of("catalog_item", raw)
        # a cell that could not be read left its field out: the schema's "missing" says it twice
        problems += [p for p in schema_problems
                     if not any(p.path.startswith(q.path) or q.path.startswith(p.path) for q in problems)]
        # the rules need well-formed limits; other schema problems (a missing column) do not hide them
        if isinstance(raw, dict) and not any(p.path in ("(body)", "publicities") or p.path.startswith(
                "publicities.time_limit") for p in schema_problems):
            problems += item_problems(raw)
        code = raw.get("code") if isinstance(raw, dict) else None
        if isinstance(code, str) and code in seen:
            problems.append(FieldProblem("code", "DUPLICATE_CODE", f"事项编码与第{seen[code]}行重复"))
        elif isinstance(code, str):
            seen[code] = row
        if progress:
            progress("check", index + 1, len(records))
        if problems:
            headings = {p.path: h for p in problems if column_of and (h := column_of(p.path))}
            report.errors.append(RowProblem(row, code if isinstance(code, str) else None, problems, sheet, headings))
            continue
        record = dict(raw)
        record["publicities_complete"] = ServiceItem(record).publicities_complete
        report.incomplete += 0 if record["publicities_complete"] else 1
        prepared.append(record)
    if report.errors:
        return report
    existing = repo.existing_hashes(r["code"] for r in prepared)
    changed = []
    for record in prepared:
        digest = content_hash(record)
        old = existing.get(record["code"])
        if old and old[0] == digest:
            report.unchanged += 1
            continue
        (report.updated if old else report.created).append(record["code"])
        changed.append((record, digest, (old[1] + 1) if old else 1))
    if dry_run:
        return report
    for start in range(0, len(changed), _WRITE_CHUNK):
        chunk = changed[start:start + _WRITE_CHUNK]
        try:
            repo.put_items(chunk)
        except Exception as exc:  # network, throttling: what was written stays, a rerun resumes
            report.write_error = f"{type(exc).__name__}: {exc}"[:500]
            break
        report.written += len(chunk)
        if progress:
            progress("write", report.written, len(changed))
    return report


def import_townships(records: list[dict[str, Any]], repo) -> dict[str, str]:
    """Validate and upsert township settings (``schemas/township.json``); ``{code: outcome}``."""
    for i, record in enumerate(records):
        try:
            schemas.validate("township", record)
        except ValidationFailed as exc:
            for d in exc.details:
                d.path = f"[{i}].{d.path}"
            raise
    return {r["code"]: repo.put_township(r) for r in records}


def list_services(repo, *, category: str | None, level: str | None, limit: int,
                  cursor: str | None, q: str | None = None, township: str | None = None,
                  index: Callable[[], Iterable[Any]] | None = None) -> dict[str, Any]:
    """``GET /v1/services``: one page of item summaries and the next opaque cursor.

    Without ``q`` and ``township``: items by code, one DynamoDB Query a page (the filter's
    index). With either: the search (``domain.search``) over ``index()`` (the per-container
    search index), ranked, each item with its ``score``; ``total`` counts every match. A
    ``township`` must exist (NotFound ``UNKNOWN_TOWNSHIP``) and limits the search to the items
    its settings offer (every item for settings without an ``offers`` list)."""
    if not q and not township:
        items, next_cursor = repo.list_items(category=category, level=level, limit=limit, cursor=cursor)
        return {"items": [i.summary() for i in items], "next_cursor": next_cursor}
    from ..domain.search import search
    offered = None
    if township:
        settings_ = repo.get_township(township)
        if settings_ is None:
            raise NotFound("未找到该乡镇", [FieldProblem("township", "UNKNOWN_TOWNSHIP", "乡镇编码不存在")])
        offered = settings_["township"].offers
    scope = json.dumps(["search", q or "", category or "", level or "", township or ""], ensure_ascii=False)
    offset = _search_offset(cursor, scope)
    found = search(index(), q, category=category, level=level, codes=offered)
    page = found[offset:offset + limit]
    more = offset + limit < len(found)
    return {"items": [{**entry.summary, "score": score} for entry, score in page], "total": len(found),
            "next_cursor": _search_cursor(offset + limit, scope) if more else None}


def _search_cursor(offset: int, scope: str) -> str:
    body = json.dumps({"o": offset, "h": hashlib.sha256(scope.encode()).hexdigest()[:16]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def _search_offset(cursor: str | None, scope: str) -> int:
    """The offset inside a search cursor issued for the same query and filters; else
    ValidationFailed(INVALID_CURSOR)."""
    if not cursor:
        return 0
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset = raw["o"]
        ok = (type(offset) is int and 0 < offset <= 100_000
              and raw["h"] == hashlib.sha256(scope.encode()).hexdigest()[:16])
    except (ValueError, TypeError, KeyError, AttributeError):
        ok = False
    if not ok:
        raise invalid_cursor()
    return offset


def get_service(repo, code: str, township_code: str, notices=None) -> dict[str, Any]:
    """``GET /v1/services/{code}``: the item, its version and its eight publicities as offered by
    ``township_code``, and with ``notices`` (``usecases.publicity.links``) the URLs of the
    township's eight-publicity notice (``notice``: null until generated). Raises NotFound for
    an unknown item or township."""
    found, township = repo.get_offer(code, township_code)
    if not found:
        raise NotFound("未找到该服务事项", [FieldProblem("code", "UNKNOWN_ITEM", "事项编码不存在")])
    if not township:
        raise NotFound("未找到该乡镇", [FieldProblem("township", "UNKNOWN_TOWNSHIP", "乡镇编码不存在")])
    item, version = found
    view = {**item.summary(), "version": version, "delegation": township.delegation_for(item),
            "offered": township.offers_item(item.code) and not item.retired,
            "township": {"code": township.code, "name": township.name},
            "record": item.record, "eight_publicities": eight_publicities(item, township)}
    if notices is not None:
        from .publicity import links
        view["notice"] = links(notices, township.code, item.code)
    return view
