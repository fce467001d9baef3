"""A4 PDF of a :class:`~chalicelib.domain.documents.DocumentContent` (fpdf2, embedded font).

CONTRACT (issue 6): ``render(content) -> bytes`` returns an unsigned PDF; the e-seal signs it
afterwards. Imported only where documents are made (fpdf2 costs import time, design.md).
Placeholder implementation, to be replaced by the real layout.
"""
from __future__ import annotations

from pathlib import Path

from ..domain.documents import DocumentContent

FONT = Path(__file__).resolve().parent.parent / "fonts" / "wqy-microhei.ttc"


def render(content: DocumentContent) -> bytes:
    """The document as PDF bytes (A4, Chinese text embedded as a font subset)."""
    from fpdf import FPDF
    pdf = FPDF(format="A4")
    pdf.add_font("wqy", fname=str(FONT), collection_font_number=0)
    pdf.add_page()
    pdf.set_font("wqy", size=14)
    pdf.cell(text=content.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("wqy", size=11)
    for label, value in content.rows:
        pdf.cell(text=f"{label}：{value}", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
