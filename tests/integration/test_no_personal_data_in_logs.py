"""Every log line of a full scenario, from every logger at DEBUG, holds no resident ID number
and no mobile phone number (issue 3: personal data masked in every log line)."""
import io
import json
import logging
import re

from chalicelib import settings
from chalicelib.domain import signing
from tests.conftest import AGENT_PERSON, APPLICANT, VILLAGE, valid_submission
from tests.integration.test_operator_api import Operator, register

ID_NUMBER = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def test_a_full_scenario_logs_no_id_or_phone_number(client, auth, queues, caplog):
    ours = io.StringIO()
    bianmin = logging.getLogger("bianmin")
    handler = logging.StreamHandler(ours)
    handler.setFormatter(bianmin.handlers[0].formatter)  # the masking Powertools formatter
    bianmin.addHandler(handler)
    caplog.set_level(logging.DEBUG)
    try:
        villager = auth.villager()
        agent = auth.agent()
        auth.consent(villager, agent)
        clerk = auth.staff("clerk.logs", ["window_clerk"], ["431224100"])
        body = valid_submission(village_code=VILLAGE, note=f"电话 {APPLICANT['phone']}，身份证 {APPLICANT['id_number']}")
        case = client.http.post("/v1/cases", headers=agent, body=json.dumps(body, ensure_ascii=False)).json_body
        queues.deliver(settings.CASE_INTAKE_QUEUE, "on_case_intake")
        client.http.get(f"/v1/cases/{case['case_no']}", headers=clerk)
        client.http.get(f"/v1/cases/{APPLICANT['id_number']}", headers=clerk)  # an ID typed as a case number
        operator = Operator(client, register(client, "op-x"))  # signed operator requests and messages
        operator.file(valid_submission(item_code="HH-SB-002", note=f"电话 {APPLICANT['phone']}"))
        bad = {"operator_id": "op-x", "station_id": "st-0001", "idempotency_key": "k" * 12,
               "submission": valid_submission(applicant={"name": "张三", "id_number": "431224195001011235",
                                                         "phone": APPLICANT["phone"]})}
        body = json.dumps(bad, ensure_ascii=False)
        queues.send(settings.OPERATOR_INTAKE_QUEUE, body, signing.sign_message(
            key_id=operator.key_id, secret=operator.secret, queue=settings.OPERATOR_INTAKE_QUEUE, body=body))
        queues.deliver(settings.OPERATOR_INTAKE_QUEUE, "on_operator_intake")
        [dead] = queues.take_all(settings.OPERATOR_INTAKE_DLQ)  # refused by validation, after the signature
        assert "ID_NUMBER_CHECKSUM" in dead["MessageAttributes"]["error_details"]["StringValue"]
        logging.getLogger("bianmin").error("oops with %s", AGENT_PERSON["id_number"])  # even a careless line
    finally:
        bianmin.removeHandler(handler)
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = [formatter.format(r) for r in caplog.records] + ours.getvalue().splitlines()
    assert len(lines) > 50  # botocore's DEBUG lines, requests and bodies included
    leaks = [line for line in lines if ID_NUMBER.search(line) or PHONE.search(line)]
    assert leaks == []
    everything = "\n".join(lines)
    assert APPLICANT["id_number"] not in everything and APPLICANT["phone"] not in everything
