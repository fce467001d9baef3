"""The local stack's front door to moto: what it records, and what it lets moto forget."""
import io
import json

import boto3
from moto import mock_aws

from infra.local.recorder import RecordingMiddleware, changes_state, forget_tracked_instances, repair


def environ(method="POST", target=None, body=b"", path="/"):
    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "CONTENT_LENGTH": str(len(body)),
           "wsgi.input": io.BytesIO(body), "HTTP_HOST": "127.0.0.1:5000", "REQUEST_URI": path}
    if target:
        env["HTTP_X_AMZ_TARGET"] = target
    return env


def test_reads_and_sqs_deletes_are_not_recorded():
    assert changes_state(environ(target="DynamoDB_20120810.TransactWriteItems"), b"{}")
    assert changes_state(environ(target="AmazonSQS.SendMessage"), b"{}")
    assert changes_state(environ(method="PUT", path="/bucket/key"), b"data")
    for op in ("DynamoDB_20120810.GetItem", "DynamoDB_20120810.Query", "AmazonSQS.ReceiveMessage",
               "AmazonSQS.DeleteMessage"):
        assert not changes_state(environ(target=op), b"{}"), op
    assert not changes_state(environ(method="GET", path="/bucket/key"), b"")


def test_only_successful_writes_are_recorded(tmp_path):
    log = tmp_path / "rec.jsonl"

    def app(status):
        def wsgi(env, start_response):
            start_response(status, [])
            return [b"{}"]
        return wsgi
    RecordingMiddleware(app("200 OK"), str(log))(environ(target="AmazonSQS.SendMessage", body=b"{}"),
                                               lambda *a: None)
    RecordingMiddleware(app("400 Bad Request"), str(log))(
        environ(target="DynamoDB_20120810.TransactWriteItems", body=b"{}"), lambda *a: None)
    lines = log.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["headers"]["X-Amz-Target"] == "AmazonSQS.SendMessage"


def test_damaged_lines_are_dropped_and_every_good_line_kept(tmp_path):
    log = tmp_path / "rec.jsonl"
    good = [json.dumps({"method": "POST", "url": f"http://h/{i}", "headers": {}}) for i in range(3)]
    log.write_text(f'{good[0]}\n{{"c": \n{good[1]}\n{{}}\n{good[2]}\n{{"torn')
    assert repair(str(log)) == 3
    assert log.read_text().splitlines() == good
    assert repair(str(log)) == 0


def test_a_query_protocol_long_poll_is_recognised():
    from infra.local.recorder import operation_of
    env = environ(path="/")
    env["QUERY_STRING"] = "Action=ReceiveMessage&WaitTimeSeconds=20"
    assert operation_of(env, b"") == "ReceiveMessage"
    assert operation_of(environ(), b"QueueUrl=" + b"x" * 300 + b"&Action=SendMessage") == "SendMessage"


def test_moto_forgets_the_table_copies_of_transactions():
    from moto.core.model_instances import model_data
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName="t", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
        for i in range(3):
            ddb.transact_write_items(TransactItems=[{"Put": {"TableName": "t", "Item": {"pk": {"S": str(i)}}}}])
        tracked = lambda: sum(len(getattr(m, "instances_tracked", [])) for m in model_data["dynamodb"].values())  # noqa: E731
        assert tracked() > 0
        forget_tracked_instances("dynamodb")
        assert tracked() == 0
        assert len(ddb.scan(TableName="t")["Items"]) == 3  # the data itself is untouched
