"""The state guard through the HTTP API on moto: every action route taken in a state that does
not allow it answers 409 (``INVALID_TRANSITION``, or a more specific code) with the current
``status``, and writes nothing: the cases table and the audit table are item-for-item what they
were, and no case event reaches ``settings.CASE_EVENTS_QUEUE``.

One moto world for the module (tables, seed catalog, accounts); one case per state, driven
there through the API by ``lifecycle_world.World.drive`` and reused by every test of that state (nothing is
written by a refused action, so the case stays where it is; a test that sees a write drops
the case so the next test of that state starts from a fresh one).
"""
from __future__ import annotations

import json

import pytest

from chalicelib import container, settings
from chalicelib.domain.cases import STATUS_LABELS
from chalicelib.domain.access import COUNTY_APPROVER, VILLAGER, WINDOW_CLERK
from chalicelib.domain.lifecycle import (ALL_STATES, ALLOWED_FROM, CAPACITIES, CONCLUDE, CONFIRM_LEG,
                                         DECIDE_JOINT_STEP, START_SPECIAL_PROCEDURE)
from tests.conftest import table_items
from tests.integration.lifecycle_world import COUNTY_OF, ROUTES, moto_world


@pytest.fixture(scope="module")
def world():
    with moto_world() as built:
        yield built


def _scanned(table):
    """Every item of ``table`` through the API (``tests.conftest.table_items``), canonical."""
    return sorted(json.dumps(item, sort_keys=True, ensure_ascii=False) for item in table_items(table))


def _items(table):
    """The same items read from moto's in-process backend: a Scan through botocore parses every
    nested attribute and costs ~0.3 s a table here, 130 tests x 2 tables x before/after; this
    costs milliseconds. ``test_the_snapshot_is_what_a_scan_returns`` checks they agree."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends
    found = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].get_table(table)
    return sorted(json.dumps(item.to_json()["Attributes"], sort_keys=True, ensure_ascii=False)
                  for item in found.all_items())


def _tables():
    return _items(settings.CASES_TABLE), _items(settings.AUDIT_TABLE)


def _snapshot(world):
    """Every item of the cases and audit tables now (the last test's "after" when nothing was
    written since: a scan of moto's tables is what costs here), with the events queue emptied."""
    world.queues.take_all(settings.CASE_EVENTS_QUEUE)  # what the journey there published
    if world.snapshot is None:
        world.snapshot = _tables()
    return world.snapshot


def _assert_nothing_written(world, before, label):
    world.snapshot = None
    cases, audit = after = _tables()
    assert cases == before[0], f"{label}: the cases table changed: {sorted(set(cases) ^ set(before[0]))[:3]}"
    assert audit == before[1], f"{label}: the audit table changed: {sorted(set(audit) ^ set(before[1]))[:3]}"
    events = world.queues.receive(settings.CASE_EVENTS_QUEUE)
    assert events == [], f"{label}: an event was published: {[e['Body'] for e in events]}"
    world.snapshot = after


# one test per (state, action not allowed there, capacity that may take the action)
GUARDED = [(state, action, capacity) for state in sorted(ALL_STATES) for action in ROUTES
           if state not in ALLOWED_FROM[action] for capacity in sorted(CAPACITIES[action])
           if capacity in (WINDOW_CLERK, VILLAGER, COUNTY_APPROVER)]
REACHABLE = [g for g in GUARDED if g[2] != COUNTY_APPROVER or COUNTY_OF[g[0]]]
UNSEEN = [g for g in GUARDED if g not in REACHABLE]


@pytest.mark.parametrize("state,action,capacity", REACHABLE, ids=[f"{s}-{a}-as-{c}" for s, a, c in REACHABLE])
def test_an_action_not_allowed_in_the_state_is_409_and_writes_nothing(world, state, action, capacity):
    label = f"{action} in {state} as {capacity}"
    case_no = world.case_in(state)
    version = int(container.cases().get_case(case_no)["version"])
    before = _snapshot(world)
    response = world.post(world.caller(capacity, state), case_no, action)
    try:
        assert response.status_code == 409, f"{label}: {response.status_code} {response.body}"
        body = response.json_body
        assert body["code"] == "INVALID_TRANSITION", f"{label}: {body}"
        assert body["status"] == state, f"{label}: {body}"
        assert (body["status_label"], body["version"]) == (STATUS_LABELS[state], version), f"{label}: {body}"
        _assert_nothing_written(world, before, label)
    except AssertionError:
        world.cases.pop(state, None)  # the next test of this state starts from a fresh case
        raise


@pytest.mark.parametrize("state,action,capacity", UNSEEN, ids=[f"{s}-{a}-as-{c}" for s, a, c in UNSEEN])
def test_a_county_approver_cannot_see_a_case_no_department_has_and_writes_nothing(world, state, action, capacity):
    """No county department has had the case of these states, so no approver holds the
    capacity: the case is not even visible to them (404, not 409), and nothing is written."""
    label = f"{action} in {state} as {capacity}"
    case_no = world.case_in(state)
    before = _snapshot(world)
    response = world.post(world.county["MZJ"], case_no, action)
    assert response.status_code == 404 and response.json_body["code"] == "NOT_FOUND", f"{label}: {response.body}"
    _assert_nothing_written(world, before, label)


def test_the_snapshot_is_what_a_scan_returns(world):
    world.case_in("joint_approval")  # a case with nested maps and lists
    for table in (settings.CASES_TABLE, settings.AUDIT_TABLE):
        assert _items(table) == _scanned(table) and len(_items(table)) > 10, table


def test_the_matrix_covers_every_state_and_every_guarded_action():
    assert {s for s, _a, _c in REACHABLE} == set(ALL_STATES)
    assert {a for _s, a, _c in REACHABLE} == {a for a in ROUTES if ALLOWED_FROM[a] != ALL_STATES}
    assert set(ROUTES) == set(ALLOWED_FROM)


def test_the_more_specific_conflicts_write_nothing_either(world):
    """Rules beyond the state table (entrusted items go to the county; the township does not act
    on a case with the county; a department decides once) are 409 with the state too."""
    clerk = world.clerk
    accepted = world.drive("accepted")
    forwarded = world.case_in("forwarded")
    joint = world.drive("joint_approval")
    world.step(world.county["NYNCJ"], joint, DECIDE_JOINT_STEP, "joint_approval")
    for headers, case_no, action, body, code, state in (
            (clerk, accepted, CONCLUDE, None, "FORWARD_REQUIRED", "accepted"),
            (clerk, forwarded, CONCLUDE, None, "WITH_COUNTY", "forwarded"),
            (clerk, forwarded, START_SPECIAL_PROCEDURE, None, "WITH_COUNTY", "forwarded"),
            (world.county["NYNCJ"], joint, DECIDE_JOINT_STEP, None, "STEP_ALREADY_DECIDED", "joint_approval")):
        before = _snapshot(world)
        response = world.post(headers, case_no, action, body)
        label = f"{action} in {state} ({code})"
        assert response.status_code == 409, f"{label}: {response.body}"
        assert (response.json_body["code"], response.json_body["status"]) == (code, state), label
        _assert_nothing_written(world, before, label)


def test_a_leg_is_signed_for_once_through_its_route(world):
    """Regression: ``POST /v1/cases/{no}/legs/{leg_no}/receipt`` answered 400 ``leg_no``
    FIELD_NOT_ALLOWED to every call (the route puts the path's leg number into the body, and
    ``schemas/case_leg_receipt.json`` allowed no field), so no leg could ever be signed for."""
    case_no = world.drive("forwarded")  # leg 1: township -> county, waiting for 县民政局
    signed = world.step(world.county["MZJ"], case_no, CONFIRM_LEG, "forwarded")
    assert signed["legs"][0]["received_by"] == "staff_mzj.approver", signed["legs"]
    before = _snapshot(world)
    again = world.post(world.county["MZJ"], case_no, CONFIRM_LEG)
    assert again.status_code == 409, again.body
    assert (again.json_body["code"], again.json_body["status"]) == ("LEG_ALREADY_RECEIVED", "forwarded")
    _assert_nothing_written(world, before, "second receipt of leg 1")
    # API Gateway hands the route the decoded path segment: "²" passed str.isdigit() and int()
    # raised (500); "１" (full-width) was read as leg 1; a 5,000-digit number exceeded int()'s limit
    for n, segment in enumerate(("7", "²", "１", "9" * 5000)):
        unknown = world.client.http.post(f"/v1/cases/{case_no}/legs/{segment}/receipt", body="{}",
                                         headers={**world.county["MZJ"], "Idempotency-Key": f"lc-unknown-leg-{n}"})
        assert unknown.status_code == 400, (segment[:8], unknown.body)
        assert unknown.json_body["details"][0]["code"] == "UNKNOWN_LEG", unknown.body
