"""DynamoDB case repository: the case item, its append-only history, idempotency records.

Every state change writes the case and its history entry in one TransactWriteItems, with a
condition on the case's ``version`` so two concurrent writers cannot both win.
"""
from __future__ import annotations

import datetime as dt
import zlib
from typing import Any, Iterator

from pynamodb.exceptions import DoesNotExist, QueryError, TransactWriteError
from pynamodb.transactions import TransactWrite

from .. import settings
from ..domain.cases import Classification, HistoryEntry, utc_iso
from ..domain.lifecycle import Change
from ..usecases.ports import CaseNumberTaken, IdempotencyHit, StaleCase, WriteConflict, WriteRefused
from .aws import client
from .models import (AuditModel, CaseDocumentModel, CaseEventModel, CaseHistoryModel, CaseModel, CaseStepModel,
                     IdempotencyModel, MessageModel, WindowModel, transaction_connection)

CASE_SK = "CASE"
IDEMP_SK = "IDEMP"


def _case_pk(case_no: str) -> str:
    return f"CASE#{case_no}"


def _history_model(case_no: str, entry: HistoryEntry) -> CaseHistoryModel:
    return CaseHistoryModel(_case_pk(case_no), f"HIST#{entry.seq:06d}", seq=entry.seq,
                            at=utc_iso(entry.at), actor=entry.actor, role=entry.role,
                            step_name=entry.step_name, action=entry.action, opinion=entry.opinion,
                            reason=entry.reason, data=entry.data or None, handler=entry.handler or None,
                            step_start=utc_iso(entry.step_start) if entry.step_start else None)


def _update_actions(case_no: str, updates: dict[str, Any], removals: list[str]) -> list:
    """Update actions for the case item; a ``next_check`` comes with its ``by_deadline`` shard
    (and goes with it), so the sweep's index stays sparse and spread over the shards."""
    updates = dict(updates)
    removals = list(removals)
    if updates.get("next_check"):
        updates["deadline_shard"] = deadline_shard(case_no)
    elif "next_check" in removals:
        removals.append("deadline_shard")
    return ([getattr(CaseModel, name).set(value) for name, value in updates.items()]
            + [getattr(CaseModel, name).remove() for name in removals])


def deadline_shard(case_no: str) -> str:
    """The ``by_deadline`` shard of a case: a stable digest of its number modulo
    ``settings.DEADLINE_SHARDS`` (Python's ``hash`` differs between processes)."""
    return str(zlib.crc32(case_no.encode()) % settings.DEADLINE_SHARDS)


def _reasons(exc: TransactWriteError) -> list[str | None]:
    return [r.code if r else None for r in (exc.cancellation_reasons or [])]


class DynamoCaseRepository:
    """Cases in the cases table (keys in ``models.py``)."""

    def __init__(self) -> None:
        self._connection = transaction_connection()

    def create(self, case: dict[str, Any], first: HistoryEntry,
               idempotency: tuple[str, str] | None, audit: dict[str, Any] | None = None,
               event: dict[str, Any] | None = None) -> None:
        """Write a new case, its first history entry, (optionally) its idempotency record
        ``(scope_key, request_hash)``, its audit record (audit table) and its ``case.created``
        event (outbox) in one transaction.

        Raises :class:`IdempotencyHit` when the key was used (also by a concurrent request that
        won), :class:`CaseNumberTaken` when the number clashes.
        """
        model = CaseModel(_case_pk(case["case_no"]), CASE_SK, **case)
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.save(model, condition=CaseModel.pk.does_not_exist())
                tx.save(_history_model(case["case_no"], first))
                if event:
                    tx.save(_event_model(case["case_no"], first.seq, event))
                if idempotency:
                    scope_key, request_hash = idempotency
                    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(
                        seconds=settings.IDEMPOTENCY_TTL_SECONDS)
                    tx.save(IdempotencyModel(f"IDEMP#{scope_key}", IDEMP_SK, case_no=case["case_no"],
                                             request_hash=request_hash, created_at=case["submitted_at"],
                                             expires_at=expires),
                            condition=IdempotencyModel.pk.does_not_exist())
                if audit:
                    tx.save(AuditModel(**audit), condition=AuditModel.pk.does_not_exist())
        except TransactWriteError as exc:
            self._raise_if_key_used(idempotency, exc)
            reasons = _reasons(exc)
            if reasons[:1] == ["ConditionalCheckFailed"]:
                raise CaseNumberTaken(case["case_no"]) from exc
            if ("TransactionConflict" in reasons or "TransactionConflict" in str(exc.cause)
                    or (idempotency and reasons[2:3] == ["ConditionalCheckFailed"])):
                # a twin holds the key but its record is not readable yet: look again shortly
                raise WriteConflict(case["case_no"]) from exc
            raise

    def apply(self, case: dict[str, Any], change: Change, *, idempotency: tuple[str, str] | None,
              audit: dict[str, Any] | None, event: dict[str, Any] | None, at: dt.datetime) -> None:
        """Write one lifecycle change in one TransactWriteItems: the case update conditioned on
        the ``version`` that was read (``version`` + 1), its history entries, documents and
        approval steps, the idempotency record, the audit record and the outbox event.

        Raises :class:`IdempotencyHit` when the key was used meanwhile, :class:`StaleCase` when
        another writer changed the case first, :class:`WriteRefused` when DynamoDB refuses the
        write itself (ValidationException, e.g. the case item would pass 400 KB); nothing is
        written either way."""
        case_no = case["case_no"]
        actions = _update_actions(case_no, change.set, change.remove)
        actions.append(CaseModel.version.add(1))
        stamp = utc_iso(at)
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.update(CaseModel(_case_pk(case_no), CASE_SK), actions=actions,
                          condition=CaseModel.version == case["version"])
                for entry in change.history:
                    tx.save(_history_model(case_no, entry), condition=CaseHistoryModel.pk.does_not_exist())
                for document in change.documents:
                    tx.save(CaseDocumentModel(_case_pk(case_no), f"NOTICE#{document['round']:03d}",
                                              kind=document["kind"], doc=document["doc"], created_at=stamp),
                            condition=CaseDocumentModel.pk.does_not_exist())
                for step in change.steps:
                    tx.save(CaseStepModel(
                        _case_pk(case_no), f"STEP#{step['kind']}#{step['department']}", case_no=case_no,
                        township_code=case["township_code"], item_name=case["item_name"],
                        **{k: step.get(k) for k in ("department", "name", "kind", "state", "started_at", "ended_at",
                                                    "decision", "opinion", "by")},
                        pending_department=step["department"] if step["state"] == "pending" else None))
                if idempotency:
                    scope_key, request_hash = idempotency
                    tx.save(IdempotencyModel(f"IDEMP#{scope_key}", IDEMP_SK, case_no=case_no,
                                             request_hash=request_hash, created_at=stamp,
                                             expires_at=at + dt.timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)),
                            condition=IdempotencyModel.pk.does_not_exist())
                if audit:
                    tx.save(AuditModel(**audit), condition=AuditModel.pk.does_not_exist())
                if event:
                    tx.save(_event_model(case_no, change.history[-1].seq, event))
        except TransactWriteError as exc:
            self._raise_if_key_used(idempotency, exc)
            reasons = _reasons(exc)
            if exc.cause_response_code == "ValidationException" or (
                    "ValidationError" in reasons and "ConditionalCheckFailed" not in reasons):
                raise WriteRefused(case_no) from exc
            raise StaleCase(case_no) from exc

    def notice(self, case_no: str, round_no: int) -> dict[str, Any] | None:
        """The one-time notice document of ``round_no`` (1-based), or None."""
        try:
            return CaseDocumentModel.get(_case_pk(case_no), f"NOTICE#{round_no:03d}").doc
        except DoesNotExist:
            return None

    # --- windows and queues -------------------------------------------------------------

    def windows(self, township_code: str) -> list[dict[str, Any]]:
        """The windows of a township (one Query), ordered by window number."""
        rows = WindowModel.query(f"TOWNSHIP#{township_code}", WindowModel.sk.startswith("WINDOW#"))
        return [{k: v for k, v in r.attribute_values.items() if k not in ("pk", "sk")} for r in rows]

    def put_window(self, township_code: str, window: dict[str, Any], audit: dict[str, Any]) -> None:
        """Create or replace a window and write its audit record in one transaction."""
        with TransactWrite(connection=self._connection) as tx:
            tx.save(WindowModel(f"TOWNSHIP#{township_code}", f"WINDOW#{window['window']}", **window))
            tx.save(AuditModel(**audit), condition=AuditModel.pk.does_not_exist())

    def set_absent(self, township_code: str, window: str, absent: bool, by: str, at: dt.datetime,
                   audit: dict[str, Any]) -> bool:
        """Mark a window's A post absent or back; False when the window does not exist."""
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.update(WindowModel(f"TOWNSHIP#{township_code}", f"WINDOW#{window}"),
                          actions=[WindowModel.a_absent.set(absent), WindowModel.updated_at.set(utc_iso(at)),
                                   WindowModel.updated_by.set(by)],
                          condition=WindowModel.pk.exists())
                tx.save(AuditModel(**audit), condition=AuditModel.pk.does_not_exist())
        except TransactWriteError as exc:
            if _reasons(exc)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        return True

    def queue(self, queue: str, status: str | None, limit: int, cursor: str | None
              ) -> tuple[list[dict[str, Any]], str | None]:
        """One window's cases (GSI ``by_queue``), in one state when ``status`` is given, oldest
        first: ``(cases, next cursor)``. Raises ValueError for a cursor that is not ours."""
        condition = CaseModel.queue_sort.startswith(f"{status}#") if status else None
        start = _decode_cursor(cursor, queue, {"pk", "sk", "queue", "queue_sort"}) if cursor else None
        result = CaseModel.by_queue.query(queue, condition, limit=limit, last_evaluated_key=start)
        return _rows(result)

    def department_steps(self, department: str, limit: int, cursor: str | None
                         ) -> tuple[list[dict[str, Any]], str | None]:
        """Approval steps pending at a county department (GSI ``by_department``), oldest first."""
        start = _decode_cursor(cursor, department, {"pk", "sk", "pending_department", "started_at"}) if cursor else None
        result = CaseStepModel.by_department.query(department, limit=limit, last_evaluated_key=start)
        return _rows(result)

    def due_for_check(self, shard: str, day_iso: str, limit: int = 100, cursor: dict[str, Any] | None = None
                      ) -> tuple[list[str], dict[str, Any] | None]:
        """Case numbers in ``shard`` of the sparse ``by_deadline`` index whose ``next_check``
        (an Asia/Shanghai ISO date) is on or before ``day_iso``: ``(case numbers, cursor of the
        next page or None)``. One Query (KEYS_ONLY, eventually consistent: the sweep reads each
        case again, strongly consistent, before it decides anything); ``cursor`` is the opaque
        value of the previous page, for the sweep only (never given to a client)."""
        result = CaseModel.by_deadline.query(shard, CaseModel.next_check <= day_iso, limit=limit,
                                             last_evaluated_key=cursor)
        numbers = [row.pk.split("#", 1)[1] for row in result]
        return numbers, result.last_evaluated_key

    def checks_between(self, shard: str, first_iso: str, last_iso: str) -> Iterator[str]:
        """Case numbers in ``shard`` of ``by_deadline`` whose ``next_check`` lies between two
        Asia/Shanghai ISO dates (inclusive): the open cases whose warnings fall in a span of
        days (a corrected calendar year). PynamoDB pages through the Query."""
        for row in CaseModel.by_deadline.query(shard, CaseModel.next_check.between(first_iso, last_iso)):
            yield row.pk.split("#", 1)[1]

    # --- events (outbox) and applicant messages -------------------------------------------

    def mark_published(self, case_no: str, seq: int, at: dt.datetime) -> None:
        """The event left the outbox: it drops out of the ``pending_events`` index."""
        CaseEventModel(_case_pk(case_no), f"EVENT#{seq:06d}").update(
            actions=[CaseEventModel.outbox_shard.remove(), CaseEventModel.published_at.set(utc_iso(at))],
            condition=CaseEventModel.pk.exists())

    def pending_events(self, shard: str, created_before: str, limit: int = 100) -> list[dict[str, Any]]:
        """Events of one outbox shard still unpublished and older than ``created_before``."""
        keys = CaseEventModel.pending_events.query(shard, CaseEventModel.created_at < created_before, limit=limit)
        out = []
        for key in keys:
            try:
                out.append(CaseEventModel.get(key.pk, key.sk).body)
            except DoesNotExist:
                continue
        return out

    def add_message(self, message: dict[str, Any]) -> bool:
        """Store a message in the inbox of ``message["recipient"]`` (an applicant's key, or a
        staff inbox such as ``staff_<username>``, ``TOWNSHIP#<code>``, ``SUPERVISOR#<code>``,
        ``DEPARTMENT#<code>``, ``ROLE#administrator``) once per event id; False when it was
        stored already."""
        from pynamodb.exceptions import PutError
        try:
            MessageModel(f"INBOX#{message['recipient']}", f"{message['created_at']}#{message['event_id']}",
                         **{k: v for k, v in message.items() if k != "recipient"}
                         ).save(condition=MessageModel.pk.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def messages(self, recipient: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """The messages of an inbox (see :meth:`add_message`), newest first: ``(messages, next cursor)``."""
        start = _decode_cursor(cursor, f"INBOX#{recipient}", {"pk", "sk"}) if cursor else None
        result = MessageModel.query(f"INBOX#{recipient}", scan_index_forward=False, limit=limit,
                                    last_evaluated_key=start)
        return _rows(result)

    def _raise_if_key_used(self, idempotency: tuple[str, str] | None, exc: TransactWriteError) -> None:
        """After a failed transaction: :class:`IdempotencyHit` if the key is now taken (by a
        concurrent twin that won), else nothing."""
        stored = self.idempotency_record(idempotency[0]) if idempotency else None
        if stored:
            raise IdempotencyHit(*stored) from exc

    def idempotency_record(self, scope_key: str) -> tuple[str, str] | None:
        """``(case_no, request_hash)`` stored for an idempotency key, or None (strongly consistent)."""
        try:
            rec = IdempotencyModel.get(f"IDEMP#{scope_key}", IDEMP_SK, consistent_read=True)
        except DoesNotExist:
            return None
        return rec.case_no, rec.request_hash

    def get(self, case_no: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The case attributes and its history (oldest first), or None.

        One strongly consistent Query on the case's partition: the case item (sk="CASE") and its
        history items (sk="HIST#...") live together.
        """
        case: dict[str, Any] | None = None
        history: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": settings.CASES_TABLE, "ConsistentRead": True,
                                  "KeyConditionExpression": "pk = :pk",
                                  "ExpressionAttributeValues": {":pk": {"S": _case_pk(case_no)}}}
        while True:
            page = client("dynamodb").query(**kwargs)
            for raw in page.get("Items", []):
                if raw["sk"]["S"] == CASE_SK:
                    case = CaseModel.from_raw_data(raw).attribute_values
                elif raw["sk"]["S"].startswith("HIST#"):
                    history.append(CaseHistoryModel.from_raw_data(raw).attribute_values)
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return (case, history) if case is not None else None

    def get_case(self, case_no: str) -> dict[str, Any] | None:
        """The case attributes only (one GetItem), or None."""
        try:
            return CaseModel.get(_case_pk(case_no), CASE_SK, consistent_read=True).attribute_values
        except DoesNotExist:
            return None

    def record_classification(self, case: dict[str, Any], result: Classification,
                              entry: HistoryEntry, at: dt.datetime, event: dict[str, Any] | None = None,
                              deadline: tuple[dict[str, Any], list[str]] = ({}, [])) -> None:
        """Store the intake classification, its history entry, the case's clock and deadline
        attributes (``deadline``: set, remove) and (optionally) its ``case.classified`` event
        (outbox) in one transaction; the case leaves the pending-intake index. Raises
        :class:`StaleCase` if the case changed meanwhile (nothing is written)."""
        updates = {"case_classes": result.case_classes, "case_type": result.case_type, **deadline[0]}
        self._finish_intake(case, entry, event, [
            *_update_actions(case["case_no"], updates, deadline[1]),
            CaseModel.classified_at.set(utc_iso(at)),
        ])

    def record_intake_failure(self, case: dict[str, Any], reason: str, entry: HistoryEntry) -> None:
        """Mark a case that cannot be classified (``intake_error``) so staff see it and the
        stalled-intake sweep stops re-publishing it. Raises :class:`StaleCase` on a race."""
        self._finish_intake(case, entry, None, [CaseModel.intake_error.set(reason)])

    def _finish_intake(self, case: dict[str, Any], entry: HistoryEntry, event: dict[str, Any] | None,
                       actions: list) -> None:
        model = CaseModel(_case_pk(case["case_no"]), CASE_SK)
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.update(model, actions=[*actions,
                                          CaseModel.intake_shard.remove(),
                                          CaseModel.history_count.set(entry.seq),
                                          CaseModel.version.add(1)],
                          condition=(CaseModel.version == case["version"]) & CaseModel.classified_at.does_not_exist()
                          & CaseModel.intake_error.does_not_exist())
                tx.save(_history_model(case["case_no"], entry), condition=CaseHistoryModel.pk.does_not_exist())
                if event:
                    tx.save(_event_model(case["case_no"], entry.seq, event))
        except TransactWriteError as exc:
            raise StaleCase(case["case_no"]) from exc

    def pending_intake(self, shard: str, submitted_before: str, limit: int = 100) -> list[str]:
        """Case numbers in ``shard`` of the sparse pending-intake index submitted before a UTC
        ISO time. One Query per shard page."""
        rows = CaseModel.pending_intake.query(shard, CaseModel.submitted_at < submitted_before, limit=limit)
        return [r.pk.split("#", 1)[1] for r in rows]

    def provisional_cases(self, year: str) -> Iterator[str]:
        """Numbers of the cases whose due date rests on ``year`` without calendar data (sparse
        GSI ``by_provisional_year``, KEYS_ONLY), in case-number order; PynamoDB pages through
        the Query (1 MB a page). The index is eventually consistent: read each case again
        before acting on it."""
        for key in CaseModel.by_provisional_year.query(str(year)):
            yield key.pk.split("#", 1)[1]

    def by_applicant(self, applicant_key: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """A villager's cases, newest first (GSI ``by_applicant``): ``(cases, next cursor)``.
        Raises ValueError for a cursor that is not ours."""
        return self._page(CaseModel.by_applicant, applicant_key, limit, cursor)

    def by_agent(self, agent_subject: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Cases an agent filed, newest first (GSI ``by_agent``): ``(cases, next cursor)``."""
        return self._page(CaseModel.by_agent, agent_subject, limit, cursor)

    @staticmethod
    def _page(index, hash_value: str, limit: int, cursor: str | None):
        name = "applicant_key" if index is CaseModel.by_applicant else "agent_subject"
        start = _decode_cursor(cursor, hash_value, {"pk", "sk", name, "submitted_at"}) if cursor else None
        return _rows(index.query(hash_value, scan_index_forward=False, limit=limit, last_evaluated_key=start))


def _event_model(case_no: str, seq: int, event: dict[str, Any]) -> CaseEventModel:
    """The outbox item of an event (``EVENT#<history seq>``), pending in its shard of the
    ``pending_events`` index until :meth:`DynamoCaseRepository.mark_published`."""
    import hashlib
    shard = str(int(hashlib.sha256(case_no.encode()).hexdigest(), 16) % settings.EVENT_SHARDS)
    return CaseEventModel(_case_pk(case_no), f"EVENT#{seq:06d}", event_id=event["event_id"], body=event,
                          created_at=event["at"], outbox_shard=shard)


def _rows(result) -> tuple[list[dict[str, Any]], str | None]:
    try:
        rows = [r.attribute_values for r in result]
    except QueryError as exc:  # a start key DynamoDB does not accept: the cursor was not ours
        raise ValueError("bad cursor") from exc
    last = result.last_evaluated_key
    return rows, (_encode_cursor(last) if last else None)


def _encode_cursor(key: dict[str, Any]) -> str:
    import base64
    import json
    return base64.urlsafe_b64encode(json.dumps({"k": key}).encode()).decode()


def _decode_cursor(cursor: str, bound_to: str, names: set[str]) -> dict[str, Any]:
    """The exclusive start key in a cursor made by :func:`_encode_cursor` for the same caller.
    Raises ValueError otherwise (another caller's cursor, garbage)."""
    import base64
    import binascii
    import json
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValueError("bad cursor") from exc
    if not isinstance(data, dict) or not isinstance(data.get("k"), dict):
        raise ValueError("bad cursor")
    key = data["k"]
    if set(key) != names or not all(
            isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) and 0 < len(v["S"]) <= 300
            for v in key.values()):
        raise ValueError("bad cursor")
    hash_name = next(iter(names - {"pk", "sk"} - {"submitted_at", "queue_sort", "started_at"}), "pk")
    if key[hash_name]["S"] != bound_to:
        raise ValueError("bad cursor")
    return key
