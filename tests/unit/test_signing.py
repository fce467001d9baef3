"""The operator request signature (domain.signing) and the operator registration rules
(domain.operators): pure, no AWS."""
import hashlib
import hmac

import pytest

from chalicelib.domain import signing
from chalicelib.domain.operators import station_problems, webhook_url_problem

SECRET = "bmk_test-secret-0123456789"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_canonical_string_is_six_lines_with_sorted_rfc3986_query():
    canonical = signing.canonical_request(
        "get", "/v1/operator/cases/X", {"b": ["2", "1"], "a c": "村 x~", "z": []}, 1764460800,
        "nonce-0123456789abcdef", b"")
    assert canonical == ("GET\n/v1/operator/cases/X\n"
                         "a%20c=%E6%9D%91%20x~&b=1&b=2\n"
                         "1764460800\nnonce-0123456789abcdef\n" + EMPTY_SHA256)


def test_no_query_gives_an_empty_line_and_pairs_equal_a_mapping():
    assert signing.canonical_request("POST", "/p", None, 1, "n" * 16, "{}").split("\n")[2] == ""
    assert signing.canonical_query({}) == ""
    assert signing.canonical_query([("b", "2"), ("a", "1")]) == signing.canonical_query({"a": "1", "b": ["2"]})
    assert signing.canonical_query({"k": "a+b/c=d&e"}) == "k=a%2Bb%2Fc%3Dd%26e"


def test_body_hash_is_over_the_utf8_bytes():
    body = '{"name":"张三"}'
    assert signing.body_sha256(body) == hashlib.sha256(body.encode("utf-8")).hexdigest()
    assert signing.body_sha256(None) == signing.body_sha256(b"") == EMPTY_SHA256


def test_signature_is_hmac_sha256_hex_of_the_canonical_string():
    canonical = "POST\n/v1/operator/cases\n\n1764460800\nnonce-0123456789abcdef\n" + EMPTY_SHA256
    expected = hmac.new(SECRET.encode(), canonical.encode(), hashlib.sha256).hexdigest()
    assert signing.signature(SECRET, canonical) == expected
    assert signing.verify(SECRET, canonical, expected)


@pytest.mark.parametrize("claimed", ["", "0" * 64, "中" * 64, None])
def test_verify_refuses_anything_else(claimed):
    canonical = signing.canonical_request("GET", "/p", None, 1, "n" * 16, b"")
    assert not signing.verify(SECRET, canonical, claimed)


def test_verify_refuses_another_secret_and_upper_case_hex():
    canonical = signing.canonical_request("GET", "/p", None, 1, "n" * 16, b"")
    good = signing.signature(SECRET, canonical)
    assert not signing.verify(SECRET + "x", canonical, good)
    assert not signing.verify(SECRET, canonical, good.upper())


def test_sign_request_headers_verify_and_bind_every_part():
    headers = signing.sign_request(key_id="ak_0123456789", secret=SECRET, method="POST",
                                   path="/v1/operator/cases", query={"x": "1"}, body=b'{"a":1}',
                                   timestamp=1764460800, nonce="nonce-0123456789abcdef")
    assert set(headers) == set(signing.HEADERS)
    assert signing.SIGNATURE_PATTERN.fullmatch(headers[signing.HEADER_SIGNATURE])
    parts = dict(method="POST", path="/v1/operator/cases", query={"x": "1"}, timestamp=1764460800,
                 nonce="nonce-0123456789abcdef", body=b'{"a":1}')
    assert signing.verify(SECRET, signing.canonical_request(**parts), headers[signing.HEADER_SIGNATURE])
    for change in ({"method": "PUT"}, {"path": "/v1/operator/cases/1"}, {"query": {"x": "2"}},
                   {"timestamp": 1764460801}, {"nonce": "nonce-0123456789abcdeF"}, {"body": b'{"a":2}'}):
        assert not signing.verify(SECRET, signing.canonical_request(**{**parts, **change}),
                                  headers[signing.HEADER_SIGNATURE]), change


def test_sign_request_defaults_to_now_and_a_fresh_nonce():
    a = signing.sign_request(key_id="ak_0123456789", secret=SECRET, method="GET", path="/p")
    b = signing.sign_request(key_id="ak_0123456789", secret=SECRET, method="GET", path="/p")
    assert a[signing.HEADER_NONCE] != b[signing.HEADER_NONCE]
    assert signing.NONCE_PATTERN.fullmatch(a[signing.HEADER_NONCE])
    assert signing.TIMESTAMP_PATTERN.fullmatch(a[signing.HEADER_TIMESTAMP])


def test_sign_message_signs_method_sqs_and_the_queue_path():
    attributes = signing.sign_message(key_id="ak_0123456789", secret=SECRET, queue="bianmin-operator-intake",
                                      body='{"x":1}', timestamp=5, nonce="n" * 16)
    canonical = signing.canonical_request("SQS", "/queues/bianmin-operator-intake", None, 5, "n" * 16, '{"x":1}')
    assert attributes == {"key_id": "ak_0123456789", "timestamp": "5", "nonce": "n" * 16,
                          "signature": signing.signature(SECRET, canonical)}


def test_window_is_inclusive_both_ways():
    assert signing.within_window(1000 - 300, 1000, 300) and signing.within_window(1000 + 300, 1000, 300)
    assert not signing.within_window(1000 - 301, 1000, 300) and not signing.within_window(1000 + 301, 1000, 300)


def test_header_patterns():
    assert signing.NONCE_PATTERN.fullmatch("a" * 16) and signing.NONCE_PATTERN.fullmatch("A_-9" * 16)
    assert not signing.NONCE_PATTERN.fullmatch("a" * 15) and not signing.NONCE_PATTERN.fullmatch("a" * 65)
    assert not signing.NONCE_PATTERN.fullmatch("a" * 16 + "\n") and not signing.NONCE_PATTERN.fullmatch("a/" * 8)


# --- registration rules -------------------------------------------------------------------------

def test_station_rules():
    ok = {"station_id": "st-1", "township_code": "431224100", "village_code": "431224100201"}
    assert station_problems([ok]) == []
    problems = station_problems([ok, dict(ok), dict(ok, station_id="st-2", village_code="431224101201")])
    assert [(p.path, p.code) for p in problems] == [("stations[1].station_id", "DUPLICATE_STATION"),
                                                    ("stations[2].village_code", "VILLAGE_NOT_IN_TOWNSHIP")]


@pytest.mark.parametrize("url,stage,code", [
    ("https://op.example.com/hooks/bianmin", "prod", None),
    ("https://op.example.com:8443/h?x=1", "prod", None),
    ("http://op.example.com/h", "prod", "WEBHOOK_URL_NOT_HTTPS"),
    ("http://op.example.com/h", "local", "WEBHOOK_URL_NOT_HTTPS"),
    ("http://127.0.0.1:9000/h", "local", None),
    ("http://localhost:9000/h", "local", None),
    ("http://127.0.0.1:9000/h", "prod", "WEBHOOK_URL_NOT_HTTPS"),
    ("https://127.0.0.1/h", "prod", "WEBHOOK_URL_NOT_PUBLIC"),
    ("https://169.254.169.254/latest", "prod", "WEBHOOK_URL_NOT_PUBLIC"),
    ("https://10.0.0.8/h", "prod", "WEBHOOK_URL_NOT_PUBLIC"),
    ("https://[::1]/h", "prod", "WEBHOOK_URL_NOT_PUBLIC"),
    ("https://localhost/h", "prod", "WEBHOOK_URL_NOT_PUBLIC"),
    ("https://user:pw@op.example.com/h", "prod", "WEBHOOK_URL_INVALID"),
    ("https://op.example.com:99999/h", "prod", "WEBHOOK_URL_INVALID"),
    ("https:///h", "prod", "WEBHOOK_URL_INVALID"),
    ("ftp://op.example.com/h", "prod", "WEBHOOK_URL_NOT_HTTPS"),
    ("op.example.com/h", "prod", "WEBHOOK_URL_INVALID"),
])
def test_webhook_url_rule(url, stage, code):
    problem = webhook_url_problem(url, stage)
    assert (problem.code if problem else None) == code


def test_the_worked_examples_of_the_operator_documentation():
    secret = "bmk_example-secret-do-not-use"
    body = ('{"station_id":"st-0001","submission":{"item_code":"HH-SB-002","township_code":"431224100",'
            '"applicant":{"name":"张三","id_number":"431224195001011234"}}}').encode()
    post = signing.canonical_request("POST", "/v1/operator/cases", None, 1764460800,
                                     "3f9c1e0a7b2d4c58a1e6f0b9d2c7e4a1", body)
    assert post.split("\n")[5] == "da16dd2e39a23bbd84f902caa55f11c9d37c6c3997363804efed09afe298f85c"
    assert signing.signature(secret, post) == "ee90f4304cad0adcddb43316e69d278449aa28e886831a2a5b1b69f36d306d04"
    get = signing.canonical_request("GET", "/v1/operator/cases/20261130143005123-431224100-7KQ3",
                                    {"lang": "zh CN", "a": "1"}, 1764460800, "3f9c1e0a7b2d4c58a1e6f0b9d2c7e4a2", b"")
    assert get.split("\n")[2] == "a=1&lang=zh%20CN"
    assert signing.signature(secret, get) == "4dccaf77ff9724257e4fbe452d59713ec85a4d4943792de4665dd42c714036dd"
