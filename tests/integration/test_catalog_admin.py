"""Catalog administration (issue 7): versioned items, retirement, cases that keep the item version
they were filed under, versioned township settings and the publicity change messages (moto)."""
import json

import pytest

from chalicelib import cli, container, settings
from chalicelib.usecases import catalog_changes
from tests.conftest import SEED, Queues, valid_submission

TOWNSHIP = "431224100"
OTHER = "431224101"


def item(code="HH-TEST-001", name="测试事项（第一版）", promised=5, materials=("身份证复印件",)):
    return {"code": code, "name": name, "category": "civil_affairs", "department": "乡镇人民政府", "item_type": "20",
            "exercising_level": "5", "delegation": "devolved",
            "publicities": {
                "legal_basis": [{"law": "《测试条例》", "article": "第一条"}],
                "conditions": ["本乡镇户籍居民"],
                "procedure": [{"step": "申请", "level": "applicant"}, {"step": "办结", "level": "township"}],
                "materials": [{"name": m, "required": True} for m in materials],
                "time_limit": {"legal": {"value": 20, "unit": "working_days"},
                               "promised": {"value": promised, "unit": "working_days"}},
                "fees": {"charged": False, "standard": "不收费"}}}


def seed_township(code):
    return next(t for t in json.loads((SEED / "townships.json").read_text(encoding="utf-8")) if t["code"] == code)


def send(client, method, path, headers, body=None, if_match=None):
    headers = dict(headers)
    if if_match is not None:
        headers["If-Match"] = str(if_match)
    call = {"GET": client.http.get, "POST": client.http.post, "PUT": client.http.put}[method]
    if method == "GET":
        return call(path, headers=headers)
    return call(path, headers=headers, body=json.dumps(body or {}, ensure_ascii=False))


def publicity(queues):
    return queues.bodies(settings.PUBLICITY_QUEUE)


def offer(client, admin, code, items, **changes):
    """Give township ``code`` settings offering ``items`` (through the API, next version)."""
    current = send(client, "GET", f"/v1/admin/townships/{code}/settings", admin)
    record = current.json_body["settings"] if current.status_code == 200 else seed_township(TOWNSHIP) | {"code": code}
    record = {**record, "offers": {**record.get("offers", {}), **{i: {} for i in items}}, **changes}
    response = send(client, "PUT", f"/v1/admin/townships/{code}/settings", admin, record,
                    if_match=current.json_body["version"] if current.status_code == 200 else None)
    assert response.status_code == 200, response.body
    return response.json_body


def file_case(client, auth, item_code, township=TOWNSHIP):
    clerk = auth.staff(f"clerk.{item_code.lower()}.{township}", ["window_clerk"], [township])
    response = client.http.post("/v1/cases", headers={**clerk, "Idempotency-Key": f"key-{item_code}-{township}"},
                                body=json.dumps(valid_submission(item_code=item_code, township_code=township),
                                                ensure_ascii=False))
    return response, clerk


def test_versions_if_match_and_retirement(client, auth, queues):
    admin = auth.admin()
    created = send(client, "POST", "/v1/admin/services", admin, item())
    assert created.status_code == 201, created.body
    assert created.json_body["version"] == 1 and created.json_body["outcome"] == "created"
    assert send(client, "POST", "/v1/admin/services", admin, item()).json_body["code"] == "ITEM_EXISTS"
    for version, name in ((2, "测试事项（第二版）"), (3, "测试事项（第三版）")):
        updated = send(client, "PUT", "/v1/admin/services/HH-TEST-001", admin, item(name=name), if_match=version - 1)
        assert updated.status_code == 200, updated.body
        assert updated.json_body["version"] == version and updated.json_body["name"] == name
    stale = send(client, "PUT", "/v1/admin/services/HH-TEST-001", admin, item(name="迟到的修改"), if_match=2)
    assert stale.status_code == 412 and stale.json_body["code"] == "VERSION_MISMATCH"
    assert stale.json_body["version"] == 3
    missing = send(client, "PUT", "/v1/admin/services/HH-TEST-001", admin, item(name="没有版本号"))
    assert missing.status_code == 400 and missing.json_body["details"][0]["code"] == "IF_MATCH_REQUIRED"
    same = send(client, "PUT", "/v1/admin/services/HH-TEST-001", admin, item(name="测试事项（第三版）"), if_match=3)
    assert same.json_body["outcome"] == "unchanged" and same.json_body["version"] == 3

    listing = client.http.get("/v1/services/HH-TEST-001/versions").json_body
    assert listing["current_version"] == 3 and [v["version"] for v in listing["versions"]] == [3, 2, 1]
    page = client.http.get("/v1/services/HH-TEST-001/versions?limit=2").json_body
    assert [v["version"] for v in page["versions"]] == [3, 2] and page["next_cursor"] == "1"
    rest = client.http.get(f"/v1/services/HH-TEST-001/versions?limit=2&cursor={page['next_cursor']}").json_body
    assert [v["version"] for v in rest["versions"]] == [1] and rest["next_cursor"] is None
    for version, name in ((1, "测试事项（第一版）"), (2, "测试事项（第二版）"), (3, "测试事项（第三版）")):
        read = client.http.get(f"/v1/services/HH-TEST-001/versions/{version}")
        assert read.status_code == 200 and read.json_body["name"] == name and read.json_body["version"] == version
    assert client.http.get("/v1/services/HH-TEST-001/versions/4").status_code == 404
    assert client.http.get("/v1/services/HH-TEST-001").json_body["version"] == 3

    offer(client, admin, TOWNSHIP, ["HH-TEST-001"])
    filed, clerk = file_case(client, auth, "HH-TEST-001")
    assert filed.status_code == 201, filed.body
    case_no = filed.json_body["case_no"]
    retired = send(client, "POST", "/v1/admin/services/HH-TEST-001/retire", admin, if_match=3)
    assert retired.status_code == 200, retired.body
    assert retired.json_body["version"] == 4 and retired.json_body["retired"] is True
    again = send(client, "POST", "/v1/admin/services/HH-TEST-001/retire", admin, if_match=4)
    assert again.status_code == 409 and again.json_body["code"] == "ITEM_RETIRED"

    refused = client.http.post("/v1/cases", headers={**clerk, "Idempotency-Key": "key-after-retire"},
                               body=json.dumps(valid_submission(item_code="HH-TEST-001"), ensure_ascii=False))
    assert refused.status_code == 409, refused.body
    assert refused.json_body["code"] == "ITEM_RETIRED" and refused.json_body["details"][0]["field"] == "item_code"
    assert "停止办理" in refused.json_body["message"]
    # still readable, out of the public list; the old case keeps its item and checklist
    assert client.http.get("/v1/services/HH-TEST-001").json_body["retired"] is True
    codes = set()
    cursor = None
    while True:
        page = client.http.get("/v1/services?limit=100" + (f"&cursor={cursor}" if cursor else "")).json_body
        codes |= {i["code"] for i in page["items"]}
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert "HH-TEST-001" not in codes and "HH-MZ-001" in codes
    case = client.http.get(f"/v1/cases/{case_no}", headers=clerk).json_body
    assert case["item_name"] == "测试事项（第三版）" and case["item_version"] == 3
    checklist = client.http.get(f"/v1/cases/{case_no}/materials", headers=clerk)
    assert checklist.status_code == 200 and [m["name"] for m in checklist.json_body["materials"]] == ["身份证复印件"]
    # updating a retired item offers it again
    back = send(client, "PUT", "/v1/admin/services/HH-TEST-001", admin, item(name="测试事项（恢复）"), if_match=4)
    assert back.json_body["outcome"] == "reinstated" and back.json_body["retired"] is False


def test_item_problems_answer_422_per_field(client, auth):
    admin = auth.admin()
    bad = item(promised=30)
    bad["item_type"] = "99"
    response = send(client, "POST", "/v1/admin/services", admin, bad)
    assert response.status_code == 422 and response.json_body["code"] == "ITEM_INVALID"
    assert {d["field"] for d in response.json_body["details"]} == {"item_type"}
    response = send(client, "POST", "/v1/admin/services", admin, item(promised=30))
    assert response.status_code == 422
    assert [(d["field"], d["code"]) for d in response.json_body["details"]] == [
        ("publicities.time_limit.promised.value", "PROMISED_EXCEEDS_LEGAL")]
    assert send(client, "POST", "/v1/admin/services", admin, item(),
                ).status_code == 201
    mismatch = send(client, "PUT", "/v1/admin/services/HH-TEST-001", admin, item(code="HH-TEST-002"), if_match=1)
    assert mismatch.status_code == 422 and mismatch.json_body["details"][0]["code"] == "CODE_MISMATCH"


def test_a_case_keeps_the_terms_of_the_version_it_was_filed_under(client, auth, queues):
    admin = auth.admin()
    assert send(client, "POST", "/v1/admin/services", admin,
                item(name="旧名称事项", promised=5, materials=("身份证复印件", "户口簿复印件"))).status_code == 201
    offer(client, admin, TOWNSHIP, ["HH-TEST-001"])
    filed, clerk = file_case(client, auth, "HH-TEST-001")
    case_no = filed.json_body["case_no"]
    assert filed.json_body["item_version"] == 1
    moved = send(client, "PUT", "/v1/admin/services/HH-TEST-001", admin,
                 item(name="新名称事项", promised=2, materials=("申请表",)), if_match=1)
    assert moved.status_code == 200 and moved.json_body["version"] == 2
    queues.deliver(settings.CASE_INTAKE_QUEUE, "on_case_intake")  # classified after the change
    case = client.http.get(f"/v1/cases/{case_no}", headers=clerk).json_body
    assert case["item_name"] == "旧名称事项" and case["item_version"] == 1
    assert case["deadline"]["limit"] == {"value": 5, "unit": "working_days"}
    checklist = client.http.get(f"/v1/cases/{case_no}/materials", headers=clerk).json_body
    assert [m["name"] for m in checklist["materials"]] == ["身份证复印件", "户口簿复印件"]
    slot = client.http.post(f"/v1/cases/{case_no}/materials/2/slots", headers=auth.villager(verified=True),
                            body=json.dumps({"content_type": "application/pdf"}))
    assert slot.status_code == 201, slot.body  # the filed version's second material
    # a new case gets the current version
    newer = client.http.post("/v1/cases", headers={**clerk, "Idempotency-Key": "key-newer-case"},
                             body=json.dumps(valid_submission(item_code="HH-TEST-001"), ensure_ascii=False))
    assert newer.json_body["item_version"] == 2 and newer.json_body["item_name"] == "新名称事项"


def test_the_seed_sends_one_message_per_item_and_offering_township(aws):
    # GIVEN an empty stack WHEN the seed is imported (townships first, then items: both changes
    # name every offered item), THEN each notice is asked for once: 44 items x 2 townships
    from chalicelib import cli
    from tests.conftest import SEED, Queues
    lines = list(cli.seed(SEED))
    assert lines[-1] == "publicity: 46 changes, 88 messages"
    sent = Queues().bodies(settings.PUBLICITY_QUEUE)
    assert len({(m["item_code"], m["township_code"]) for m in sent}) == len(sent) == 88
    # AND a second seed changes nothing and sends nothing
    assert list(cli.seed(SEED))[-1] == "publicity: 0 changes, 0 messages"


def test_an_item_change_sends_one_message_per_offering_township(client, auth, queues):
    admin = auth.admin()
    publicity(queues)  # what the seed left, if anything
    assert send(client, "POST", "/v1/admin/services", admin, item()).status_code == 201
    assert publicity(queues) == []  # offered nowhere yet
    offer(client, admin, TOWNSHIP, ["HH-TEST-001"])
    offer(client, admin, OTHER, ["HH-TEST-001"])
    publicity(queues)  # the settings changes' own messages
    bumped = send(client, "PUT", "/v1/admin/services/HH-TEST-001", admin, item(name="测试事项（第二版）"), if_match=1)
    assert bumped.json_body["messages"] == 2
    messages = publicity(queues)
    assert sorted(m["township_code"] for m in messages) == [TOWNSHIP, OTHER]
    for m in messages:
        assert m["item_code"] == "HH-TEST-001" and m["item_version"] == 2 and m["reason"] == "item.updated"
        assert m["requested_at"].endswith("+00:00") and set(m) == {"item_code", "item_version", "township_code",
                                                                   "reason", "requested_at"}
    # a seed item: every seed township offers it
    current = client.http.get("/v1/services/HH-MZ-002").json_body
    send(client, "PUT", "/v1/admin/services/HH-MZ-002", admin, {**current["record"], "name": "改名后的事项"},
         if_match=current["version"])
    assert sorted(m["township_code"] for m in publicity(queues)) == [TOWNSHIP, OTHER]


def test_a_township_phone_change_sends_one_message_per_item_it_offers_and_no_other(client, auth, queues):
    admin = auth.admin()
    publicity(queues)
    current = send(client, "GET", f"/v1/admin/townships/{OTHER}/settings", admin).json_body
    offered = sorted(current["settings"]["offers"])
    changed = {**current["settings"], "supervision_phone": "0745-7654321"}
    response = send(client, "PUT", f"/v1/admin/townships/{OTHER}/settings", admin, changed,
                    if_match=current["version"])
    assert response.status_code == 200, response.body
    assert response.json_body["version"] == current["version"] + 1
    messages = publicity(queues)
    assert len(messages) == len(offered) == 44
    assert {m["township_code"] for m in messages} == {OTHER}
    assert sorted(m["item_code"] for m in messages) == offered
    assert all(m["reason"] == "township.updated" and m["item_version"] == 1 for m in messages)
    # stale settings: 412; the old version stays readable
    stale = send(client, "PUT", f"/v1/admin/townships/{OTHER}/settings", admin, changed, if_match=current["version"])
    assert stale.status_code == 412
    old = send(client, "GET", f"/v1/admin/townships/{OTHER}/settings?version={current['version']}", admin).json_body
    assert old["settings"]["supervision_phone"] == current["settings"]["supervision_phone"]
    # withdrawing two items: a message for each withdrawn one, and one per item still offered
    fewer = {**changed, "offers": {k: v for k, v in changed["offers"].items() if k not in ("HH-MZ-001", "HH-MZ-002")}}
    send(client, "PUT", f"/v1/admin/townships/{OTHER}/settings", admin, fewer, if_match=current["version"] + 1)
    messages = publicity(queues)
    assert len(messages) == 44
    assert sorted(m["item_code"] for m in messages if m["reason"] == "township.offer_withdrawn") == [
        "HH-MZ-001", "HH-MZ-002"]
    # ... and the item change now reaches the one township that still offers it
    current = client.http.get("/v1/services/HH-MZ-001").json_body
    send(client, "PUT", "/v1/admin/services/HH-MZ-001", admin, {**current["record"], "name": "低保（改）"},
         if_match=current["version"])
    assert [m["township_code"] for m in publicity(queues)] == [TOWNSHIP]
    refused = client.http.post("/v1/cases", headers={**auth.staff("clerk.other", ["window_clerk"], [OTHER]),
                                                     "Idempotency-Key": "key-not-offered"},
                               body=json.dumps(valid_submission(township_code=OTHER), ensure_ascii=False))
    assert refused.status_code == 422 and refused.json_body["code"] == "ITEM_NOT_OFFERED"


def test_township_settings_are_validated_per_field(client, auth, queues):
    admin = auth.admin()
    publicity(queues)
    current = send(client, "GET", f"/v1/admin/townships/{TOWNSHIP}/settings", admin).json_body
    bad = {**current["settings"], "supervision_phone": "请拨打监督电话", "consultation_phone": "0745-12",
           "office_hours": {"open": "17:30", "close": "08:30"},
           "offers": {**current["settings"]["offers"], "NO-SUCH-ITEM": {"delegation": "entrusted"}}}
    response = send(client, "PUT", f"/v1/admin/townships/{TOWNSHIP}/settings", admin, bad, if_match=current["version"])
    assert response.status_code == 422 and response.json_body["code"] == "TOWNSHIP_SETTINGS_INVALID"
    assert {(d["field"], d["code"]) for d in response.json_body["details"]} == {
        ("supervision_phone", "PHONE_FORMAT"), ("consultation_phone", "PHONE_FORMAT"),
        ("office_hours.close", "OFFICE_HOURS_ORDER"), ("offers.NO-SUCH-ITEM", "UNKNOWN_ITEM")}
    shape = send(client, "PUT", f"/v1/admin/townships/{TOWNSHIP}/settings", admin,
                 {**current["settings"], "office_hours": {"open": "8点", "close": "17:30"},
                  "market_days": {"calendar": "weekly", "days": [8]}}, if_match=current["version"])
    assert shape.status_code == 422
    assert {d["field"] for d in shape.json_body["details"]} >= {"office_hours.open"}
    assert publicity(queues) == []  # nothing written, nothing sent
    good = {**current["settings"], "market_days": {"calendar": "lunar", "days": [3, 6, 9]},
            "consultation_phone": "13812345678",
            "offers": {**current["settings"]["offers"],
                       "HH-MZ-001": {"delegation": "devolved",
                                     "staff": [{"name": "测试（样例）", "post": "民政窗口A岗", "window": "2"}]}}}
    saved = send(client, "PUT", f"/v1/admin/townships/{TOWNSHIP}/settings", admin, good, if_match=current["version"])
    assert saved.status_code == 200 and saved.json_body["market_days_text"] == "农历逢三、六、九"
    detail = client.http.get(f"/v1/services/HH-MZ-001?township={TOWNSHIP}").json_body
    assert detail["delegation"] == "devolved"
    assert detail["eight_publicities"]["handling_staff"]["value"]["staff"][0]["name"] == "测试（样例）"


def test_a_lost_publish_is_sent_by_the_outbox_sweep(client, auth, queues):
    from chalicelib.adapters.queues import SqsPublisher
    from chalicelib.domain.access import ADMINISTRATOR, Origin, Principal
    from chalicelib.usecases import catalog_admin
    publicity(queues)
    admin = Principal(subject="admin.test", roles=frozenset({ADMINISTRATOR}))
    current = container.catalog().get_item("HH-MZ-003")
    result = catalog_admin.update_item(admin, Origin(channel="test"), "HH-MZ-003",
                                       {**current["item"].record, "name": "发送失败的修改"},
                                       if_match=str(current["version"]), catalog=container.catalog(),
                                       publisher=SqsPublisher("bianmin-no-such-queue"))
    assert result["version"] == current["version"] + 1 and result["messages"] is None  # written, not sent
    assert publicity(queues) == []
    assert catalog_changes.republish_stalled(catalog=container.catalog(),
                                             publisher=container.publicity_publisher())["changes"] == 0  # too fresh
    report = catalog_changes.publish_pending(catalog=container.catalog(), publisher=container.publicity_publisher())
    assert report == {"changes": 1, "messages": 2, "failed": 0, "waiting": 0}
    assert sorted(m["township_code"] for m in publicity(queues)) == [TOWNSHIP, OTHER]
    assert container.catalog().pending_changes() == []


def test_admin_changes_are_audited(client, auth):
    admin = auth.admin()
    send(client, "POST", "/v1/admin/services", admin, item())
    send(client, "POST", "/v1/admin/services/HH-TEST-001/retire", admin, if_match=1)
    rows = container.audit_log().query("ITEM#HH-TEST-001", 10, None)[0]
    assert [r["action"] for r in rows] == ["catalog.item.created", "catalog.item.retired"]
    assert all(r["actor"] == auth.subject(admin) for r in rows)


def test_the_command_line(seeded, tmp_path, capsys):
    path = tmp_path / "item.json"
    path.write_text(json.dumps(item(), ensure_ascii=False), encoding="utf-8")
    assert cli.main(["item-put", str(path)]) == 0
    path.write_text(json.dumps(item(name="命令行第二版"), ensure_ascii=False), encoding="utf-8")
    assert cli.main(["item-put", str(path)]) == 0
    assert cli.main(["item-put", str(path), "--if-match", "1"]) == 1  # stale
    assert "VERSION_MISMATCH" in capsys.readouterr().err
    settings_file = tmp_path / "township.json"
    record = {**seed_township(OTHER), "consultation_phone": "0745-2223333",
              "offers": {**seed_township(OTHER)["offers"], "HH-TEST-001": {"delegation": "entrusted"}}}
    settings_file.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    assert cli.main(["township-settings", OTHER, str(settings_file)]) == 0
    assert cli.main(["item-retire", "HH-TEST-001"]) == 0
    found = container.catalog().get_item("HH-TEST-001")
    assert found["version"] == 3 and found["retired_at"]
    assert container.catalog().get_township(OTHER)["version"] == 2
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**record, "supervision_phone": "监督电话无"}, ensure_ascii=False), encoding="utf-8")
    assert cli.main(["township-settings", OTHER, str(bad)]) == 1
    assert "PHONE_FORMAT" in capsys.readouterr().err
    assert cli.main(["catalog-publish"]) == 0
    sent = Queues().bodies(settings.PUBLICITY_QUEUE)
    assert {(m["item_code"], m["township_code"]) for m in sent if m["reason"] == "item.retired"} == {
        ("HH-TEST-001", OTHER)}


@pytest.mark.parametrize("text,ok", [("0745-1234567", True), ("07451234567", True), ("13812345678", True),
                                     ("12345", True), ("0745-0000000（样例号码，非真实电话）", True),
                                     ("1234567", False), ("0745-12", False), ("电话", False)])
def test_phone_rule(text, ok):
    from chalicelib.domain.catalog import PHONE
    assert bool(PHONE.fullmatch(text)) is ok
