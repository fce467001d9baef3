"""Attacks on the case lifecycle: the people who use it on their bad days and someone malicious.

Each test here was written before its fix, failing: what a wrong user, bad input, a retry or an
unlucky order of actions could do to a case. One moto world for the module
(``lifecycle_world.moto_world``: the seed catalog, a villager, two clerks of 431224100 and an
approver of each county department); a test that needs more people makes them.
"""
from __future__ import annotations

import json

import pytest

from chalicelib import container, settings
from tests.conftest import AGENT_PERSON, OTHER_PERSON, VILLAGE, table_items, valid_submission
from tests.integration.lifecycle_world import DEVOLVED, ENTRUSTED, moto_world, new_key

ID_NUMBER, PHONE = "431224195001011234", "13812345678"


@pytest.fixture(scope="module")
def world():
    with moto_world() as built:
        yield built


def post(world, headers, case_no, path, body=None, **extra):
    return world.client.http.post(f"/v1/cases/{case_no}/{path}",
                                  headers={**headers, "Idempotency-Key": new_key(), **extra},
                                  body=json.dumps({} if body is None else body, ensure_ascii=False))


def ok(response, status=None):
    assert response.status_code == 200, response.body
    if status is not None:
        assert response.json_body["status"] == status, response.body
    return response.json_body


def _tables():
    return (sorted(json.dumps(i, sort_keys=True) for i in table_items(settings.CASES_TABLE)),
            sorted(json.dumps(i, sort_keys=True) for i in table_items(settings.AUDIT_TABLE)))


# --- bad input: numbers that are digits to str.isdigit() but not to int() ----------------------

@pytest.mark.parametrize("value", ["\u00b2", "\u2460", "9" * 5000])
def test_odd_digits_in_if_match_round_and_limit_are_refused_not_a_500(world, value):
    """``"²".isdigit()`` is True and ``int("²")`` raises; so does ``int()`` of a 5,000-digit
    string (Python's limit on int conversion). Each was an unhandled error (500) in If-Match,
    the notice round of ``GET .../notices/{round}`` and ``limit`` of both queues; each is a
    client's mistake (400, or the 404 of a notice that does not exist), and nothing is written."""
    case_no = world.case_in("supplement_required")
    world.queues.take_all(settings.CASE_EVENTS_QUEUE)
    before = _tables()
    r = post(world, world.villager, case_no, "supplements", {}, **{"If-Match": value})
    assert r.status_code == 400 and r.json_body["details"][0]["field"] == "If-Match", r.body
    assert _tables() == before
    assert world.queues.receive(settings.CASE_EVENTS_QUEUE) == []
    r = world.client.http.get(f"/v1/cases/{case_no}/notices/{value}", headers=world.villager)
    assert r.status_code == 404, r.body
    r = world.client.http.get(f"/v1/workbench/queue?limit={value}", headers=world.clerk)
    assert r.status_code == 400 and r.json_body["details"][0]["field"] == "limit", r.body
    r = world.client.http.get(f"/v1/workbench/approvals?limit={value}", headers=world.county["MZJ"])
    assert r.status_code == 400 and r.json_body["details"][0]["field"] == "limit", r.body


# --- first-inquiry responsibility: the responsible clerk left ------------------------------------

def test_the_responsibility_of_a_clerk_whose_account_was_disabled_can_be_handed_over(world):
    """Only the responsible clerk hands a case over; when that clerk left (account disabled),
    nobody could ever hand it over again and the case stayed "responsible: a person who is
    gone". A colleague of the township now may, to an active colleague; while the
    responsible clerk is active, others still may not."""
    leaver = world.auth.staff("clerk.leaver", ["window_clerk"], ["431224100"], display_name="离职人员")
    case_no = world.file(DEVOLVED)
    assert ok(post(world, leaver, case_no, "accept"), "accepted")["responsible_name"] == "离职人员"
    r = post(world, world.clerk, case_no, "handover", {"to": "clerk.li", "reason": "轮岗"})
    assert r.status_code == 403 and r.json_body["code"] == "NOT_RESPONSIBLE", r.body
    assert world.auth.post("/v1/admin/accounts/clerk.leaver/disable", {}, world.auth.admin()).status_code == 200
    view = ok(post(world, world.clerk, case_no, "handover", {"to": "clerk.li", "reason": "原首问责任人已离岗"}))
    assert view["responsible_name"] == "测试人员" and view["history"][-1]["data"] == {
        "from": "staff_clerk.leaver", "to": "staff_clerk.li"}, view["history"][-1]
    case = container.cases().get_case(case_no)
    assert case["responsible"] == "staff_clerk.li"
    # clerk.li is responsible (and active) now: clerk.wang may not take it from them
    r = post(world, world.clerk, case_no, "handover", {"to": "clerk.wang", "reason": "再移交"})
    assert r.status_code == 403 and r.json_body["code"] == "NOT_RESPONSIBLE", r.body
