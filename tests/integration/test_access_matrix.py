"""Every role against every endpoint (issue 3): allowed, 401, 403 or 404 as designed.

``MATRIX`` has one entry per ``(method, path)`` of the app and one expected status per role;
``test_every_route_is_in_the_matrix`` fails when a route is added without an entry, or
without being declared through ``security.endpoint`` (which makes a token the default).

One world (moto, seed catalog, accounts, a case, consents) is built per module; each cell
sends one real request through Chalice's local gateway and the built-in authorizer. Cells do
not depend on their order: a lifecycle action's cell first brings a case of its own into the
state the action needs, through the API with the world's accounts (``World.prepared``), and a
cell that changes something shared puts it back. A 404 on a case is byte for byte the 404 of
a case that does not exist.
"""
from __future__ import annotations

import datetime as dt
import json
import os

import pytest

from tests.conftest import AGENT_PERSON, OTHER_PERSON, VILLAGE, Auth, Queues, seeded_client, valid_submission

ROLES = ("anonymous", "villager", "villager_other", "agent", "agent_unconsented", "clerk", "clerk_other",
         "approver", "supervisor", "admin", "operator")
NO_TOKEN = ("anonymous", "operator")  # operators sign requests on /v1/operator/ only


def everyone(status):
    return {role: status for role in ROLES}


def token_holders(status, **overrides):
    """``status`` for every role with a token; 401 without one (anonymous, and operators, who
    sign requests instead of holding tokens)."""
    return {**everyone(status), "anonymous": 401, "operator": 401, **overrides}


STAFF_403 = dict(clerk=403, clerk_other=403, approver=403, supervisor=403, admin=403)
ADMIN_ONLY = token_holders(403, admin=None)  # None: filled with the endpoint's success status
CLERK_ACTION = token_holders(403, clerk=200, clerk_other=404)  # another township's clerk cannot see the case
STAFF_ACTION = token_holders(403, clerk=200, clerk_other=404, approver=200)

MATRIX = {
    ("GET", "/v1/services"): everyone(200),
    ("GET", "/v1/services/{code}"): everyone(200),
    # the notice pages: none generated in the matrix world (generation: test_publicity.py), so a
    # public 404 NOTICE_NOT_READY for everyone alike proves no token is asked for
    ("GET", "/v1/public/notices/{township_code}/{item_code}"): everyone(404),
    ("GET", "/v1/public/notices/{township_code}/{item_code}/{file}"): everyone(404),
    ("GET", "/open311/v2/services.json"): everyone(200),
    ("GET", "/open311/v2/services/{service_code}"): everyone(200),
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
    # --- the lifecycle (chalicelib/api/workbench.py). Each state-changing cell acts on a case of its
    # own, brought through the API into the state the action needs, so the role that may act gets 200
    # and one that may not cannot hide behind a 409. Villagers and agents hold the villager role.
    ("POST", "/v1/cases/{case_no}/accept"): CLERK_ACTION,
    ("POST", "/v1/cases/{case_no}/notices"): CLERK_ACTION,
    # the approver's department (NYNCJ) never received this case: 404 like a missing one
    ("GET", "/v1/cases/{case_no}/notices/{round_no}"): token_holders(404, villager=200, agent=200, clerk=200,
                                                                     supervisor=200, admin=403),
    # sealed documents: whoever may read the case (the case read rule; administrators see no case data)
    ("GET", "/v1/cases/{case_no}/documents"): token_holders(404, villager=200, agent=200, clerk=200, supervisor=200),
    ("GET", "/v1/cases/{case_no}/documents/{document_id}"): token_holders(404, villager=200, agent=200, clerk=200,
                                                                          supervisor=200),
    # verification is public (the QR code on the document; an uploaded copy)
    ("GET", "/v1/public/documents/{document_id}/verification"): everyone(200),
    ("POST", "/v1/public/documents/verification"): everyone(200),
    ("POST", "/v1/cases/{case_no}/supplements"): token_holders(404, villager=200, agent=200, clerk=200, approver=403,
                                                               supervisor=403, admin=403),
    ("POST", "/v1/cases/{case_no}/refusal"): CLERK_ACTION,
    # the approver acts on a HH-NY-001 case forwarded to its department, the clerk on an accepted HH-MZ-006 one
    ("POST", "/v1/cases/{case_no}/special-procedure"): STAFF_ACTION,
    ("POST", "/v1/cases/{case_no}/special-procedure/end"): STAFF_ACTION,
    ("POST", "/v1/cases/{case_no}/forward"): CLERK_ACTION,
    # an accepted HH-ZJ-002 case: the joint approval of NYNCJ (the approver's department) is pending
    ("POST", "/v1/cases/{case_no}/approvals"): token_holders(403, approver=200),
    ("POST", "/v1/cases/{case_no}/conclusion"): STAFF_ACTION,
    ("POST", "/v1/cases/{case_no}/withdrawal"): token_holders(404, villager=200, agent=200, **STAFF_403),
    ("POST", "/v1/cases/{case_no}/handover"): CLERK_ACTION,  # to the colleague clerk.m2
    ("POST", "/v1/cases/{case_no}/extension"): STAFF_ACTION,
    ("POST", "/v1/cases/{case_no}/legs"): CLERK_ACTION,  # a case the consented agent filed
    # each receiving role signs its own pending leg: agent township_to_village (after the township
    # concluded), approver township_to_county (the forward), clerk county_to_township (the county's conclusion)
    ("POST", "/v1/cases/{case_no}/legs/{leg_no}/receipt"): token_holders(403, agent=200, agent_unconsented=404,
                                                                         clerk=200, clerk_other=404, approver=200),
    # the queue of township 431224100: another township's clerk is refused (403 TOWNSHIP_NOT_YOURS)
    ("GET", "/v1/workbench/queue"): token_holders(403, clerk=200, supervisor=200),
    ("GET", "/v1/workbench/approvals"): token_holders(403, approver=200),
    ("PUT", "/v1/admin/townships/{township_code}/windows/{window}"): {**ADMIN_ONLY, "admin": 200},
    ("GET", "/v1/townships/{township_code}/windows"): token_holders(403, clerk=200, supervisor=200, admin=200),
    # a window of 431224100 (A clerk.m, B clerk.m2) made for the cell; another township's clerk: 403 as for the list
    ("PUT", "/v1/townships/{township_code}/windows/{window}/absence"): token_holders(403, clerk=200, supervisor=200),
    ("GET", "/v1/me/messages"): token_holders(200, **STAFF_403),
    # the working-day calendar: loaded by the administrator; read by every staff role (public
    # information the window and the departments explain provisional due dates with)
    ("PUT", "/v1/admin/calendar/{year}"): {**ADMIN_ONLY, "admin": 200},
    ("GET", "/v1/admin/calendar"): token_holders(403, clerk=200, clerk_other=200, approver=200, supervisor=200,
                                                 admin=200),
    ("GET", "/v1/admin/calendar/{year}"): token_holders(403, clerk=200, clerk_other=200, approver=200,
                                                        supervisor=200, admin=200),
    # staff only: each reads the inboxes of their own roles (test_deadline_sweep.py checks which)
    ("GET", "/v1/me/alerts"): token_holders(403, clerk=200, clerk_other=200, approver=200, supervisor=200, admin=200),
    # --- materials (docs/materials.md), on the world's case, whose first material was uploaded
    ("POST", "/v1/cases/{case_no}/materials/{code}/slots"): token_holders(404, villager=201, agent=201, **STAFF_403),
    ("GET", "/v1/cases/{case_no}/materials"): token_holders(404, villager=200, agent=200, clerk=200, supervisor=200,
                                                            admin=403),
    ("GET", "/v1/cases/{case_no}/materials/{code}"): token_holders(404, villager=200, agent=200, clerk=200,
                                                                   supervisor=200, admin=403),
    # only the township's clerks check originals; others who see the case: 403 ACTION_NOT_ALLOWED
    ("POST", "/v1/cases/{case_no}/materials/{code}/verify"): token_holders(404, villager=403, agent=403, clerk=200,
                                                                           supervisor=403, admin=403),
    # --- catalog administration (docs/catalog.md): the administrator changes, everyone reads versions
    ("POST", "/v1/admin/services"): {**ADMIN_ONLY, "admin": 201},
    ("PUT", "/v1/admin/services/{code}"): {**ADMIN_ONLY, "admin": 200},
    ("POST", "/v1/admin/services/{code}/retire"): {**ADMIN_ONLY, "admin": 200},
    ("GET", "/v1/services/{code}/versions"): everyone(200),
    ("GET", "/v1/services/{code}/versions/{version}"): everyone(200),
    ("PUT", "/v1/admin/townships/{code}/settings"): {**ADMIN_ONLY, "admin": 200},
    ("GET", "/v1/admin/townships/{code}/settings"): {**ADMIN_ONLY, "admin": 200},
}
#: a minimal item for the catalog cells (names and codes only, like an imported official list)
MATRIX_ITEM = {"name": "矩阵测试事项", "category": "other", "department": "乡镇人民政府", "item_type": "20",
               "exercising_level": "5", "delegation": "own"}
MATRIX_TOWNSHIP = {"name": "矩阵测试镇便民服务中心", "county": "示例县", "supervision_phone": "0745-1234567",
                   "office_hours": {"open": "08:30", "close": "17:30"}, "staff": {}, "sample": True,
                   "offers": {"HH-MZ-001": {"delegation": "entrusted"}}}
#: a year no case reaches (before the library's first year), loaded by the calendar cells
CALENDAR_YEAR = {"year": 2003, "source": "矩阵测试数据（示例，非官方）", "example": True,
                 "holidays": [{"name": "元旦", "start": "2003-01-01", "end": "2003-01-01"}]}


COLLEAGUE = "clerk.m2"
NOTICE = {"materials": [{"name": "居民户口簿", "problem": "missing"}], "other": ["请补充近6个月收入证明"]}
SPECIAL_PROCEDURE = {"kind": "investigation", "name": "入户调查", "reason": "核实家庭情况"}
#: the body of each lifecycle action's cell (valid for every role, so the status is about access)
ACTION_BODIES = {
    "accept": {"opinion": "材料齐全"},
    "notices": NOTICE,
    "supplements": {"materials": ["居民户口簿"]},
    "refusal": {"reasons": "不属于本中心受理范围", "legal_basis": "《中华人民共和国行政许可法》第三十二条"},
    "special-procedure": SPECIAL_PROCEDURE,
    "special-procedure/end": {"result": "调查属实"},
    "forward": {},
    "approvals": {"decision": "approve", "opinion": "同意"},
    "conclusion": {"result": "approved"},
    "withdrawal": {"reason": "不再需要"},
    "handover": {"to": COLLEAGUE, "reason": "调岗"},
    "extension": {"reason": "需现场核查", "approver": "张主任"},
    "legs": {"kind": "village_to_township", "materials": ["居民户口簿"]},
    "legs/{leg_no}/receipt": {},
}
#: a window that serves nothing (no items, not the default), so making one routes no case
WINDOW = {"name": "矩阵窗口", "a_post": "clerk.m", "b_post": COLLEAGUE}


class World:
    """Accounts, one case of the villager (in VILLAGE, consented to ``agent``), one with a
    one-time notice, and helpers that file and move cases for the lifecycle cells."""

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
        # 县农业农村局: decides HH-NY-001 (entrusted) and is one of the joint departments of HH-ZJ-002
        self.headers["approver"] = auth.staff("approver.m", ["county_approver"], department="NYNCJ")
        self.headers["supervisor"] = auth.staff("supervisor.m", ["supervisor"], ["431224100"])
        self.headers["admin"] = auth.admin()
        auth.consent(self.headers["villager"], self.headers["agent"])
        created = client.http.post("/v1/cases", headers=self.headers["villager"],
                                   body=json.dumps(valid_submission(village_code=VILLAGE), ensure_ascii=False))
        assert created.status_code == 201, created.body
        self.case_no = created.json_body["case_no"]
        self.upload_material()
        self.counter = 0
        registered = self.auth.post("/v1/admin/operators", self.operator_registration("op-matrix"), self.headers["admin"])
        assert registered.status_code == 201, registered.body
        self.operator = registered.json_body
        filed = self.signed("POST", "/v1/operator/cases", json.dumps(
            {"station_id": "st-matrix", "submission": valid_submission(item_code="HH-SB-002")}).encode(),
            {"Idempotency-Key": "matrix-operator-case"})
        assert filed.status_code == 201, filed.body
        self.operator_case_no = filed.json_body["case_no"]
        # a colleague at the same window: the one a case is handed over to, and the B post of windows
        self.headers["colleague"] = auth.staff(COLLEAGUE, ["window_clerk"], ["431224100"])
        # a case of the villager with its one-time notice (round 1), for reading notices
        self.notice_case_no = self.file()
        self.act("clerk", self.notice_case_no, "notices", NOTICE)
        from chalicelib import settings
        Queues(client).deliver(settings.CASE_EVENTS_QUEUE, "on_case_event")  # the villager's message about it
        Queues(client).deliver(settings.DOCUMENTS_QUEUE, "on_document_request")  # and its sealed notice
        from chalicelib import container
        [self.notice_document] = container.documents().of_case(self.notice_case_no)
        self.notice_pdf = container.objects().get_bytes(self.notice_document["s3_key"],
                                                        self.notice_document["s3_version_id"])
        self.missing_case = client.http.get("/v1/cases/20200101000000000-431224100-ZZZZ",
                                            headers=self.headers["villager"])

    def upload_material(self):
        """The first material of the world's case, uploaded by the villager (slot, POST, consumer)."""
        import requests

        from chalicelib import settings
        from tests.integration.test_materials import pdf_bytes
        slot = self.client.http.post(f"/v1/cases/{self.case_no}/materials/1/slots", headers=self.headers["villager"],
                                     body=json.dumps({"content_type": "application/pdf"})).json_body
        requests.post(slot["upload"]["url"], data=slot["upload"]["fields"],
                      files={"file": ("a.pdf", pdf_bytes(), "application/pdf")})
        Queues(self.client).deliver(settings.MATERIAL_UPLOADS_QUEUE, "on_material_upload")

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

    def file(self, item_code="HH-MZ-001", by="villager"):
        """A new case of the villager (in VILLAGE) filed by ``by``: the villager, or the consented agent."""
        response = self.client.http.post(
            "/v1/cases", headers={**self.headers[by], "Idempotency-Key": self.unique("matrix-file-")},
            body=json.dumps(valid_submission(item_code=item_code, village_code=VILLAGE), ensure_ascii=False))
        assert response.status_code == 201, response.body
        return response.json_body["case_no"]

    def act(self, role, case_no, action, body=None):
        """A lifecycle action that prepares a cell's case (it must succeed); the case view."""
        headers = {**self.headers[role], "Idempotency-Key": self.unique("matrix-prep-")}
        response = self.client.http.post(f"/v1/cases/{case_no}/{action}", headers=headers,
                                         body=json.dumps(body or {}, ensure_ascii=False))
        assert response.status_code == 200, (action, role, response.body[:300])
        return response.json_body

    def accepted(self, item_code, by="villager"):
        case_no = self.file(item_code, by)
        self.act("clerk", case_no, "accept")
        return case_no

    def forwarded(self):
        """A HH-NY-001 case the clerk accepted and forwarded to NYNCJ, the approver's department."""
        case_no = self.accepted("HH-NY-001")
        self.act("clerk", case_no, "forward")
        return case_no

    @staticmethod
    def pending_leg(view, kind):
        [leg] = [leg for leg in view["legs"] if leg["kind"] == kind and not leg.get("received_at")]
        return leg["leg_no"]

    def prepared(self, path, role):
        """A fresh case in the state the cell's action needs: ``(case_no, leg_no)``. Built for
        every role alike (a refused role meets a case where the action would succeed)."""
        action = path.removeprefix("/v1/cases/{case_no}/")
        if action in ("accept", "notices", "refusal", "withdrawal"):
            return self.file(), None
        if action == "supplements":
            case_no = self.file()
            self.act("clerk", case_no, "notices", NOTICE)
            return case_no, None
        if action == "handover":  # accepting makes the clerk responsible (首问负责), who hands it on
            return self.accepted("HH-MZ-001"), None
        if action == "forward":
            return self.accepted("HH-NY-001"), None
        if action == "approvals":  # joint approval pending at NYNCJ, ZRZYJ and ZJJ
            return self.accepted("HH-ZJ-002"), None
        if action in ("special-procedure", "special-procedure/end", "conclusion", "extension"):
            actor = "approver" if role == "approver" else "clerk"
            case_no = self.forwarded() if actor == "approver" else self.accepted("HH-MZ-006")
            if action == "special-procedure/end":
                self.act(actor, case_no, "special-procedure", SPECIAL_PROCEDURE)
            return case_no, None
        if action == "legs":
            return self.file("HH-MZ-006", by="agent"), None
        if action == "legs/{leg_no}/receipt":
            if role == "approver":  # the forward's township_to_county leg
                case_no = self.forwarded()
                view = self.client.http.get(f"/v1/cases/{case_no}", headers=self.headers["clerk"]).json_body
                return case_no, self.pending_leg(view, "township_to_county")
            if role in ("clerk", "clerk_other"):  # the county's conclusion sends the decision back
                case_no = self.forwarded()
                view = self.act("approver", case_no, "conclusion", {"result": "approved"})
                return case_no, self.pending_leg(view, "county_to_township")
            # the agent's case, concluded at the township; the window hands the result to the agent
            case_no = self.accepted("HH-MZ-006", by="agent")
            self.act("clerk", case_no, "conclusion", {"result": "approved"})
            view = self.act("clerk", case_no, "legs", {"kind": "township_to_village", "materials": ["发放通知"]})
            return case_no, self.pending_leg(view, "township_to_village")
        raise AssertionError(f"no preparation for {path}")

    def request(self, method, path, role):
        """Build and send the request of one cell; returns the response."""
        c = self.client
        headers = dict(self.headers[role])
        body: object = {}
        if path == "/v1/services/{code}":
            url = "/v1/services/HH-MZ-001"
        elif path.startswith("/v1/services/{code}/versions"):
            url = path.replace("{code}", "HH-MZ-001").replace("{version}", "1")
        elif path.startswith("/v1/admin/services"):
            code = self.unique("MX-ITEM-")
            body = {"code": code, **MATRIX_ITEM}
            url = path.replace("{code}", code)
            if "{code}" in path and role == "admin":  # an item of its own, at version 1
                made = self.auth.post("/v1/admin/services", body, self.headers["admin"])
                assert made.status_code == 201, made.body
                headers["If-Match"] = "1"
        elif path == "/v1/admin/townships/{code}/settings":
            code = self.unique("43999")  # new settings of a township of its own (9 digits)
            url, body = path.replace("{code}", code if method == "PUT" else "431224100"), {"code": code, **MATRIX_TOWNSHIP}
        elif path.startswith("/v1/public/notices/"):
            url = (path.replace("{township_code}", "431224100").replace("{item_code}", "HH-MZ-001")
                   .replace("{file}", "notice.pdf"))
        elif path == "/open311/v2/services/{service_code}":
            url = "/open311/v2/services/HH-MZ-001.json"
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
        elif path.startswith(("/v1/cases/{case_no}/documents", "/v1/public/documents/{document_id}")):
            url = (path.replace("{case_no}", self.notice_case_no)
                   .replace("{document_id}", self.notice_document["document_id"]))
        elif path == "/v1/public/documents/verification":
            return c.http.post(path, headers={**headers, "Content-Type": "application/pdf"}, body=self.notice_pdf)
        elif path == "/v1/cases/{case_no}/notices/{round_no}":
            url = path.replace("{case_no}", self.notice_case_no).replace("{round_no}", "1")
        elif path.startswith("/v1/cases/{case_no}/materials"):
            url = path.replace("{case_no}", self.case_no).replace("{code}", "1")
            body = {"content_type": "application/pdf"} if path.endswith("/slots") else {}
        elif path.startswith("/v1/cases/{case_no}/") and method == "POST":
            # no token: the gateway refuses before any view runs, whatever the case (a real one all the same)
            case_no, leg_no = (self.notice_case_no, 1) if role in NO_TOKEN else self.prepared(path, role)
            url = path.replace("{case_no}", case_no).replace("{leg_no}", str(leg_no))
            body = ACTION_BODIES[path.removeprefix("/v1/cases/{case_no}/")]
            headers["Idempotency-Key"] = self.unique("matrix-act-")
        elif path == "/v1/workbench/queue":
            url = "/v1/workbench/queue?township=431224100"
        elif path == "/v1/admin/townships/{township_code}/windows/{window}":
            url = path.replace("{township_code}", "431224100").replace("{window}", self.unique("w"))
            body = WINDOW
        elif path == "/v1/admin/calendar/{year}":
            url, body = "/v1/admin/calendar/2003", CALENDAR_YEAR
            if method == "GET":  # loaded first (again: unchanged), whatever ran before
                loaded = c.http.put(url, headers=self.headers["admin"], body=json.dumps(body, ensure_ascii=False))
                assert loaded.status_code == 200, loaded.body
        elif path == "/v1/townships/{township_code}/windows":
            url = path.replace("{township_code}", "431224100")
        elif path == "/v1/townships/{township_code}/windows/{window}/absence":
            window = self.unique("w")  # a window of its own: A clerk.m, B the colleague
            made = c.http.put(f"/v1/admin/townships/431224100/windows/{window}", headers=self.headers["admin"],
                              body=json.dumps(WINDOW, ensure_ascii=False))
            assert made.status_code == 200, made.body
            url = path.replace("{township_code}", "431224100").replace("{window}", window)
            body = {"a_absent": True}
        else:
            url = path
        if role == "operator" and path.startswith("/v1/operator/"):
            raw = b"" if method == "GET" else json.dumps(body, ensure_ascii=False).encode()
            return self.signed(method, url, raw, {k: v for k, v in headers.items() if k == "Idempotency-Key"})
        send = {"GET": c.http.get, "POST": c.http.post, "PUT": c.http.put}[method]
        if method == "GET":
            return send(url, headers=headers)
        response = send(url, headers=headers, body=json.dumps(body, ensure_ascii=False))
        if path == "/v1/consents" and response.status_code == 201:
            # the villager's cell consents to agent_unconsented: take it back, or that agent would
            # see the villager's cases in every cell that runs after this one
            revoked = self.auth.post(f"/v1/consents/{response.json_body['consent_id']}/revoke", {}, self.headers[role])
            assert revoked.status_code == 200, revoked.body
        return response


@pytest.fixture(scope="module")
def world():
    with seeded_client() as client:
        yield World(client)


def _cells():
    return [(method, path, role) for (method, path), expected in MATRIX.items() for role in ROLES]


@pytest.mark.parametrize("method,path,role", _cells())
def test_cell(world, method, path, role):
    expected = MATRIX[(method, path)][role]
    response = world.request(method, path, role)
    assert response.status_code == expected, (method, path, role, response.body[:300])
    if expected == 404 and path.startswith("/v1/cases/{case_no}"):  # a hidden case is a missing case
        assert response.body == world.missing_case.body, (method, path, role, response.body[:300])
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
    assert public == [("GET", "/open311/v2/services.json"), ("GET", "/open311/v2/services/{service_code}"),
                      ("GET", "/v1/public/documents/{document_id}/verification"),
                      ("GET", "/v1/public/notices/{township_code}/{item_code}"),
                      ("GET", "/v1/public/notices/{township_code}/{item_code}/{file}"), ("GET", "/v1/services"),
                      ("GET", "/v1/services/{code}"), ("GET", "/v1/services/{code}/versions"),
                      ("GET", "/v1/services/{code}/versions/{version}"), ("POST", "/v1/auth/refresh"), ("POST", "/v1/auth/staff-login"),
                      ("POST", "/v1/auth/wx-login"), ("POST", "/v1/public/documents/verification")]


def test_another_persons_case_looks_exactly_like_a_missing_one(world):
    other = world.headers["villager_other"]
    hidden = world.client.http.get(f"/v1/cases/{world.case_no}", headers=other)
    missing = world.client.http.get("/v1/cases/20200101000000000-431224100-ZZZZ", headers=other)
    assert hidden.status_code == missing.status_code == 404 and hidden.body == missing.body


def test_messages_reach_only_the_applicant(world):
    """The notice of the world's notice case became a message for its applicant, and only theirs."""
    def about_the_case(role):
        response = world.client.http.get("/v1/me/messages", headers=world.headers[role])
        assert response.status_code == 200, response.body
        return [m for m in response.json_body["messages"] if m["case_no"] == world.notice_case_no]
    assert [m["event_type"] for m in about_the_case("villager")] == ["case.issue_notice"]
    for role in ("villager_other", "agent", "agent_unconsented"):
        assert about_the_case(role) == [], role


assert os.environ.get("AWS_ACCESS_KEY_ID") == "testing"  # conftest configured the stand-in first
