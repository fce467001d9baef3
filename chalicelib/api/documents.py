"""Documents blueprint: e-sealed case documents. Public verification (anyone, the QR code's
target and uploaded copies); the list and downloads for whoever may read the case."""
from __future__ import annotations

from chalice import Blueprint

from .. import container
from ..usecases import case_documents
from .security import PUBLIC, endpoint

bp = Blueprint(__name__)

#: What the verification upload accepts: a raw PDF (``app.api.binary_types`` has application/pdf,
#: so API Gateway hands the bytes through); anything else is still read as bytes and answered.
UPLOAD_TYPES = ["application/pdf", "application/octet-stream"]


@endpoint(bp, "/v1/public/documents/{document_id}/verification", access=PUBLIC, cors=True)
def verify_issued(document_id, caller):
    """Whether a document we issued is intact and sealed (seal name, time, kind; no personal data)."""
    return case_documents.verify_issued(document_id, documents=container.documents(), seals=container.seals(),
                                        objects=container.objects())


@endpoint(bp, "/v1/public/documents/verification", methods=["POST"], access=PUBLIC, cors=True,
          content_types=UPLOAD_TYPES)
def verify_upload(caller):
    """An uploaded PDF (raw body, at most 5.5 MB): sealed by us, unchanged since, one we issued?"""
    return case_documents.verify_upload(bp.current_request.raw_body, documents=container.documents(),
                                        seals=container.seals())


@endpoint(bp, "/v1/cases/{case_no}/documents")
def list_documents(case_no, caller):
    """The case's sealed documents, for whoever may read the case."""
    return case_documents.list_documents(caller.principal, caller.origin, case_no, cases=container.cases(),
                                         identity=container.identity(), documents=container.documents(),
                                         audit_log=container.audit_log())


@endpoint(bp, "/v1/cases/{case_no}/documents/{document_id}")
def download_document(case_no, document_id, caller):
    """A short-lived presigned link to the sealed PDF, for whoever may read the case."""
    return case_documents.download_document(caller.principal, caller.origin, case_no, document_id,
                                            cases=container.cases(), identity=container.identity(),
                                            documents=container.documents(), objects=container.objects(),
                                            audit_log=container.audit_log())
