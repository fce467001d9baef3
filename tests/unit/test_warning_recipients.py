"""Who hears of a deadline warning, and which staff inboxes each role reads (pure functions of
the event and of the principal; the sweep and the consumer are in
``tests/integration/test_deadline_sweep.py``)."""
from chalicelib.domain.access import (ADMINISTRATOR, COUNTY_APPROVER, SUPERVISOR, VILLAGER, WINDOW_CLERK,
                                      Principal)
from chalicelib.usecases.deadlines import alert_inboxes
from chalicelib.usecases.events import warning_recipients


def event(event_type="case.warning_yellow", responsible=None, warnings=None):
    return {"event_type": event_type, "township_code": "431224100", "responsible": responsible,
            "warnings": warnings or {"case": "1"}}


def test_the_responsible_clerk_hears_of_a_yellow_case():
    assert warning_recipients(event(responsible="staff_clerk.wang")) == ["staff_clerk.wang"]


def test_a_case_nobody_took_up_goes_to_the_townships_clerks():
    assert warning_recipients(event()) == ["TOWNSHIP#431224100"]
    assert warning_recipients(event(responsible="u_not_staff")) == ["TOWNSHIP#431224100"]


def test_late_steps_reach_their_departments_and_red_the_supervisors():
    red = event("case.warning_red", "staff_clerk.wang",
                {"case": "2", "joint:NYNCJ": "2", "joint:ZRZYJ": "1", "forward:MZJ": "2"})
    assert warning_recipients(red) == ["staff_clerk.wang", "DEPARTMENT#MZJ", "DEPARTMENT#NYNCJ",
                                       "DEPARTMENT#ZRZYJ", "SUPERVISOR#431224100"]


def test_each_role_reads_its_own_inboxes_only():
    def principal(*roles, townships=(), department=None, subject="staff_x"):
        return Principal(subject=subject, roles=frozenset(roles), township_codes=townships, department=department)
    assert alert_inboxes(principal(WINDOW_CLERK, townships=("431224100", "431224101"))) == [
        "staff_x", "TOWNSHIP#431224100", "TOWNSHIP#431224101"]
    assert alert_inboxes(principal(SUPERVISOR, townships=("431224100",))) == ["staff_x", "SUPERVISOR#431224100"]
    assert alert_inboxes(principal(COUNTY_APPROVER, department="MZJ")) == ["staff_x", "DEPARTMENT#MZJ"]
    assert alert_inboxes(principal(ADMINISTRATOR)) == ["staff_x", "ROLE#administrator"]
    assert alert_inboxes(principal(VILLAGER, subject="u_123")) == []
