"""A4 PDF of a :class:`~chalicelib.domain.documents.DocumentContent` (fpdf2, embedded font).

CONTRACT (issue 6): ``render(content) -> bytes`` returns an unsigned, unencrypted PDF; the
e-seal signs it afterwards (pyHanko, incremental update). Import this module only where
documents are made: ``fpdf`` and ``qrcode`` are imported inside :func:`render` (fpdf2 costs
about half a second of import time, design.md).

Layout (millimetres, origin top left): title, subtitle, document number; a two-column table
of ``rows``; the paragraphs; an optional list table; the closing paragraphs and contact lines;
then, at a fixed place at the bottom of the LAST page (:data:`FOOTER_TOP`), the QR code of
``verify_url`` at the left with the URL and the seal note under it, and the issuer and date at
the right, under an empty square kept for the seal's visible appearance (:data:`SEAL_BOX`,
:func:`seal_box_points`).

Text: the font is WenQuanYi Micro Hei (``chalicelib/fonts``), embedded as a subset, so the
text extracts (pypdf) and renders without Chinese fonts installed. A character the font lacks
(emoji, CJK Extension B such as 𠀀) is printed as "□" (:data:`MISSING`): it never raises.

Deterministic: the creation date is ``issued_on`` at 00:00 Asia/Shanghai, so the same content
gives the same bytes (the file ID is a hash of the content and that date).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from ..domain.documents import DocumentContent, zh_date

if TYPE_CHECKING:  # pragma: no cover
    from fpdf import FPDF

FONT = Path(__file__).resolve().parent.parent / "fonts" / "wqy-microhei.ttc"
FAMILY = "wqy"
MISSING = "□"

PAGE_W, PAGE_H = 210.0, 297.0
MARGIN = 20.0
CONTENT_W = PAGE_W - 2 * MARGIN
#: Top of the footer block (QR code, issuer, date) on the last page, mm from the top.
FOOTER_TOP = 225.0
QR_SIZE = 30.0
#: Where the seal's visible appearance goes on the last page: (x, y, width, height) in mm from
#: the top left; the issuer and date are printed across its lower half, as a paper seal would be.
SEAL_BOX = (132.0, FOOTER_TOP, 42.0, 42.0)
_MM = 72 / 25.4
_SHANGHAI = ZoneInfo("Asia/Shanghai")
_LAYOUT_CHARS = "\u3000文书编号：（）—…" + MISSING + "".join(chr(c) for c in range(32, 127))


def seal_box_points() -> tuple[float, float, float, float]:
    """:data:`SEAL_BOX` in PDF user space (points, origin bottom left) as ``(x1, y1, x2, y2)``,
    for the signature field's rectangle on the last page (pyHanko ``SigFieldSpec.box``)."""
    x, y, w, h = SEAL_BOX
    return (round(x * _MM, 2), round((PAGE_H - y - h) * _MM, 2), round((x + w) * _MM, 2), round((PAGE_H - y) * _MM, 2))


def render(content: DocumentContent) -> bytes:
    """The document as PDF bytes (A4 portrait, Chinese text embedded as a font subset, not
    encrypted). Long values wrap (character wrapping, as Chinese text does); content longer
    than a page continues on the next page and the footer goes to the bottom of the last one.
    Raises ``ValueError`` for an ``issued_on`` that is not an ISO date."""
    from fpdf import FPDF
    from fpdf.enums import WrapMode
    from fpdf.fonts import FontFace

    issued = dt.date.fromisoformat(content.issued_on)
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_creation_date(dt.datetime.combine(issued, dt.time(0, 0), tzinfo=_SHANGHAI))
    pdf.set_title(f"{content.title} {content.document_id}")
    pdf.set_author(content.issuer)
    pdf.set_creator("Bianmin")
    pdf.set_producer("Bianmin (fpdf2)")
    pdf.set_lang("zh-CN")
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, margin=MARGIN)
    used = set(_LAYOUT_CHARS).union(*content.texts(), zh_date(issued))
    # only the characters used are mapped: fpdf2's per-character metrics loop shrinks
    pdf.add_font(FAMILY, fname=str(FONT), collection_font_number=0, unicode_range=sorted(ord(c) for c in used))
    covered = set(pdf.fonts[FAMILY].cmap)

    def t(text: str) -> str:
        return "".join(c if ord(c) in covered or c == "\n" else MISSING for c in text)

    pdf.add_page()
    # title block
    pdf.set_font(FAMILY, size=22)
    pdf.cell(CONTENT_W, 13, t(content.title), align="C", new_x="LMARGIN", new_y="NEXT")
    if content.subtitle:
        pdf.set_font(FAMILY, size=12)
        pdf.cell(CONTENT_W, 7, t(content.subtitle), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, size=10.5)
    pdf.multi_cell(CONTENT_W, 6, t(f"{content.number_label}：{content.document_id}"), align="R", wrapmode=WrapMode.CHAR,
                   new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    # the facts, as a two-column table
    pdf.set_font(FAMILY, size=11)
    label_style = FontFace(emphasis="", fill_color=(238, 238, 238))
    with pdf.table(col_widths=(34, CONTENT_W - 34), width=CONTENT_W, first_row_as_headings=False, line_height=6,
                   text_align=("CENTER", "LEFT"), wrapmode=WrapMode.CHAR, padding=(0.8, 2),
                   borders_layout="ALL") as table:
        for label, value in content.rows:
            row = table.row()
            row.cell(t(label), style=label_style)
            row.cell(t(value))
    pdf.ln(4)
    _paragraphs(pdf, content.paragraphs, t, WrapMode.CHAR)
    if content.list_rows:
        if content.list_title:
            pdf.set_font(FAMILY, size=11)
            pdf.cell(CONTENT_W, 7, t(content.list_title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FAMILY, size=10.5)
        widths = (12, 50, 24, CONTENT_W - 86) if len(content.list_headers) == 4 else None
        with pdf.table(col_widths=widths, width=CONTENT_W, line_height=6, wrapmode=WrapMode.CHAR,
                       headings_style=FontFace(emphasis="", fill_color=(230, 230, 230)), padding=(1, 1.5),
                       text_align="LEFT", repeat_headings=1) as table:
            if content.list_headers:
                head = table.row()
                for h in content.list_headers:
                    head.cell(t(h), align="CENTER")
            for cells in content.list_rows:
                row = table.row()
                for i, cell in enumerate(cells):
                    row.cell(t(cell), align="CENTER" if i == 0 else "LEFT")
        pdf.ln(3)
    _paragraphs(pdf, content.closing, t, WrapMode.CHAR)
    if content.contact:
        pdf.set_font(FAMILY, size=10)
        for line in content.contact:
            pdf.multi_cell(CONTENT_W, 5.5, t(line), wrapmode=WrapMode.CHAR, new_x="LMARGIN", new_y="NEXT")
    _footer(pdf, content, issued, t, WrapMode.CHAR)
    return bytes(pdf.output())


def _qr_image(url: str):
    """The QR code of ``url`` as a PIL image (error correction M, 8 px a module, 2-module border)."""
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=8, border=2)
    code.add_data(url)
    code.make(fit=True)
    return code.make_image(fill_color="black", back_color="white").get_image()


def qr_png(url: str) -> bytes:
    """The QR code of ``url`` as PNG bytes: the same code the PDF footer prints (deterministic)."""
    import io
    buffer = io.BytesIO()
    _qr_image(url).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _paragraphs(pdf: "FPDF", paragraphs, t, char_wrap) -> None:
    pdf.set_font(FAMILY, size=12)
    for text in paragraphs:
        salutation = text.endswith("：") and len(text) <= 40
        body = t(text) if salutation else "\u3000\u3000" + t(text).replace("\n", "\n\u3000\u3000")
        pdf.multi_cell(CONTENT_W, 7.2, body, wrapmode=char_wrap, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)


def _footer(pdf: "FPDF", content: DocumentContent, issued: dt.date, t, char_wrap) -> None:
    """QR code, verify URL and seal note at the left; issuer and date at the right, at a fixed
    place at the bottom of the last page (a new page when the body reaches into it)."""
    if pdf.get_y() > FOOTER_TOP - 3:
        pdf.add_page()
    pdf.set_auto_page_break(False)
    image = _qr_image(content.verify_url)
    pdf.image(image, x=MARGIN, y=FOOTER_TOP, w=QR_SIZE, h=QR_SIZE)
    pdf.set_xy(MARGIN, FOOTER_TOP + QR_SIZE + 1)
    pdf.set_font(FAMILY, size=8)
    left_w = 95.0
    pdf.multi_cell(left_w, 3.5, t(content.verify_url), wrapmode=char_wrap, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, size=9)
    pdf.multi_cell(left_w, 5, t(content.seal_note), wrapmode=char_wrap, new_x="LMARGIN", new_y="NEXT")
    # issuer and date across the lower half of the seal box, right-aligned to the margin
    x, y, w, h = SEAL_BOX
    right_x = x - 8
    right_w = PAGE_W - MARGIN - right_x
    pdf.set_font(FAMILY, size=11)
    pdf.set_xy(right_x, y + h / 2 - 6)
    pdf.multi_cell(right_w, 7, t(content.issuer), align="R", wrapmode=char_wrap, new_x="LEFT", new_y="NEXT")
    pdf.set_x(right_x)
    pdf.cell(right_w, 7, t(zh_date(issued)), align="R")
