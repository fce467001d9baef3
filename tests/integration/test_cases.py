"""POST /v1/cases, the intake consumer and GET /v1/cases/{no} (the operator paths: test_operator_api.py)."""
import datetime as dt
import json

import pytest

from chalicelib import container, settings
from chalicelib.adapters.queues import SqsPublisher
from chalicelib.domain.access import VILLAGER, Origin, Principal
from chalicelib.usecases import intake
from tests.conftest import VILLAGE, valid_submission, table_items


@pytest.fixture
def me(auth):
    """Headers of the villager who applies (the APPLICANT of valid_submission)."""
    return auth.villager()


@pytest.fixture
def post(client, me):
    def post(client_, body, key=None, raw=None, headers=None):
        sent = dict(headers or me, **({"Idempotency-Key": key} if key else {}))
        return client.http.post("/v1/cases", headers=sent,
                                body=raw if raw is not None else json.dumps(body, ensure_ascii=False))
    return post


@pytest.fixture
def get(client, me):
    def get(case_no, headers=None):
        return client.http.get(f"/v1/cases/{case_no}", headers=headers or me)
    return get


def cases_in_table():
    return [i for i in table_items(settings.CASES_TABLE) if i["sk"]["S"] == "CASE"]


def test_villager_applies_and_the_consumer_classifies_with_a_due_date(client, queues, post, get):
    response = post(client, valid_submission())
    assert response.status_code == 201
    case = response.json_body
    assert case["status"] == "submitted" and case["channel"] == "mini_program"
    assert case["applicant"]["id_number"] == "431***********1234"  # masked in responses
    assert [h["step_name"] for h in case["history"]] == ["申请"]
    assert response.headers["Location"] == f"/v1/cases/{case['case_no']}"
    # the intake event is on the queue; the consumer classifies
    responses = queues.deliver(settings.CASE_INTAKE_QUEUE, "on_case_intake")
    assert responses == [{"batchItemFailures": []}]
    seen = get(case["case_no"]).json_body
    assert seen["case_classes"] == ["promised"] and seen["case_type"] == "2"
    submitted = dt.datetime.fromisoformat(seen["submitted_at"])
    assert dt.date.fromisoformat(seen["due_date"]) > submitted.date()
    assert [h["step_name"] for h in seen["history"]] == ["申请", "分类与时限计算"]
    assert seen["history"][1]["data"]["due_date"] == seen["due_date"]


def test_agent_files_for_a_villager_both_recorded(client, queues, auth, me, post, get):
    agent = auth.agent()
    auth.consent(me, agent)
    response = post(client, valid_submission(item_code="HH-WJ-001", village_code=VILLAGE), headers=agent)
    assert response.status_code == 201, response.body
    case = response.json_body
    queues.deliver(settings.CASE_INTAKE_QUEUE, "on_case_intake")
    seen = get(case["case_no"], agent).json_body
    assert seen["agent"]["name"] == "李*" and seen["applicant"]["name"] == "张*"
    assert seen["case_classes"] == ["immediate", "agency"]  # 生育登记 is concluded on the spot
    assert seen["history"][0]["role"] == "village_agent"


def test_consumer_is_idempotent_when_a_message_arrives_twice(client, queues, post, get):
    case = post(client, valid_submission()).json_body
    message = {"type": "case.submitted", "case_no": case["case_no"]}
    queues.send(settings.CASE_INTAKE_QUEUE, message)
    queues.deliver(settings.CASE_INTAKE_QUEUE, "on_case_intake")
    history = get(case["case_no"]).json_body["history"]
    assert [h["step_name"] for h in history] == ["申请", "分类与时限计算"]


def test_same_idempotency_key_returns_the_same_case(client, queues, post, get):
    first = post(client, valid_submission(), key="retry-0001-abcdef")
    second = post(client, valid_submission(), key="retry-0001-abcdef")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json_body["case_no"] == second.json_body["case_no"]
    assert len(cases_in_table()) == 1


def test_same_key_with_another_body_is_refused(client, post, get):
    post(client, valid_submission(), key="retry-0002-abcdef")
    other = post(client, valid_submission(item_code="HH-MZ-002"), key="retry-0002-abcdef")
    assert other.status_code == 422 and other.json_body["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(cases_in_table()) == 1


@pytest.mark.parametrize("mutate,field,status", [
    (lambda b: b.pop("item_code"), "item_code", 400),
    (lambda b: b["applicant"].pop("name"), "applicant.name", 400),
    (lambda b: b.update(township_code=431224100), "township_code", 400),
    (lambda b: b["applicant"].update(id_number="431224195001011235"), "applicant.id_number", 400),
    (lambda b: b.update(item_code="HH-XX-999"), "item_code", 422),
    (lambda b: b.update(township_code="999999999"), "township_code", 422),
    (lambda b: b.update(agent={"name": "李四"}), "agent.id_number", 400),
])
def test_bad_bodies_name_the_field_and_write_nothing(client, queues, mutate, field, status, post, get):
    body = valid_submission()
    mutate(body)
    response = post(client, body)
    assert response.status_code == status, response.body
    error = response.json_body
    assert error["code"] in ("VALIDATION_FAILED", "UNKNOWN_REFERENCE") and error["message"]
    assert field in [d["field"] for d in error["details"]]
    assert cases_in_table() == [] and queues.receive(settings.CASE_INTAKE_QUEUE) == []


@pytest.mark.parametrize("raw,code", [
    ("not json", "BODY_NOT_JSON"), ("{\"item_code\": ", "BODY_NOT_JSON"), ("", "BODY_NOT_JSON"),
    (b"\xff", "BODY_NOT_JSON"), ("[" * 30000, "BODY_NOT_JSON"), ("[" * 40 + "]" * 40, "BODY_TOO_DEEP"),
    ('{"applicant": {"name": "\\ud800"}}', "BODY_INVALID_TEXT"),
    (json.dumps(valid_submission(form={"x": "长" * 30000}), ensure_ascii=False), "BODY_TOO_LARGE"),
])
def test_unusable_body_is_refused(client, raw, code, post, get):
    response = post(client, None, raw=raw)
    assert response.status_code == 400
    assert response.json_body["details"][0]["field"] == "(body)"
    assert response.json_body["details"][0]["code"] == code
    assert cases_in_table() == []


@pytest.mark.parametrize("path,value", [
    ("id_number", "431224195001011234\n"), ("phone", "13812345678\n"), ("name", "\u202e张三"),
    ("name", "   "), ("name", "张\x00三"), ("name", "张三 "),
])
def test_hidden_characters_in_personal_data_are_refused(client, path, value, post, get):
    body = valid_submission()
    body["applicant"][path] = value
    response = post(client, body)
    assert response.status_code == 400
    assert f"applicant.{path}" in [d["field"] for d in response.json_body["details"]]


@pytest.mark.parametrize("key", ["short", "abcdefgh\n", "a" * 129, "key with spaces"])
def test_malformed_idempotency_key_is_refused(client, key, post, get):
    response = post(client, valid_submission(), key=key)
    assert response.status_code == 400 and response.json_body["details"][0]["field"] == "Idempotency-Key"


@pytest.mark.parametrize("number", ["20261130065245886-431224100-W5XR", "nonsense", "..%2F"])
def test_unknown_case_is_404(client, number, get):
    response = get(number)
    assert response.status_code == 404 and response.json_body["code"] == "NOT_FOUND"
    assert number not in response.body.decode()  # nothing the caller sent is echoed


def test_the_note_is_kept(client, post, get):
    case = post(client, valid_submission(note="行动不便，请电话联系")).json_body
    assert get(case["case_no"]).json_body["note"] == "行动不便，请电话联系"


def test_a_case_that_cannot_be_classified_is_flagged_once_not_retried_forever(client, queues, post, get):
    # GIVEN a case whose item disappeared from the catalog before the consumer ran
    import boto3
    case = post(client, valid_submission()).json_body
    for key in ("HH-MZ-001", "ITEM#HH-MZ-001#v0001"):   # the head and the version the case was filed under
        boto3.client("dynamodb", region_name="us-east-1").delete_item(
            TableName=settings.CATALOG_TABLE, Key={"code": {"S": key}})
    # WHEN the consumer runs THEN the case carries the reason and a history entry for staff
    assert queues.deliver(settings.CASE_INTAKE_QUEUE, "on_case_intake") == [{"batchItemFailures": []}]
    seen = get(case["case_no"]).json_body
    assert seen["intake_error"] and seen["due_date"] is None
    assert seen["history"][-1]["action"] == "other" and "人工处理" in seen["history"][-1]["opinion"]
    # AND the stalled-intake sweep does not publish it again
    later = lambda: dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)  # noqa: E731
    assert intake.requeue_stalled_intake(container.cases(), container.intake_publisher(), now=later) == 0


def test_a_lost_intake_event_is_published_again_by_the_schedule(client, queues, get, auth, me):
    # GIVEN the queue was unreachable when the case was submitted
    key = container.id_keys()(valid_submission()["applicant"]["id_number"])
    villager = Principal(subject=auth.subject(me), roles=frozenset({VILLAGER}), id_key=key)
    view, _ = intake.submit_case(valid_submission(), principal=villager, origin=Origin(channel="test"),
                                 idempotency_key=None, catalog=container.catalog(), cases=container.cases(),
                                 publisher=SqsPublisher("no-such-queue"), events=container.case_event_publisher(),
                                 identity=container.identity(),
                                 id_keys=container.id_keys(), audit_log=container.audit_log())
    assert queues.receive(settings.CASE_INTAKE_QUEUE) == []
    # WHEN the scheduled sweep runs a few minutes later
    later = lambda: dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)  # noqa: E731
    assert intake.requeue_stalled_intake(container.cases(), container.intake_publisher(), now=later) == 1
    # THEN the consumer classifies it and it leaves the pending index
    queues.deliver(settings.CASE_INTAKE_QUEUE, "on_case_intake")
    assert get(view["case_no"]).json_body["due_date"]
    assert intake.requeue_stalled_intake(container.cases(), container.intake_publisher(), now=later) == 0


def test_scheduled_handler_runs_through_chalice(client):
    assert client.lambda_.invoke("requeue_stalled_intake",
                                 client.events.generate_cw_event("Scheduled Event", "aws.events", {}, [])).payload == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_wrong_content_type_gets_the_project_error_shape(client, content_type, me):
    response = client.http.post("/v1/cases", headers={**me, "Content-Type": content_type}, body="a=1&b=2")
    assert response.status_code == 400
    assert response.json_body["details"][0] == {"field": "(body)", "code": "BODY_NOT_JSON",
                                                "message": "请求体必须是 UTF-8 编码的 JSON"}


def test_chinese_is_stored_as_utf8_not_escaped(client, post, get):
    # a form near the 64 KB body limit fits DynamoDB's 400 KB item limit only if not escaped
    form = {"情况说明": "𠀀" * 15000}
    response = post(client, valid_submission(form=form))
    assert response.status_code == 201, response.body
    stored = cases_in_table()[0]
    assert "𠀀" in stored["form"]["S"] and "\\u" not in stored["form"]["S"]
