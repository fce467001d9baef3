"""Every role against every endpoint (issue 3): allowed, 401, 403 or 404 as designed.

``MATRIX`` has one entry per ``(method, path)`` of the app and one expected status per role;
``test_every_route_is_in_the_matrix`` fails when a route is added without an entry, or
without being declared through ``security.endpoint`` (which makes a token the default).

One world (moto, seed catalog, accounts, a case, consents) is built per module; each cell
sends one real request through Chalice's local gateway and the built-in authorizer.
"""
from __future__ import annotations

import datetime as dt
import json
import os

import boto3
import pytest
from moto import mock_aws

from tests.conftest import AGENT_PERSON, OTHER_PERSON, SEED, VILLAGE, Auth, valid_submission

ROLES = ("anonymous", "villager", "villager_other", "agent", "agent_unconsented", "clerk", "clerk_other",
         "approver", "supervisor", "admin", "operator")


def everyone(status):
    return {role: status for role in ROLES}


def token_holders(status, **overrides):
    """``status`` for every role with a token; 401 without one (anonymous, and operators, who
    sign requests instead of holding tokens)."""
    return {**everyone(status), "anonymous": 401, "operator": 401, **overrides}


STAFF_403 = dict(clerk=403, clerk_other=403, approver=403, supervisor=403, admin=403)
ADMIN_ONLY = token_holders(403, admin=None)  # None: filled with the endpoint's success status

MATRIX = {
    ("GET", "/v1/services"): everyone(200),
    ("GET", "/v1/services/{code}"): everyone(200),
    ("POST", "/v1/auth/wx-login"): everyone(200),
    ("POST", "/v1/auth/staff-login"): everyone(200),
    ("POST", "/v1/auth/refresh"): everyone(401),  # a refresh token nobody holds: refused for all alike
    ("POST", "/v1/auth/logout"): token_holders(200),
    ("GET", "/v1/me"): token_holders(200),
    ("PUT", "/v1/me/identity"): token_holders(200, **STAFF_403),
    ("POST", "/v1/cases"): token_holders(403, villager=201, agent=201, clerk=201),
    ("GET", "/v1/cases"): token_holders(200, **STAFF_403),
    ("GET", "/v1/cases/{case_no}"): token_holders(404, villager=200, agent=200, clerk=200, supervisor=200),
    # agents hold the villager role too: not their case -> 404
    ("GET", "/v1/cases/{case_no}/audit"): token_holders(403, villager=200, villager_other=404, agent=404,
                                                        agent_unconsented=404, clerk=200, clerk_other=404,
                                                        supervisor=200),
    # the cell names agent_unconsented as the agent: consenting to oneself is refused (404 UNKNOWN_AGENT)
    ("POST", "/v1/consents"): token_holders(201, agent_unconsented=404, **STAFF_403),
    ("GET", "/v1/consents"): token_holders(200, **STAFF_403),
    ("POST", "/v1/consents/{consent_id}/revoke"): token_holders(404, villager=200, **STAFF_403),
    ("POST", "/v1/admin/accounts"): {**ADMIN_ONLY, "admin": 201},
    ("POST", "/v1/admin/accounts/{username}/disable"): {**ADMIN_ONLY, "admin": 200},
    ("POST", "/v1/admin/agents"): {**ADMIN_ONLY, "admin": 200},
    # any township's window may check an ID card (it is about the person, not the township)
    ("POST", "/v1/identity-verifications"): token_holders(403, clerk=200, clerk_other=200),
    ("POST", "/v1/admin/operators"): {**ADMIN_ONLY, "admin": 201},
    ("POST", "/v1/admin/operators/{operator_id}/keys"): {**ADMIN_ONLY, "admin": 201},
    ("POST", "/v1/admin/operators/{operator_id}/keys/{key_id}/revoke"): {**ADMIN_ONLY, "admin": 200},
    # signed requests only: a token is no signature (401 SIGNATURE_HEADERS_MISSING)
    ("POST", "/v1/operator/cases"): {**everyone(401), "operator": 201},
    ("GET", "/v1/operator/cases/{case_no}"): {**everyone(401), "operator": 200},
    ("GET", "/v1/operator/webhooks/failed"): {**everyone(401), "operator": 200},
    # a delivery id the operator does not have: 404 (redelivery itself: test_webhooks.py)
    ("POST", "/v1/operator/webhooks/{delivery_id}/redeliver"): {**everyone(401), "operator": 404},
}


class World:
    """Accounts, one case of the villager (in VILLAGE, consented to ``agent``), and helpers."""

    def __init__(self, client):
        self.client = client
        auth = Auth(client)
        self.auth = auth
        self.headers = {"anonymous": {"Content-Type": "application/json"}, "operator": {"Content-Type": "application/json"}}
        self.headers["villager"] = auth.villager()
        self.headers["villager_other"] = auth.villager("openid-other", OTHER_PERSON)
        self.headers["agent"] = auth.agent()
        unconsented = {"name": "赵六", "id_number": "431224197004046669"}
        self.headers["agent_unconsented"] = auth.agent("openid-zhaoliu", unconsented)
        self.headers["clerk"] = auth.staff("clerk.m", ["window_clerk"], ["431224100"])
        self.headers["clerk_other"] = auth.staff("clerk.o", ["window_clerk"], ["431224101"])
        self.headers["approver"] = auth.staff("approver.m", ["county_approver"], department="dept-civil")
        self.headers["supervisor"] = auth.staff("supervisor.m", ["supervisor"], ["431224100"])
        self.headers["admin"] = auth.admin()
        auth.consent(self.headers["villager"], self.headers["agent"])
        created = client.http.post("/v1/cases", headers=self.headers["villager"],
                                   body=json.dumps(valid_submission(village_code=VILLAGE), ensure_ascii=False))
        assert created.status_code == 201, created.body
        self.case_no = created.json_body["case_no"]
        self.counter = 0
        registered = self.auth.post("/v1/admin/operators", self.operator_registration("op-matrix"), self.headers["admin"])
        assert registered.status_code == 201, registered.body
        self.operator = registered.json_body
        filed = self.signed("POST", "/v1/operator/cases", json.dumps(
            {"station_id": "st-matrix", "submission": valid_submission(item_code="HH-SB-002")}).encode(),
            {"Idempotency-Key": "matrix-operator-case"})
        assert filed.status_code == 201, filed.body
        self.operator_case_no = filed.json_body["case_no"]

    @staticmethod
    def operator_registration(operator_id):
        return {"operator_id": operator_id, "name": "矩阵测试运营方", "webhook_url": "https://hooks.example.com/x",
                "stations": [{"station_id": "st-matrix", "township_code": "431224100", "village_code": VILLAGE}]}

    def signed(self, method, url, body=b"", headers=None):
        """A request signed with the matrix operator's key (what the operator role sends)."""
        from chalicelib.domain import signing
        signature = signing.sign_request(key_id=self.operator["key_id"], secret=self.operator["key_secret"],
                                         method=method, path=url, body=body)
        headers = {"Content-Type": "application/json", **signature, **(headers or {})}
        return self.client.http.request(method, url, headers=headers, body=body)

    def unique(self, prefix):
        self.counter += 1
        return f"{prefix}{self.counter:04d}"

    def request(self, method, path, role):
        """Build and send the request of one cell; returns the response."""
        c = self.client
        headers = dict(self.headers[role])
        body: object = {}
        if path == "/v1/services/{code}":
            url = "/v1/services/HH-MZ-001"
        elif path == "/v1/auth/wx-login":
            from chalicelib.adapters.wechat import mint_local_code
            url, body = path, {"code": mint_local_code(self.unique("openid-matrix-"))}
        elif path == "/v1/auth/staff-login":
            url, body = path, {"username": "clerk.m", "password": "Very-Secret-42x"}
        elif path == "/v1/auth/refresh":
            url, body = path, {"refresh_token": "nosuchsession.nosuchsecret"}
        elif path == "/v1/me/identity":
            person = {"villager": None, "villager_other": OTHER_PERSON, "agent": AGENT_PERSON,
                      "agent_unconsented": {"name": "赵六", "id_number": "431224197004046669"}}.get(role) or {
                "name": "张三", "id_number": valid_submission()["applicant"]["id_number"]}
            url, body = path, person
        elif path == "/v1/cases" and method == "POST":
            url, body = path, valid_submission(village_code=VILLAGE)
            headers["Idempotency-Key"] = self.unique("matrix-key-")
        elif path in ("/v1/cases/{case_no}", "/v1/cases/{case_no}/audit"):
            url = path.replace("{case_no}", self.case_no)
        elif path == "/v1/consents" and method == "POST":
            url, body = path, {"agent_subject": self.auth.subject(self.headers["agent_unconsented"]),
                               "scope": "period", "valid_until": (dt.date.today() + dt.timedelta(days=7)).isoformat()}
        elif path == "/v1/consents/{consent_id}/revoke":
            consent_id = "20260101000000deadbeef"
            if role == "villager":  # a consent of its own, made for this cell
                consent_id = self.auth.consent(self.headers["villager"], self.headers["agent_unconsented"])["consent_id"]
            url = path.replace("{consent_id}", consent_id)
        elif path == "/v1/admin/accounts":
            url, body = path, {"username": self.unique("clerk.new"), "display_name": "新人", "roles": ["window_clerk"],
                               "township_codes": ["431224100"], "password": "Fresh-Secret-77"}
        elif path == "/v1/admin/accounts/{username}/disable":
            username = self.unique("clerk.tmp")
            self.auth.post("/v1/admin/accounts", {"username": username, "display_name": "临时", "roles": ["window_clerk"],
                                                   "township_codes": ["431224100"], "password": "Fresh-Secret-77"},
                           self.headers["admin"])
            url = path.replace("{username}", username)
        elif path == "/v1/identity-verifications":
            url, body = path, {"subject": self.auth.subject(self.headers["villager_other"]), **OTHER_PERSON}
        elif path == "/v1/admin/agents":
            url, body = path, {"name": "钱七", "id_number": "43122419750505777X", "township_code": "431224100",
                               "villages": [VILLAGE]}
        elif path == "/v1/admin/operators":
            url, body = path, self.operator_registration(self.unique("op-new-"))
        elif path == "/v1/admin/operators/{operator_id}/keys":
            url = path.replace("{operator_id}", "op-matrix")
        elif path == "/v1/admin/operators/{operator_id}/keys/{key_id}/revoke":
            key_id = "ak_000000000000000000000000"
            if role == "admin":  # a key of its own, issued for this cell (the matrix operator keeps its key)
                key_id = self.auth.post("/v1/admin/operators/op-matrix/keys", {}, self.headers["admin"]).json_body["key_id"]
            url = path.replace("{operator_id}", "op-matrix").replace("{key_id}", key_id)
        elif path == "/v1/operator/cases":
            url, body = path, {"station_id": "st-matrix", "submission": valid_submission(item_code="HH-SB-002")}
            headers["Idempotency-Key"] = self.unique("matrix-op-key-")
        elif path == "/v1/operator/cases/{case_no}":
            url = path.replace("{case_no}", self.operator_case_no)
        elif path == "/v1/operator/webhooks/{delivery_id}/redeliver":
            url = path.replace("{delivery_id}", "dlv_0000000000000000")
        else:
            url = path
        if role == "operator" and path.startswith("/v1/operator/"):
            raw = b"" if method == "GET" else json.dumps(body, ensure_ascii=False).encode()
            return self.signed(method, url, raw, {k: v for k, v in headers.items() if k == "Idempotency-Key"})
        send = {"GET": c.http.get, "POST": c.http.post, "PUT": c.http.put}[method]
        if method == "GET":
            return send(url, headers=headers)
        return send(url, headers=headers, body=json.dumps(body, ensure_ascii=False))


@pytest.fixture(scope="module")
def world():
    from chalice.test import Client

    from chalicelib import cli, container
    from infra.local.stack import ensure_resources
    with mock_aws():
        container.reset()
        ensure_resources(boto3.session.Session(region_name="us-east-1"))
        list(cli.seed(SEED))
        from app import app
        with Client(app) as client:
            yield World(client)
        container.reset()


def _cells():
    return [(method, path, role) for (method, path), expected in MATRIX.items() for role in ROLES]


@pytest.mark.parametrize("method,path,role", _cells())
def test_cell(world, method, path, role):
    expected = MATRIX[(method, path)][role]
    response = world.request(method, path, role)
    assert response.status_code == expected, (method, path, role, response.body[:300])
    if response.status_code in (401, 403, 404) and response.headers.get("Content-Type", "").startswith("application/json"):
        body = response.json_body
        if "code" in body:  # ours (the gateway's own refusals have API Gateway's shape)
            assert body["message"] and not any(ch in json.dumps(body) for ch in ("Traceback", "KeyError"))


def test_every_route_is_in_the_matrix_and_declared_through_endpoint():
    from app import app
    from chalicelib.api.security import OPERATOR, PUBLIC, ROUTES, TOKEN
    routes = {(method, path) for path, methods in app.routes.items() for method in methods}
    assert routes == set(ROUTES), "declare every route with chalicelib.api.security.endpoint"
    assert routes == set(MATRIX), f"add matrix entries for {sorted(routes - set(MATRIX))}"
    for (method, path), kind in ROUTES.items():
        entry = app.routes[path][method]
        assert (entry.authorizer is not None) == (kind == TOKEN), (method, path)
        assert kind in (PUBLIC, TOKEN, OPERATOR)
        assert set(MATRIX[(method, path)]) == set(ROLES)
    # only these may be reached without a token or a signature
    public = sorted(k for k, v in ROUTES.items() if v == PUBLIC)
    assert public == [("GET", "/v1/services"), ("GET", "/v1/services/{code}"), ("POST", "/v1/auth/refresh"),
                      ("POST", "/v1/auth/staff-login"), ("POST", "/v1/auth/wx-login")]


def test_another_persons_case_looks_exactly_like_a_missing_one(world):
    other = world.headers["villager_other"]
    hidden = world.client.http.get(f"/v1/cases/{world.case_no}", headers=other)
    missing = world.client.http.get("/v1/cases/20200101000000000-431224100-ZZZZ", headers=other)
    assert hidden.status_code == missing.status_code == 404 and hidden.body == missing.body


assert os.environ.get("AWS_ACCESS_KEY_ID") == "testing"  # conftest configured the stand-in first
