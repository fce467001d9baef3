"""Webhook rules: the event carries no personal data and a stable delivery id, the signature
matches what docs/webhooks.md tells receivers to check, backoff doubles up to a cap, and the
SSRF guard refuses every non-public address (given addresses, no DNS)."""
import hashlib
import hmac
import json

import pytest

from chalicelib import validation as schemas
from chalicelib.domain import webhooks as rules
from chalicelib.domain.webhooks import WebhookUrlRefused
from tests.conftest import APPLICANT

CASE = {"case_no": "20261130143005123-431224100-7KQ3", "status": "submitted", "township_code": "431224100",
        "item_code": "HH-MZ-001", "submitted_at": "2026-11-30T06:30:05.123+00:00", "operator_id": "op-001",
        "station_id": "st-001", "version": 1, "applicant": dict(APPLICANT), "item_name": "临时救助"}


def test_event_has_only_the_listed_fields_and_no_personal_data():
    event = rules.case_event(CASE, rules.EVENT_CASE_CLASSIFIED, "whd_" + "0" * 32, "2026-11-30T06:30:06.000+00:00")
    schemas.validate("webhook_event", event)
    assert event["status_label"] == "已提交" and event["station_id"] == "st-001"
    body = rules.encode_event(event)
    for value in APPLICANT.values():
        assert value not in body
    assert json.loads(body) == event and "\\u" not in body


def test_delivery_id_is_stable_per_state_change_and_differs_otherwise():
    same = rules.delivery_id_for("op-001", CASE["case_no"], "case.created", 1, "submitted")
    assert same == rules.delivery_id_for("op-001", CASE["case_no"], "case.created", 1, "submitted")
    assert rules.DELIVERY_ID_PATTERN.fullmatch(same)
    others = {rules.delivery_id_for("op-002", CASE["case_no"], "case.created", 1, "submitted"),
              rules.delivery_id_for("op-001", CASE["case_no"], "case.classified", 1, "submitted"),
              rules.delivery_id_for("op-001", CASE["case_no"], "case.created", 2, "submitted"),
              rules.delivery_id_for("op-001", CASE["case_no"], "case.created", 1, "accepted")}
    assert same not in others and len(others) == 4


def test_bad_event_type_is_a_programming_error():
    with pytest.raises(ValueError):
        rules.case_event(CASE, "Case Created", "whd_" + "0" * 32, "x")


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    body = '{"a":"办件"}'.encode()
    header = rules.signature("s3cret", 1700000000, body)
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_backoff_doubles_from_the_base_and_stops_at_the_cap():
    assert [rules.backoff_seconds(n, 60, 3600) for n in range(1, 8)] == [60, 120, 240, 480, 960, 1920, 3600]
    assert rules.backoff_seconds(3, 0, 3600) == 0


def test_errors_are_trimmed_to_one_short_line():
    text = rules.trim_error("network:\n" + "x" * 500)
    assert len(text) == rules.ERROR_LIMIT and "\n" not in text and text.endswith("…")


# --- SSRF guard ---------------------------------------------------------------------------------

@pytest.mark.parametrize("url,reason", [
    ("http://example.com/hook", "scheme"),           # plain http outside local
    ("ftp://example.com/hook", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("https://user:pw@example.com/hook", "credentials"),
    ("https://example.com@10.0.0.1/hook", "credentials"),
    ("https:///hook", "host"),
    ("https://example.com/hook#x", "fragment"),
    ("https://exa mple.com/", "malformed"),
    ("https://example.com:99999/", "malformed"),
    ("", "malformed"),
])
def test_url_shapes_refused(url, reason):
    with pytest.raises(WebhookUrlRefused) as caught:
        rules.parse_webhook_url(url, local=False)
    assert caught.value.context["reason"] == reason
    assert caught.value.code == "WEBHOOK_URL_REFUSED"


def test_url_shape_accepted_with_default_and_explicit_ports():
    assert rules.parse_webhook_url("https://Hooks.Example.com/a?b=1", local=False).port == 443
    target = rules.parse_webhook_url("https://[2606:4700::1]:8443/a", local=False)
    assert (target.host, target.port) == ("2606:4700::1", 8443)


def test_local_allows_http_only_to_loopback_names():
    assert rules.parse_webhook_url("http://127.0.0.1:8080/hook", local=True).port == 8080
    assert rules.parse_webhook_url("http://localhost/hook", local=True).port == 80
    with pytest.raises(WebhookUrlRefused):
        rules.parse_webhook_url("http://example.com/hook", local=True)


@pytest.mark.parametrize("address,reason", [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"), ("fd00::1", "private"),
    ("100.64.0.1", "private"),                      # carrier-grade NAT
    ("169.254.169.254", "link-local"),              # cloud metadata service
    ("fe80::1", "link-local"), ("fe80::1%eth0", "link-local"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
    ("240.0.0.1", "private"), ("192.0.2.1", "private"),  # reserved, documentation
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"),  # IPv4-mapped
    ("2002:a00:1::", "private"),                    # 6to4 around 10.0.0.1
    ("64:ff9b::a9fe:a9fe", "link-local"),           # NAT64 around 169.254.169.254
    ("not-an-ip", "not an IP address"),
])
def test_non_public_addresses_refused(address, reason):
    assert rules.address_refused(address, local=False) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_allowed(address):
    assert rules.address_refused(address, local=False) is None


def test_local_allows_loopback_but_still_no_private_ranges():
    assert rules.address_refused("127.0.0.1", local=True) is None
    assert rules.address_refused("::1", local=True) is None
    assert rules.address_refused("10.0.0.1", local=True) == "private"
    assert rules.address_refused("169.254.169.254", local=True) == "link-local"


def test_one_private_address_among_public_ones_refuses_the_host():
    target = rules.parse_webhook_url("https://hooks.example.com/", local=False)
    assert rules.allowed_addresses(target, ["93.184.216.34"], local=False) == ["93.184.216.34"]
    with pytest.raises(WebhookUrlRefused):
        rules.allowed_addresses(target, ["93.184.216.34", "10.0.0.5"], local=False)
    with pytest.raises(WebhookUrlRefused):
        rules.allowed_addresses(target, [], local=False)


def test_local_http_must_resolve_to_loopback_only():
    target = rules.parse_webhook_url("http://localhost:9/", local=True)
    assert rules.allowed_addresses(target, ["127.0.0.1", "::1"], local=True) == ["127.0.0.1", "::1"]
    with pytest.raises(WebhookUrlRefused):
        rules.allowed_addresses(target, ["93.184.216.34"], local=True)
