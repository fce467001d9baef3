"""Create the resources of ``infra/resources.json`` through the service APIs (local stack).

moto's CloudFormation reports success but silently skips TTL, versioning, public access
blocks and more (design.md), so each resource type the template uses is created here with the
service API instead. Existing resources are left alone (nothing is written on a second start).
Resource types that have no local meaning (alarms, function patches) are listed as skipped.
"""
from __future__ import annotations

import json
import secrets
import string
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parent.parent / "resources.json"


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The CloudFormation template as a dict."""
    return json.loads(path.read_text(encoding="utf-8"))


class Resolver:
    """Resolves the intrinsic functions the template uses: Ref (pseudo parameters and our
    resources), Fn::Sub, Fn::GetAtt [Queue, Arn]."""

    def __init__(self, account_id: str, region: str) -> None:
        self.values = {"AWS::AccountId": account_id, "AWS::Region": region, "AWS::Partition": "aws"}
        self.arns: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {"Ref"}:
                return self.values[value["Ref"]]
            if set(value) == {"Fn::Sub"}:
                text = value["Fn::Sub"]
                for key, val in self.values.items():
                    text = text.replace("${" + key + "}", val)
                return text
            if set(value) == {"Fn::GetAtt"}:
                logical, attr = value["Fn::GetAtt"]
                if attr != "Arn":
                    raise ValueError(f"unsupported attribute {attr}")
                return self.arns[logical]
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value


def _add_missing_indexes(ddb, props: dict[str, Any]) -> None:
    """Create the global secondary indexes the template has and the table lacks (what a
    CloudFormation update does when the template gains an index)."""
    described = ddb.describe_table(TableName=props["TableName"])["Table"]
    present = {i["IndexName"] for i in described.get("GlobalSecondaryIndexes", [])}
    for index in props.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] in present:
            continue
        names = {k["AttributeName"] for k in index["KeySchema"]}
        ddb.update_table(TableName=props["TableName"],
                         AttributeDefinitions=[a for a in props["AttributeDefinitions"] if a["AttributeName"] in names],
                         GlobalSecondaryIndexUpdates=[{"Create": index}])


def _table(ddb, props: dict[str, Any]) -> bool:
    name = props["TableName"]
    if name in ddb.list_tables()["TableNames"]:
        _add_missing_indexes(ddb, props)
        return False
    kwargs = {k: props[k] for k in ("TableName", "AttributeDefinitions", "KeySchema", "BillingMode",
                                      "GlobalSecondaryIndexes") if k in props}
    ddb.create_table(**kwargs)
    ddb.get_waiter("table_exists").wait(TableName=name)
    ttl = props.get("TimeToLiveSpecification")
    if ttl:
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    return True


def _queue(sqs, props: dict[str, Any]) -> tuple[bool, str]:
    name = props["QueueName"]
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        created = False
    except sqs.exceptions.QueueDoesNotExist:
        attributes = {k: str(props[k]) for k in ("VisibilityTimeout", "MessageRetentionPeriod") if k in props}
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        created = True
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return created, arn


def _notifications(s3, name: str, config: dict[str, Any] | None) -> None:
    """Apply the bucket's S3-to-SQS notifications (moto's CloudFormation skips them; the S3 API
    works, prefix filters included), translated from the template's shape to the API's. A
    bucket that has them already is left alone (so a second start writes nothing)."""
    if not config:
        return
    present = s3.get_bucket_notification_configuration(Bucket=name)
    if present.get("QueueConfigurations"):
        return
    queues = [{"QueueArn": q["Queue"], "Events": [q["Event"]],
               **({"Filter": {"Key": {"FilterRules": q["Filter"]["S3Key"]["Rules"]}}} if q.get("Filter") else {})}
              for q in config.get("QueueConfigurations", [])]
    s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={"QueueConfigurations": queues})


def _bucket(s3, props: dict[str, Any]) -> bool:
    name = props["BucketName"]
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if name in existing:
        _notifications(s3, name, props.get("NotificationConfiguration"))
        return False
    s3.create_bucket(Bucket=name)
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
    if "BucketEncryption" in props:
        rules = [{"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                 for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    _notifications(s3, name, props.get("NotificationConfiguration"))
    return True


def _generated(spec: dict[str, Any]) -> str:
    """The value CloudFormation's ``GenerateSecretString`` would produce (letters and digits)."""
    alphabet = string.ascii_letters + string.digits
    value = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
    if "SecretStringTemplate" in spec:
        document = json.loads(spec["SecretStringTemplate"])
        document[spec["GenerateStringKey"]] = value
        return json.dumps(document)
    return value


def _secret(sm, props: dict[str, Any]) -> bool:
    try:
        sm.describe_secret(SecretId=props["Name"])
        return False
    except sm.exceptions.ResourceNotFoundException:
        pass
    value = props.get("SecretString") or _generated(props.get("GenerateSecretString", {}))
    sm.create_secret(Name=props["Name"], Description=props.get("Description", ""), SecretString=value)
    return True


def ensure_resources(session, template: dict[str, Any] | None = None, *,
                     account_id: str = "123456789012") -> dict[str, list[str]]:
    """Create every table, queue, bucket and secret of the template that does not exist yet.

    ``session`` is a boto3 Session (or anything with ``.client(name)``) pointing at the local
    stack. Returns ``{"created": [...], "existing": [...], "skipped": [...]}`` of logical ids.
    """
    template = template or load_template()
    resources = template["Resources"]
    region = session.region_name if hasattr(session, "region_name") else "us-east-1"
    resolve = Resolver(account_id, region)
    ddb, sqs, s3 = session.client("dynamodb"), session.client("sqs"), session.client("s3")
    sm = session.client("secretsmanager")
    report: dict[str, list[str]] = {"created": [], "existing": [], "skipped": []}

    def mark(logical: str, created: bool) -> None:
        report["created" if created else "existing"].append(logical)

    # Queues without a redrive policy (dead-letter queues) first: others refer to their ARNs.
    queues = sorted((k for k, v in resources.items() if v.get("Type") == "AWS::SQS::Queue"),
                    key=lambda k: "RedrivePolicy" in resources[k]["Properties"])
    for logical in queues:
        created, arn = _queue(sqs, resolve(resources[logical]["Properties"]))
        resolve.arns[logical] = arn
        mark(logical, created)
    for logical, resource in resources.items():
        kind = resource.get("Type")
        if kind == "AWS::SQS::Queue":
            continue
        if kind == "AWS::DynamoDB::Table":
            mark(logical, _table(ddb, resolve(resource["Properties"])))
        elif kind == "AWS::S3::Bucket":
            props = resolve(resource["Properties"])
            resolve.values[logical] = props["BucketName"]
            mark(logical, _bucket(s3, props))
        elif kind == "AWS::SecretsManager::Secret":
            mark(logical, _secret(sm, resolve(resource["Properties"])))
        else:
            report["skipped"].append(logical)
    return report
