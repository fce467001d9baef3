"""E-sealed case documents (issue 6): the request from a case event, generation and sealing
(documents queue consumer), public verification, and downloads for people who may read the case.

Heavy libraries (fpdf2, qrcode, pyHanko, cryptography) are imported inside the functions that
make or check a PDF, never when the API module graph is imported (design.md: cold start).
"""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Callable, Mapping

from .. import settings
from .. import validation as schemas
from ..domain import seals as rules
from ..domain.access import Origin, Principal
from ..domain.cases import SHANGHAI, HistoryEntry, utc_iso
from ..domain.documents import ONE_TIME_NOTICE, TITLES
from ..domain.errors import FieldProblem, NotFound, ValidationFailed
from ..logs import logger
from . import audit
from .intake import deadline_view
from .ports import Clock, StaleCase, utcnow


def document_request(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The documents-queue message (``schemas/document_request.json``) a case event asks for:
    a receipt on ``case.accept``, a one-time notice on ``case.issue_notice``, a decision on
    ``case.concluded_*`` (``domain.seals.DOCUMENT_EVENTS``); None for other events."""
    kind = rules.document_kind(event["event_type"])
    if kind is None:
        return None
    return {"type": "document.requested", "case_no": event["case_no"], "kind": kind, "event_id": event["event_id"],
            "seq": int(event["seq"]), "at": event["at"], "township_code": event["township_code"]}


# --- seals -----------------------------------------------------------------------------------

def _new_seal(owner: str, *, seals, keys, now: dt.datetime, seal_name: str, signer: str,
              issuer: tuple[Any, dict[str, Any]] | None) -> dict[str, Any]:
    """Create the key and certificate of ``owner`` and record them (conditional put); a creator
    that loses the race discards its key and takes the winner's record."""
    from ..adapters import pades
    key = keys.create({"app": "bianmin", "purpose": "e-seal", "owner": owner})
    if issuer is None:  # the root certifies itself
        certificate = pades.build_certificate(subject_cn=seal_name, subject_org="便民", public_key_der=key.public_key_der,
                                              issuer=key, issuer_cn=seal_name, issuer_org="便民", ca=True,
                                              not_before=now - dt.timedelta(minutes=5), years=20)
    else:
        issuer_key, issuer_record = issuer
        certificate = pades.build_certificate(subject_cn=seal_name, subject_org=signer,
                                              public_key_der=key.public_key_der, issuer=issuer_key,
                                              issuer_cn=issuer_record["seal_name"], issuer_org="便民", ca=False,
                                              not_before=now - dt.timedelta(minutes=5), years=10)
    record = {"owner": owner, "backend": keys.backend, "key_id": key.key_id, "certificate_pem": certificate,
              "seal_name": seal_name, "seal_type": rules.SEAL_TYPE if issuer else "根证书", "signer": signer,
              "created_at": utc_iso(now)}
    if seals.put_new(record):
        keys.name(key.key_id, rules.key_alias(owner))
        logger.info("e-seal created", extra={"owner": owner, "backend": keys.backend, "key_id": key.key_id})
        return record
    keys.discard(key.key_id)
    logger.info("e-seal created concurrently elsewhere; ours is discarded", extra={"owner": owner})
    return seals.get(owner)


def township_seal(township_code: str, township_name: str, *, seals, keys, now: Clock = utcnow
                  ) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """``(seal record, SealKey, root record)`` of a township, created on its first document:
    the root "便民电子印章根证书" first if there is none, then the township's key and a
    certificate issued by the root (subject CN the seal name, O the service center). Calls on
    a warm path: two GetItems (+ GetPublicKey once per container with KMS)."""
    root = seals.get(rules.ROOT) or _new_seal(rules.ROOT, seals=seals, keys=keys, now=now(),
                                              seal_name=rules.ROOT_NAME, signer="便民", issuer=None)
    seal = seals.get(township_code)
    if seal is None:
        seal = _new_seal(township_code, seals=seals, keys=keys, now=now(), seal_name=rules.seal_name(township_name),
                         signer=township_name, issuer=(keys.key(root["key_id"]), root))
    return seal, keys.key(seal["key_id"]), root


# --- issuing -----------------------------------------------------------------------------------

def issue_document(message: Any, *, cases, catalog, documents, seals, keys, objects, calendar,
                   id_secret: Callable[[], bytes] | None = None, now: Clock = utcnow) -> str:
    """Generate, seal, store and record the document a documents-queue message asks for.

    Steps: read the case (one Query); the document id is deterministic
    (``domain.seals.document_number``: case, kind, notice round, keyed with ``id_secret()``, by
    default ``adapters.secrets.document_id_key``: Secrets Manager, cached per container), so a
    redelivered message finds its record and stops ("already"); build the content
    (``domain.documents.build``), render it (``adapters.pdf.render``), seal it with the township's e-seal
    (:func:`township_seal`, PAdES B-B), store it under ``documents/<case_no>/<id>.pdf``
    (S3, versioned) and record it with a case history entry in one transaction. A concurrent
    twin that recorded first wins: this one deletes its S3 version and answers "already".
    Returns "issued" or "already". Raises ValidationFailed (bad message; or
    ``DOCUMENT_EVENT_MISMATCH``, a message the case's record does not bear out: a notice round
    at a history step that issued none, a decision for a case not concluded, a receipt for a
    case never accepted, ``domain.seals.document_round``: dropped), NotFound (unknown case:
    dropped); anything else is retried by the queue."""
    schemas.validate("document_request", message)
    from ..adapters import pades, pdf
    from ..adapters.document_repo import DocumentAlreadyIssued
    from ..domain import documents as content_rules
    found = cases.get(message["case_no"])
    if found is None:
        raise NotFound(case_no=message["case_no"])
    case, history = found
    kind = message["kind"]
    round_no = rules.document_round(kind, case, history, int(message["seq"]))
    if id_secret is None:
        from ..adapters.secrets import document_id_key as id_secret
    document_id = rules.document_number(kind, case["case_no"], round_no, id_secret())
    if documents.get(document_id):
        return "already"
    offer, township = catalog.get_offer_at(case["item_code"], case.get("item_version"), case["township_code"])
    if township is None:
        raise ValueError(f"township {case['township_code']} has no settings")
    township_name = township.record["name"]
    seal, key, root = township_seal(case["township_code"], township_name, seals=seals, keys=keys, now=now)
    issued_on = dt.datetime.fromisoformat(message["at"]).astimezone(SHANGHAI).date().isoformat()
    content = content_rules.build(
        kind, case, document_id=document_id, issuer=township_name, issued_on=issued_on, item_name=case["item_name"],
        verify_url=f"{settings.PUBLIC_BASE_URL.rstrip('/')}/v1/public/documents/{document_id}/verification",
        deadline=deadline_view(case, dt.datetime.fromisoformat(message["at"]), calendar)["deadline"],
        round=round_no, notice=cases.notice(case["case_no"], round_no) if kind == ONE_TIME_NOTICE else None,
        township=township.record, legal_basis=offer[0].publicities.get("legal_basis") if offer else None)
    sealed = pades.seal_pdf(pdf.render(content), key=key, certificate_pem=seal["certificate_pem"],
                            root_pem=root["certificate_pem"], signer_name=township_name,
                            reason=f"{TITLES[kind]}（{seal['seal_name']}）", location=township_name)
    moment = now()
    digest = hashlib.sha256(sealed).hexdigest()
    key_name = rules.s3_key(case["case_no"], document_id)
    version = objects.put_bytes(key_name, sealed, content_type="application/pdf",
                                metadata={"document-id": document_id, "sha256": digest})
    certificate = pades.load_certificate(seal["certificate_pem"])
    record = {"document_id": document_id, "case_no": case["case_no"], "kind": kind, "round": round_no,
              "township_code": case["township_code"], "event_id": message["event_id"], "sha256": digest,
              "size": len(sealed), "s3_key": key_name, "s3_version_id": version or None,
              "seal": {"seal_name": seal["seal_name"], "seal_type": seal["seal_type"], "signer": seal["signer"],
                       "certificate_serial": format(certificate.serial_number, "x"), "algorithm": rules.ALGORITHM,
                       "backend": seal["backend"], "profile": "PAdES-B-B"},
              "sealed_at": utc_iso(moment), "sealed_at_local": moment.astimezone(SHANGHAI).isoformat(timespec="seconds")}
    for attempt in range(5):
        entry = HistoryEntry(seq=int(case["history_count"]) + 1, at=moment, actor="system", role="system",
                             step_name=rules.HISTORY_STEPS[kind], opinion=f"{TITLES[kind]}（加盖{seal['seal_name']}）",
                             data={"document_id": document_id, "kind": kind, "round": round_no})
        try:
            documents.record(record, entry, int(case["history_count"]))
            return "issued"
        except DocumentAlreadyIssued:
            objects.delete_version(key_name, version)
            return "already"
        except StaleCase:
            case = cases.get_case(case["case_no"])  # a staff action moved the history on: next seq
    raise StaleCase(case["case_no"])


# --- verification (public) ---------------------------------------------------------------------

def verify_issued(document_id: str, *, documents, seals, objects) -> dict[str, Any]:
    """``GET /v1/public/documents/{id}/verification`` (the QR code's target): whether the
    document we issued is still what we sealed. Reads the record (GetItem), the root seal
    (GetItem) and the stored version (S3 GetObject); answers ``valid``, ``reason``,
    ``stored_file_matches`` (SHA-256 as recorded), ``signature_intact``, and the public facts
    (``domain.seals.public_document_facts``: no personal data). Raises NotFound
    (``DOCUMENT_NOT_FOUND``) for an unknown or malformed id; a stored version that is gone
    answers ``STORED_FILE_CHANGED``."""
    record = documents.get(document_id) if rules.is_document_id(document_id) else None
    if record is None:
        raise NotFound("未找到该文书，请核对二维码或文书编号", code="DOCUMENT_NOT_FOUND")
    from ..adapters import pades
    try:
        data = objects.get_bytes(record["s3_key"], record.get("s3_version_id"))
    except Exception:  # the recorded version is gone: say so rather than fail
        logger.exception("sealed document unreadable", extra={"document_id": document_id})
        data = b""
    matches = hashlib.sha256(data).hexdigest() == record["sha256"]
    root = seals.get(rules.ROOT)
    check = pades.check_pdf(data, root["certificate_pem"] if root else None)
    reason = check.reason if matches else rules.STORED_FILE_CHANGED
    return rules.verification_answer(reason, **rules.public_document_facts(record), stored_file_matches=matches,
                                     signature_intact=bool(check.facts.get("intact") and check.facts.get("signature_valid")))


def verify_upload(data: bytes | None, *, documents, seals) -> dict[str, Any]:
    """``POST /v1/public/documents/verification``: is this PDF sealed by us and unchanged since?
    ``data`` is the raw PDF. Answers ``valid``, ``reason`` (``domain.seals`` codes:
    ``NOT_PDF``, ``NOT_SIGNED``, ``MODIFIED_AFTER_SEALING``, ``SIGNATURE_BROKEN``,
    ``UNTRUSTED_SIGNER``, ``VALID``), ``signer``, ``signed_at``, ``changed_after_sealing``,
    ``coverage``/``modification_level`` (pyHanko), and ``issued_document`` (our record's public
    facts when the bytes' SHA-256 is a document we issued, else None). Trust is anchored at
    our root certificate only. Valid means sealed by us, intact AND byte-identical to a document
    we issued: a copy whose seal checks out but whose SHA-256 is none of ours had bytes changed
    that the signature does not cover, and is ``MODIFIED_AFTER_SEALING``. Raises ValidationFailed for an empty body (``BODY_REQUIRED``)
    or one over ``domain.seals.MAX_UPLOAD_BYTES`` (``TOO_LARGE``). Calls: two GetItems."""
    if not data:
        raise ValidationFailed("请上传需要核验的PDF文件", [FieldProblem("body", "BODY_REQUIRED", "请求体为空")])
    if len(data) > rules.MAX_UPLOAD_BYTES:
        raise ValidationFailed(rules.REASONS[rules.TOO_LARGE], [FieldProblem("body", rules.TOO_LARGE, "文件过大")])
    from ..adapters import pades
    root = seals.get(rules.ROOT)
    check = pades.check_pdf(data, root["certificate_pem"] if root else None)
    issued = documents.by_sha256(hashlib.sha256(data).hexdigest())
    facts = check.facts
    reason = check.reason
    if reason == rules.VALID and issued is None:
        # the seal checks out, but these are not the bytes we issued: something the signature
        # does not cover was changed (the certificates the seal carries, the padding of /Contents)
        reason = rules.MODIFIED
    changed = None if "intact" not in facts else reason in (rules.MODIFIED, rules.SIGNATURE_BROKEN)
    return rules.verification_answer(
        reason, signer=facts.get("signer"), signed_at=facts.get("signed_at"), changed_after_sealing=changed,
        coverage=facts.get("coverage"), modification_level=facts.get("modification_level"),
        issued_document=rules.public_document_facts(issued) if issued else None)


# --- downloads (people who may read the case) ----------------------------------------------------

def list_documents(principal: Principal, origin: Origin, case_no: str, *, cases, identity, documents, audit_log,
                   now: Clock = utcnow) -> dict[str, Any]:
    """``GET /v1/cases/{no}/documents``: the case's sealed documents (id, kind, title, round,
    sealed at, seal name, SHA-256, size) for whoever may read the case (the case read rule,
    ``intake.readable_case``); anyone else gets the 404 of a missing case. Audited."""
    from .intake import readable_case
    readable_case(principal, case_no, cases=cases, identity=identity, now=now)
    listed = documents.of_case(case_no)
    audit.record(audit_log, principal, origin, "document.list", audit.case_target(case_no), {"count": len(listed)})
    return {"case_no": case_no, "documents": [document_view(d) for d in listed]}


def document_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """The API shape of a sealed document for people who may read its case."""
    return {"document_id": record["document_id"], "kind": record["kind"], "title": TITLES[record["kind"]],
            "round": record["round"], "sealed_at": record["sealed_at"], "sealed_at_local": record["sealed_at_local"],
            "seal_name": record["seal"]["seal_name"], "sha256": record["sha256"], "size": record["size"],
            "verification_url": f"{settings.PUBLIC_BASE_URL.rstrip('/')}/v1/public/documents/"
                                f"{record['document_id']}/verification"}


def download_document(principal: Principal, origin: Origin, case_no: str, document_id: str, *, cases, identity,
                      documents, objects, audit_log, now: Clock = utcnow) -> dict[str, Any]:
    """``GET /v1/cases/{no}/documents/{id}``: a presigned GET of the sealed PDF (its recorded
    S3 version), valid ``settings.DOCUMENT_URL_SECONDS``, for whoever may read the case; a
    document of another case is NotFound (``DOCUMENT_NOT_FOUND``). Audited."""
    from .intake import readable_case
    readable_case(principal, case_no, cases=cases, identity=identity, now=now)
    record = documents.get(document_id) if rules.is_document_id(document_id) else None
    if record is None or record["case_no"] != case_no:
        raise NotFound("未找到该文书", code="DOCUMENT_NOT_FOUND")
    audit.record(audit_log, principal, origin, "document.download", audit.case_target(case_no),
                 {"document_id": document_id})
    url = objects.presigned_get(record["s3_key"], record.get("s3_version_id"),
                                expires_seconds=settings.DOCUMENT_URL_SECONDS, content_type="application/pdf",
                                filename=f"{TITLES[record['kind']]}-{case_no}.pdf")
    return {**document_view(record), "url": url, "expires_in": settings.DOCUMENT_URL_SECONDS}
