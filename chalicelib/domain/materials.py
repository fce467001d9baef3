"""Application materials (申报材料, issue 6 items 1-3 and 7): the checklist of a case, upload
slots, what an uploaded file must be, and the trust levels of a material.

Pure rules: no boto3, no chalice, no file parsing libraries (opening a PDF or an image is an
adapter's job, ``adapters/file_inspect.py``).

* **Checklist.** A case's checklist is its item's ``publicities.materials`` list (the catalog,
  ``schemas/catalog_item.json``). The catalog gives materials no code, so each entry gets a
  stable **material code** ``m`` + the first 8 hex digits of the SHA-256 of its name (NFC):
  it survives reordering and edits of other entries; renaming an entry makes a new material.
  Two entries with the same name (not in the seed) get ``-2``, ``-3``... in list order. A path
  may also name a material by its 1-based position in the list (``1``, ``2``...), resolved to
  its code against the item as it is now.
* **Trust levels** (domain.md section 6, GB/T 39046): ``A`` issued and sealed by the issuer,
  ``B`` checked against the original at the window, ``C`` uploaded by the applicant (original to
  be checked), ``D`` self-declared. An upload is C; a window clerk of the case's township who
  checks the original raises it to B.
* **Files.** PDF, JPEG or PNG, recognised by their first bytes (magic numbers), not by the
  name or the declared Content-Type; 1 byte to ``max_bytes`` (10 MB default).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from urllib.parse import unquote_plus

from .errors import Conflict, DomainError, FieldProblem, NotFound

TRUST_A, TRUST_B, TRUST_C, TRUST_D = "A", "B", "C", "D"
TRUST_LABELS = {TRUST_A: "签发机关签章", TRUST_B: "窗口已核验原件", TRUST_C: "申请人上传（原件待核验）",
                TRUST_D: "申请人自行声明"}

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
#: content type -> (magic bytes, zh-CN name)
_MAGIC = {PDF: (b"%PDF-", "PDF"), JPEG: (b"\xff\xd8\xff", "JPG"), PNG: (b"\x89PNG\r\n\x1a\n", "PNG")}
DEFAULT_TYPES = (PDF, JPEG, PNG)

#: material statuses in the checklist
MISSING, UPLOADED, CHECKED, REJECTED = "missing", "uploaded", "checked", "rejected"
STATUS_LABELS = {MISSING: "未上传", UPLOADED: "已上传（待核验原件）", CHECKED: "已核验原件", REJECTED: "上传未通过"}

#: slot states
SLOT_OPEN, SLOT_USED, SLOT_REJECTED = "open", "used", "rejected"

#: Why an upload was refused: stable code -> zh-CN message the applicant sees.
REJECTIONS = {
    "FILE_TYPE_NOT_ALLOWED": "文件类型不符：仅接受PDF、JPG、PNG",
    "FILE_TOO_LARGE": "文件过大：单个文件不能超过{limit}",
    "FILE_EMPTY": "文件为空，请重新选择文件上传",
    "FILE_UNREADABLE": "文件已损坏或无法打开，请重新扫描或拍照后上传",
    "FILE_ENCRYPTED": "文件已加密，请上传未加密的PDF",
    "SLOT_EXPIRED": "上传链接已过期，请重新获取上传链接后上传",
    "CASE_CLOSED": "办件已办结或已终止，不能再上传材料",
    "CONSENT_REVOKED": "代办授权已撤销或已失效，代办员不能再为该办件上传材料",
}

_KEY = re.compile(r"^materials/(?P<case_no>[0-9]{17}-[0-9]{9}-[0-9A-Z]{4})/(?P<code>m[0-9a-f]{8}(?:-[0-9]{1,2})?)/"
                  r"(?P<slot_id>[0-9a-f]{16})$")
_CODE = re.compile(r"^m[0-9a-f]{8}(?:-[0-9]{1,2})?$")
_INDEX = re.compile(r"^[0-9]{1,3}$")


class UploadRefused(DomainError):
    """An uploaded file that cannot become a material (recorded on its slot, never retried).
    ``code`` is one of :data:`REJECTIONS`."""

    code = "UPLOAD_REFUSED"


def rejection(code: str, *, max_bytes: int = 0) -> UploadRefused:
    """The :class:`UploadRefused` for a stable ``code`` of :data:`REJECTIONS`."""
    return UploadRefused(REJECTIONS[code].format(limit=size_text(max_bytes)), code=code)


def size_text(n: int) -> str:
    """``10485760`` -> ``10MB`` (binary megabytes, as phones show them)."""
    return f"{n / (1024 * 1024):g}MB" if n >= 1024 * 1024 else f"{max(n // 1024, 1)}KB"


@dataclass(frozen=True)
class MaterialSpec:
    """One checklist entry: ``code`` (stable, see module doc), 1-based ``index``, ``name``,
    ``required``, the accepted ``content_types`` and ``max_bytes`` (bytes)."""

    code: str
    index: int
    name: str
    required: bool
    content_types: tuple[str, ...]
    max_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "index": self.index, "name": self.name, "required": self.required,
                "content_types": list(self.content_types), "max_bytes": self.max_bytes}


def material_code(name: str) -> str:
    """The stable code of a checklist entry named ``name``: ``m`` + 8 hex digits."""
    return "m" + hashlib.sha256(unicodedata.normalize("NFC", name.strip()).encode()).hexdigest()[:8]


def checklist(materials: Iterable[Mapping[str, Any]] | None, *, max_bytes: int,
              content_types: tuple[str, ...] = DEFAULT_TYPES) -> list[MaterialSpec]:
    """The checklist of an item from its ``publicities.materials`` entries (``name``,
    ``required``); every entry takes ``max_bytes`` and ``content_types`` (the catalog has no
    per-material file rules)."""
    out: list[MaterialSpec] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(materials or (), start=1):
        code = material_code(entry["name"])
        seen[code] = seen.get(code, 0) + 1
        if seen[code] > 1:
            code = f"{code}-{seen[code]}"
        out.append(MaterialSpec(code, i, entry["name"], bool(entry.get("required")), tuple(content_types), max_bytes))
    return out


def find(specs: list[MaterialSpec], code_or_index: str) -> MaterialSpec:
    """The entry named by its code or 1-based position. Raises NotFound
    (``MATERIAL_NOT_ON_CHECKLIST``) when the case's checklist has no such entry."""
    text = (code_or_index or "").strip()
    for spec in specs:
        if (_CODE.fullmatch(text) and spec.code == text) or (_INDEX.fullmatch(text) and spec.index == int(text)):
            return spec
    raise NotFound("该材料不在本事项的申报材料清单中", code="MATERIAL_NOT_ON_CHECKLIST",
                   details=[FieldProblem("code", "MATERIAL_NOT_ON_CHECKLIST", "材料编码或序号不在清单中")])


def object_key(case_no: str, code: str, slot_id: str) -> str:
    """The one S3 key a slot may write: ``materials/<case_no>/<code>/<slot_id>``."""
    return f"materials/{case_no}/{code}/{slot_id}"


def parse_key(raw_key: str) -> dict[str, str] | None:
    """``{case_no, code, slot_id}`` of a key as S3 event notifications carry it (URL-encoded,
    spaces as ``+``: unquoted here), or None for a key that no slot could have made."""
    found = _KEY.fullmatch(unquote_plus(raw_key or ""))
    return found.groupdict() if found else None


def sniff(head: bytes) -> str | None:
    """The content type the first bytes of a file announce (PDF ``%PDF-``, JPEG ``FF D8 FF``,
    PNG ``89 50 4E 47 0D 0A 1A 0A``), or None."""
    for content_type, (magic, _) in _MAGIC.items():
        if head.startswith(magic):
            return content_type
    return None


def event_time(raw: Any, fallback: dt.datetime) -> tuple[dt.datetime, bool]:
    """``(when, parsed)``: the time of an S3 event record's ``eventTime`` (ISO 8601; S3 writes
    ``2026-01-01T00:00:00.000Z``). A time without an offset is UTC (S3's times are); a missing
    or unparsable one is ``fallback`` (the consumer's now: later than the real creation time,
    so the expiry check can only get stricter) with ``parsed`` False, for the caller to log."""
    if not raw:
        return fallback, True
    try:
        when = dt.datetime.fromisoformat(str(raw))
    except ValueError:
        return fallback, False
    return (when.replace(tzinfo=dt.timezone.utc) if when.tzinfo is None else when), True


def check_arrival(slot: Mapping[str, Any], *, size: int, event_time: dt.datetime, case_status_final: bool) -> None:
    """What can be decided from the S3 event before reading the bytes (moto enforces neither the
    POST policy's expiry nor its size range, design.md; S3 does, this is the second lock).
    Raises :func:`rejection` ``SLOT_EXPIRED`` (the object was created after the slot's
    ``expires_at``), ``CASE_CLOSED``, ``FILE_EMPTY`` or ``FILE_TOO_LARGE``."""
    if event_time > dt.datetime.fromisoformat(slot["valid_until"]):
        raise rejection("SLOT_EXPIRED")
    if case_status_final:
        raise rejection("CASE_CLOSED")
    if size <= 0:
        raise rejection("FILE_EMPTY")
    if size > int(slot["max_bytes"]):
        raise rejection("FILE_TOO_LARGE", max_bytes=int(slot["max_bytes"]))


def check_content(data: bytes, allowed: Iterable[str], max_bytes: int) -> str:
    """The real content type of ``data`` (by magic bytes) when it is allowed and within
    ``max_bytes``; raises :func:`rejection` ``FILE_EMPTY``, ``FILE_TOO_LARGE`` or
    ``FILE_TYPE_NOT_ALLOWED`` (e.g. a Windows program, ``MZ``..., named ``.pdf``)."""
    if not data:
        raise rejection("FILE_EMPTY")
    if len(data) > max_bytes:
        raise rejection("FILE_TOO_LARGE", max_bytes=max_bytes)
    real = sniff(data[:16])
    if real is None or real not in set(allowed):
        raise rejection("FILE_TYPE_NOT_ALLOWED")
    return real


def status_of(head: Mapping[str, Any] | None) -> str:
    """The checklist status of a material from its head record (None: never uploaded):
    missing, uploaded (C), checked (B), or rejected (the last upload failed and no version
    was ever accepted)."""
    if not head:
        return MISSING
    if int(head.get("current_version") or 0) > 0:
        return CHECKED if head.get("trust_level") in (TRUST_A, TRUST_B) else UPLOADED
    return REJECTED if head.get("last_rejection") else MISSING


def require_verifiable(head: Mapping[str, Any] | None, version: int | None) -> int:
    """The version a clerk's check applies to (``version`` or the current one). Raises
    NotFound ``MATERIAL_NOT_UPLOADED`` when there is none and Conflict
    ``MATERIAL_VERSION_NOT_CURRENT`` for a replaced version (only the current one is checked)."""
    current = int((head or {}).get("current_version") or 0)
    if current == 0:
        raise NotFound("该材料尚未上传，无法核验", code="MATERIAL_NOT_UPLOADED")
    if version is not None and version != current:
        raise Conflict("只能核验该材料的当前版本", code="MATERIAL_VERSION_NOT_CURRENT", current_version=current)
    return current
