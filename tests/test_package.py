"""The deployable package: `chalice package` merged with infra/resources.json (offline: no AWS
credentials needed), checked with cfn-lint and opened to check what Lambda will run."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from chalicelib import settings
from tests.conftest import ROOT

pytestmark = pytest.mark.package
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    out = tmp_path_factory.mktemp("package") / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    subprocess.run([str(BIN / "chalice"), "package", "--stage", "prod", "--merge-template",
                    "infra/resources.json", str(out)], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=600)
    return out


def test_template_passes_cfn_lint(package):
    result = subprocess.run([str(BIN / "cfn-lint"), str(package / "sam.json")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_sqs_event_source_reports_batch_item_failures(package):
    template = json.loads((package / "sam.json").read_text())
    sources = [(name, event) for name, res in template["Resources"].items()
               if res.get("Type") == "AWS::Serverless::Function"
               for event in res["Properties"].get("Events", {}).values() if event["Type"] == "SQS"]
    assert {name for name, _ in sources} == {"OnCaseIntake", "OnOperatorIntake", "OnWebhookDelivery", "OnCaseEvent",
                                             "OnDocumentRequest", "OnMaterialUpload", "OnPublicityRequest"}
    for name, event in sources:
        # exact spelling: cfn-lint accepts a misspelled property (design.md)
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"], name


def test_zip_carries_the_json_schemas_and_the_code(package):
    names = set(zipfile.ZipFile(package / "deployment.zip").namelist())
    for schema in (ROOT / "schemas").glob("*.json"):
        assert f"schemas/{schema.name}" in names
    assert {"app.py", "chalicelib/validation.py", "chinese_calendar/__init__.py"} <= names
    assert not any(n.startswith(("infra/", "tests/", "moto/")) for n in names)


def test_every_queue_has_a_dead_letter_queue_and_names_match_the_code(package):
    template = json.loads((package / "sam.json").read_text())
    queues = {r["Properties"]["QueueName"]: r for r in template["Resources"].values()
              if r.get("Type") == "AWS::SQS::Queue"}
    for name in (settings.CASE_INTAKE_QUEUE, settings.OPERATOR_INTAKE_QUEUE, settings.WEBHOOK_QUEUE):
        assert "RedrivePolicy" in queues[name]["Properties"], name
    assert {settings.OPERATOR_INTAKE_DLQ, settings.WEBHOOK_DLQ} <= set(queues)
    assert queues[settings.WEBHOOK_QUEUE]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == settings.WEBHOOK_MAX_ATTEMPTS
    tables = {r["Properties"]["TableName"] for r in template["Resources"].values()
              if r.get("Type") == "AWS::DynamoDB::Table"}
    assert tables == {settings.CATALOG_TABLE, settings.CASES_TABLE, settings.IDENTITY_TABLE, settings.AUDIT_TABLE}


def test_token_authorizer_is_not_cached_and_refusals_have_our_shape(package):
    template = json.loads((package / "sam.json").read_text())
    swagger = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    authorizer = swagger["securityDefinitions"]["token_authorizer"]["x-amazon-apigateway-authorizer"]
    assert authorizer["authorizerResultTtlInSeconds"] == 0  # expiry is exact
    responses = {r["Properties"]["ResponseType"]: r["Properties"] for r in template["Resources"].values()
                 if r.get("Type") == "AWS::ApiGateway::GatewayResponse"}
    for kind, status in (("UNAUTHORIZED", "401"), ("ACCESS_DENIED", "403")):
        body = json.loads(responses[kind]["ResponseTemplates"]["application/json"])
        assert responses[kind]["StatusCode"] == status and body["code"] and body["message"]


def test_the_audit_table_is_append_only_for_the_functions():
    policy = json.loads((ROOT / ".chalice" / "policy-prod.json").read_text())
    for statement in policy["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if any("bianmin-audit" in r for r in resources):
            assert set(statement["Action"]) <= {"dynamodb:PutItem", "dynamodb:Query"}


def test_webhook_consumer_is_wired_to_its_queue(package):
    template = json.loads((package / "sam.json").read_text())
    function = template["Resources"]["OnWebhookDelivery"]
    assert function["Type"] == "AWS::Serverless::Function"
    source = function["Properties"]["Events"]["OnWebhookDeliverySqsEventSource"]
    assert source["Properties"]["Queue"]["Fn::Sub"].endswith(f":{settings.WEBHOOK_QUEUE}")
    assert source["Properties"]["BatchSize"] == 10
    assert function["Properties"]["Timeout"] == 60


def test_uploaded_materials_reach_their_queue_and_consumer(package):
    """S3 -> SQS for ``materials/`` only; S3 may send to the queue (from our bucket only), and
    the policy names the bucket as a string so the bucket can depend on the policy without a
    cycle; the consumer Lambda reads the queue (docs/materials.md)."""
    template = json.loads((package / "sam.json").read_text())
    resources = template["Resources"]
    bucket = resources["MaterialsBucket"]
    [notification] = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert notification["Event"] == "s3:ObjectCreated:*"
    assert notification["Queue"] == {"Fn::GetAtt": ["MaterialUploadsQueue", "Arn"]}
    assert notification["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "materials/"}]
    assert bucket["DependsOn"] == "MaterialUploadsQueuePolicy"
    policy = resources["MaterialUploadsQueuePolicy"]
    assert policy["Type"] == "AWS::SQS::QueuePolicy"
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    source_arn = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert "Fn::Sub" in source_arn and "bianmin-materials-${AWS::AccountId}-${AWS::Region}" in source_arn["Fn::Sub"]
    assert "\"MaterialsBucket\"" not in json.dumps(policy)  # no Ref/GetAtt back to the bucket: no cycle
    function = resources["OnMaterialUpload"]
    source = function["Properties"]["Events"]["OnMaterialUploadSqsEventSource"]
    assert source["Properties"]["Queue"]["Fn::Sub"].endswith(f":{settings.MATERIAL_UPLOADS_QUEUE}")
    assert function["Properties"]["Timeout"] == 60


def test_the_deadline_sweep_is_scheduled_hourly_with_time_to_finish(package):
    template = json.loads((package / "sam.json").read_text())
    schedules = {name: event["Properties"]["Schedule"] for name, res in template["Resources"].items()
                 if res.get("Type") == "AWS::Serverless::Function"
                 for event in res["Properties"].get("Events", {}).values() if event["Type"] == "Schedule"}
    assert schedules == {"RepublishCaseEvents": "rate(1 minute)", "RequeueStalledIntake": "rate(2 minutes)",
                         "SweepDeadlines": "rate(60 minutes)"}
    function = template["Resources"]["SweepDeadlines"]["Properties"]
    assert function["Handler"] == "app.sweep_deadlines" and function["Timeout"] == 300


def test_seal_keys_and_documents_are_scoped_in_the_policy():
    """KMS: only tagged e-seal keys (RSA_2048, SIGN_VERIFY) are created, used and retired; S3:
    the functions write and read only ``documents/*`` for sealed documents."""
    policy = json.loads((ROOT / ".chalice" / "policy-prod.json").read_text())
    kms = [s for s in policy["Statement"] if any(a.startswith("kms:") for a in s["Action"])]
    assert {a for s in kms for a in s["Action"]} == {"kms:CreateKey", "kms:TagResource", "kms:Sign", "kms:GetPublicKey",
                                                     "kms:ScheduleKeyDeletion", "kms:CreateAlias"}
    for statement in kms:
        assert statement.get("Condition") or statement["Resource"] == "arn:*:kms:*:*:alias/bianmin-seal-*", statement
    assert not any("kms:GetParametersForImport" in s["Action"] or "kms:*" in s["Action"] for s in kms)
    [s3] = [s for s in policy["Statement"] if s.get("Sid") == "MaterialsAndSealedDocuments"]
    assert sorted(r.rsplit("/", 1)[0].rsplit("/", 1)[-1] for r in s3["Resource"]) == ["documents", "materials"]
    assert all(r.endswith(("/documents/*", "/materials/*")) for r in s3["Resource"])


def test_every_function_is_told_the_account_s_materials_bucket(package):
    """The bucket name carries the account and region (``MaterialsBucket``), which a static
    ``.chalice/config.json`` cannot know: SAM's ``Globals`` hands it to every function (SAM
    merges it with each function's own variables)."""
    template = json.loads((package / "sam.json").read_text())
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["BIANMIN_MATERIALS_BUCKET"] == {"Ref": "MaterialsBucket"}
    assert settings.MATERIALS_BUCKET.startswith("bianmin-materials-")
