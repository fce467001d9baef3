"""Does an uploaded file actually open? (the upload consumer, ``usecases/materials.py``)

- JPEG and PNG: Pillow (a runtime dependency through fpdf2; about 40 ms to import) parses the
  header, refuses an image of more than ``settings.MATERIAL_MAX_PIXELS`` pixels (a decompression
  bomb: a few KB on the wire, hundreds of MB once a browser or thumbnailer opens it; Pillow's
  own ``DecompressionBombWarning`` is an error here too), verifies the chunks
  (``Image.verify``: PNG CRCs) and then **decodes** the pixels on a fresh ``Image.open``
  (``load``): garbage or truncated image data is a decoder error, ``verify`` alone never
  decompresses anything (and does nothing for JPEG). A JPEG is decoded at 1/8 scale (libjpeg
  still reads every byte of the scan), so memory stays far below the pixel limit x 4 bytes.
- PDF: pyHanko's ``PdfFileReader`` (a runtime dependency for the e-seal; about 250 ms to import,
  so imported here only, in the upload consumer, never on an API path) reads the cross-reference
  table or stream and the document catalog and counts the pages. A PDF with ``/Encrypt`` that
  does not open with the empty user password (an open password) is refused as
  ``FILE_ENCRYPTED``: nobody at the window could read it. pypdf is a test-only dependency and
  is not used.

Both take bytes already bounded by the slot's size limit.
"""
from __future__ import annotations

import io
import warnings

from .. import settings
from ..domain.materials import JPEG, PDF, PNG, rejection


def opens(data: bytes, content_type: str) -> bool:
    """True when ``data`` (already recognised as ``content_type`` by its magic bytes) can be
    opened: a PDF with a readable catalog and at least one page, an image within the pixel
    limit whose pixels decode. False for anything unreadable (``FILE_UNREADABLE``); raises
    ``domain.materials.UploadRefused`` ``FILE_ENCRYPTED`` for a PDF that needs a password."""
    if content_type == PDF:
        if _pdf_needs_password(data):
            raise rejection("FILE_ENCRYPTED")
    try:
        if content_type == PDF:
            return _pdf_opens(data)
        if content_type in (JPEG, PNG):
            return _image_opens(data)
    except Exception:  # any parser failure means the applicant must send a better file
        return False
    return False


def _reader(data: bytes):
    from pyhanko.pdf_utils.reader import PdfFileReader
    return PdfFileReader(io.BytesIO(data), strict=False)


def _pdf_needs_password(data: bytes) -> bool:
    """True for a PDF whose trailer has ``/Encrypt`` and that the empty user password does not
    open (a PDF that cannot be parsed at all is left to :func:`_pdf_opens`)."""
    try:
        reader = _reader(data)
        encrypted = reader.encrypted
    except Exception:
        return False
    if not encrypted:
        return False
    from pyhanko.pdf_utils.crypt import AuthStatus
    try:
        return reader.decrypt("").status == AuthStatus.FAILED
    except Exception:  # a security handler we cannot even try (certificate-based, unknown filter)
        return True


def _pdf_opens(data: bytes) -> bool:
    reader = _reader(data)
    if reader.encrypted:  # opens with the empty user password (checked above): read it decrypted
        reader.decrypt("")
    pages = reader.root["/Pages"]
    return int(pages["/Count"]) >= 1


def _image_opens(data: bytes) -> bool:
    from PIL import Image
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width <= 0 or height <= 0 or width * height > settings.MATERIAL_MAX_PIXELS:
                return False
            image.verify()
        with Image.open(io.BytesIO(data)) as image:  # verify() leaves the image unusable: reopen
            if image.format == "JPEG":
                image.draft(image.mode, (max(width // 8, 1), max(height // 8, 1)))
            image.load()
    return True
