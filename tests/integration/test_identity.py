"""Login, tokens, real-name binding, staff accounts, consents and the audit trail."""
import datetime as dt
import json

import pytest

from chalicelib import container, settings
from chalicelib.adapters.wechat import mint_local_code
from chalicelib.domain.access import Principal
from tests.conftest import APPLICANT, OTHER_PERSON, VILLAGE, bearer, table_items, valid_submission


def login(client, code):
    return client.http.post("/v1/auth/wx-login", headers={"Content-Type": "application/json"},
                            body=json.dumps({"code": code}))


def test_login_code_works_once(client):
    code = mint_local_code("openid-once")
    first, second = login(client, code), login(client, code)
    assert first.status_code == 200 and first.json_body["token_type"] == "Bearer"
    assert second.status_code == 401 and second.json_body["code"] == "LOGIN_CODE_USED"
    assert "session_key" not in first.body.decode()  # WeChat's session key stays on the server


@pytest.mark.parametrize("make_code", [
    lambda: "nonsense", lambda: "",
    lambda: mint_local_code("openid-x", issued=1700000000),          # long expired
    lambda: (lambda c: c[:-1] + ("1" if c.endswith("0") else "0"))(mint_local_code("openid-x")),  # altered
    lambda: mint_local_code("openid-x").replace("openid-x", "openid-y"),  # someone else's openid
])
def test_invalid_or_altered_or_expired_codes_are_refused(client, make_code):
    response = login(client, make_code())
    assert response.status_code in (400, 401)
    assert response.json_body["code"] in ("LOGIN_CODE_INVALID", "VALIDATION_FAILED")


def test_same_wechat_user_logs_in_again_as_the_same_subject(auth):
    assert auth.wx_login("openid-same")["subject"] == auth.wx_login("openid-same")["subject"]


def test_no_token_is_401_and_a_tampered_token_is_refused(client, auth):
    assert client.http.get("/v1/me").status_code == 401
    token = auth.wx_login("openid-t")["access_token"]
    head, payload, signature = token.split(".")
    for forged in (f"{head}.{payload}.{signature[:-2]}AA", f"{head}.{payload[:-2]}AA.{signature}",
                   "Bearer " + token, token + "x"):
        response = client.http.get("/v1/me", headers=bearer(forged))
        assert response.status_code in (401, 403), forged
    assert client.http.get("/v1/me", headers={"Authorization": "Basic abc"}).status_code == 403
    assert client.http.get("/v1/me", headers=bearer(token)).status_code == 200


def test_an_expired_token_gets_401_token_expired(client):
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=settings.ACCESS_TOKEN_SECONDS + 60)
    token, _ = container.tokens().issue(Principal(subject="u_0000000000", roles=frozenset({"villager"})), past)
    response = client.http.get("/v1/me", headers=bearer(token))
    assert response.status_code == 401 and response.json_body["code"] == "TOKEN_EXPIRED"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_refresh_rotates_and_a_reused_refresh_token_ends_the_session(client, auth):
    tokens = auth.wx_login("openid-r")
    refresh = lambda t: auth.post("/v1/auth/refresh", {"refresh_token": t})  # noqa: E731
    second = refresh(tokens["refresh_token"])
    assert second.status_code == 200 and second.json_body["refresh_token"] != tokens["refresh_token"]
    # the old one again: someone else may hold it, so the whole session ends
    reused = refresh(tokens["refresh_token"])
    assert reused.status_code == 401 and reused.json_body["code"] == "REFRESH_REUSED"
    assert refresh(second.json_body["refresh_token"]).json_body["code"] == "REFRESH_INVALID"
    assert refresh("garbage.garbage").status_code == 401


def test_logout_ends_refresh(client, auth):
    tokens = auth.wx_login("openid-lo")
    assert client.http.post("/v1/auth/logout", headers=bearer(tokens["access_token"]), body="{}").status_code == 200
    assert auth.post("/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}).status_code == 401


def test_binding_stores_only_a_keyed_hash_and_masked_values(client, auth):
    headers = auth.villager("openid-bind")
    me = client.http.get("/v1/me", headers=headers).json_body
    assert me["identity_bound"] and me["id_number"] == "431***********1234" and me["name"] == "张*"
    stored = json.dumps(table_items(settings.IDENTITY_TABLE), ensure_ascii=False)
    assert APPLICANT["id_number"] not in stored and "张三" not in stored


def test_one_account_per_resident_id(client, auth):
    auth.villager("openid-first")
    tokens = auth.wx_login("openid-second")
    response = client.http.put("/v1/me/identity", headers=bearer(tokens["access_token"]),
                               body=json.dumps({"name": APPLICANT["name"], "id_number": APPLICANT["id_number"]}))
    assert response.status_code == 409 and response.json_body["code"] == "IDENTITY_TAKEN"


def test_binding_checks_the_id_check_digit(client, auth):
    tokens = auth.wx_login("openid-bad")
    response = client.http.put("/v1/me/identity", headers=bearer(tokens["access_token"]),
                               body=json.dumps({"name": "张三", "id_number": "431224195001011235"}))
    assert response.status_code == 400 and response.json_body["details"][0]["code"] == "ID_NUMBER_CHECKSUM"


def test_unbound_villager_cannot_apply(client, auth):
    tokens = auth.wx_login("openid-unbound")
    response = client.http.post("/v1/cases", headers=bearer(tokens["access_token"]),
                                body=json.dumps(valid_submission(), ensure_ascii=False))
    assert response.status_code == 403 and response.json_body["code"] == "IDENTITY_NOT_BOUND"


def test_villager_cannot_apply_for_someone_else(client, auth):
    headers = auth.villager("openid-self", OTHER_PERSON)
    response = client.http.post("/v1/cases", headers=headers, body=json.dumps(valid_submission(), ensure_ascii=False))
    assert response.status_code == 403 and response.json_body["code"] == "APPLICANT_NOT_SELF"


def test_staff_password_login_and_lockout(client, auth):
    auth.staff("clerk.lock", ["window_clerk"], ["431224100"])
    wrong = lambda: auth.post("/v1/auth/staff-login", {"username": "clerk.lock", "password": "wrong-password"})  # noqa: E731
    for _ in range(settings.STAFF_MAX_FAILED_LOGINS):
        assert wrong().json_body["code"] == "BAD_CREDENTIALS"
    locked = auth.post("/v1/auth/staff-login", {"username": "clerk.lock", "password": "Very-Secret-42x"})
    assert locked.status_code == 429 and locked.json_body["code"] == "ACCOUNT_LOCKED"
    assert int(locked.headers["Retry-After"]) > 0
    unknown = auth.post("/v1/auth/staff-login", {"username": "nobody", "password": "whatever-123"})
    assert unknown.status_code == 401 and unknown.json_body["code"] == "BAD_CREDENTIALS"
    stored = json.dumps(table_items(settings.IDENTITY_TABLE))
    assert "Very-Secret-42x" not in stored and "$argon2id$" in stored


def test_disabled_staff_cannot_log_in_or_refresh(client, auth):
    headers = auth.staff("clerk.gone", ["window_clerk"], ["431224100"])
    login = auth.post("/v1/auth/staff-login", {"username": "clerk.gone", "password": "Very-Secret-42x"}).json_body
    assert client.http.post("/v1/admin/accounts/clerk.gone/disable", headers=auth.admin(), body="{}").status_code == 200
    assert auth.post("/v1/auth/refresh", {"refresh_token": login["refresh_token"]}).json_body["code"] == "ACCOUNT_DISABLED"
    again = auth.post("/v1/auth/staff-login", {"username": "clerk.gone", "password": "Very-Secret-42x"})
    assert again.status_code == 401 and again.json_body["code"] == "ACCOUNT_DISABLED"
    assert headers  # the access token in hand expires on its own (15 minutes)


def test_staff_account_rules(auth):
    admin = auth.admin()
    body = {"username": "sup.x", "display_name": "督查", "roles": ["supervisor"], "password": "Another-Secret-9"}
    response = auth.post("/v1/admin/accounts", body, admin)
    assert response.status_code == 400 and response.json_body["details"][0]["field"] == "township_codes"
    body["township_codes"] = ["431224100"]
    assert auth.post("/v1/admin/accounts", body, admin).status_code == 201
    assert auth.post("/v1/admin/accounts", body, admin).json_body["code"] == "USERNAME_TAKEN"
    assert "password" not in auth.post("/v1/admin/accounts", {**body, "username": "sup.y"}, admin).body.decode()


def test_agent_needs_consent_and_loses_access_when_it_is_revoked(client, auth):
    villager = auth.villager(verified=True)
    agent = auth.agent()
    body = json.dumps(valid_submission(village_code=VILLAGE), ensure_ascii=False)
    refused = client.http.post("/v1/cases", headers=agent, body=body)
    assert refused.status_code == 403 and refused.json_body["code"] == "CONSENT_REQUIRED"
    consent = auth.consent(villager, agent)
    case = client.http.post("/v1/cases", headers=agent, body=body).json_body
    assert client.http.get(f"/v1/cases/{case['case_no']}", headers=agent).status_code == 200
    assert [c["case_no"] for c in client.http.get("/v1/cases", headers=agent).json_body["cases"]] == [case["case_no"]]
    # the villager sees the case as theirs, and the consent
    assert client.http.get(f"/v1/cases/{case['case_no']}", headers=villager).status_code == 200
    assert client.http.get("/v1/consents", headers=villager).json_body["given"][0]["active"] is True
    # revoked: the agent can neither read nor file any more
    revoked = client.http.post(f"/v1/consents/{consent['consent_id']}/revoke", headers=villager, body="{}")
    assert revoked.status_code == 200
    assert client.http.get(f"/v1/cases/{case['case_no']}", headers=agent).status_code == 404
    assert client.http.get("/v1/cases", headers=agent).json_body["cases"] == []
    assert client.http.post("/v1/cases", headers=agent, body=body).json_body["code"] == "CONSENT_REQUIRED"
    # revoking twice, or someone else's consent, is 404
    assert client.http.post(f"/v1/consents/{consent['consent_id']}/revoke", headers=villager, body="{}").status_code == 404


def test_a_one_case_consent_covers_that_case_only(client, auth):
    villager = auth.villager()
    agent = auth.agent()
    mine = client.http.post("/v1/cases", headers=villager, body=json.dumps(valid_submission(), ensure_ascii=False))
    other = client.http.post("/v1/cases", headers=villager,
                             body=json.dumps(valid_submission(item_code="HH-MZ-002"), ensure_ascii=False))
    case_no, other_no = mine.json_body["case_no"], other.json_body["case_no"]
    # a case filed by the villager without a village code is outside every agent's villages
    auth.consent(villager, agent, scope="case", case_no=case_no)
    assert client.http.get(f"/v1/cases/{case_no}", headers=agent).status_code == 404
    with_village = client.http.post("/v1/cases", headers=villager,
                                    body=json.dumps(valid_submission(village_code=VILLAGE), ensure_ascii=False)).json_body
    auth.consent(villager, agent, scope="case", case_no=with_village["case_no"])
    assert client.http.get(f"/v1/cases/{with_village['case_no']}", headers=agent).status_code == 200
    assert client.http.get(f"/v1/cases/{other_no}", headers=agent).status_code == 404


def test_consent_to_someone_who_is_not_an_agent_is_refused(auth):
    villager = auth.villager()
    stranger = auth.villager("openid-stranger", OTHER_PERSON)
    body = {"agent_subject": auth.subject(stranger), "scope": "period", "valid_until": "2099-01-01"}
    response = auth.post("/v1/consents", body, villager)
    assert response.status_code == 404 and response.json_body["details"][0]["code"] == "UNKNOWN_AGENT"


def test_every_read_and_change_is_audited_and_readable_per_case(client, auth):
    villager = auth.villager()
    clerk = auth.staff("clerk.audit", ["window_clerk"], ["431224100"])
    case_no = client.http.post("/v1/cases", headers=villager,
                               body=json.dumps(valid_submission(), ensure_ascii=False)).json_body["case_no"]
    client.http.get(f"/v1/cases/{case_no}", headers=clerk)
    trail = client.http.get(f"/v1/cases/{case_no}/audit", headers=villager).json_body["records"]
    assert [r["action"] for r in trail] == ["case.create", "case.read", "case.audit.read"]
    assert trail[1]["roles"] == ["window_clerk"] and trail[1]["origin"]["ip"]
    assert APPLICANT["id_number"] not in json.dumps(table_items(settings.AUDIT_TABLE))
    other_clerk = auth.staff("clerk.other", ["window_clerk"], ["431224101"])
    assert client.http.get(f"/v1/cases/{case_no}/audit", headers=other_clerk).status_code == 404


def test_a_stale_token_cannot_rebind_to_another_id(client, auth):
    first = auth.wx_login("openid-stale")
    stale = bearer(first["access_token"])  # issued before binding: carries no ID
    assert client.http.put("/v1/me/identity", headers=stale, body=json.dumps(
        {"name": APPLICANT["name"], "id_number": APPLICANT["id_number"]}, ensure_ascii=False)).status_code == 200
    again = client.http.put("/v1/me/identity", headers=stale, body=json.dumps(
        {"name": OTHER_PERSON["name"], "id_number": OTHER_PERSON["id_number"]}, ensure_ascii=False))
    assert again.status_code == 409 and again.json_body["code"] == "IDENTITY_ALREADY_BOUND"


def test_concurrent_password_attempts_cannot_pass_the_lockout(auth):
    from chalicelib import container
    auth.staff("clerk.count", ["window_clerk"], ["431224100"])
    start = int(dt.datetime.now(dt.timezone.utc).timestamp())
    repo = container.identity()
    allowed = [repo.reserve_login_attempt("clerk.count", start, 900, 5) for _ in range(8)]
    assert allowed == [True] * 5 + [False] * 3  # counted before the password is checked
    assert repo.reserve_login_attempt("clerk.count", start + 900, 900, 5)  # a new window
    assert not repo.reserve_login_attempt("nobody", start, 900, 5)


def test_an_agent_whose_appointment_ended_cannot_file_with_a_token_still_in_hand(client, auth):
    villager = auth.villager()
    agent = auth.agent()
    auth.consent(villager, agent)
    ended = auth.post("/v1/admin/agents", {"name": "李四", "id_number": "431224198002024567",
                                           "township_code": "431224100", "villages": [VILLAGE], "active": False},
                      auth.admin())
    assert ended.status_code == 200
    response = client.http.post("/v1/cases", headers=agent,
                                body=json.dumps(valid_submission(village_code=VILLAGE), ensure_ascii=False))
    assert response.status_code == 403 and response.json_body["code"] == "AGENT_NOT_APPOINTED"


def test_replaying_a_key_after_the_consent_was_revoked_shows_nothing(client, auth):
    villager, agent = auth.villager(), auth.agent()
    consent = auth.consent(villager, agent)
    headers = {**agent, "Idempotency-Key": "agent-key-0001"}
    body = json.dumps(valid_submission(village_code=VILLAGE), ensure_ascii=False)
    assert client.http.post("/v1/cases", headers=headers, body=body).status_code == 201
    client.http.post(f"/v1/consents/{consent['consent_id']}/revoke", headers=villager, body="{}")
    assert client.http.post("/v1/cases", headers=headers, body=body).status_code == 404


@pytest.mark.parametrize("cursor", [
    {"k": {"applicant_key": {"S": "x"}}}, {"k": {"pk": {"S": ""}, "sk": {"S": ""}, "applicant_key": {"S": ""},
                                                "submitted_at": {"S": ""}}}, {"k": []}, "garbage"])
def test_a_tampered_list_cursor_is_a_400_not_a_500(client, auth, cursor):
    import base64
    villager = auth.villager()
    raw = cursor if isinstance(cursor, str) else base64.urlsafe_b64encode(json.dumps(cursor).encode()).decode()
    response = client.http.get(f"/v1/cases?cursor={raw}", headers=villager)
    assert response.status_code == 400 and response.json_body["details"][0]["field"] == "cursor"


def test_an_overflowing_number_is_refused_not_stored_as_infinity(client, auth):
    response = client.http.post("/v1/cases", headers=auth.villager(),
                                body='{"item_code":"HH-MZ-001","township_code":"431224100","form":{"x":1e999},'
                                     '"applicant":{"name":"张三","id_number":"431224195001011234"}}')
    assert response.status_code == 400 and response.json_body["details"][0]["code"] == "BODY_NOT_JSON"


def test_the_note_is_masked_in_views(client, auth):
    villager = auth.villager()
    case = client.http.post("/v1/cases", headers=villager, body=json.dumps(
        valid_submission(note="电话13812345678"), ensure_ascii=False)).json_body
    assert "13812345678" not in json.dumps(case) and case["note"] == "电话138****5678"


def test_knowing_an_id_number_opens_nothing_until_the_window_verifies_the_card(client, auth):
    # GIVEN a case a clerk filed for 王五 at the window
    clerk = auth.staff("clerk.f1", ["window_clerk"], ["431224100"])
    case_no = auth.post("/v1/cases", valid_submission(applicant=dict(OTHER_PERSON)), clerk).json_body["case_no"]
    # WHEN someone who merely knows his ID number binds it
    impostor_tokens = auth.wx_login("openid-impostor")
    impostor = bearer(client.http.put("/v1/me/identity", headers=bearer(impostor_tokens["access_token"]), body=json.dumps(
        {"name": "随便写", "id_number": OTHER_PERSON["id_number"]}, ensure_ascii=False)).json_body["access_token"])
    # THEN the case stays hidden from them
    assert client.http.get(f"/v1/cases/{case_no}", headers=impostor).status_code == 404
    assert client.http.get("/v1/cases", headers=impostor).json_body["cases"] == []
    # AND the real 王五, verified at the window with his card, gets his ID back and sees his case
    owner_tokens = auth.wx_login("openid-wangwu")
    moved = auth.verify(owner_tokens["subject"], OTHER_PERSON)
    assert moved["binding_moved_from_another_account"] is True
    owner = bearer(auth.wx_login("openid-wangwu")["access_token"])
    assert client.http.get(f"/v1/cases/{case_no}", headers=owner).status_code == 200
    assert client.http.get("/v1/me", headers=bearer(auth.wx_login("openid-impostor")["access_token"])
                           ).json_body["identity_bound"] is False


def test_a_self_declared_binding_never_makes_an_agent(client, auth):
    auth.post("/v1/admin/agents", {"name": "李四", "id_number": "431224198002024567", "township_code": "431224100",
                                   "villages": [VILLAGE]}, auth.admin())
    squatter = auth.villager("openid-squat", {"name": "冒名顶替", "id_number": "431224198002024567"})
    assert "village_agent" not in client.http.get("/v1/me", headers=squatter).json_body["roles"]


def test_wechat_unreachable_is_a_503_and_the_code_can_be_tried_again(client, monkeypatch):
    from chalicelib import container
    from chalicelib.adapters import wechat
    monkeypatch.setattr(wechat.WeChatApi, "URL", "http://127.0.0.1:9/sns/jscode2session")  # nothing listens
    monkeypatch.setattr(container, "wechat", lambda: wechat.WeChatApi())
    first = login(client, "a-real-looking-code-0001")
    assert first.status_code == 503 and first.json_body["code"] == "WECHAT_UNAVAILABLE"
    assert login(client, "a-real-looking-code-0001").json_body["code"] == "WECHAT_UNAVAILABLE"  # not "used"


def test_a_change_whose_audit_record_cannot_be_written_is_not_stored(client, auth):
    import boto3
    admin = auth.admin()
    boto3.client("dynamodb", region_name="us-east-1").delete_table(TableName=settings.AUDIT_TABLE)
    response = auth.post("/v1/admin/accounts", {"username": "ghost.admin", "display_name": "幽灵", "roles": ["administrator"],
                                                "password": "Ghost-Passw0rd-1"}, admin)
    assert response.status_code == 500
    assert not [i for i in table_items(settings.IDENTITY_TABLE) if i["pk"]["S"] == "STAFF#ghost.admin"]
