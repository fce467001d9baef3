"""E-sealed case documents (issue 6): which case events produce a document, the document's
identity, the seal's names (GB/T 39046 seal metadata) and the public verification answer.

Pure: no AWS, no PDF or signing library (those are ``adapters/seal_keys.py`` and
``adapters/pades.py``). Rule sources: decree 716 (2019) gives a reliable electronic seal the
force of a physical one; the seal here is PAdES B-B (ETSI EN 319 142) with RSA/SHA-256, not the
SM2/SM3 seal of GB/T 38540 (``docs/documents.md`` says why).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any, Iterable, Mapping

from .cases import CONCLUDED_APPROVED, CONCLUDED_REJECTED
from .documents import ACCEPTANCE_RECEIPT, DECISION, ONE_TIME_NOTICE, TITLES
from .errors import ValidationFailed

#: The case events (``domain/lifecycle.py`` event types) that produce a document, and its kind.
DOCUMENT_EVENTS = {
    "case.accept": ACCEPTANCE_RECEIPT,
    "case.issue_notice": ONE_TIME_NOTICE,
    "case.concluded_approved": DECISION,
    "case.concluded_rejected": DECISION,
}
#: The case history step recorded when a document is issued.
HISTORY_STEPS = {ACCEPTANCE_RECEIPT: "出具受理通知书", ONE_TIME_NOTICE: "出具一次性告知书", DECISION: "出具办结决定书"}
#: GB/T 39046 seal type of every document seal (a township center's business seal).
SEAL_TYPE = "业务专用章"
ROOT_NAME = "便民电子印章根证书"
ROOT = "ROOT"
#: Signature algorithm (AWS KMS ``RSASSA_PKCS1_V1_5_SHA_256`` on an ``RSA_2048`` key).
ALGORITHM = "RSA-2048 PKCS#1 v1.5 SHA-256"
#: Documents are at most this large when posted for verification (API Gateway: 6 MB payload,
#: and a little room for the envelope).
MAX_UPLOAD_BYTES = 5 * 1024 * 1024 + 512 * 1024

#: Verification answers (``reason`` codes; a valid document has reason ``VALID``).
VALID = "VALID"
NOT_PDF = "NOT_PDF"
NOT_SIGNED = "NOT_SIGNED"
MODIFIED = "MODIFIED_AFTER_SEALING"
SIGNATURE_BROKEN = "SIGNATURE_BROKEN"
UNTRUSTED = "UNTRUSTED_SIGNER"
UNKNOWN_DOCUMENT = "UNKNOWN_DOCUMENT"
STORED_FILE_CHANGED = "STORED_FILE_CHANGED"
TOO_LARGE = "TOO_LARGE"
REASONS = {
    VALID: "文件有效：印章完好，盖章后未被改动",
    NOT_PDF: "该文件不是PDF文件",
    NOT_SIGNED: "该PDF文件没有电子印章",
    MODIFIED: "文件在盖章后被改动过，电子印章无效",
    SIGNATURE_BROKEN: "电子印章已损坏或与文件内容不符",
    UNTRUSTED: "电子印章不是本平台签发的印章",
    UNKNOWN_DOCUMENT: "未找到该文书",
    STORED_FILE_CHANGED: "存档文件与盖章时记录的摘要不一致",
    TOO_LARGE: "文件超过5.5MB，无法在线核验",
}


def document_kind(event_type: str) -> str | None:
    """The document kind a case event produces (``DOCUMENT_EVENTS``), or None."""
    return DOCUMENT_EVENTS.get(event_type)


def document_round(kind: str, case: Mapping[str, Any], history: Iterable[Mapping[str, Any]], seq: int) -> int:
    """The notice round a document request for ``kind`` at history ``seq`` is about (1 for the
    other kinds), once the case shows the event that asks for it: a notice needs the history
    entry at ``seq`` to carry its ``round``, a receipt a case that was accepted, a decision a
    case concluded (approved or rejected). Raises ValidationFailed
    ``DOCUMENT_EVENT_MISMATCH`` otherwise (a replayed, hand-made or shifted message: it can
    never succeed, the documents consumer drops it)."""
    if kind == ONE_TIME_NOTICE:
        for h in history:
            if int(h["seq"]) == seq and (h.get("data") or {}).get("round"):
                return int(h["data"]["round"])
        found = False
    elif kind == DECISION:
        found = case.get("status") in (CONCLUDED_APPROVED, CONCLUDED_REJECTED)
    else:
        found = bool(case.get("accepted_at"))
    if not found:
        raise ValidationFailed(f"办件记录中没有出具{TITLES.get(kind, kind)}的事件", code="DOCUMENT_EVENT_MISMATCH",
                               case_no=case.get("case_no"), kind=kind, seq=seq)
    return 1


#: Domain separation of document ids under a key shared with other keyed hashes (the ID pepper
#: hashes resident ID numbers, which never contain a newline).
DOCUMENT_ID_CONTEXT = b"document-id\n"


def document_number(kind: str, case_no: str, round_no: int, key: bytes) -> str:
    """The deterministic document id of ``kind`` for ``case_no`` (``round_no``: the notice
    round, 1 for the other kinds): ``D`` + 26 base32 characters of HMAC-SHA-256 under the
    server-side ``key`` (``adapters.secrets.document_id_key``) over ``document-id\n`` +
    ``<case_no>#<kind>#<round>``. The same event delivered twice names the same document; the
    id does not show the case number (it is printed on the QR code) and, being keyed, cannot
    be matched against guesses: the public verification masks the case number's serial, and an
    unkeyed hash would give the 32^4 candidates away in a second. Raises ValueError for an
    empty key."""
    if not key:
        raise ValueError("a document id needs the server-side key")
    message = DOCUMENT_ID_CONTEXT + f"{case_no}#{kind}#{round_no}".encode()
    return "D" + base64.b32encode(hmac.new(key, message, hashlib.sha256).digest()).decode()[:26]


def is_document_id(value: str) -> bool:
    """True for a string shaped like :func:`document_number`'s ids."""
    return (len(value or "") == 27 and value[0] == "D"
            and all(c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for c in value[1:]))


def s3_key(case_no: str, document_id: str) -> str:
    """Where a sealed document is stored in the materials bucket."""
    return f"documents/{case_no}/{document_id}.pdf"


def seal_name(township_name: str) -> str:
    """The seal's name (GB/T 39046 印章名称): the township service center's name + seal type,
    e.g. "示例镇便民服务中心业务专用章"."""
    return f"{township_name}{SEAL_TYPE}"


def key_alias(owner: str) -> str:
    """The KMS alias of a seal key: ``owner`` is ``ROOT`` or a township code."""
    return f"alias/bianmin-seal-{owner.lower()}"


def mask_case_no(case_no: str) -> str:
    """The case number as the public verification shows it: the date part and the township,
    the serial hidden (``20261130095144123-431224100-****``)."""
    head, _, _ = case_no.rpartition("-")
    return f"{head}-****" if head else "****"


def verification_answer(reason: str, **facts: Any) -> dict[str, Any]:
    """The public verification answer: ``valid`` (reason ``VALID`` only), ``reason`` (a code
    above), ``message`` (zh-CN), plus ``facts`` (seal name, sealed at, kind...; never the
    applicant's personal data)."""
    return {"valid": reason == VALID, "reason": reason, "message": REASONS[reason], **facts}


def public_document_facts(record: Mapping[str, Any]) -> dict[str, Any]:
    """What anyone may learn about a document we issued: kind and title, the masked case
    number, the seal (name, type, owner township), when it was sealed (UTC and Asia/Shanghai)."""
    return {"document_id": record["document_id"], "kind": record["kind"], "title": TITLES[record["kind"]],
            "case_no": mask_case_no(record["case_no"]), "seal_name": record["seal"]["seal_name"],
            "seal_type": record["seal"]["seal_type"], "signer": record["seal"]["signer"],
            "sealed_at": record["sealed_at"], "sealed_at_local": record["sealed_at_local"],
            "algorithm": record["seal"].get("algorithm", ALGORITHM)}
