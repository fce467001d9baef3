"""docs/operator-api.md: its Python example signs exactly like the server verifies, and its
worked example values are the ones the unit tests check."""
import json
import re

from chalicelib.domain import signing
from tests.conftest import ROOT, valid_submission
from tests.integration.test_operator_api import register

DOC = (ROOT / "docs" / "operator-api.md").read_text(encoding="utf-8")


def example():
    """The namespace of the doc's complete Python example (not run as __main__)."""
    block = DOC.split("### Complete Python example", 1)[1]
    code = re.search(r"```python\n(.*?)```", block, re.S).group(1)
    namespace = {"__name__": "operator_example"}
    exec(compile(code, "docs/operator-api.md", "exec"), namespace)  # noqa: S102 - our own document
    return namespace


def test_the_example_signs_like_sign_request():
    ns = example()
    for method, path, params, body in [("POST", "/v1/operator/cases", {}, b'{"a":"\xe5\xbc\xa0"}'),
                                       ("GET", "/v1/operator/cases/X", {"b": ["2", "1"], "a": "张 三~"}, b"")]:
        theirs = ns["signed_headers"](method, path, params, body, key_id="ak_0123456789", key_secret="bmk_s",
                                      timestamp=1764460800, nonce="n" * 20)
        ours = signing.sign_request(key_id="ak_0123456789", secret="bmk_s", method=method, path=path, query=params,
                                    body=body, timestamp=1764460800, nonce="n" * 20)
        assert theirs == ours


def test_a_request_signed_by_the_example_is_accepted(client):
    ns = example()
    creds = register(client)
    body = json.dumps({"station_id": "st-0001", "submission": valid_submission(item_code="HH-SB-002")},
                      ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": "minsheng-20261130-000001",
               **ns["signed_headers"]("POST", "/v1/operator/cases", {}, body, key_id=creds["key_id"],
                                      key_secret=creds["key_secret"])}
    response = client.http.post("/v1/operator/cases", headers=headers, body=body)
    assert response.status_code == 201, response.body
    path = f"/v1/operator/cases/{response.json_body['case_no']}"
    read = client.http.get(path, headers=ns["signed_headers"]("GET", path, {}, b"", key_id=creds["key_id"],
                                                              key_secret=creds["key_secret"]))
    assert read.status_code == 200


def test_the_worked_example_values_are_the_tested_ones():
    for value in ("da16dd2e39a23bbd84f902caa55f11c9d37c6c3997363804efed09afe298f85c",
                  "ee90f4304cad0adcddb43316e69d278449aa28e886831a2a5b1b69f36d306d04",
                  "4dccaf77ff9724257e4fbe452d59713ec85a4d4943792de4665dd42c714036dd", "a=1&lang=zh%20CN"):
        assert value in DOC


def test_every_refusal_code_is_documented():
    from chalicelib.usecases import operators
    for code in [*operators._MESSAGES, "RATE_LIMITED", "OPERATOR_MISMATCH", "UNKNOWN_STATION",
                 "STATION_TOWNSHIP_MISMATCH", "IDEMPOTENCY_KEY_REUSED"]:
        assert f"`{code}`" in DOC or f" {code}`" in DOC, code
