"""A moto world for lifecycle tests that share one set of tables, accounts and app client across
a module (``moto_world``), and :class:`World.drive`: a fresh case taken through the HTTP API to
any state of the case lifecycle."""
from __future__ import annotations

import contextlib
import itertools
import json


from chalicelib import settings
from chalicelib.domain.access import COUNTY_APPROVER, VILLAGER, WINDOW_CLERK
from chalicelib.domain.lifecycle import (ACCEPT, CONCLUDE, EXTEND, CONFIRM_LEG, DECIDE_JOINT_STEP, END_SPECIAL_PROCEDURE,
                                         FORWARD, HANDOVER, ISSUE_NOTICE, RECORD_LEG, REFUSE,
                                         START_SPECIAL_PROCEDURE, SUPPLEMENT, WITHDRAW)
from tests.conftest import Auth, Queues, seeded_client, valid_submission

ENTRUSTED, DEVOLVED, JOINT = "HH-MZ-001", "HH-MZ-006", "HH-ZJ-002"
TOWNSHIP = "431224100"

#: action -> the route's path after ``/v1/cases/{case_no}/``
ROUTES = {
    ACCEPT: "accept", ISSUE_NOTICE: "notices", SUPPLEMENT: "supplements", REFUSE: "refusal",
    START_SPECIAL_PROCEDURE: "special-procedure", END_SPECIAL_PROCEDURE: "special-procedure/end",
    FORWARD: "forward", DECIDE_JOINT_STEP: "approvals", CONCLUDE: "conclusion", WITHDRAW: "withdrawal",
    HANDOVER: "handover", RECORD_LEG: "legs", CONFIRM_LEG: "legs/1/receipt", EXTEND: "extension",
}

#: a body each route accepts, so that a refusal is the state's, not the body's
BODIES = {
    ACCEPT: {},
    ISSUE_NOTICE: {"materials": [{"name": "居民户口簿", "problem": "missing"}], "other": ["请补充近6个月收入证明"]},
    SUPPLEMENT: {"materials": ["居民户口簿"]},
    REFUSE: {"reasons": "不属于本机关职权范围", "legal_basis": "《中华人民共和国行政许可法》第三十二条"},
    START_SPECIAL_PROCEDURE: {"kind": "investigation", "name": "入户调查", "reason": "核实家庭经济状况"},
    END_SPECIAL_PROCEDURE: {"result": "核实无误"},
    FORWARD: {},
    DECIDE_JOINT_STEP: {"decision": "approve", "opinion": "同意"},
    CONCLUDE: {"result": "approved", "opinion": "同意"},
    WITHDRAW: {"reason": "不再需要"},
    HANDOVER: {"to": "clerk.li", "reason": "轮岗"},
    EXTEND: {"reason": "需组织现场核查", "approver": "王主任"},
    RECORD_LEG: {"kind": "village_to_township"},
    CONFIRM_LEG: {},
}
REJECT = {"result": "rejected", "reasons": "不符合条件", "legal_basis": "某条例第五条"}

#: The county department that can act on the case :meth:`World.drive` leaves in each state
#: (None: no county department ever had it, so no approver can even see it).
COUNTY_OF = {"submitted": None, "supplement_required": None, "accepted": None, "in_handling": None,
             "refused": None, "special_procedure": "MZJ", "forwarded": "MZJ", "concluded_approved": "MZJ",
             "withdrawn": "MZJ", "joint_approval": "NYNCJ", "concluded_rejected": "NYNCJ"}

_keys = itertools.count(1)


def new_key() -> str:
    return f"lc-{next(_keys):08d}"


class World:
    """The app client, the accounts (a villager, two window clerks of 431224100, an approver of
    each county department the seed items reach) and one case per state, made on demand."""

    def __init__(self, client):
        self.client = client
        self.auth = Auth(client)
        self.queues = Queues(client)
        self.villager = self.auth.villager()
        self.clerk = self.auth.staff("clerk.wang", ["window_clerk"], [TOWNSHIP])
        self.clerk_li = self.auth.staff("clerk.li", ["window_clerk"], [TOWNSHIP])  # the handover colleague
        self.county = {code: self.auth.staff(f"{code.lower()}.approver", ["county_approver"], department=code)
                       for code in ("MZJ", "NYNCJ", "ZRZYJ", "ZJJ")}
        self.cases: dict[str, str] = {}
        self.snapshot = None  # the tables as the last check left them (None: written since)

    def post(self, headers, case_no, action, body=None):
        self.snapshot = None
        return self.client.http.post(f"/v1/cases/{case_no}/{ROUTES[action]}",
                                     headers={**headers, "Idempotency-Key": new_key()},
                                     body=json.dumps(BODIES[action] if body is None else body, ensure_ascii=False))

    def step(self, headers, case_no, action, expected, body=None):
        response = self.post(headers, case_no, action, body)
        assert response.status_code == 200 and response.json_body["status"] == expected, (action, response.body)
        return response.json_body

    def file(self, item_code):
        """A case filed by the villager and classified by the intake consumer."""
        self.snapshot = None
        response = self.client.http.post("/v1/cases", headers=self.villager,
                                         body=json.dumps(valid_submission(item_code=item_code), ensure_ascii=False))
        assert response.status_code == 201, response.body
        self.queues.deliver(settings.CASE_INTAKE_QUEUE, "on_case_intake")
        return response.json_body["case_no"]

    def drive(self, state: str) -> str:
        """A fresh case taken through the API to ``state``: HH-MZ-001 (entrusted, 县民政局) for
        most, HH-MZ-006 (devolved) for ``in_handling``, HH-ZJ-002 (joint) for
        ``joint_approval`` and ``concluded_rejected`` (one department rejects)."""
        clerk, mzj = self.clerk, self.county["MZJ"]
        if state in ("joint_approval", "concluded_rejected"):
            no = self.file(JOINT)
            self.step(clerk, no, ACCEPT, "joint_approval")
            if state == "concluded_rejected":
                self.step(self.county["ZJJ"], no, DECIDE_JOINT_STEP, "concluded_rejected",
                          {"decision": "reject", "opinion": "不同意", "reasons": "选址不符合村庄规划",
                           "legal_basis": "《中华人民共和国城乡规划法》第四十一条"})
            return no
        if state == "in_handling":
            no = self.file(DEVOLVED)
            self.step(clerk, no, ACCEPT, "accepted")
            self.step(clerk, no, START_SPECIAL_PROCEDURE, "special_procedure")
            self.step(clerk, no, END_SPECIAL_PROCEDURE, "in_handling")
            return no
        no = self.file(ENTRUSTED)
        if state == "submitted":
            return no
        if state in ("supplement_required", "refused"):
            self.step(clerk, no, ISSUE_NOTICE if state == "supplement_required" else REFUSE, state)
            return no
        self.step(clerk, no, ACCEPT, "accepted")
        if state == "accepted":
            return no
        self.step(clerk, no, FORWARD, "forwarded")
        if state == "special_procedure":
            self.step(mzj, no, START_SPECIAL_PROCEDURE, state)
        elif state == "concluded_approved":
            self.step(mzj, no, CONCLUDE, state)
        elif state == "withdrawn":
            self.step(self.villager, no, WITHDRAW, state)
        else:
            assert state == "forwarded", state
        return no

    def case_in(self, state: str) -> str:
        """The module's case in ``state`` (driven there once)."""
        if state not in self.cases:
            self.cases[state] = self.drive(state)
        return self.cases[state]

    def caller(self, capacity: str, state: str):
        """Headers of someone acting in ``capacity`` on the case of ``state``, or None."""
        if capacity == WINDOW_CLERK:
            return self.clerk
        if capacity == VILLAGER:
            return self.villager
        if capacity == COUNTY_APPROVER and COUNTY_OF[state]:
            return self.county[COUNTY_OF[state]]
        return None


@contextlib.contextmanager
def moto_world():
    """What the ``client`` fixture of ``tests/conftest.py`` builds, once for a module."""
    with seeded_client() as client:
        yield World(client)
