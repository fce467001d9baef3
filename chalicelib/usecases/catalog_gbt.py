"""The catalog in GB/T 39046-2020 service-item fields, as JSON for the provincial platform.

Field names are English renderings of the standard's data elements (docs/catalog-import.md has
the table: field, standard element, our source field); codes are the standard's appendix A code
sets (item type, exercising level, service object, handling form, case type), each with its
zh-CN name beside it. Per-township elements (location, office hours, consultation and supervision
phones, handling staff) are not item fields here: they come from township settings. The shape
is ``schemas/catalog_gbt39046.json``; :func:`gbt39046_document` validates its own output.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

from .. import validation as schemas
from ..domain.calendar import WORKING_DAYS
from .catalog_files import HANDLING_FORM_LABELS, ITEM_TYPE_LABELS, LEVEL_LABELS

STANDARD = "GB/T 39046-2020"
UNIT_NAMES = {"working_days": "工作日", "calendar_days": "自然日"}
#: GB/T 39046 case type (办件类型): 1 immediate (即办件), 2 promised (承诺件), 9 other.
CASE_TYPE_NAMES = {"1": "即办件", "2": "承诺件"}
_CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")


def _credit_code(implementation_code: str | None) -> str | None:
    """The implementing body's unified social credit code, the fourth part of an implementation
    code (``basic-division-000-credit-...``, domain.md section 3), when it has that shape."""
    parts = (implementation_code or "").split("-")
    for part in parts[1:]:
        if _CREDIT_CODE.match(part):
            return part
    return None


def _limit(limit: dict[str, Any] | None) -> dict[str, Any] | None:
    if not limit:
        return None
    return {"value": limit["value"], "unit": limit["unit"], "unit_name": UNIT_NAMES[limit["unit"]]}


def gbt39046_item(record: dict[str, Any]) -> dict[str, Any]:
    """One catalog record (``schemas/catalog_item.json``) as a GB/T 39046 service item.
    Publicity fields are null for items imported with names and codes only."""
    pub = record.get("publicities") or {}
    limits = pub.get("time_limit") or {}
    promised = limits.get("promised")
    case_type = None
    if promised:
        case_type = "1" if promised["value"] == 0 and promised["unit"] == WORKING_DAYS else "2"
    fees = pub.get("fees") or {}
    return {
        "item_code": record["code"],
        "item_name": record["name"],
        "basic_code": record.get("basic_code") or None,
        "implementation_code": record.get("implementation_code") or None,
        "item_type_code": record["item_type"],
        "item_type_name": ITEM_TYPE_LABELS[record["item_type"]],
        "exercising_level_code": record["exercising_level"],
        "exercising_level_name": LEVEL_LABELS[record["exercising_level"]],
        "implementing_body": record["department"],
        "implementing_body_credit_code": _credit_code(record.get("implementation_code")),
        "legal_basis": pub.get("legal_basis"),
        "acceptance_conditions": pub.get("conditions"),
        "procedure": [{"step_name": s["step"], "level": s["level"], "description": s.get("description"),
                       "time_limit": _limit(s.get("time_limit"))} for s in pub["procedure"]]
        if pub.get("procedure") else None,
        "legal_time_limit": _limit(limits.get("legal")),
        "promised_time_limit": _limit(promised),
        "case_type_code": case_type,
        "case_type_name": CASE_TYPE_NAMES.get(case_type or ""),
        "co_implementing_departments": record.get("co_departments", []),
        "charged": fees.get("charged"),
        "fee_standard": fees.get("standard"),
        "fee_basis": fees.get("basis"),
        "service_object_codes": record.get("service_object", []),
        "handling_form_codes": record.get("handling_forms", []),
        "handling_form_names": [HANDLING_FORM_LABELS[c] for c in record.get("handling_forms", [])],
        "special_procedures": record.get("special_procedures", []),
        "appointment_supported": record.get("appointment_supported"),
        "online_supported": record.get("online_supported"),
        "materials": [{"material_name": m["name"], "issuing_body": m.get("issuing_body"),
                       "originals_count": m.get("originals"), "copies_count": m.get("copies"),
                       "required": m["required"], "note": m.get("note")} for m in pub["materials"]]
        if "materials" in pub else None,
        "publicities_complete": bool(record.get("publicities_complete")),
    }


def gbt39046_document(records: list[dict[str, Any]], now: dt.datetime | None = None) -> dict[str, Any]:
    """Every record as a GB/T 39046 document ``{standard, generated_at, item_count, items}``
    (``generated_at`` UTC ISO-8601). Validated against ``schemas/catalog_gbt39046.json`` before it
    is returned; raises ValidationFailed if our mapping ever produced something else."""
    now = now or dt.datetime.now(dt.timezone.utc)
    document = {"standard": STANDARD, "generated_at": now.isoformat(timespec="seconds"),
                "item_count": len(records), "items": [gbt39046_item(r) for r in records]}
    schemas.validate("catalog_gbt39046", document)
    return document
