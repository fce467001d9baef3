"""People on a case: applicant (申请人) and agent (代办人). Resident ID validation and masking.

GB 11643-1999: an 18-character citizen ID number whose last character is an ISO 7064 MOD 11-2
check digit (0-9 or X). Masking follows PIPL data-minimisation practice: list views and logs
never show a full name, ID number or phone number.
"""
from __future__ import annotations

import re

_ID_RE = re.compile(r"^\d{17}[\dX]$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_number_valid(id_number: str) -> bool:
    """True when ``id_number`` is 18 characters with a correct GB 11643 check digit.

    A lowercase ``x`` is accepted by callers after ``.upper()``; this function is strict.
    """
    if not _ID_RE.fullmatch(id_number or ""):
        return False
    total = sum(int(ch) * w for ch, w in zip(id_number[:17], _WEIGHTS))
    return _CHECK[total % 11] == id_number[17]


def mask_name(name: str) -> str:
    """``张三`` -> ``张*``; ``欧阳娜娜`` -> ``欧***``."""
    if not name:
        return name
    return name[0] + "*" * max(1, len(name) - 1)


def mask_id_number(id_number: str) -> str:
    """``430124199001011234`` -> ``430***********1234`` (first 3 and last 4 kept)."""
    if not id_number or len(id_number) < 8:
        return "*" * len(id_number or "")
    return id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:]


def mask_phone(phone: str) -> str:
    """``13812345678`` -> ``138****5678``."""
    if not phone or len(phone) < 7:
        return "*" * len(phone or "")
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def masked_person(person: dict | None) -> dict | None:
    """A copy of an applicant/agent dict with name, ID number and phone masked."""
    if not person:
        return person
    out = dict(person)
    if "name" in out:
        out["name"] = mask_name(out["name"])
    if "id_number" in out:
        out["id_number"] = mask_id_number(out["id_number"])
    if "phone" in out:
        out["phone"] = mask_phone(out["phone"])
    return out


_ID_IN_TEXT = re.compile(r"(?<!\d)(\d{3})\d{11}(\d{3}[\dXx])(?!\d)")
_PHONE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
# the same numbers typed with separators: 431224-19600303-5672, +86 139-1234-5678, 139 1234 5678
_SPACED_ID = re.compile(r"(?<![\d-])(\d{3})\d{3}[- ]\d{8}[- ]?\d{3}[\dXx](?![\d-])|"
                        r"(?<![\d-])(\d{3})\d{3}[- ]?\d{8}[- ]\d{3}[\dXx](?![\d-])")
_SPACED_PHONE = re.compile(r"(?:\+?86[- ]?)?(?<!\d)(1[3-9]\d)[- ]\d{4}[- ]?(\d{4})(?!\d)|"
                           r"(?:\+?86[- ]?)?(?<!\d)(1[3-9]\d)[- ]?\d{4}[- ](\d{4})(?!\d)|"
                           r"\+?86[- ]?(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def mask_text(text: str) -> str:
    """Mask every resident ID number and mobile number found inside free text (log lines,
    notes): plain, and as people type them (``+86``, dashes or spaces between the groups)."""
    text = _ID_IN_TEXT.sub(lambda m: m.group(1) + "*" * 11 + m.group(2), text)
    text = _PHONE_IN_TEXT.sub(lambda m: m.group(1) + "****" + m.group(2), text)
    text = _SPACED_ID.sub(lambda m: (m.group(1) or m.group(2)) + "*" * 15, text)
    return _SPACED_PHONE.sub(lambda m: next(g for g in m.groups() if g) + "****" + [g for g in m.groups() if g][1],
                             text)


def id_key(pepper: bytes, id_number: str) -> str:
    """The keyed hash that stands for a resident ID number wherever a link is needed (account
    binding, a villager's cases, consents): HMAC-SHA256 under a secret pepper, 40 hex
    characters. Without the pepper it cannot be reversed by trying all ~10^10 plausible IDs."""
    import hashlib
    import hmac
    return hmac.new(pepper, id_number.upper().encode(), hashlib.sha256).hexdigest()[:40]


def mask_deep(value):
    """``value`` with :func:`mask_text` applied to every string in it (dicts and lists are
    copied, keys kept): free text people typed into a structure (a history entry's opinion, a
    notice's details, a withdrawal reason) shown without the ID or phone numbers in it."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_deep(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_deep(v) for v in value]
    return value
