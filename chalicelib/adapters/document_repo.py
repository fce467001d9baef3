"""DynamoDB records of e-seals (catalog table) and sealed documents (cases table).

Access patterns (``models.py``): GetItem ``SEAL#ROOT`` / ``SEAL#<township>`` and their
conditional puts; GetItem ``DOCUMENT#<id>``; GetItem ``DOCSHA#<sha256>`` (an uploaded copy
matches a document we issued); Query ``CASE#<no>`` begins_with ``DOC#``; one
TransactWriteItems per issued document. No scans.
"""
from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from ..domain.cases import HistoryEntry
from ..usecases.ports import StaleCase
from .case_repo import CASE_SK, _case_pk, _history_model
from .models import CaseHistoryModel, CaseModel, SealedDocumentModel, SealModel, transaction_connection

DOCUMENT_SK = "DOCUMENT"
_SEAL_FIELDS = ("owner", "backend", "key_id", "certificate_pem", "seal_name", "seal_type", "signer", "created_at")
_DOC_FIELDS = ("document_id", "case_no", "kind", "round", "township_code", "event_id", "sha256", "size", "s3_key",
               "s3_version_id", "seal", "sealed_at", "sealed_at_local")


def _seal_code(owner: str) -> str:
    return f"SEAL#{owner}"


def _document(model: SealedDocumentModel) -> dict[str, Any]:
    out = {name: getattr(model, name) for name in _DOC_FIELDS}
    out["round"], out["size"] = int(out["round"]), int(out["size"])
    return out


class DocumentAlreadyIssued(Exception):
    """The document id is recorded already (a redelivered or concurrent request won)."""


class DynamoSeals:
    """E-seal records in the catalog table."""

    def get(self, owner: str) -> dict[str, Any] | None:
        """The seal of ``owner`` (``ROOT`` or a township code), or None (strongly consistent)."""
        try:
            model = SealModel.get(_seal_code(owner), consistent_read=True)
        except DoesNotExist:
            return None
        return {name: getattr(model, name) for name in _SEAL_FIELDS}

    def put_new(self, record: dict[str, Any]) -> bool:
        """Record a new seal if ``owner`` has none (conditional PutItem): True when this call
        put it, False when another creator got there first (the caller discards its key)."""
        try:
            SealModel(_seal_code(record["owner"]), **{k: record[k] for k in _SEAL_FIELDS}).save(
                condition=SealModel.code.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True


class DynamoDocuments:
    """Sealed document records in the cases table."""

    def __init__(self) -> None:
        self._connection = transaction_connection()

    def get(self, document_id: str) -> dict[str, Any] | None:
        """The record of ``document_id`` (one GetItem), or None."""
        try:
            return _document(SealedDocumentModel.get(f"DOCUMENT#{document_id}", DOCUMENT_SK))
        except DoesNotExist:
            return None

    def by_sha256(self, sha256_hex: str) -> dict[str, Any] | None:
        """The document whose sealed bytes have this SHA-256 (one GetItem), or None."""
        try:
            return _document(SealedDocumentModel.get(f"DOCSHA#{sha256_hex}", DOCUMENT_SK))
        except DoesNotExist:
            return None

    def of_case(self, case_no: str) -> list[dict[str, Any]]:
        """The documents of a case, oldest first (one Query on the case's partition)."""
        rows = SealedDocumentModel.query(_case_pk(case_no), SealedDocumentModel.sk.startswith("DOC#"))
        return sorted((_document(m) for m in rows), key=lambda d: d["sealed_at"])

    def record(self, record: dict[str, Any], entry: HistoryEntry, history_count: int) -> None:
        """Write the document record, its copy in the case partition, the case history entry
        ``entry`` (seq = ``history_count`` + 1) and the case's new ``history_count``, in one
        TransactWriteItems. The case ``version`` is not changed: issuing a document is not a
        state change, and staff's ``If-Match`` stays valid. Raises
        :class:`DocumentAlreadyIssued` when the document exists, :class:`StaleCase` (from
        ``usecases.ports``) when the history moved on meanwhile (read again and retry)."""
        attrs = {k: record[k] for k in _DOC_FIELDS}
        case_no = record["case_no"]
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.save(SealedDocumentModel(f"DOCUMENT#{record['document_id']}", DOCUMENT_SK, **attrs),
                        condition=SealedDocumentModel.pk.does_not_exist())
                tx.save(SealedDocumentModel(_case_pk(case_no), f"DOC#{record['document_id']}", **attrs),
                        condition=SealedDocumentModel.pk.does_not_exist())
                tx.save(SealedDocumentModel(f"DOCSHA#{record['sha256']}", DOCUMENT_SK, **attrs))
                tx.save(_history_model(case_no, entry), condition=CaseHistoryModel.pk.does_not_exist())
                tx.update(CaseModel(_case_pk(case_no), CASE_SK), actions=[CaseModel.history_count.set(entry.seq)],
                          condition=CaseModel.history_count == history_count)
        except TransactWriteError as exc:
            reasons = [r.code if r else None for r in (exc.cancellation_reasons or [])]
            if reasons[:1] == ["ConditionalCheckFailed"] or self.get(record["document_id"]):
                raise DocumentAlreadyIssued(record["document_id"]) from exc
            raise StaleCase(case_no) from exc
