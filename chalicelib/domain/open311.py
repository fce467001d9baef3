"""Our catalog in Open311 GeoReport v2 terms (issue 7), so civic-tech clients can read it:
the service list (``services.json``) and one service's definition (``services/<code>.json``).
Shapes: ``schemas/open311/`` (written from the spec at wiki.open311.org/GeoReport_v2).

Mapping (docs/publicity.md):

* ``service_code`` = item code; ``service_name`` = item name; ``group`` = the category's zh-CN
  label; ``keywords`` = the item's keywords joined with ", "; ``description`` = category,
  department and promised time limit in one sentence.
* ``type`` = ``batch``: a township case is not answered in real time. (We do not accept
  ``POST /requests`` yet: a case needs a real-name applicant, ``POST /v1/cases``.)
* ``metadata`` = true when the item lists required materials; the definition gives each
  material as an attribute with ``variable: false`` ("only used to present information", in
  the spec's words): materials are documents brought to the window, not form input, so no
  attribute is ``required`` for a request. Whether the window needs the material is in its
  description (必交 / 视情提交), in the notice's own words (``publicity.publicity_lines``).
* ``jurisdiction_id`` = a township code (optional; unknown: 404).
"""
from __future__ import annotations

from typing import Any, Iterable

from .catalog import CATEGORY_LABELS, ServiceItem
from .publicity import publicity_lines
from .search import SearchEntry


def service(entry: SearchEntry) -> dict[str, Any]:
    """One service of the service list."""
    summary = entry.summary
    parts = [summary.get("category_label") or CATEGORY_LABELS.get(entry.category, entry.category)]
    if summary.get("department"):
        parts.append(f"实施部门：{summary['department']}")
    if summary.get("promised_time_limit"):
        parts.append(f"承诺时限：{summary['promised_time_limit']['text']}")
    return {"service_code": entry.code, "service_name": summary["name"], "description": "；".join(parts) + "。",
            "metadata": entry.has_materials, "type": "batch",
            "keywords": ", ".join(entry.keywords_as_written) or None,
            "group": summary.get("category_label") or entry.category}


def services(entries: Iterable[SearchEntry]) -> list[dict[str, Any]]:
    """The service list, by code."""
    return [service(e) for e in sorted(entries, key=lambda e: e.code)]


def service_definition(item: ServiceItem) -> dict[str, Any]:
    """The definition of ``item``: its required materials as informational attributes."""
    materials = item.publicities.get("materials") or []
    lines = publicity_lines("materials", materials) if materials else []
    return {"service_code": item.code, "attributes": [
        {"variable": False, "code": f"MATERIAL_{n}", "datatype": "string", "required": False,
         "datatype_description": None, "order": n, "description": f"申报材料：{line}"}
        for n, line in enumerate(lines, 1)]}

