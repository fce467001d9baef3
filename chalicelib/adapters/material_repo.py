"""DynamoDB storage of application materials and upload slots (cases table, in the case's
partition; keys in ``models.py``). The case item itself keeps only a summary
(``materials``: ``{code: {version, trust_level}}``), so a case with many uploads stays far below
DynamoDB's 400 KB item limit.

Every write that adds a history entry does it the way lifecycle changes do: the case update
conditioned on the ``version`` read (``version`` + 1, ``history_count`` = the entry's seq), the
history entry, the material items, the slot and the audit record in one TransactWriteItems.
"""
from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from .. import settings
from ..domain.cases import HistoryEntry
from ..usecases.ports import StaleCase
from .aws import client
from .case_repo import CASE_SK, _case_pk, _history_model
from .models import AuditModel, CaseHistoryModel, CaseModel, MaterialModel, UploadSlotModel, transaction_connection



def _case_step(tx: TransactWrite, case: dict[str, Any], entry: HistoryEntry, summary: dict[str, Any]) -> None:
    """The case's part of a materials transaction: its version moves on (conditioned on the
    version read), its history gains ``entry`` and its ``materials`` summary is replaced."""
    tx.update(CaseModel(_case_pk(case["case_no"]), CASE_SK),
              actions=[CaseModel.version.add(1), CaseModel.history_count.set(entry.seq),
                       CaseModel.materials.set(summary)],
              condition=CaseModel.version == case["version"])
    tx.save(_history_model(case["case_no"], entry), condition=CaseHistoryModel.pk.does_not_exist())

class SlotTaken(Exception):
    """A slot with this id exists already (an Idempotency-Key's slot)."""


class SlotMoved(Exception):
    """The slot is no longer open (another delivery decided it first)."""


def _head_sk(code: str) -> str:
    return f"MAT#{code}"


def _version_sk(code: str, version: int) -> str:
    return f"MAT#{code}#V#{version:03d}"


class DynamoMaterialRepository:
    """Slots and materials of cases."""

    def __init__(self) -> None:
        self._connection = transaction_connection()

    # --- slots --------------------------------------------------------------------------------

    def create_slot(self, case_no: str, slot: dict[str, Any], audit: dict[str, Any]) -> None:
        """Store a new open slot and its audit record (one transaction). Raises
        :class:`SlotTaken` when the slot id exists (a retry with the same Idempotency-Key)."""
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.save(UploadSlotModel(_case_pk(case_no), f"SLOT#{slot['slot_id']}", status=slot["status"], doc=slot),
                        condition=UploadSlotModel.pk.does_not_exist())
                tx.save(AuditModel(**audit), condition=AuditModel.pk.does_not_exist())
        except TransactWriteError as exc:
            reasons = [r.code if r else None for r in (exc.cancellation_reasons or [])]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                raise SlotTaken(slot["slot_id"]) from exc
            raise

    def slot(self, case_no: str, slot_id: str) -> dict[str, Any] | None:
        """A slot's record (``doc`` with ``status``), or None (one strongly consistent GetItem)."""
        try:
            row = UploadSlotModel.get(_case_pk(case_no), f"SLOT#{slot_id}", consistent_read=True)
        except DoesNotExist:
            return None
        return {**row.doc, "status": row.status}

    # --- materials ----------------------------------------------------------------------------

    def materials(self, case_no: str) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
        """``(heads by code, versions by code oldest first)`` of a case: one Query (strongly
        consistent) on the case's partition, ``sk`` beginning ``MAT#``."""
        heads: dict[str, dict[str, Any]] = {}
        versions: dict[str, list[dict[str, Any]]] = {}
        kwargs: dict[str, Any] = {"TableName": settings.CASES_TABLE, "ConsistentRead": True,
                                  "KeyConditionExpression": "pk = :pk AND begins_with(sk, :mat)",
                                  "ExpressionAttributeValues": {":pk": {"S": _case_pk(case_no)}, ":mat": {"S": "MAT#"}}}
        while True:
            page = client("dynamodb").query(**kwargs)
            for raw in page.get("Items", []):
                row = MaterialModel.from_raw_data(raw)
                record = {**row.doc, "code": row.code, "version": int(row.version), "trust_level": row.trust_level}
                if row.kind == "head":
                    heads[row.code] = {**record, "current_version": int(row.version)}
                else:
                    versions.setdefault(row.code, []).append(record)
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return heads, versions

    def head(self, case_no: str, code: str) -> dict[str, Any] | None:
        """One material's head record (GetItem), or None."""
        try:
            row = MaterialModel.get(_case_pk(case_no), _head_sk(code), consistent_read=True)
        except DoesNotExist:
            return None
        return {**row.doc, "code": row.code, "current_version": int(row.version), "trust_level": row.trust_level}

    def accept_upload(self, case: dict[str, Any], slot: dict[str, Any], head: dict[str, Any] | None,
                      record: dict[str, Any], entry: HistoryEntry, summary: dict[str, Any],
                      audit: dict[str, Any]) -> None:
        """Record an accepted upload as version ``record["version"]`` of its material: the slot
        becomes used, the head points at the new version (trust level C), the case gets its
        history entry and summary; one transaction. Raises :class:`StaleCase` when the case
        (or the material) changed since it was read, :class:`SlotMoved` when the slot is no
        longer open; nothing is written either way."""
        case_no, code, version = case["case_no"], record["code"], record["version"]
        previous = int((head or {}).get("current_version") or 0)
        head_doc = {"name": record["name"], "updated_at": record["uploaded_at"]}
        try:
            with TransactWrite(connection=self._connection) as tx:
                _case_step(tx, case, entry, summary)
                tx.update(UploadSlotModel(_case_pk(case_no), f"SLOT#{slot['slot_id']}"),
                          actions=[UploadSlotModel.status.set("used"),
                                   UploadSlotModel.doc.set({**_slot_doc(slot), "status": "used",
                                                            "version_id": record["version_id"],
                                                            "material_version": version,
                                                            "resolved_at": record["uploaded_at"]})],
                          condition=UploadSlotModel.status == "open")
                tx.save(MaterialModel(_case_pk(case_no), _head_sk(code), kind="head", code=code, version=version,
                                      trust_level=record["trust_level"], doc=head_doc),
                        condition=(MaterialModel.pk.does_not_exist() if head is None
                                   else MaterialModel.version == previous))
                tx.save(MaterialModel(_case_pk(case_no), _version_sk(code, version), kind="version", code=code,
                                      version=version, trust_level=record["trust_level"],
                                      doc={k: v for k, v in record.items() if k not in ("code", "version", "trust_level")}),
                        condition=MaterialModel.pk.does_not_exist())
                tx.save(AuditModel(**audit), condition=AuditModel.pk.does_not_exist())
        except TransactWriteError as exc:
            reasons = [r.code if r else None for r in (exc.cancellation_reasons or [])]
            if len(reasons) > 2 and reasons[2] == "ConditionalCheckFailed":
                raise SlotMoved(slot["slot_id"]) from exc
            raise StaleCase(case_no) from exc

    def reject_upload(self, case_no: str, slot: dict[str, Any], head: dict[str, Any] | None,
                      rejection: dict[str, Any], name: str) -> None:
        """Record why an upload was refused, on the slot (open -> rejected) and as the
        material's ``last_rejection``: only the head's ``doc`` is written (an UpdateItem
        conditioned on the version read), never its version or trust level, so a clerk's
        check committed since ``head`` was read stays (a whole-item save would put back the
        trust level read). Raises :class:`SlotMoved` when the slot is no longer open,
        :class:`StaleCase` when the material changed meanwhile (a new version)."""
        doc = {"name": name, **{k: v for k, v in (head or {}).items()
                                 if k not in ("code", "current_version", "trust_level", "version")},
               "last_rejection": rejection}
        version = int((head or {}).get("current_version") or 0)
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.update(UploadSlotModel(_case_pk(case_no), f"SLOT#{slot['slot_id']}"),
                          actions=[UploadSlotModel.status.set("rejected"),
                                   UploadSlotModel.doc.set({**_slot_doc(slot), "status": "rejected",
                                                            "rejection": rejection,
                                                            "resolved_at": rejection["at"]})],
                          condition=UploadSlotModel.status == "open")
                if head is None:  # the material's first head: a rejection before any version
                    tx.save(MaterialModel(_case_pk(case_no), _head_sk(slot["code"]), kind="head", code=slot["code"],
                                          version=0, trust_level=None, doc=doc),
                            condition=MaterialModel.pk.does_not_exist())
                else:
                    tx.update(MaterialModel(_case_pk(case_no), _head_sk(slot["code"])),
                              actions=[MaterialModel.doc.set(doc)],
                              condition=MaterialModel.pk.exists() & (MaterialModel.version == version))
        except TransactWriteError as exc:
            reasons = [r.code if r else None for r in (exc.cancellation_reasons or [])]
            if reasons[:1] == ["ConditionalCheckFailed"]:
                raise SlotMoved(slot["slot_id"]) from exc
            raise StaleCase(case_no) from exc

    def verify(self, case: dict[str, Any], head: dict[str, Any], version: dict[str, Any], trust_level: str,
               check: dict[str, Any], entry: HistoryEntry, summary: dict[str, Any], audit: dict[str, Any]) -> None:
        """Raise the current version of a material to ``trust_level`` (the clerk's ``check``:
        who, when, note) with the case's history entry and summary; one transaction conditioned
        on the case version and on the material still being at that version and trust level.
        Raises :class:`StaleCase` otherwise (nothing written)."""
        case_no, code, number = case["case_no"], head["code"], int(head["current_version"])
        try:
            with TransactWrite(connection=self._connection) as tx:
                _case_step(tx, case, entry, summary)
                tx.update(MaterialModel(_case_pk(case_no), _head_sk(code)),
                          actions=[MaterialModel.trust_level.set(trust_level)],
                          condition=(MaterialModel.version == number) & (MaterialModel.trust_level == head["trust_level"]))
                doc = {k: v for k, v in version.items() if k not in ("code", "version", "trust_level")}
                tx.update(MaterialModel(_case_pk(case_no), _version_sk(code, number)),
                          actions=[MaterialModel.trust_level.set(trust_level),
                                   MaterialModel.doc.set({**doc, "checked": check})],
                          condition=MaterialModel.pk.exists())
                tx.save(AuditModel(**audit), condition=AuditModel.pk.does_not_exist())
        except TransactWriteError as exc:
            raise StaleCase(case_no) from exc


def _slot_doc(slot: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in slot.items() if k != "status"}

