"""Does an uploaded file actually open? (the upload consumer, ``usecases/materials.py``)

- JPEG and PNG: Pillow (a runtime dependency through fpdf2; about 40 ms to import) parses the
  header and verifies the image data (``Image.verify``); a decompression bomb (more pixels than
  Pillow's limit) counts as unreadable.
- PDF: pyHanko's ``PdfFileReader`` (a runtime dependency for the e-seal; about 250 ms to import,
  so imported here only, in the upload consumer, never on an API path) reads the cross-reference
  table or stream and the document catalog and counts the pages. pypdf is a test-only
  dependency and is not used.

Both take bytes already bounded by the slot's size limit.
"""
from __future__ import annotations

import io

from ..domain.materials import JPEG, PDF, PNG


def opens(data: bytes, content_type: str) -> bool:
    """True when ``data`` (already recognised as ``content_type`` by its magic bytes) can be
    opened: a PDF with a readable catalog and at least one page, an image Pillow verifies."""
    try:
        if content_type == PDF:
            return _pdf_opens(data)
        if content_type in (JPEG, PNG):
            return _image_opens(data)
    except Exception:  # any parser failure means the applicant must send a better file
        return False
    return False


def _pdf_opens(data: bytes) -> bool:
    from pyhanko.pdf_utils.reader import PdfFileReader
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    pages = reader.root["/Pages"]
    return int(pages["/Count"]) >= 1


def _image_opens(data: bytes) -> bool:
    from PIL import Image
    with Image.open(io.BytesIO(data)) as image:
        image.verify()
        width, height = image.size
    return width > 0 and height > 0
