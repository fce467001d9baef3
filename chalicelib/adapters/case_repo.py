"""DynamoDB case repository: the case item, its append-only history, idempotency records.

Every state change writes the case and its history entry in one TransactWriteItems, with a
condition on the case's ``version`` so two concurrent writers cannot both win.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from pynamodb.exceptions import DoesNotExist, QueryError, TransactWriteError
from pynamodb.transactions import TransactWrite

from .. import settings
from ..domain.cases import Classification, HistoryEntry, utc_iso
from ..usecases.ports import CaseNumberTaken, IdempotencyHit, StaleCase, WriteConflict
from .aws import client
from .models import AuditModel, CaseHistoryModel, CaseModel, IdempotencyModel, transaction_connection

CASE_SK = "CASE"
IDEMP_SK = "IDEMP"


def _case_pk(case_no: str) -> str:
    return f"CASE#{case_no}"


def _history_model(case_no: str, entry: HistoryEntry) -> CaseHistoryModel:
    return CaseHistoryModel(_case_pk(case_no), f"HIST#{entry.seq:06d}", seq=entry.seq,
                            at=utc_iso(entry.at), actor=entry.actor, role=entry.role,
                            step_name=entry.step_name, action=entry.action, opinion=entry.opinion,
                            reason=entry.reason, data=entry.data or None)


def _reasons(exc: TransactWriteError) -> list[str | None]:
    return [r.code if r else None for r in (exc.cancellation_reasons or [])]


class DynamoCaseRepository:
    """Cases in the cases table (keys in ``models.py``)."""

    def __init__(self) -> None:
        self._connection = transaction_connection()

    def create(self, case: dict[str, Any], first: HistoryEntry,
               idempotency: tuple[str, str] | None, audit: dict[str, Any] | None = None) -> None:
        """Write a new case, its first history entry, (optionally) its idempotency record
        ``(scope_key, request_hash)`` and its audit record (audit table) in one transaction.

        Raises :class:`IdempotencyHit` when the key was used (also by a concurrent request that
        won), :class:`CaseNumberTaken` when the number clashes.
        """
        model = CaseModel(_case_pk(case["case_no"]), CASE_SK, **case)
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.save(model, condition=CaseModel.pk.does_not_exist())
                tx.save(_history_model(case["case_no"], first))
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
            if idempotency:
                stored = self.idempotency_record(idempotency[0])
                if stored:
                    raise IdempotencyHit(*stored) from exc
            reasons = _reasons(exc)
            if reasons[:1] == ["ConditionalCheckFailed"]:
                raise CaseNumberTaken(case["case_no"]) from exc
            if ("TransactionConflict" in reasons or "TransactionConflict" in str(exc.cause)
                    or (idempotency and reasons[2:3] == ["ConditionalCheckFailed"])):
                # a twin holds the key but its record is not readable yet: look again shortly
                raise WriteConflict(case["case_no"]) from exc
            raise

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
                              entry: HistoryEntry, at: dt.datetime) -> None:
        """Store the intake classification and its history entry atomically; the case leaves the
        pending-intake index. Raises :class:`StaleCase` if the case changed meanwhile."""
        self._finish_intake(case, entry, [
            CaseModel.case_classes.set(result.case_classes),
            CaseModel.case_type.set(result.case_type),
            CaseModel.due_date.set(result.due.date.isoformat()),
            CaseModel.due_date_provisional.set(result.due.provisional),
            CaseModel.classified_at.set(utc_iso(at)),
        ])

    def record_intake_failure(self, case: dict[str, Any], reason: str, entry: HistoryEntry) -> None:
        """Mark a case that cannot be classified (``intake_error``) so staff see it and the
        stalled-intake sweep stops re-publishing it. Raises :class:`StaleCase` on a race."""
        self._finish_intake(case, entry, [CaseModel.intake_error.set(reason)])

    def _finish_intake(self, case: dict[str, Any], entry: HistoryEntry, actions: list) -> None:
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
        except TransactWriteError as exc:
            raise StaleCase(case["case_no"]) from exc

    def pending_intake(self, shard: str, submitted_before: str, limit: int = 100) -> list[str]:
        """Case numbers in ``shard`` of the sparse pending-intake index submitted before a UTC
        ISO time. One Query per shard page."""
        rows = CaseModel.pending_intake.query(shard, CaseModel.submitted_at < submitted_before, limit=limit)
        return [r.pk.split("#", 1)[1] for r in rows]

    def by_applicant(self, applicant_key: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """A villager's cases, newest first (GSI ``by_applicant``): ``(cases, next cursor)``.
        Raises ValueError for a cursor that is not ours."""
        return self._page(CaseModel.by_applicant, applicant_key, limit, cursor)

    def by_agent(self, agent_subject: str, limit: int, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        """Cases an agent filed, newest first (GSI ``by_agent``): ``(cases, next cursor)``."""
        return self._page(CaseModel.by_agent, agent_subject, limit, cursor)

    @staticmethod
    def _page(index, hash_value: str, limit: int, cursor: str | None):
        start = _decode_cursor(cursor, hash_value) if cursor else None
        result = index.query(hash_value, scan_index_forward=False, limit=limit, last_evaluated_key=start)
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


def _decode_cursor(cursor: str, bound_to: str) -> dict[str, Any]:
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
    index_keys = [{"pk", "sk", "applicant_key", "submitted_at"}, {"pk", "sk", "agent_subject", "submitted_at"}]
    if set(key) not in index_keys or not all(
            isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) and 0 < len(v["S"]) <= 200
            for v in key.values()):
        raise ValueError("bad cursor")
    if (key.get("applicant_key") or key.get("agent_subject") or {}).get("S") != bound_to:
        raise ValueError("bad cursor")
    return key
