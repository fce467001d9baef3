"""Eight-publicity notices (issue 7 item 3): the publicity-queue consumer makes the HTML page,
the A4 PDF and the QR code of one item in one township, stores them by version, once; the API
links and serves them. Messages are sent here the way the catalog administration will send them."""
import copy
import datetime as dt
import io
import json
from pathlib import Path

import boto3
import pypdf
import pytest

from chalicelib import container, settings
from chalicelib.usecases import catalog as catalog_uc
from tests.conftest import ROOT, SEED

ARTIFACTS = ROOT / "build" / "test-artifacts"
TOWNSHIP, OTHER = "431224100", "431224101"


@pytest.fixture(autouse=True)
def empty_publicity_queue(queues):
    """The seed's own change messages (one per item and offering township) are taken off the
    queue, so that each test counts only what it sends."""
    queues.take_all(settings.PUBLICITY_QUEUE)


def message(item_code="HH-MZ-001", version=1, township=TOWNSHIP, reason="test"):
    return {"item_code": item_code, "item_version": version, "township_code": township, "reason": reason,
            "requested_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def run(queues, *messages):
    for m in messages:
        queues.send(settings.PUBLICITY_QUEUE, m)
    return queues.deliver(settings.PUBLICITY_QUEUE, "on_publicity_request")


def object_versions(prefix="publicity/"):
    """Every stored object version under ``prefix`` (the bucket is versioned: a second write of
    the same key would show as a second version)."""
    s3 = boto3.client("s3", region_name="us-east-1")
    found = s3.list_object_versions(Bucket=settings.MATERIALS_BUCKET, Prefix=prefix)
    return sorted((v["Key"], v["VersionId"]) for v in found.get("Versions", []))


def stored(key):
    s3 = boto3.client("s3", region_name="us-east-1")
    return s3.get_object(Bucket=settings.MATERIALS_BUCKET, Key=key)


def pdf_text(data):
    return "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages).replace("\n", "")


def seed_record(code):
    return copy.deepcopy(next(r for r in json.loads((SEED / "catalog_items.json").read_text()) if r["code"] == code))


def test_one_message_makes_html_pdf_and_qr_under_the_version_key_and_a_second_writes_nothing(client, queues):
    assert client.http.get(f"/v1/services/HH-MZ-001?township={TOWNSHIP}").json_body["notice"] is None
    assert client.http.get(f"/v1/public/notices/{TOWNSHIP}/HH-MZ-001").status_code == 404
    run(queues, message())
    base = f"publicity/{TOWNSHIP}/HH-MZ-001/v1-s1"
    first = object_versions()
    assert [k for k, _ in first] == [f"{base}.html", f"{base}.pdf", f"{base}.png"]
    assert stored(f"{base}.html")["ContentType"] == "text/html; charset=utf-8"
    assert stored(f"{base}.pdf")["Body"].read().startswith(b"%PDF")
    assert stored(f"{base}.png")["Body"].read().startswith(b"\x89PNG")

    responses = run(queues, message(reason="again"), message(reason="and again"))
    assert object_versions() == first  # no new object, no new version
    assert all(not r.get("batchItemFailures") for r in responses)

    view = client.http.get(f"/v1/services/HH-MZ-001?township={TOWNSHIP}").json_body
    page_url = f"{settings.PUBLIC_BASE_URL}/v1/public/notices/{TOWNSHIP}/HH-MZ-001"
    assert view["notice"]["html_url"] == page_url
    assert view["notice"]["pdf_url"] == page_url + "/notice.pdf" and view["notice"]["qr_url"] == page_url + "/qr.png"
    assert (view["notice"]["item_version"], view["notice"]["township_version"]) == (1, 1)
    page = client.http.get(f"/v1/public/notices/{TOWNSHIP}/HH-MZ-001")
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "最低生活保障审核确认（农村低保申请）" in page.body.decode() and "default-src 'none'" in page.headers[
        "Content-Security-Policy"]
    for file, key in (("notice.pdf", f"{base}.pdf"), ("qr.png", f"{base}.png")):
        redirect = client.http.get(f"/v1/public/notices/{TOWNSHIP}/HH-MZ-001/{file}")
        assert redirect.status_code == 302 and key.replace("/", "%2F") not in redirect.headers["Location"]
        assert key in redirect.headers["Location"] and "Signature" in redirect.headers["Location"]
    assert client.http.get(f"/v1/public/notices/{TOWNSHIP}/HH-MZ-001/other.txt").status_code == 404


def test_n_townships_offering_an_item_get_exactly_n_notices(client, queues):
    third = {**json.loads((SEED / "townships.json").read_text())[1], "code": "431224102", "name": "第三乡便民服务中心（样例）"}
    catalog_uc.import_townships([third], container.catalog())
    townships = container.catalog().township_codes()
    assert sorted(townships) == [TOWNSHIP, OTHER, "431224102"]
    run(queues, *[message("HH-SB-002", township=t) for t in townships])
    keys = [k for k, _ in object_versions()]
    assert len(keys) == 3 * len(townships)
    assert {k.split("/")[1] for k in keys} == set(townships) and {k.split("/")[2] for k in keys} == {"HH-SB-002"}
    for t in townships:
        assert container.notices().get(t, "HH-SB-002")["base_key"] == f"publicity/{t}/HH-SB-002/v1-s1"


def test_the_pdf_shows_all_eight_publicities_and_renders(client, queues):
    run(queues, message())
    data = stored(f"publicity/{TOWNSHIP}/HH-MZ-001/v1-s1.pdf")["Body"].read()
    text = pdf_text(data)
    expected = ["办事八公开", "示例镇便民服务中心（样例）", "HH-MZ-001",
                "办事依据", "《社会救助暂行办法》（国务院令第649号）第九条",
                "国家对共同生活的家庭成员人均收入低于当地最低生活保障标准",      # legal basis text
                "办事条件", "共同生活的家庭成员人均收入低于当地最低生活保障标准",
                "办理程序", "家庭经济状况调查",
                "申报材料", "居民户口簿", "家庭经济状况核对授权书",                # materials
                "承诺时限", "承诺20个工作日（法定30个工作日）",                      # promised limit
                "收费标准", "不收费",                                               # fee text
                "经办人员", "王示例（样例）", "民政窗口A岗",                         # staff
                "监督电话", "0745-0000000（样例号码，非真实电话）",                 # supervision phone
                f"/v1/public/notices/{TOWNSHIP}/HH-MZ-001"]
    missing = [e for e in expected if e not in text]
    assert not missing, missing
    import pypdfium2
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    document = pypdfium2.PdfDocument(data)
    assert len(document) <= 2
    document[0].render(scale=1.5).to_pil().save(ARTIFACTS / "publicity_notice.png")
    if len(document) > 1:
        document[1].render(scale=1.5).to_pil().save(ARTIFACTS / "publicity_notice_page2.png")
    Path(ARTIFACTS / "publicity_notice.html").write_bytes(stored(f"publicity/{TOWNSHIP}/HH-MZ-001/v1-s1.html")["Body"].read())


def test_catalog_text_is_escaped_in_the_html(client, queues):
    record = seed_record("HH-MZ-003")
    record["name"] = "临时救助<script>alert(1)</script>"
    record["publicities"]["conditions"].append("<img src=x onerror=alert(2)> & \"引号\"")
    report = catalog_uc.import_catalog([record], container.catalog())
    assert report.updated == ["HH-MZ-003"]
    run(queues, message("HH-MZ-003", version=2))
    page = client.http.get(f"/v1/public/notices/{TOWNSHIP}/HH-MZ-003").body.decode()
    assert "临时救助&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt; &amp; &quot;引号&quot;" in page
    assert "<script" not in page.lower() and "<img src=x" not in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "http://" not in page.split("<footer")[0] and "https://" not in page  # no external asset
    pdf = stored(f"publicity/{TOWNSHIP}/HH-MZ-003/v2-s1.pdf")["Body"].read()
    assert "临时救助<script>alert(1)</script>" in pdf_text(pdf)  # plain text in the PDF


def test_versions_decide_a_newer_item_is_retried_an_older_is_superseded(client, queues):
    # the message names version 2 while the catalog still shows 1: retried, nothing stored (a
    # malformed message rides along: a batch whose every message fails raises instead)
    responses = run(queues, message(version=2), {"malformed": True})
    assert responses[-1]["batchItemFailures"] and object_versions() == []
    queues.take_all(settings.PUBLICITY_QUEUE)
    record = seed_record("HH-MZ-001")
    record["publicities"]["fees"]["standard"] = "不收取任何费用"
    catalog_uc.import_catalog([record], container.catalog())
    run(queues, message(version=1))  # a late message of the old version
    assert object_versions() == []
    run(queues, message(version=2))
    assert [k for k, _ in object_versions()][0] == f"publicity/{TOWNSHIP}/HH-MZ-001/v2-s1.html"
    assert "不收取任何费用" in pdf_text(stored(f"publicity/{TOWNSHIP}/HH-MZ-001/v2-s1.pdf")["Body"].read())


def test_a_township_phone_change_regenerates_that_townships_notice_only(client, queues):
    run(queues, message(township=TOWNSHIP), message(township=OTHER))
    before = object_versions()
    township = json.loads((SEED / "townships.json").read_text())[1]
    township["supervision_phone"] = "0745-9999999（样例号码，非真实电话）"
    assert catalog_uc.import_townships([township], container.catalog()) == {OTHER: "updated"}
    run(queues, message(township=OTHER, reason="township.updated"))  # what the administration sends
    after = object_versions()
    new = sorted(set(after) - set(before))
    assert [k for k, _ in new] == [f"publicity/{OTHER}/HH-MZ-001/v1-s2.{s}" for s in ("html", "pdf", "png")]
    assert container.notices().get(TOWNSHIP, "HH-MZ-001")["base_key"].endswith("v1-s1")
    page = client.http.get(f"/v1/public/notices/{OTHER}/HH-MZ-001").body.decode()
    assert "0745-9999999" in page


def test_malformed_and_unknown_messages_are_dropped_not_retried(client, queues):
    responses = run(queues, {"item_code": "HH-MZ-001"}, message(item_code="NO-SUCH-1"), message(township="999999999"))
    assert all(not r.get("batchItemFailures") for r in responses)
    assert object_versions() == [] and queues.receive(settings.PUBLICITY_QUEUE) == []


def test_regenerate_queues_one_request_per_item_and_township(client, queues):
    from chalicelib.usecases import publicity
    assert publicity.regenerate(container.catalog(), container.publicity_publisher(), item="HH-MZ-001") == 2
    bodies = queues.bodies(settings.PUBLICITY_QUEUE)
    assert sorted(b["township_code"] for b in bodies) == [TOWNSHIP, OTHER]
    assert {(b["item_code"], b["item_version"], b["reason"]) for b in bodies} == {("HH-MZ-001", 1, "regenerate")}
    count = publicity.regenerate(container.catalog(), container.publicity_publisher(), township=OTHER)
    assert count == len(json.loads((SEED / "catalog_items.json").read_text()))


def test_admin_changes_regenerate_exactly_the_affected_notices_end_to_end(client, queues, auth):
    # GIVEN a third township that offers two items, and the messages of its settings processed
    from tests.integration.test_catalog_admin import offer, seed_township, send
    admin = auth.admin()
    third = "431224102"
    settings_ = {**seed_township(TOWNSHIP), "code": third, "name": "第三乡（样例）",
                 "offers": {"HH-MZ-001": {}, "HH-SB-002": {}}}
    assert send(client, "PUT", f"/v1/admin/townships/{third}/settings", admin, settings_).status_code == 200
    run(queues)
    before = set(object_versions())
    assert {k.split("/")[1] for k, _ in before} == {third}
    # WHEN an administrator bumps HH-MZ-002 (offered by the two seed townships only)
    current = client.http.get("/v1/services/HH-MZ-002").json_body
    bumped = send(client, "PUT", "/v1/admin/services/HH-MZ-002", admin,
                  {**current["record"], "name": "最低生活保障变更（第二版）"}, if_match=current["version"])
    assert bumped.status_code == 200 and bumped.json_body["messages"] == 2
    responses = run(queues)
    # THEN exactly its notices in those two townships are made, under its new version
    assert all(not r.get("batchItemFailures") for r in responses)
    made = sorted(k for k, _ in set(object_versions()) - before)
    assert made == [f"publicity/{t}/HH-MZ-002/v2-s1.{s}" for t in (TOWNSHIP, OTHER) for s in ("html", "pdf", "png")]
    # WHEN the third township's supervision phone changes
    before = set(object_versions())
    offer(client, admin, third, [], supervision_phone="0745-1234567")
    run(queues)
    # THEN its two notices are made again, and no other township's
    made = sorted(k for k, _ in set(object_versions()) - before)
    assert made == [f"publicity/{third}/{i}/v1-s2.{s}" for i in ("HH-MZ-001", "HH-SB-002") for s in ("html", "pdf", "png")]
    assert "0745-1234567" in client.http.get(f"/v1/public/notices/{third}/HH-SB-002").body.decode()


def test_a_missing_notice_says_why(client, queues):
    # an unknown township, an unknown item, an item the township does not offer, not made yet
    from tests.integration.test_catalog_admin import seed_township
    third = {**seed_township(TOWNSHIP), "code": "431224102", "name": "第三乡（样例）", "offers": {"HH-MZ-001": {}}}
    catalog_uc.import_townships([third], container.catalog())
    for path, code in ((f"431224999/HH-MZ-001", "UNKNOWN_TOWNSHIP"), (f"{TOWNSHIP}/HH-NO-999", "UNKNOWN_ITEM"),
                       ("431224102/HH-SB-002", "ITEM_NOT_OFFERED"), (f"{TOWNSHIP}/HH-MZ-001", "NOTICE_NOT_READY"),
                       (f"{TOWNSHIP}/HH-MZ-001/notice.pdf", "NOTICE_NOT_READY"),
                       ("431224999/HH-MZ-001/qr.png", "UNKNOWN_TOWNSHIP"), (f"{TOWNSHIP}/{'X' * 500}", "UNKNOWN_TOWNSHIP")):
        response = client.http.get(f"/v1/public/notices/{path}")
        assert response.status_code == 404 and response.json_body["details"][0]["code"] == code, (path, response.body)
    # AND once made, the page links its printable PDF
    run(queues, message())
    page = client.http.get(f"/v1/public/notices/{TOWNSHIP}/HH-MZ-001").body.decode()
    assert f'href="{settings.PUBLIC_BASE_URL}/v1/public/notices/{TOWNSHIP}/HH-MZ-001/notice.pdf"' in page
