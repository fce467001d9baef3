"""What a case document says: the acceptance receipt (受理通知书), the one-time notice
(一次性告知书) and the conclusion decision (办结决定书), as plain content (pure; no PDF here).

CONTRACT (issue 6, shared by the document renderer and the document consumer; the content
builders below are placeholders to be replaced by the real wording):

* :class:`DocumentContent` is everything the renderer (``adapters/pdf.py``) prints.
* :func:`build` makes the content of one document of a case.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

#: Document kinds, their Chinese titles.
ACCEPTANCE_RECEIPT = "acceptance_receipt"
ONE_TIME_NOTICE = "one_time_notice"
DECISION = "decision"
TITLES = {ACCEPTANCE_RECEIPT: "受理通知书", ONE_TIME_NOTICE: "一次性告知书", DECISION: "办结决定书"}


@dataclasses.dataclass(frozen=True)
class DocumentContent:
    """One A4 document. ``rows`` are ``(label, value)`` pairs printed as a table;
    ``paragraphs`` follow the table; ``verify_url`` is encoded in the QR code; ``issuer`` is the
    township service center (the seal's owner); ``issued_on`` is an ISO date (Asia/Shanghai)."""
    kind: str
    title: str
    document_id: str
    issuer: str
    issued_on: str
    rows: tuple[tuple[str, str], ...]
    paragraphs: tuple[str, ...]
    verify_url: str


def build(kind: str, case: Mapping[str, Any], *, document_id: str, verify_url: str, issuer: str,
          issued_on: str, item_name: str, deadline: Mapping[str, Any] | None = None) -> DocumentContent:
    """The content of document ``kind`` for ``case`` (a stored case dict). Placeholder wording."""
    rows = [("办件编号", case["case_no"]), ("事项名称", item_name)]
    if deadline and deadline.get("due_date"):
        rows.append(("办结期限", deadline["due_date"]))
    return DocumentContent(kind=kind, title=TITLES[kind], document_id=document_id, issuer=issuer,
                           issued_on=issued_on, rows=tuple(rows), paragraphs=(), verify_url=verify_url)
