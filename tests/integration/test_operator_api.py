"""The signed operator API (issue 3, item 5): administrators register operators and manage their
keys; operators file and read cases with HMAC-signed HTTPS requests and signed SQS messages.

Everything runs through the Chalice app (``chalice.test.Client``) on moto; requests are signed
with ``domain.signing.sign_request``, the helper the operator documentation shows.
"""
import datetime as dt
import json
import time
from urllib.parse import urlencode

import boto3
import pytest

from chalicelib import container, settings
from chalicelib.domain import signing
from chalicelib.domain.access import Principal
from chalicelib.usecases import operators
from tests.conftest import ROOT, table_items, valid_submission

TOWNSHIP = "431224100"
VILLAGE = "431224100201"
OTHER_TOWNSHIP_STATION = {"station_id": "st-0002", "township_code": "431224101", "village_code": "431224101203"}


def now_s():
    return int(time.time())


def token_headers(roles, subject="staff_admin"):
    token, _ = container.tokens().issue(Principal(subject=subject, roles=frozenset(roles)),
                                        dt.datetime.now(dt.timezone.utc))
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def registration(operator_id="op-minsheng", **overrides):
    body = {"operator_id": operator_id, "name": "怀化民生服务有限公司",
            "stations": [{"station_id": "st-0001", "township_code": TOWNSHIP, "village_code": VILLAGE},
                         OTHER_TOWNSHIP_STATION],
            "webhook_url": "https://hooks.minsheng.example.com/bianmin"}
    body.update(overrides)
    return body


def register(client, operator_id="op-minsheng", **overrides):
    response = client.http.post("/v1/admin/operators", headers=token_headers({"administrator"}),
                                body=json.dumps(registration(operator_id, **overrides), ensure_ascii=False))
    assert response.status_code == 201, response.body
    return response.json_body


class Operator:
    """An operator's client: signs and sends requests with one key."""

    def __init__(self, client, creds):
        self.client = client
        self.operator_id = creds["operator"]["operator_id"] if "operator" in creds else creds["operator_id"]
        self.key_id = creds["key_id"]
        self.secret = creds["key_secret"]

    def headers(self, method, path, *, query=None, body=b"", timestamp=None, nonce=None, secret=None):
        return signing.sign_request(key_id=self.key_id, secret=secret or self.secret, method=method, path=path,
                                    query=query, body=body, timestamp=timestamp, nonce=nonce)

    def send(self, method, path, *, query=None, body=b"", headers=None, **sign):
        signed = self.headers(method, path, query=query, body=body, **sign)
        url = path + ("?" + urlencode(query, doseq=True) if query else "")
        return self.client.http.request(method, url, headers={**signed, "Content-Type": "application/json",
                                                              **(headers or {})}, body=body)

    def file(self, submission=None, station_id="st-0001", key="op-req-00000001", **sign):
        body = json.dumps({"station_id": station_id, "submission": submission or valid_submission(item_code="HH-SB-002")},
                          ensure_ascii=False).encode()
        return self.send("POST", "/v1/operator/cases", body=body,
                         headers={"Idempotency-Key": key} if key else {}, **sign)

    def get(self, case_no, **sign):
        return self.send("GET", f"/v1/operator/cases/{case_no}", **sign)


@pytest.fixture
def operator(client):
    return Operator(client, register(client))


def cases_in_table():
    return [i for i in table_items(settings.CASES_TABLE) if i["sk"]["S"] == "CASE"]


def identity_items(prefix):
    return [i for i in table_items(settings.IDENTITY_TABLE) if i["pk"]["S"].startswith(prefix)]


def audit_records(target):
    return [i for i in table_items(settings.AUDIT_TABLE) if i["pk"]["S"] == target]


def secret_names():
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    return {s["Name"] for s in sm.list_secrets(MaxResults=100)["SecretList"]}


# --- administration ---------------------------------------------------------------------------

def test_administrator_registers_an_operator_and_gets_the_secrets_once(client):
    created = register(client)
    assert created["operator"]["status"] == "active" and created["operator"]["rate_limit_per_minute"] == 120
    assert created["key_id"].startswith("ak_") and len(created["key_secret"]) > 40
    assert created["webhook_secret"] != created["key_secret"]
    # the secrets live in Secrets Manager only: not in the table, not in the audit trail
    stored = json.dumps(table_items(settings.IDENTITY_TABLE) + table_items(settings.AUDIT_TABLE), ensure_ascii=False)
    assert created["key_secret"] not in stored and created["webhook_secret"] not in stored
    assert {settings.OPERATOR_KEY_SECRET_PREFIX + created["key_id"],
            settings.OPERATOR_WEBHOOK_SECRET_PREFIX + "op-minsheng"} <= secret_names()
    [trail] = audit_records("SUBJECT#op_op-minsheng")
    assert trail["action"]["S"] == "operator.register" and trail["actor"]["S"] == "staff_admin"
    assert container.operator_gate().webhook_target("op-minsheng") == (
        "https://hooks.minsheng.example.com/bianmin", created["webhook_secret"])


def test_registration_answers_no_store(client):
    response = client.http.post("/v1/admin/operators", headers=token_headers({"administrator"}),
                                body=json.dumps(registration()))
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("roles,status", [({"window_clerk"}, 403), ({"station_operator"}, 403), ({"villager"}, 403)])
def test_only_an_administrator_registers(client, roles, status):
    response = client.http.post("/v1/admin/operators", headers=token_headers(roles, "staff_x"),
                                body=json.dumps(registration()))
    assert response.status_code == status and response.json_body["code"] == "FORBIDDEN"
    assert identity_items("OPERATOR#") == []


def test_without_a_token_nothing_is_registered(client):
    response = client.http.post("/v1/admin/operators", headers={"Content-Type": "application/json"},
                                body=json.dumps(registration()))
    assert response.status_code == 401
    assert identity_items("OPERATOR#") == []


@pytest.mark.parametrize("overrides,field,code", [
    ({"webhook_url": "http://hooks.minsheng.example.com/x"}, "webhook_url", "WEBHOOK_URL_NOT_HTTPS"),
    ({"webhook_url": "https://10.1.2.3/x"}, "webhook_url", "WEBHOOK_URL_NOT_PUBLIC"),
    ({"stations": [dict(OTHER_TOWNSHIP_STATION, village_code=VILLAGE)]}, "stations[0].village_code",
     "VILLAGE_NOT_IN_TOWNSHIP"),
    ({"stations": [OTHER_TOWNSHIP_STATION, OTHER_TOWNSHIP_STATION]}, "stations[1].station_id", "DUPLICATE_STATION"),
    ({"stations": []}, "stations", "FIELD_TOO_SHORT"),
    ({"operator_id": "op#1"}, "operator_id", "FIELD_FORMAT"),
    ({"rate_limit_per_minute": 0}, "rate_limit_per_minute", "FIELD_RANGE"),
    ({"extra": 1}, "extra", "FIELD_NOT_ALLOWED"),
])
def test_bad_registration_names_the_field_and_writes_nothing(client, overrides, field, code):
    before = secret_names()
    response = client.http.post("/v1/admin/operators", headers=token_headers({"administrator"}),
                                body=json.dumps(registration(**overrides)))
    assert response.status_code == 400, response.body
    assert (field, code) in {(d["field"], d["code"]) for d in response.json_body["details"]}
    assert table_items(settings.IDENTITY_TABLE) == [] and secret_names() == before
    assert table_items(settings.AUDIT_TABLE) == []


def test_a_registration_whose_webhook_secret_cannot_be_stored_leaves_no_operator(client):
    # GIVEN Secrets Manager refuses the webhook secret (an outage, injected at the AWS client)
    from botocore.exceptions import EndpointConnectionError

    from chalicelib.adapters.aws import client as aws_client
    events = aws_client("secretsmanager").meta.events

    def refuse(params, **_):
        if params.get("Name", "").startswith(settings.OPERATOR_WEBHOOK_SECRET_PREFIX):
            raise EndpointConnectionError(endpoint_url="https://secretsmanager.us-east-1.amazonaws.com")
    events.register("provide-client-params.secrets-manager.CreateSecret", refuse)
    try:
        response = client.http.post("/v1/admin/operators", headers=token_headers({"administrator"}),
                                    body=json.dumps(registration()))
    finally:
        events.unregister("provide-client-params.secrets-manager.CreateSecret", refuse)
    # THEN the administrator gets an error, no operator or key exists, and the trail says so
    assert response.status_code == 500 and response.json_body["code"] == "INTERNAL_ERROR"
    assert identity_items("OPERATOR#") == [] and identity_items("OPKEY#") == []
    actions = sorted(r["action"]["S"] for r in audit_records("SUBJECT#op_op-minsheng"))
    assert actions == ["operator.register", "operator.register.failed"]
    # AND once Secrets Manager is back, the same registration succeeds
    created = register(client)
    assert container.operator_gate().webhook_target("op-minsheng")[1] == created["webhook_secret"]


def test_plain_http_to_loopback_is_allowed_in_the_local_stage(client):
    assert settings.STAGE == "local"
    register(client, webhook_url="http://127.0.0.1:9000/hooks")


def test_an_operator_id_is_registered_once(client, operator):
    response = client.http.post("/v1/admin/operators", headers=token_headers({"administrator"}),
                                body=json.dumps(registration()))
    assert response.status_code == 409 and response.json_body["code"] == "OPERATOR_EXISTS"
    assert len(identity_items("OPKEY#")) == 1


def test_key_rotation_issue_a_new_key_then_revoke_the_old_one(client, operator):
    response = client.http.post(f"/v1/admin/operators/{operator.operator_id}/keys", headers=token_headers({"administrator"}))
    assert response.status_code == 201 and response.headers["Cache-Control"] == "no-store"
    new = Operator(client, response.json_body)
    assert new.key_id != operator.key_id
    assert new.get("20261130065245886-431224100-W5XR").status_code == 404  # authenticated: the case is unknown
    assert operator.get("20261130065245886-431224100-W5XR").status_code == 404
    revoke = f"/v1/admin/operators/{operator.operator_id}/keys/{operator.key_id}/revoke"
    revoked = client.http.post(revoke, headers=token_headers({"administrator"}))
    assert revoked.status_code == 200 and revoked.json_body["status"] == "revoked"
    refused = operator.get("20261130065245886-431224100-W5XR")
    assert refused.status_code == 401 and refused.json_body["code"] == "KEY_INVALID"
    assert new.get("20261130065245886-431224100-W5XR").status_code == 404
    again = client.http.post(revoke, headers=token_headers({"administrator"}))  # idempotent, audited once
    assert again.status_code == 200 and again.json_body["revoked_at"] == revoked.json_body["revoked_at"]
    actions = [r["action"]["S"] for r in audit_records("SUBJECT#op_op-minsheng")]
    assert sorted(actions) == ["operator.key.issue", "operator.key.revoke", "operator.register"]


def test_keys_of_another_or_unknown_operator_are_not_found(client, operator):
    other = Operator(client, register(client, "op-other"))
    admin = token_headers({"administrator"})
    cross = client.http.post(f"/v1/admin/operators/op-other/keys/{operator.key_id}/revoke", headers=admin)
    assert cross.status_code == 404
    assert client.http.post("/v1/admin/operators/op-nobody/keys", headers=admin).status_code == 404
    assert client.http.post("/v1/admin/operators/op-nobody/keys/ak_x/revoke", headers=admin).status_code == 404
    assert operator.get("20261130065245886-431224100-W5XR").status_code == 404  # still works
    assert other.get("20261130065245886-431224100-W5XR").status_code == 404


def test_key_administration_needs_an_administrator(client, operator):
    clerk = token_headers({"window_clerk"}, "staff_clerk")
    assert client.http.post(f"/v1/admin/operators/{operator.operator_id}/keys", headers=clerk).status_code == 403
    revoke = f"/v1/admin/operators/{operator.operator_id}/keys/{operator.key_id}/revoke"
    assert client.http.post(revoke, headers=clerk).status_code == 403
    assert len(identity_items("OPKEY#")) == 1


# --- signed requests --------------------------------------------------------------------------

def test_a_signed_request_files_a_case_at_the_station(client, operator, queues):
    response = operator.file()
    assert response.status_code == 201, response.body
    case = response.json_body
    assert case["channel"] == "operator" and case["township_code"] == TOWNSHIP
    assert response.headers["Location"] == f"/v1/operator/cases/{case['case_no']}"
    [stored] = cases_in_table()
    assert stored["submitted_by"]["S"] == "operator:op-minsheng/st-0001"
    # the case carries the operator, the station and the station's village
    assert (stored["operator_id"]["S"], stored["station_id"]["S"], stored["village_code"]["S"]) == (
        "op-minsheng", "st-0001", VILLAGE)
    [created] = [r for r in audit_records(f"CASE#{case['case_no']}") if r["action"]["S"] == "case.create"]
    assert created["actor"]["S"] == "op_op-minsheng" and json.loads(created["origin"]["S"])["channel"] == "operator_api"
    assert queues.deliver(settings.CASE_INTAKE_QUEUE, "on_case_intake") == [{"batchItemFailures": []}]


@pytest.mark.parametrize("drop", signing.HEADERS)
def test_a_missing_signature_header_is_named(client, operator, drop):
    headers = operator.headers("GET", "/v1/operator/cases/X")
    del headers[drop]
    response = client.http.get("/v1/operator/cases/X", headers=headers)
    assert response.status_code == 401
    assert response.json_body["code"] == "SIGNATURE_HEADERS_MISSING"
    assert response.json_body["details"][0]["field"] == drop


@pytest.mark.parametrize("header,value", [
    (signing.HEADER_NONCE, "short"), (signing.HEADER_NONCE, "a/b" * 8), (signing.HEADER_TIMESTAMP, "-5"),
    (signing.HEADER_TIMESTAMP, "1.5e9"), (signing.HEADER_SIGNATURE, "AB" * 32), (signing.HEADER_KEY_ID, "k"),
])
def test_a_malformed_signature_header_is_named(client, operator, header, value):
    headers = dict(operator.headers("GET", "/v1/operator/cases/X"), **{header: value})
    response = client.http.get("/v1/operator/cases/X", headers=headers)
    assert response.status_code == 401 and response.json_body["code"] == "SIGNATURE_HEADERS_MALFORMED"
    assert response.json_body["details"][0]["field"] == header


def test_a_request_signed_with_another_secret_is_refused(client, operator):
    response = operator.file(secret="bmk_" + "x" * 43)
    assert response.status_code == 401 and response.json_body["code"] == "SIGNATURE_MISMATCH"
    assert cases_in_table() == []


def test_a_tampered_body_is_refused(client, operator):
    good = json.dumps({"station_id": "st-0001", "submission": valid_submission(item_code="HH-SB-002")}).encode()
    headers = operator.headers("POST", "/v1/operator/cases", body=good)
    tampered = good.replace(b"HH-SB-002", b"HH-SB-001")
    response = client.http.post("/v1/operator/cases", body=tampered,
                                headers={**headers, "Content-Type": "application/json", "Idempotency-Key": "k-00000001"})
    assert response.status_code == 401 and response.json_body["code"] == "SIGNATURE_MISMATCH"
    assert cases_in_table() == []


def test_a_tampered_path_is_refused(client, operator):
    headers = operator.headers("GET", "/v1/operator/cases/20261130065245886-431224100-AAAA")
    response = client.http.get("/v1/operator/cases/20261130065245886-431224100-BBBB", headers=headers)
    assert response.status_code == 401 and response.json_body["code"] == "SIGNATURE_MISMATCH"


def test_a_tampered_query_is_refused(client, operator):
    headers = operator.headers("GET", "/v1/operator/cases/X", query={"view": "full"})
    response = client.http.get("/v1/operator/cases/X?view=summary", headers=headers)
    assert response.status_code == 401 and response.json_body["code"] == "SIGNATURE_MISMATCH"
    added = client.http.get("/v1/operator/cases/X?view=full&extra=1", headers=headers)
    assert added.status_code == 401 and added.json_body["code"] == "SIGNATURE_MISMATCH"


def test_a_signed_query_is_accepted(client, operator):
    response = operator.send("GET", "/v1/operator/cases/X", query={"b": ["2", "1"], "a": "张 三"})
    assert response.status_code == 404 and response.json_body["code"] == "NOT_FOUND"


def test_a_signed_query_reaches_a_route_that_reads_it(client, operator):
    # the webhook failure list reads ?limit= and ?cursor=; the signature covers them
    listed = operator.send("GET", "/v1/operator/webhooks/failed", query={"limit": "5"})
    assert listed.status_code == 200 and listed.json_body["next_cursor"] is None
    headers = operator.headers("GET", "/v1/operator/webhooks/failed", query={"limit": "5"})
    changed = client.http.get("/v1/operator/webhooks/failed?limit=100", headers=headers)
    assert changed.status_code == 401 and changed.json_body["code"] == "SIGNATURE_MISMATCH"


def test_a_tampered_method_is_refused(client, operator):
    body = b'{"station_id": "st-0001"}'
    headers = operator.headers("PUT", "/v1/operator/cases", body=body)
    response = client.http.post("/v1/operator/cases", body=body, headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 401 and response.json_body["code"] == "SIGNATURE_MISMATCH"


@pytest.mark.parametrize("skew", [-301, 301, -100000])
def test_a_timestamp_outside_the_window_is_refused(client, operator, skew):
    response = operator.file(timestamp=now_s() + skew)
    assert response.status_code == 401 and response.json_body["code"] == "TIMESTAMP_OUT_OF_WINDOW"
    assert abs(response.json_body["server_time"] - now_s()) <= 5
    assert cases_in_table() == []


@pytest.mark.parametrize("skew", [-290, 290])
def test_a_timestamp_inside_the_window_is_accepted(client, operator, skew):
    assert operator.file(timestamp=now_s() + skew).status_code == 201


def test_a_replayed_request_is_refused(client, operator):
    body = json.dumps({"station_id": "st-0001", "submission": valid_submission(item_code="HH-SB-002")}).encode()
    headers = {**operator.headers("POST", "/v1/operator/cases", body=body), "Content-Type": "application/json",
               "Idempotency-Key": "op-req-00000001"}
    assert client.http.post("/v1/operator/cases", body=body, headers=headers).status_code == 201
    replay = client.http.post("/v1/operator/cases", body=body, headers=headers)
    assert replay.status_code == 401 and replay.json_body["code"] == "NONCE_REUSED"
    # the nonce record expires (TTL) once the timestamp alone refuses the request
    [record] = identity_items("NONCE#")
    signed_at = int(headers[signing.HEADER_TIMESTAMP])
    assert int(record["expires_at"]["N"]) == signed_at + settings.OPERATOR_SIGNATURE_WINDOW_SECONDS + 60


def test_a_forger_cannot_burn_the_operators_nonces(client, operator):
    nonce = "nonce-chosen-by-the-operator-01"
    assert operator.get("X", nonce=nonce, secret="bmk_" + "f" * 43).json_body["code"] == "SIGNATURE_MISMATCH"
    assert operator.get("X", nonce=nonce).status_code == 404  # the genuine request still passes
    assert operator.get("X", nonce=nonce).json_body["code"] == "NONCE_REUSED"


def test_an_unknown_key_is_refused(client, operator):
    response = client.http.get("/v1/operator/cases/X", headers=signing.sign_request(
        key_id="ak_000000000000000000000000", secret=operator.secret, method="GET", path="/v1/operator/cases/X"))
    assert response.status_code == 401 and response.json_body["code"] == "KEY_INVALID"


def test_a_suspended_operator_is_refused(client, operator):
    boto3.client("dynamodb", region_name="us-east-1").update_item(
        TableName=settings.IDENTITY_TABLE, Key={"pk": {"S": "OPERATOR#op-minsheng"}, "sk": {"S": "OPERATOR"}},
        UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "suspended"}})
    response = operator.file()
    assert response.status_code == 401 and response.json_body["code"] == "OPERATOR_SUSPENDED"
    assert cases_in_table() == []
    assert container.operator_gate().webhook_target("op-minsheng") is None  # nothing is delivered either


def test_the_rate_limit_answers_429_with_retry_after(client):
    operator = Operator(client, register(client, rate_limit_per_minute=3))
    if time.time() % 60 > 55:  # keep the four requests inside one minute
        time.sleep(61 - time.time() % 60)
    assert [operator.get("X").status_code for _ in range(3)] == [404, 404, 404]
    refused = operator.get("X")
    assert refused.status_code == 429 and refused.json_body["code"] == "RATE_LIMITED"
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60 and refused.json_body["retry_after"] == retry_after
    # another operator has its own budget
    assert Operator(client, register(client, "op-other")).get("X").status_code == 404


# --- cases filed over HTTPS --------------------------------------------------------------------

def test_idempotency_key_gives_one_case(client, operator):
    first, second = operator.file(key="op-req-00000042"), operator.file(key="op-req-00000042")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json_body["case_no"] == second.json_body["case_no"] and len(cases_in_table()) == 1
    other = operator.file(submission=valid_submission(item_code="HH-SB-001"), key="op-req-00000042")
    assert other.status_code == 422 and other.json_body["code"] == "IDEMPOTENCY_KEY_REUSED"


def test_the_idempotency_key_is_required(client, operator):
    response = operator.file(key=None)
    assert response.status_code == 400 and response.json_body["details"][0]["field"] == "Idempotency-Key"
    assert cases_in_table() == []


def test_a_station_of_another_operator_is_refused(client, operator):
    response = operator.file(station_id="st-9999")
    assert response.status_code == 422 and response.json_body["details"][0]["code"] == "UNKNOWN_STATION"
    assert cases_in_table() == []


def test_the_submission_must_be_in_the_stations_township(client, operator):
    response = operator.file(station_id="st-0002")  # the submission names 431224100, the station 431224101
    assert response.status_code == 400
    assert response.json_body["details"][0] == {"field": "submission.township_code", "code": "STATION_TOWNSHIP_MISMATCH",
                                                "message": "应为服务站所在乡镇的代码"}
    assert cases_in_table() == []


@pytest.mark.parametrize("body,field", [
    (b"not json", "(body)"), (b'{"station_id": "st-0001"}', "submission"),
    (json.dumps({"station_id": "st-0001", "submission": valid_submission(item_code=None)}).encode(),
     "submission.item_code"),
])
def test_a_bad_body_is_refused_after_the_signature(client, operator, body, field):
    response = operator.send("POST", "/v1/operator/cases", body=body, headers={"Idempotency-Key": "op-req-00000001"})
    assert response.status_code == 400 and field in [d["field"] for d in response.json_body["details"]]
    assert cases_in_table() == []


def test_the_operator_reads_its_case_and_the_read_is_audited(client, operator):
    case_no = operator.file().json_body["case_no"]
    response = operator.get(case_no)
    assert response.status_code == 200, response.body
    assert response.json_body["case_no"] == case_no and response.json_body["applicant"]["name"] == "张*"
    reads = [r for r in audit_records(f"CASE#{case_no}") if r["action"]["S"] == "case.read"]
    assert len(reads) == 1 and reads[0]["actor"]["S"] == "op_op-minsheng"
    assert json.loads(reads[0]["origin"]["S"])["channel"] == "operator_api"


def test_another_operators_case_is_not_found(client, operator):
    case_no = operator.file().json_body["case_no"]
    other = Operator(client, register(client, "op-other"))
    theirs, nonexistent = other.get(case_no), other.get("20261130065245886-431224100-W5XR")
    assert theirs.status_code == nonexistent.status_code == 404
    assert theirs.json_body == nonexistent.json_body
    assert [r for r in audit_records(f"CASE#{case_no}") if r["action"]["S"] == "case.read"] == []


# --- cases filed over SQS ------------------------------------------------------------------------

def operator_message(**overrides):
    message = {"operator_id": "op-minsheng", "station_id": "st-0001", "idempotency_key": "op-req-00000001",
               "submission": valid_submission(item_code="HH-SB-002")}
    message.update(overrides)
    return message


def send_signed(queues, operator, message, *, secret=None, timestamp=None, nonce=None):
    body = message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)
    attributes = signing.sign_message(key_id=operator.key_id, secret=secret or operator.secret,
                                      queue=settings.OPERATOR_INTAKE_QUEUE, body=body, timestamp=timestamp, nonce=nonce)
    queues.send(settings.OPERATOR_INTAKE_QUEUE, body, attributes)
    return body, attributes


def dead_letters(queues):
    return [(m["Body"], {k: v["StringValue"] for k, v in m["MessageAttributes"].items()})
            for m in queues.take_all(settings.OPERATOR_INTAKE_DLQ)]


def test_a_signed_message_files_a_case(client, operator, queues):
    send_signed(queues, operator, operator_message())
    assert queues.deliver(settings.OPERATOR_INTAKE_QUEUE, "on_operator_intake") == [{"batchItemFailures": []}]
    [case] = cases_in_table()
    assert case["channel"]["S"] == "operator" and case["submitted_by"]["S"] == "operator:op-minsheng/st-0001"
    assert (case["operator_id"]["S"], case["station_id"]["S"], case["village_code"]["S"]) == (
        "op-minsheng", "st-0001", VILLAGE)
    [created] = [r for r in audit_records(f"CASE#{case['case_no']['S']}") if r["action"]["S"] == "case.create"]
    assert json.loads(created["origin"]["S"])["channel"] == "operator_sqs"
    assert dead_letters(queues) == []
    queues.deliver(settings.CASE_INTAKE_QUEUE, "on_case_intake")
    seen = operator.get(case["case_no"]["S"]).json_body
    assert seen["due_date"] and seen["case_classes"] == ["promised"]


def test_the_same_idempotency_key_over_https_and_sqs_gives_one_case(client, operator, queues):
    created = operator.file(key="op-req-00000001").json_body
    send_signed(queues, operator, operator_message())
    queues.deliver(settings.OPERATOR_INTAKE_QUEUE, "on_operator_intake")
    assert [c["case_no"]["S"] for c in cases_in_table()] == [created["case_no"]]


@pytest.mark.parametrize("attributes,code", [
    (None, "SIGNATURE_HEADERS_MISSING"),
    ({"key_id": "ak_000000000000000000000000", "timestamp": "1", "nonce": "n" * 16, "signature": "0" * 64},
     "TIMESTAMP_OUT_OF_WINDOW"),
    ({"key_id": "k", "timestamp": "1", "nonce": "n" * 16, "signature": "0" * 64}, "SIGNATURE_HEADERS_MALFORMED"),
])
def test_an_unsigned_message_goes_to_the_dead_letter_queue(client, operator, queues, attributes, code):
    body = json.dumps(operator_message())
    queues.send(settings.OPERATOR_INTAKE_QUEUE, body, attributes)
    assert queues.deliver(settings.OPERATOR_INTAKE_QUEUE, "on_operator_intake") == [{"batchItemFailures": []}]
    [(dead_body, error)] = dead_letters(queues)
    assert dead_body == body and error["error_code"] == code  # moved unchanged, the reason attached
    assert cases_in_table() == []


def test_a_forged_message_goes_to_the_dead_letter_queue(client, operator, queues):
    body, _ = send_signed(queues, operator, operator_message(), secret="bmk_" + "f" * 43)
    assert queues.deliver(settings.OPERATOR_INTAKE_QUEUE, "on_operator_intake") == [{"batchItemFailures": []}]
    [(dead_body, error)] = dead_letters(queues)
    assert dead_body == body and error["error_code"] == "SIGNATURE_MISMATCH" and error["error_message"] == "签名校验失败"
    assert cases_in_table() == []


def test_a_message_with_a_used_nonce_goes_to_the_dead_letter_queue(client, operator, queues):
    body, attributes = send_signed(queues, operator, operator_message())
    queues.send(settings.OPERATOR_INTAKE_QUEUE, body, attributes)  # a copy: a new message, the same nonce
    assert queues.deliver(settings.OPERATOR_INTAKE_QUEUE, "on_operator_intake") == [{"batchItemFailures": []}]
    [(dead_body, error)] = dead_letters(queues)
    assert dead_body == body and error["error_code"] == "NONCE_REUSED"
    assert len(cases_in_table()) == 1


def test_a_redelivery_of_the_same_message_is_not_a_replay(client, operator, queues):
    send_signed(queues, operator, operator_message())
    [message] = queues.receive(settings.OPERATOR_INTAKE_QUEUE)
    event = client.events.generate_sqs_event(message_bodies=[message["Body"]], queue_name=settings.OPERATOR_INTAKE_QUEUE)
    record = event["Records"][0]
    record["messageId"] = message["MessageId"]
    record["attributes"].update(message["Attributes"])
    record["messageAttributes"] = {k: {"stringValue": v["StringValue"], "dataType": "String"}
                                   for k, v in message["MessageAttributes"].items()}
    for _ in range(2):  # SQS delivers at least once
        assert client.lambda_.invoke("on_operator_intake", event).payload == {"batchItemFailures": []}
    assert len(cases_in_table()) == 1 and dead_letters(queues) == []


def test_the_window_is_measured_from_when_the_message_was_sent(client, operator, queues):
    # GIVEN a message signed and sent two hours ago that waited in the queue
    sent = now_s() - 7200
    body = json.dumps(operator_message())
    attributes = signing.sign_message(key_id=operator.key_id, secret=operator.secret,
                                      queue=settings.OPERATOR_INTAKE_QUEUE, body=body, timestamp=sent - 10)
    event = client.events.generate_sqs_event(message_bodies=[body], queue_name=settings.OPERATOR_INTAKE_QUEUE)
    record = event["Records"][0]
    record["messageId"], record["attributes"]["SentTimestamp"] = "m-waited", str(sent * 1000)
    record["messageAttributes"] = {k: {"stringValue": v, "dataType": "String"} for k, v in attributes.items()}
    # WHEN it is consumed now THEN it is accepted
    assert client.lambda_.invoke("on_operator_intake", event).payload == {"batchItemFailures": []}
    assert len(cases_in_table()) == 1 and dead_letters(queues) == []
    # AND its nonce is kept for as long as a copy of it could wait in the queue
    [record] = identity_items("NONCE#")
    assert int(record["expires_at"]["N"]) >= sent + operators.OPERATOR_QUEUE_RETENTION_SECONDS


def test_a_message_signed_too_long_before_it_was_sent_is_refused(client, operator, queues):
    send_signed(queues, operator, operator_message(), timestamp=now_s() - 301)
    queues.deliver(settings.OPERATOR_INTAKE_QUEUE, "on_operator_intake")
    assert [e["error_code"] for _, e in dead_letters(queues)] == ["TIMESTAMP_OUT_OF_WINDOW"]


def test_a_message_for_another_operator_is_refused(client, operator, queues):
    register(client, "op-other")
    send_signed(queues, operator, operator_message(operator_id="op-other"))
    queues.deliver(settings.OPERATOR_INTAKE_QUEUE, "on_operator_intake")
    [(_, error)] = dead_letters(queues)
    assert error["error_code"] == "OPERATOR_MISMATCH" and cases_in_table() == []


def test_a_message_from_a_revoked_key_is_refused(client, operator, queues):
    client.http.post(f"/v1/admin/operators/op-minsheng/keys/{operator.key_id}/revoke", headers=token_headers({"administrator"}))
    send_signed(queues, operator, operator_message())
    queues.deliver(settings.OPERATOR_INTAKE_QUEUE, "on_operator_intake")
    assert [e["error_code"] for _, e in dead_letters(queues)] == ["KEY_INVALID"]


@pytest.mark.parametrize("body,detail", [
    ("{not json", "BODY_NOT_JSON"),
    (json.dumps(operator_message(station_id=None)), "FIELD_TYPE"),
    (json.dumps(operator_message(station_id="st-9999")), "UNKNOWN_STATION"),
    (json.dumps(operator_message(submission=valid_submission(item_code="HH-XX-999"))), "UNKNOWN_ITEM"),
    (json.dumps(operator_message(submission=valid_submission(form={"x": "\"" * 150_000}))), "BODY_TOO_LARGE"),
    ("{}", "FIELD_REQUIRED"),
])
def test_an_invalid_signed_message_goes_to_the_dead_letter_queue_once(client, operator, queues, body, detail):
    send_signed(queues, operator, body)
    assert queues.deliver(settings.OPERATOR_INTAKE_QUEUE, "on_operator_intake") == [{"batchItemFailures": []}]
    assert queues.receive(settings.OPERATOR_INTAKE_QUEUE) == []  # not retried
    [(dead_body, error)] = dead_letters(queues)
    assert dead_body == body and error["error_code"] in ("VALIDATION_FAILED", "UNKNOWN_REFERENCE")
    details = json.loads(error["error_details"])
    assert detail in {d["code"] for d in details}
    assert len(details) == len({(d["field"], d["code"]) for d in details})  # each problem once
    assert cases_in_table() == []


def test_queue_retention_agrees_with_the_template():
    template = json.loads((ROOT / "infra" / "resources.json").read_text())
    queue = next(r for r in template["Resources"].values()
                 if r.get("Type") == "AWS::SQS::Queue" and r["Properties"]["QueueName"] == settings.OPERATOR_INTAKE_QUEUE)
    assert queue["Properties"]["MessageRetentionPeriod"] == operators.OPERATOR_QUEUE_RETENTION_SECONDS


def test_the_functions_may_write_operator_secrets_and_roll_back_only_operator_items():
    policy = json.loads((ROOT / ".chalice" / "policy-prod.json").read_text())
    statements = {s.get("Sid"): s for s in policy["Statement"]}
    secrets_statement = statements["OperatorSecrets"]
    assert set(secrets_statement["Action"]) == {"secretsmanager:CreateSecret", "secretsmanager:PutSecretValue",
                                                "secretsmanager:GetSecretValue"}
    for prefix in (settings.OPERATOR_KEY_SECRET_PREFIX, settings.OPERATOR_WEBHOOK_SECRET_PREFIX):
        assert f"arn:*:secretsmanager:*:*:secret:{prefix}*" in secrets_statement["Resource"]
    # DeleteItem (undoing a registration whose webhook secret could not be stored) reaches
    # operator and key items only, never accounts, sessions or consents
    deletes = [s for s in policy["Statement"] if "dynamodb:DeleteItem" in s["Action"]]
    assert [s["Sid"] for s in deletes] == ["OperatorRegistrationRollback"]
    assert deletes[0]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == ["OPERATOR#*", "OPKEY#*"]


def test_the_same_key_from_another_station_is_a_reuse_not_the_first_case(client):
    two = Operator(client, register(client, "op-two", stations=[
        {"station_id": "st-a", "township_code": TOWNSHIP, "village_code": VILLAGE},
        {"station_id": "st-b", "township_code": TOWNSHIP, "village_code": TOWNSHIP + "202"}]))
    assert two.file(station_id="st-a", key="op-req-00000077").status_code == 201
    again = two.file(station_id="st-b", key="op-req-00000077")  # same submission, another station
    assert again.status_code == 422 and again.json_body["code"] == "IDEMPOTENCY_KEY_REUSED"
