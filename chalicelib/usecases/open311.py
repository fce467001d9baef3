"""Open311 GeoReport v2 reads (issue 7): the service list from the search index (no AWS call
while it is fresh) and a service definition (one GetItem, two with a jurisdiction)."""
from __future__ import annotations

from typing import Any, Callable, Iterable

from ..domain import open311 as rules
from ..domain.errors import DomainError, FieldProblem, NotFound


def _jurisdiction(repo, jurisdiction_id: str | None) -> None:
    if jurisdiction_id and (not jurisdiction_id.isdigit() or len(jurisdiction_id) != 9
                            or repo.get_township(jurisdiction_id) is None):
        raise NotFound("未找到该乡镇", [FieldProblem("jurisdiction_id", "UNKNOWN_TOWNSHIP",
                                                      f"jurisdiction_id {jurisdiction_id[:20]} not found")])


def services(repo, index: Callable[[], Iterable[Any]], jurisdiction_id: str | None) -> list[dict[str, Any]]:
    """GET Service List: every item (every township offers every item today)."""
    _jurisdiction(repo, jurisdiction_id)
    return rules.services(index())


def service_definition(repo, path_code: str, jurisdiction_id: str | None) -> dict[str, Any]:
    """GET Service Definition of ``<code>.json``; NotFound for another format or an unknown code."""
    code, dot, fmt = path_code.rpartition(".")
    if not dot or fmt != "json":
        raise NotFound("仅支持 JSON 格式", [FieldProblem("service_code", "FORMAT_NOT_SUPPORTED",
                                                        "format not supported: use <service_code>.json")])
    _jurisdiction(repo, jurisdiction_id)
    found = repo.get_item(code)
    item = found["item"] if found else None
    if item is None:
        raise NotFound("未找到该服务事项", [FieldProblem("service_code", "UNKNOWN_ITEM", f"service_code {code[:80]} not found")])
    return rules.service_definition(item)


def error_body(status: int, error: DomainError) -> list[dict[str, Any]]:
    """Our domain error as an Open311 error list (the field's message, in English where the
    spec's clients expect it, else the zh-CN message)."""
    details = [d.message for d in error.details] if error.details else [error.message]
    return [{"code": status, "description": d} for d in details]
