"""Concurrent actions on one case (``chalicelib.usecases.lifecycle.act`` in two threads with the
real adapters on moto): both read the same version, both decide, one transaction commits and
the other fails its version condition, is decided again on the fresh case and, where the new
state does not allow it, ends in 409. Exactly one conclusion in the history, exactly one event.

The repository is the real :class:`DynamoCaseRepository` with storage timing around it
(:class:`RacingCases`): ``get`` holds each thread at a barrier after its first read, so both
read the same version before either writes, and the writes run one transaction at a time, in a
forced order or in whichever order the threads come. The rules, the use case and the
transaction are the product's own.
"""
from __future__ import annotations

import threading

import pytest

from chalicelib import container, settings
from chalicelib.adapters.case_repo import DynamoCaseRepository
from chalicelib.domain.access import Origin
from chalicelib.domain.errors import Conflict
from chalicelib.domain.lifecycle import ACCEPT, CONCLUDE, DECIDE_JOINT_STEP, ISSUE_NOTICE, InvalidTransition
from chalicelib.usecases import lifecycle
from tests.integration.lifecycle_world import BODIES, DEVOLVED, ENTRUSTED, JOINT, REJECT, moto_world, new_key

ORIGIN = Origin(ip="127.0.0.1", user_agent="race-test", request_id="race", channel="api")
CONCLUSION_STEPS = {"办结", "县级部门审批办结", "并联审批办结"}
REPETITIONS = 8  # unforced orders; both forced orders are tested separately


@pytest.fixture(scope="module")
def world():
    with moto_world() as built:
        yield built


class RacingCases(DynamoCaseRepository):
    """The real repository with the storage timing of a race.

    * the first ``get`` of each thread waits, after reading, until every contender has read:
      all decide on the same version;
    * ``apply`` (and the other calls that touch the cases table) run one at a time: one
      TransactWriteItems is atomic in DynamoDB, but moto's in-process implementation is not
      across threads (it checks conditions item by item and on failure puts back a copy of the
      whole table taken when it started, which would undo a concurrent commit);
    * with ``first`` set, the other contenders' ``apply`` waits until that thread's has returned:
      the order of the two commits is forced.
    """

    def __init__(self, contenders: int, first: str | None = None) -> None:
        super().__init__()
        self.barrier = threading.Barrier(contenders, timeout=30)
        self.first = first
        self.first_done = threading.Event()
        self.storage = threading.RLock()
        self.local = threading.local()
        self.commits: list[str] = []      # thread names, in commit order
        self.stale: list[str] = []        # threads whose transaction lost

    def get(self, case_no):
        with self.storage:
            found = super().get(case_no)
        if not getattr(self.local, "read", False):
            self.local.read = True
            self.barrier.wait()
        return found

    def apply(self, case, change, **kwargs):
        me = threading.current_thread().name
        if self.first and me != self.first:
            assert self.first_done.wait(timeout=30), "the first writer never wrote"
        try:
            with self.storage:
                super().apply(case, change, **kwargs)
            self.commits.append(me)
        except Exception:
            self.stale.append(me)
            raise
        finally:
            if me == self.first:
                self.first_done.set()

    def idempotency_record(self, scope_key):
        with self.storage:
            return super().idempotency_record(scope_key)

    def get_case(self, case_no):
        with self.storage:
            return super().get_case(case_no)

    def mark_published(self, case_no, seq, at):
        with self.storage:
            return super().mark_published(case_no, seq, at)


def _principal(headers):
    return container.tokens().verify(headers["Authorization"].split(" ", 1)[1])


def race(case_no: str, contenders: dict, first: str | None = None, if_match: str | None = None):
    """Run ``contenders`` (``{name: (headers, action, body)}``) at once on ``case_no`` (each
    pinning ``if_match`` when given); returns ``({name: view or exception}, repository)``."""
    cases = RacingCases(len(contenders), first)
    adapters = dict(catalog=container.catalog(), identity=container.identity(), calendar=container.calendar(),
                    audit_log=container.audit_log(), events=container.case_event_publisher())
    principals = {name: _principal(headers) for name, (headers, _a, _b) in contenders.items()}
    results = {}

    def run(name, action, body):
        try:
            results[name] = lifecycle.act(action, case_no, body, principal=principals[name], origin=ORIGIN,
                                          idempotency_key=new_key(), if_match=if_match, cases=cases, **adapters)
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            results[name] = exc

    threads = [threading.Thread(target=run, name=name, args=(name, action, body), daemon=True)
               for name, (_h, action, body) in contenders.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a contender hung"
    return results, cases


def _history(case_no):
    return container.cases().get(case_no)


def _events(world, case_no):
    return [e for e in world.queues.bodies(settings.CASE_EVENTS_QUEUE) if e["case_no"] == case_no]


def _outbox(case_no):
    from chalicelib.adapters.models import CaseEventModel
    return [e.body for e in CaseEventModel.query(f"CASE#{case_no}", CaseEventModel.sk.startswith("EVENT#"))]


def _audit(case_no, action):
    from chalicelib.adapters.models import AuditModel
    from chalicelib.usecases.audit import case_target
    return [a for a in AuditModel.query(case_target(case_no), consistent_read=True) if a.action == action]


def _one_winner(results, cases, label):
    winners = [n for n, r in results.items() if isinstance(r, dict)]
    losers = {n: r for n, r in results.items() if not isinstance(r, dict)}
    assert len(winners) == 1 and len(losers) == 1, f"{label}: {results}"
    loser, error = next(iter(losers.items()))
    assert isinstance(error, InvalidTransition), f"{label}: {loser} raised {error!r}"
    body = error.to_dict()
    winner_view = results[winners[0]]
    assert body["code"] == "INVALID_TRANSITION" and body["status"] == winner_view["status"], f"{label}: {body}"
    assert cases.commits == winners and cases.stale == [loser], (label, cases.commits, cases.stale)
    return winners[0], winner_view


# --- two conclusions ----------------------------------------------------------------------------

def _two_conclusions(world, first):
    world.queues.take_all(settings.CASE_EVENTS_QUEUE)
    case_no = world.file(DEVOLVED)
    world.step(world.clerk, case_no, ACCEPT, "accepted")
    world.queues.take_all(settings.CASE_EVENTS_QUEUE)
    results, cases = race(case_no, {"approve": (world.clerk, CONCLUDE, BODIES[CONCLUDE]),
                                    "reject": (world.clerk_li, CONCLUDE, REJECT)}, first)
    label = f"two conclusions (first: {first or 'either'})"
    winner, view = _one_winner(results, cases, label)
    assert view["status"] == {"approve": "concluded_approved", "reject": "concluded_rejected"}[winner], label
    case, history = _history(case_no)
    assert case["status"] == view["status"] and int(case["version"]) == view["version"], label
    assert [h["step_name"] for h in history if h["step_name"] in CONCLUSION_STEPS] == ["办结"], label
    assert [h["seq"] for h in history] == list(range(1, int(case["history_count"]) + 1)), label
    events = _events(world, case_no)
    assert [e["event_type"] for e in events] == [f"case.{view['status']}"], f"{label}: {events}"
    assert [e["event_type"] for e in _outbox(case_no) if e["event_type"].startswith("case.concluded")] == \
        [f"case.{view['status']}"], label
    assert len(_audit(case_no, "case.conclude")) == 1, label
    return winner


@pytest.mark.parametrize("first", ["approve", "reject"])
def test_two_concurrent_conclusions_one_wins_the_other_is_409(world, first):
    assert _two_conclusions(world, first) == first


def test_two_concurrent_conclusions_repeatedly(world):
    winners = [_two_conclusions(world, None) for _ in range(REPETITIONS)]
    assert len(winners) == REPETITIONS


@pytest.mark.parametrize("first", ["approve", "reject"])
def test_with_if_match_the_loser_gets_version_mismatch_with_the_state_the_case_moved_to(world, first):
    """A caller that pinned the version it saw is not decided again: 409 ``VERSION_MISMATCH``,
    carrying (like every 409 of an action) the current state and version."""
    case_no = world.file(DEVOLVED)
    version = world.step(world.clerk, case_no, ACCEPT, "accepted")["version"]
    world.queues.take_all(settings.CASE_EVENTS_QUEUE)
    results, cases = race(case_no, {"approve": (world.clerk, CONCLUDE, BODIES[CONCLUDE]),
                                    "reject": (world.clerk_li, CONCLUDE, REJECT)}, first, if_match=f'"{version}"')
    loser = "reject" if first == "approve" else "approve"
    view, error = results[first], results[loser]
    assert isinstance(view, dict) and isinstance(error, Conflict), results
    assert error.to_dict()["code"] == "VERSION_MISMATCH"
    assert (error.to_dict().get("status"), error.to_dict().get("version")) == (view["status"], view["version"]), \
        error.to_dict()
    case, history = _history(case_no)
    assert [h["step_name"] for h in history if h["step_name"] in CONCLUSION_STEPS] == ["办结"]
    assert len(_events(world, case_no)) == 1


# --- a notice against an acceptance -------------------------------------------------------------

def _notice_against_accept(world, first):
    case_no = world.file(ENTRUSTED)
    world.queues.take_all(settings.CASE_EVENTS_QUEUE)  # intake's case.created and case.classified
    results, cases = race(case_no, {"notice": (world.clerk, ISSUE_NOTICE, BODIES[ISSUE_NOTICE]),
                                    "accept": (world.clerk_li, ACCEPT, {})}, first)
    label = f"notice against accept (first: {first or 'either'})"
    winner, view = _one_winner(results, cases, label)
    expected = {"notice": ("supplement_required", "一次性告知", "case.issue_notice"),
                "accept": ("accepted", "受理", "case.accept")}[winner]
    assert view["status"] == expected[0], label
    case, history = _history(case_no)
    steps = [h["step_name"] for h in history if h["step_name"] in ("一次性告知", "受理")]
    assert steps == [expected[1]], f"{label}: {steps}"
    assert [e["event_type"] for e in _events(world, case_no)] == [expected[2]], label
    assert [len(_audit(case_no, a)) for a in ("case.issue_notice", "case.accept")] == \
        ([1, 0] if winner == "notice" else [0, 1]), label
    notice = container.cases().notice(case_no, 1)
    assert (notice is not None) == (winner == "notice"), label
    assert len(case.get("notices") or []) == (1 if winner == "notice" else 0), label
    # first-inquiry responsibility goes to the clerk whose action committed
    assert case["responsible"] == _principal(world.clerk if winner == "notice" else world.clerk_li).subject, label
    return winner


@pytest.mark.parametrize("first", ["notice", "accept"])
def test_a_notice_against_an_acceptance_one_wins_the_other_is_409(world, first):
    assert _notice_against_accept(world, first) == first


def test_a_notice_against_an_acceptance_repeatedly(world):
    winners = [_notice_against_accept(world, None) for _ in range(REPETITIONS)]
    assert len(winners) == REPETITIONS


# --- two departments at once: both count (no lost update) ----------------------------------------

@pytest.mark.parametrize("first", ["NYNCJ", "ZJJ", None])
def test_the_last_two_joint_approvals_at_once_both_count_and_conclude_once(world, first):
    """Both decisions are allowed in ``joint_approval``: the one that loses the write is decided
    again on the fresh case and succeeds too, so neither approval is lost and the case concludes
    exactly once."""
    case_no = world.file(JOINT)
    world.step(world.clerk, case_no, ACCEPT, "joint_approval")
    world.step(world.county["ZRZYJ"], case_no, DECIDE_JOINT_STEP, "joint_approval")
    world.queues.take_all(settings.CASE_EVENTS_QUEUE)
    results, cases = race(case_no, {"NYNCJ": (world.county["NYNCJ"], DECIDE_JOINT_STEP, BODIES[DECIDE_JOINT_STEP]),
                                    "ZJJ": (world.county["ZJJ"], DECIDE_JOINT_STEP, BODIES[DECIDE_JOINT_STEP])},
                          first)
    assert all(isinstance(r, dict) for r in results.values()), results
    assert len(cases.commits) == 2 and len(cases.stale) == 1, (cases.commits, cases.stale)
    case, history = _history(case_no)
    assert case["status"] == "concluded_approved"
    assert {c: a["state"] for c, a in case["approvals"].items()} == {"NYNCJ": "approved", "ZRZYJ": "approved",
                                                                    "ZJJ": "approved"}
    assert [h["step_name"] for h in history if h["step_name"] in CONCLUSION_STEPS] == ["并联审批办结"]
    assert sorted(e["event_type"] for e in _events(world, case_no)) == ["case.concluded_approved",
                                                                      "case.joint_step_decided"]
