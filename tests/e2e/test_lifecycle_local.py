"""The case lifecycle end to end on the local stack (runner: moto server, HTTP API, queue
pollers, schedules) over real HTTP: a 低保 case with one supplement round through the
window's queue to the county, the applicant's messages from the case-events consumer, and
concurrent staff actions on one case (exactly one wins)."""
import concurrent.futures
import itertools
import time
import uuid

import pytest
import requests

from tests.conftest import valid_submission
from tests.e2e.test_local_stack import stack  # noqa: F401,F811  (the fixture: a fresh local stack)

pytestmark = pytest.mark.e2e
_serial = itertools.count()


class Desk:
    """Staff of the local stack, logged in over HTTP."""

    def __init__(self, stack):
        self.base = stack.base
        password = (stack.data_dir / "admin-password.txt").read_text().strip()
        self.admin = self.login("admin", password)
        accounts = [("clerk.a", ["window_clerk"], {"township_codes": ["431224100"]}),
                    ("clerk.b", ["window_clerk"], {"township_codes": ["431224100"]}),
                    ("mz.approver", ["county_approver"], {"department": "MZJ"})]
        accounts += [(f"{code.lower()}.approver", ["county_approver"], {"department": code})
                     for code in ("NYNCJ", "ZRZYJ", "ZJJ")]
        for username, roles, extra in accounts:
            created = requests.post(f"{self.base}/v1/admin/accounts", headers=self.admin, timeout=10, json={
                "username": username, "display_name": f"测试{username}", "roles": roles,
                "password": "Local-Secret-42x", **extra})
            assert created.status_code == 201, created.text
        self.clerk_a = self.login("clerk.a", "Local-Secret-42x")
        self.clerk_b = self.login("clerk.b", "Local-Secret-42x")
        self.approver = self.login("mz.approver", "Local-Secret-42x")
        self.county = {code: self.login(f"{code.lower()}.approver", "Local-Secret-42x")
                       for code in ("NYNCJ", "ZRZYJ", "ZJJ")}

    def login(self, username, password):
        r = requests.post(f"{self.base}/v1/auth/staff-login", json={"username": username, "password": password},
                          timeout=10)
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def act(self, headers, case_no, action, body=None, key=None):
        return requests.post(f"{self.base}/v1/cases/{case_no}/{action}", json=body or {}, timeout=20,
                             headers={**headers, "Idempotency-Key": key or f"e2e-{uuid.uuid4().hex}"})


def ok(response, status):
    """The action succeeded and left the case in ``status``."""
    assert (response.status_code, response.json().get("status")) == (200, status), response.text


def file_case(stack, me, item_code="HH-MZ-001"):
    r = requests.post(f"{stack.base}/v1/cases", json=valid_submission(item_code=item_code), timeout=10,
                      headers={**me, "Idempotency-Key": f"e2e-lc-{next(_serial):04d}-{uuid.uuid4().hex[:8]}"})
    assert r.status_code == 201, r.text
    return r.json()["case_no"]


def test_supplement_round_to_the_county_with_messages_and_races(stack):
    desk = Desk(stack)
    me = stack.villager()
    window = requests.put(f"{stack.base}/v1/admin/townships/431224100/windows/2", headers=desk.admin, timeout=10,
                          json={"name": "民政窗口", "a_post": "clerk.a", "b_post": "clerk.b",
                                "categories": ["social_assistance"]})
    assert window.status_code == 200, window.text

    case_no = file_case(stack, me)
    queue = requests.get(f"{stack.base}/v1/workbench/queue?window=2&status=submitted", headers=desk.clerk_a,
                         timeout=10).json()
    assert [c["case_no"] for c in queue["cases"]] == [case_no]

    notice = desk.act(desk.clerk_a, case_no, "notices",
                      {"materials": [{"name": "居民户口簿", "problem": "missing"}], "other": ["请补充近6个月收入证明"]})
    assert notice.status_code == 200, notice.text
    second = desk.act(desk.clerk_b, case_no, "notices", {"other": ["还缺一份"]})
    assert second.status_code == 409 and second.json()["status"] == "supplement_required"
    text = requests.get(f"{stack.base}/v1/cases/{case_no}/notices/1", headers=me, timeout=10).json()["text"]
    assert "居民户口簿" in text and "收入证明" in text
    assert desk.act(me, case_no, "supplements", {"materials": ["居民户口簿"]}).json()["status"] == "submitted"
    accepted = desk.act(desk.clerk_a, case_no, "accept").json()
    assert accepted["status"] == "accepted" and accepted["responsible_name"] == "测试clerk.a"
    assert desk.act(desk.clerk_a, case_no, "forward").json()["status"] == "forwarded"
    steps = requests.get(f"{stack.base}/v1/workbench/approvals", headers=desk.approver, timeout=10).json()["steps"]
    assert [s["case_no"] for s in steps] == [case_no]
    done = desk.act(desk.approver, case_no, "conclusion", {"result": "approved", "opinion": "同意"}).json()
    assert done["status"] == "concluded_approved"
    assert set(done["case_classes"]) == {"promised", "supplement", "agency"}

    # the case-events consumer (polled by the runner) leaves the villager a message per change
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        messages = requests.get(f"{stack.base}/v1/me/messages", headers=me, timeout=10).json()["messages"]
        if len([m for m in messages if m["case_no"] == case_no]) >= 5:
            break
        time.sleep(0.5)
    texts = [m["text"] for m in messages if m["case_no"] == case_no]
    assert any("补正" in t for t in texts) and any("已办结" in t for t in texts), texts

    # the documents consumer (polled by the runner) seals the notice, the receipt and the decision
    # with file keys in the data folder; the downloaded decision verifies over HTTP, a changed copy does not
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        documents = requests.get(f"{stack.base}/v1/cases/{case_no}/documents", headers=me, timeout=10).json()
        if len(documents["documents"]) == 3:
            break
        time.sleep(0.5)
    assert sorted(d["kind"] for d in documents["documents"]) == ["acceptance_receipt", "decision", "one_time_notice"]
    assert len(list((stack.data_dir / "seal-keys").glob("file-*.pem"))) == 2  # the root and the township
    [decision] = [d for d in documents["documents"] if d["kind"] == "decision"]
    link = requests.get(f"{stack.base}/v1/cases/{case_no}/documents/{decision['document_id']}", headers=me,
                        timeout=10).json()["url"]
    pdf = requests.get(link, timeout=10).content
    answer = requests.post(f"{stack.base}/v1/public/documents/verification", data=pdf, timeout=30,
                           headers={"Content-Type": "application/pdf"}).json()
    assert answer["valid"] and answer["issued_document"]["document_id"] == decision["document_id"], answer
    at = pdf.index(b"stream") + 20
    changed = pdf[:at] + bytes([pdf[at] ^ 0x20]) + pdf[at + 1:]
    answer = requests.post(f"{stack.base}/v1/public/documents/verification", data=changed, timeout=30,
                           headers={"Content-Type": "application/pdf"}).json()
    assert not answer["valid"] and answer["changed_after_sealing"], answer

    # two clerks conclude one case at the same moment: exactly one wins, the other gets 409
    for _ in range(3):
        racing = file_case(stack, me, "HH-MZ-006")
        assert desk.act(desk.clerk_a, racing, "accept").status_code == 200
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(lambda who: desk.act(who, racing, "conclusion", {"result": "approved"}),
                                    (desk.clerk_a, desk.clerk_b)))
        assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
        history = requests.get(f"{stack.base}/v1/cases/{racing}", headers=desk.clerk_a, timeout=10).json()["history"]
        assert [h["step_name"] for h in history].count("办结") == 1

    # a notice and an acceptance at once: one of them, never both
    racing = file_case(stack, me)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda args: desk.act(*args), (
            (desk.clerk_a, racing, "notices", {"other": ["缺少材料"]}), (desk.clerk_b, racing, "accept", {}))))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]


def test_the_other_case_classes_on_the_local_stack(stack):
    """On the spot (即办), county (宅基地), joint with three departments (联办), refused (退回)
    and an agent's case with both paper legs (代理), over real HTTP."""
    desk = Desk(stack)
    me = stack.villager()

    # 高龄津贴 concluded at the window the day it is accepted: immediate
    no = file_case(stack, me, "HH-MZ-006")
    ok(desk.act(desk.clerk_a, no, "accept"), "accepted")
    done = desk.act(desk.clerk_a, no, "conclusion", {"result": "approved", "opinion": "符合条件，当场办结"}).json()
    assert done["case_classes"] == ["immediate"] and done["case_type"] == "1"

    # 宅基地: the county's 农业农村局 decides; the legs up and back have their own times
    no = file_case(stack, me, "HH-NY-001")
    ok(desk.act(desk.clerk_a, no, "accept"), "accepted")
    assert desk.act(desk.clerk_a, no, "conclusion", {"result": "approved"}).json()["code"] == "FORWARD_REQUIRED"
    ok(desk.act(desk.clerk_a, no, "forward"), "forwarded")
    done = desk.act(desk.county["NYNCJ"], no, "conclusion", {"result": "approved", "licence_name": "农村宅基地批准书"})
    ok(done, "concluded_approved")
    legs = done.json()["legs"]
    assert [leg["kind"] for leg in legs] == ["township_to_county", "county_to_township"]
    assert legs[0]["received_at"] and not legs[1].get("received_at")
    ok(desk.act(desk.clerk_b, no, "legs/2/receipt"), "concluded_approved")

    # a joint item: three departments in parallel, concluded only with the last approval
    no = file_case(stack, me, "HH-ZJ-002")
    ok(desk.act(desk.clerk_a, no, "accept"), "joint_approval")
    for code in ("ZJJ", "NYNCJ"):
        ok(desk.act(desk.county[code], no, "approvals", {"decision": "approve", "opinion": "同意"}), "joint_approval")
    waiting = requests.get(f"{stack.base}/v1/cases/{no}", headers=desk.clerk_a, timeout=10).json()
    assert [d["department"] for d in waiting["pending_departments"]] == ["ZRZYJ"]
    done = desk.act(desk.county["ZRZYJ"], no, "approvals", {"decision": "approve", "opinion": "同意"}).json()
    assert done["status"] == "concluded_approved" and "joint" in done["case_classes"]

    # refused at the window, with reasons and legal basis: returned
    no = file_case(stack, me)
    done = desk.act(desk.clerk_a, no, "refusal", {"reasons": "申请人户籍不在本乡镇",
                                                  "legal_basis": "《最低生活保障审核确认办法》第八条"}).json()
    assert done["status"] == "refused" and "returned" in done["case_classes"] and done["outcome"]["review_rights"]

    # an agent files for the villager and carries the paper both ways
    from tests.conftest import AGENT_PERSON, VILLAGE
    appointed = requests.post(f"{stack.base}/v1/admin/agents", headers=desk.admin, timeout=10, json={
        "name": AGENT_PERSON["name"], "id_number": AGENT_PERSON["id_number"], "township_code": "431224100",
        "villages": [VILLAGE]})
    assert appointed.status_code == 200, appointed.text
    agent = stack.login_as("openid-e2e-agent", AGENT_PERSON)
    subject = requests.get(f"{stack.base}/v1/me", headers=agent, timeout=10).json()["subject"]
    verified = requests.post(f"{stack.base}/v1/identity-verifications", headers=desk.clerk_a, timeout=10,
                             json={"subject": subject, **AGENT_PERSON})
    assert verified.status_code == 200, verified.text
    agent = stack.login_as("openid-e2e-agent", AGENT_PERSON)  # a new login carries the role
    consent = requests.post(f"{stack.base}/v1/consents", headers=me, timeout=10, json={
        "agent_subject": subject, "scope": "period", "valid_until": time.strftime("%Y-12-31")})
    assert consent.status_code == 201, consent.text
    filed = requests.post(f"{stack.base}/v1/cases", timeout=10, headers={**agent, "Idempotency-Key": "e2e-agent-0001"},
                          json=valid_submission(item_code="HH-MZ-006", village_code=VILLAGE))
    assert filed.status_code == 201, filed.text
    no = filed.json()["case_no"]
    received = desk.act(desk.clerk_a, no, "legs", {"kind": "village_to_township", "materials": ["身份证复印件"]}).json()
    assert received["legs"][0]["receipt_no"] == f"{no}-L1" and received["legs"][0]["received_at"]
    ok(desk.act(desk.clerk_a, no, "accept"), "accepted")
    ok(desk.act(desk.clerk_a, no, "conclusion", {"result": "approved"}), "concluded_approved")
    ok(desk.act(desk.clerk_a, no, "legs", {"kind": "township_to_village", "materials": ["高龄津贴核定通知"]}),
       "concluded_approved")
    back = desk.act(agent, no, "legs/2/receipt").json()
    assert back["legs"][1]["received_by"] == subject and "agency" in back["case_classes"]
