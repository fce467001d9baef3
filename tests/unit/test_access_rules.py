"""The object-level access rules and agent consent (domain.access)."""
import datetime as dt

from chalicelib.domain.access import (CaseAccess, Consent, Principal, agent_may_act, may_read_case,
                                      village_in_township)

T0 = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.timezone.utc)
CASE = CaseAccess(township_code="431224100", applicant_key="k-zhang", village_code="431224100201",
                  operator_id="op-1", forwarded_departments=("dept-civil",))


def p(*roles, **kw):
    return Principal(subject=kw.pop("subject", "u_x"), roles=frozenset(roles), **kw)


def consent(scope="period", case_no=None, start=T0, until=T0 + dt.timedelta(days=30), revoked=None, agent="u_agent",
            verified=True):
    """A consent of 张 (``k-zhang``) given from the account ``u_zhang``, whose binding was
    verified at the window unless ``verified`` is False."""
    return Consent(consent_id="c1", applicant_key="k-zhang", agent_subject=agent, scope=scope, granted_at=start,
                   valid_from=start, valid_until=until, case_no=case_no, revoked_at=revoked, granted_by="u_zhang",
                   granter_verified=verified)


AGENT = p("villager", "village_agent", subject="u_agent", villages=("431224100201",))


def test_each_role_sees_what_the_issue_says():
    assert may_read_case(p("villager", id_key="k-zhang", id_verified=True), "N1", CASE, at=T0)
    # a self-declared binding sees only what that account filed itself
    assert not may_read_case(p("villager", id_key="k-zhang"), "N1", CASE, at=T0)
    own = CaseAccess(township_code="431224100", applicant_key="k-zhang", filed_by="u_x")
    assert may_read_case(p("villager", id_key="k-zhang"), "N1", own, at=T0)
    assert not may_read_case(p("villager", id_key="k-wang"), "N1", CASE, at=T0)
    assert not may_read_case(p("villager"), "N1", CASE, at=T0)  # unbound: no key, never a match
    assert may_read_case(p("window_clerk", township_codes=("431224100",)), "N1", CASE, at=T0)
    assert not may_read_case(p("window_clerk", township_codes=("431224101",)), "N1", CASE, at=T0)
    assert may_read_case(p("supervisor", township_codes=("431224100",)), "N1", CASE, at=T0)
    assert may_read_case(p("county_approver", department="dept-civil"), "N1", CASE, at=T0)
    assert not may_read_case(p("county_approver", department="dept-land"), "N1", CASE, at=T0)
    assert not may_read_case(p("county_approver"), "N1", CaseAccess(township_code="431224100"), at=T0)
    assert may_read_case(p("station_operator", operator_id="op-1"), "N1", CASE, at=T0)
    assert not may_read_case(p("station_operator", operator_id="op-2"), "N1", CASE, at=T0)
    assert not may_read_case(p("administrator"), "N1", CASE, at=T0)


def test_agent_needs_village_and_a_consent_in_force():
    assert agent_may_act(AGENT, "N1", "k-zhang", "431224100201", [consent()], T0 + dt.timedelta(days=1))
    assert not agent_may_act(AGENT, "N1", "k-zhang", "431224100201", [], T0)
    assert not agent_may_act(AGENT, "N1", "k-zhang", "431224100299", [consent()], T0)  # not their village
    assert not agent_may_act(AGENT, "N1", "k-zhang", "431224100201", [consent()], T0 + dt.timedelta(days=31))
    assert not agent_may_act(AGENT, "N1", "k-zhang", "431224100201", [consent()], T0 - dt.timedelta(seconds=1))
    assert not agent_may_act(AGENT, "N1", "k-zhang", "431224100201", [consent(agent="u_other")], T0)
    revoked = consent(revoked=T0 + dt.timedelta(days=2))
    assert agent_may_act(AGENT, "N1", "k-zhang", "431224100201", [revoked], T0 + dt.timedelta(days=1))
    assert not agent_may_act(AGENT, "N1", "k-zhang", "431224100201", [revoked], T0 + dt.timedelta(days=2))


def test_a_case_consent_covers_that_case_and_never_a_new_one():
    one = consent(scope="case", case_no="N1", until=None)
    assert one.covers("N1", T0) and not one.covers("N2", T0) and not one.covers(None, T0)
    assert agent_may_act(AGENT, "N1", "k-zhang", "431224100201", [one], T0)
    assert not agent_may_act(AGENT, None, "k-zhang", "431224100201", [one], T0)


def test_a_consent_from_a_declared_binding_covers_only_what_the_agent_or_that_account_filed():
    """Anybody who knows an ID number can declare it and consent: such a consent must not open
    the cases the window, a station or another agent filed for that person."""
    declared = consent(verified=False)
    for filer in ("u_clerk", "op_station", "u_other_agent", None):
        assert not agent_may_act(AGENT, "N1", "k-zhang", "431224100201", [declared], T0, filer), filer
        assert agent_may_act(AGENT, "N1", "k-zhang", "431224100201", [consent()], T0, filer), filer
    assert agent_may_act(AGENT, "N1", "k-zhang", "431224100201", [declared], T0, "u_agent")  # the agent filed it
    assert agent_may_act(AGENT, "N1", "k-zhang", "431224100201", [declared], T0, "u_zhang")  # the consenting account
    assert agent_may_act(AGENT, None, "k-zhang", "431224100201", [declared], T0)  # filing a new one: as before
    window_case = CaseAccess(township_code="431224100", applicant_key="k-zhang", village_code="431224100201",
                             filed_by="u_clerk")
    assert not may_read_case(AGENT, "N1", window_case, [declared], T0)
    assert may_read_case(AGENT, "N1", window_case, [consent()], T0)


def test_village_codes_belong_to_the_township_they_start_with():
    assert village_in_township("431224100201", "431224100")
    assert not village_in_township("431224101201", "431224100")
    assert not village_in_township("43122410020", "431224100")
