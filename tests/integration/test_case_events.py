"""Case events through the transactional outbox, intake included: an event is published if and
only if its state change committed (a lost publish is made good by the outbox sweep, exactly
once), and the case events consumer does its work once per event however often it arrives."""
import datetime as dt
import itertools
import json
import types

import boto3
import pytest

from chalicelib import container, settings
from chalicelib.adapters.queues import SqsPublisher
from chalicelib.domain import cases as case_rules
from chalicelib.domain.access import VILLAGER, WINDOW_CLERK, Origin, Principal
from chalicelib.domain.errors import Conflict
from chalicelib.usecases import events, intake, lifecycle
from chalicelib.usecases.ports import StaleCase
from tests.conftest import table_items, valid_submission
from tests.integration.test_webhooks import hooks, receivers  # noqa: F401  (fixtures)

TOWNSHIP = "431224100"
_keys = itertools.count(1)


def later():
    """A clock past the outbox stall time (the sweep's view a few minutes on)."""
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)


def outbox(case_no):
    """The outbox items of a case, by sk: ``{sk: (event body, still pending)}``."""
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    items = ddb.query(TableName=settings.CASES_TABLE, ConsistentRead=True,
                      KeyConditionExpression="pk = :pk AND begins_with(sk, :e)",
                      ExpressionAttributeValues={":pk": {"S": f"CASE#{case_no}"}, ":e": {"S": "EVENT#"}})["Items"]
    return {i["sk"]["S"]: (json.loads(i["body"]["S"]), "outbox_shard" in i) for i in items}


def pending_event_ids():
    """Every event in the ``pending_events`` index, whatever its age."""
    repo = container.cases()
    return sorted(e["event_id"] for shard in range(settings.EVENT_SHARDS)
                  for e in repo.pending_events(str(shard), "9999"))


def sweep(now=later):
    return events.republish_stalled_events(container.cases(), container.case_event_publisher(), now=now)


def ports(**overrides):
    wired = dict(catalog=container.catalog(), cases=container.cases(), publisher=container.intake_publisher(),
                 events=container.case_event_publisher(), identity=container.identity(), id_keys=container.id_keys(),
                 audit_log=container.audit_log())
    return {**wired, **overrides}


@pytest.fixture
def villager(auth):
    headers = auth.villager()
    key = container.id_keys()(valid_submission()["applicant"]["id_number"])
    return Principal(subject=auth.subject(headers), roles=frozenset({VILLAGER}), id_key=key)


@pytest.fixture
def clerks(auth):
    """Two window clerks of the township (accounts exist: actions check them)."""
    for name in ("clerk.one", "clerk.two"):
        auth.staff(name, ["window_clerk"], [TOWNSHIP])
    return [Principal(subject=f"staff_{name}", roles=frozenset({WINDOW_CLERK}), township_codes=(TOWNSHIP,))
            for name in ("clerk.one", "clerk.two")]


def submit(villager, **kwargs):
    body = kwargs.pop("body", None) or valid_submission()
    view, created = intake.submit_case(body, principal=villager, origin=Origin(channel="test"), idempotency_key=None,
                                       **ports(**kwargs))
    assert created
    return view["case_no"]


def classify(case_no, **kwargs):
    args = dict(catalog=container.catalog(), cases=container.cases(), calendar=container.calendar(),
                events=container.case_event_publisher())
    return intake.classify_case(case_no, **{**args, **kwargs})


def act(action, case_no, body, principal, **kwargs):
    args = dict(cases=container.cases(), catalog=container.catalog(), identity=container.identity(),
                calendar=container.calendar(), audit_log=container.audit_log(), events=container.case_event_publisher())
    return lifecycle.act(action, case_no, body, principal=principal, origin=Origin(channel="test"),
                         idempotency_key=f"key-{next(_keys):06d}", **{**args, **kwargs})


class RacingCatalog:
    """The catalog, except that the first read of an item runs ``race`` first: another writer
    commits between the use case's read of the case and its write (what a concurrent request does)."""

    def __init__(self, race):
        self.inner, self.race = container.catalog(), race

    def _run_race(self):
        if self.race:
            race, self.race = self.race, None
            race()

    def get_offer(self, item_code, township_code):
        self._run_race()
        return self.inner.get_offer(item_code, township_code)

    def get_offer_at(self, item_code, version, township_code):
        """The item as the case was filed under it (what the use cases read since issue 7)."""
        self._run_race()
        return self.inner.get_offer_at(item_code, version, township_code)


# --- (a) no commit, no event -------------------------------------------------------------------

def test_a_case_number_clash_leaves_no_event_of_the_attempt_that_lost(client, queues, villager, monkeypatch):
    # GIVEN two submissions in the same millisecond whose first numbers clash
    moment = dt.datetime(2026, 11, 30, 6, 30, 5, 123000, tzinfo=dt.timezone.utc)
    suffixes = iter("AAAA" "AAAA" "BBBB")
    monkeypatch.setattr(case_rules, "secrets", types.SimpleNamespace(choice=lambda _alphabet: next(suffixes)))
    first = submit(villager, now=lambda: moment)
    second = submit(villager, body=valid_submission(item_code="HH-MZ-002"), now=lambda: moment)
    # THEN the second was written under a fresh number, and the attempt that clashed wrote nothing
    assert (first[-4:], second[-4:]) == ("AAAA", "BBBB")
    assert [(sk, body["event_type"], body["item_code"]) for sk, (body, _) in outbox(first).items()] == [
        ("EVENT#000001", "case.created", "HH-MZ-001")]
    # AND exactly the two committed creations were published, once each
    published = queues.bodies(settings.CASE_EVENTS_QUEUE)
    assert sorted(e["event_id"] for e in published) == [f"{first}#1", f"{second}#1"]
    assert {e["event_id"]: e["item_code"] for e in published}[f"{first}#1"] == "HH-MZ-001"
    assert pending_event_ids() == [] and sweep() == 0


def test_a_version_conflict_leaves_no_event_and_publishes_nothing(client, queues, villager, clerks):
    # GIVEN a classified case at version 2
    case_no = submit(villager)
    assert classify(case_no) == "classified"
    queues.take_all(settings.CASE_EVENTS_QUEUE)
    one, two = clerks
    # WHEN clerk one accepts it pinned to version 2 while clerk two issues a notice in between
    racing = RacingCatalog(lambda: act("issue_notice", case_no, {"other": ["请补充收入证明"]}, two))
    with pytest.raises(Conflict) as lost:
        act("accept", case_no, {}, one, if_match='"2"', catalog=racing)
    assert lost.value.code == "VERSION_MISMATCH"
    # THEN only clerk two's change has an event, and only it was published
    stored = outbox(case_no)
    assert sorted(stored) == ["EVENT#000001", "EVENT#000002", "EVENT#000003"]
    assert stored["EVENT#000003"][0]["event_type"] == "case.issue_notice"
    assert [e["event_type"] for e in queues.bodies(settings.CASE_EVENTS_QUEUE)] == ["case.issue_notice"]
    assert pending_event_ids() == [] and sweep() == 0
    assert container.cases().get_case(case_no)["status"] == "supplement_required"


def test_a_classification_that_loses_to_staff_leaves_no_event_until_it_commits(client, queues, villager, clerks):
    # GIVEN a submitted case a clerk accepts while the intake consumer is classifying it
    case_no = submit(villager)
    queues.take_all(settings.CASE_EVENTS_QUEUE)
    racing = RacingCatalog(lambda: act("accept", case_no, {}, clerks[0]))
    with pytest.raises(StaleCase):   # the intake message returns to the queue
        classify(case_no, catalog=racing)
    # THEN no case.classified event exists; the acceptance's does, and only it was published
    assert [body["event_type"] for body, _ in outbox(case_no).values()] == ["case.created", "case.accept"]
    assert [e["event_type"] for e in queues.bodies(settings.CASE_EVENTS_QUEUE)] == ["case.accept"]
    # WHEN the message comes back, the classification commits with its event
    assert classify(case_no) == "classified"
    published = queues.bodies(settings.CASE_EVENTS_QUEUE)
    assert [(e["event_type"], e["event_id"], e["version"], e["status"]) for e in published] == [
        ("case.classified", f"{case_no}#3", 3, "accepted")]
    assert classify(case_no) == "already" and queues.bodies(settings.CASE_EVENTS_QUEUE) == []


# --- (b) a lost publish is made good once -------------------------------------------------------

def test_events_whose_publish_failed_stay_in_the_outbox_and_the_sweep_publishes_them_once(
        client, queues, villager, clerks):
    # GIVEN every producer publishes to a queue that does not exist (SQS answers an error)
    broken = SqsPublisher("bianmin-no-such-queue")
    case_no = submit(villager, events=broken)
    assert classify(case_no, events=broken) == "classified"
    accepted = act("accept", case_no, {}, clerks[0], events=broken)
    # THEN the changes stand, nothing reached the case events queue, the events wait in the outbox
    assert accepted["status"] == "accepted" and accepted["due_date"]
    assert queues.receive(settings.CASE_EVENTS_QUEUE) == []
    ids = [f"{case_no}#{seq}" for seq in (1, 2, 3)]
    assert pending_event_ids() == ids
    assert all(pending for _, pending in outbox(case_no).values())
    # AND the sweep leaves them alone while they are young
    assert sweep(now=lambda: dt.datetime.now(dt.timezone.utc)) == 0
    # WHEN the sweep runs a few minutes later, it publishes each once and they leave the index
    assert sweep() == 3
    published = queues.bodies(settings.CASE_EVENTS_QUEUE)
    assert sorted(e["event_id"] for e in published) == ids
    assert {e["event_id"]: e for e in published} == {body["event_id"]: body for body, _ in outbox(case_no).values()}
    assert pending_event_ids() == [] and not any(pending for _, pending in outbox(case_no).values())
    assert sweep() == 0 and queues.receive(settings.CASE_EVENTS_QUEUE) == []


def test_the_scheduled_sweep_runs_through_chalice(client, queues, villager):
    case_no = submit(villager, events=SqsPublisher("bianmin-no-such-queue"))
    event = client.events.generate_cw_event("Scheduled Event", "aws.events", {}, [])
    assert client.lambda_.invoke("republish_case_events", event).payload == 0   # not stalled yet
    assert pending_event_ids() == [f"{case_no}#1"]


# --- (c) the consumer does its work once per event ----------------------------------------------

def test_the_same_event_delivered_twice_stores_one_message_and_one_webhook(
        client, queues, hooks, receivers, auth):  # noqa: F811
    from tests.integration.test_operator_api import Operator, register
    # GIVEN an operator's case, classified and accepted by a clerk; the operator's webhook on 127.0.0.1
    receiver = receivers()
    creds = register(client, "op-twice", webhook_url=receiver.url)
    receiver.secret = creds["webhook_secret"]
    case_no = Operator(client, creds).file(submission=valid_submission()).json_body["case_no"]
    queues.deliver(settings.CASE_INTAKE_QUEUE, "on_case_intake")
    clerk = auth.staff("clerk.twice", ["window_clerk"], [TOWNSHIP])
    accepted = client.http.post(f"/v1/cases/{case_no}/accept", body="{}",
                                headers={**clerk, "Idempotency-Key": "twice-accept-01"})
    assert accepted.status_code == 200, accepted.body
    # WHEN SQS delivers every case event twice (at least once), both copies in one batch
    bodies = [m["Body"] for m in queues.take_all(settings.CASE_EVENTS_QUEUE)]
    assert [json.loads(b)["event_type"] for b in bodies] == ["case.created", "case.classified", "case.accept"]
    for body in bodies + bodies:
        queues.send(settings.CASE_EVENTS_QUEUE, body)
    assert queues.deliver(settings.CASE_EVENTS_QUEUE, "on_case_event") == [{"batchItemFailures": []}]
    hooks.drain()
    # AND once more after the webhooks were delivered
    for body in bodies:
        queues.send(settings.CASE_EVENTS_QUEUE, body)
    queues.deliver(settings.CASE_EVENTS_QUEUE, "on_case_event")
    hooks.drain()
    # THEN the applicant has one message about the acceptance
    inbox = [i for i in table_items(settings.CASES_TABLE) if i["pk"]["S"].startswith("INBOX#")]
    assert [(i["event_id"]["S"], i["event_type"]["S"]) for i in inbox] == [(f"{case_no}#3", "case.accept")]
    # AND the operator one delivery per event, each POSTed once, stamped with the change's time
    deliveries = [i for i in table_items(settings.CASES_TABLE) if i["pk"]["S"] == "DELIVERY#op-twice"]
    assert sorted(i["event_type"]["S"] for i in deliveries) == ["case.accept", "case.classified", "case.created"]
    assert all(i["status"]["S"] == "delivered" for i in deliveries)
    sent = receiver.events()
    assert sorted(e["event_type"] for e in sent) == ["case.accept", "case.classified", "case.created"]
    assert len({e["delivery_id"] for e in sent}) == 3
    times = {json.loads(b)["event_type"]: json.loads(b)["at"] for b in bodies}
    assert {e["event_type"]: e["occurred_at"] for e in sent} == times
