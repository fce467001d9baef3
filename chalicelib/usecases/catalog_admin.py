"""Catalog administration (issue 7): versioned service items (create, update, retire), their
versions as public reads, and versioned per-township settings (``docs/catalog.md``).

Every change writes version n+1 in one transaction with the head conditioned on version n
(``If-Match``: 412 ``VERSION_MISMATCH`` when stale), its immutable version row, its audit record
and a change marker; after the commit its publicity messages go out
(``usecases.catalog_changes``). Content equal to the current version is no change: no version,
no message. Problems of content answer 422 with every field at fault.
"""
from __future__ import annotations

from typing import Any

from .. import validation as schemas
from ..domain.access import ADMINISTRATOR, Origin, Principal
from ..domain.cases import utc_iso
from ..domain.catalog import ServiceItem, Township, content_hash, item_problems, township_problems
from ..domain.errors import (Conflict, FieldProblem, NotFound, PreconditionFailed, UnprocessableContent,
                             ValidationFailed, invalid_cursor)
from . import audit
from .catalog_changes import marker, publish_change
from .ports import Clock, StaleCatalog, utcnow

#: Offer rows one settings version may add or remove (100 TransactWriteItems less head, version,
#: marker and audit record).
MAX_OFFER_CHANGES = 96
MAX_VERSIONS_PAGE = 100


def _if_match(if_match: str | None, required: bool) -> int | None:
    """The version ``If-Match`` names (``3``, ``"3"``, ``W/"3"``), None when absent and not
    ``required``. Raises ValidationFailed (400) when malformed or required and absent."""
    if if_match is None:
        if required:
            raise ValidationFailed("请在 If-Match 请求头中给出当前版本号", [FieldProblem(
                "If-Match", "IF_MATCH_REQUIRED", "修改须带上所见的版本号，以免覆盖他人的修改")])
        return None
    text = if_match.strip().removeprefix("W/").strip().strip('"')
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise ValidationFailed(details=[FieldProblem("If-Match", "FIELD_FORMAT", "If-Match 应为版本号")])
    return int(text)


def _stale(current: int) -> PreconditionFailed:
    return PreconditionFailed("内容已被他人更新，请刷新后重试", code="VERSION_MISMATCH", version=current)


def _checked_item(body: Any) -> dict[str, Any]:
    """``body`` as an item record: schema (``catalog_item``) and :func:`item_problems`, all
    problems at once (422 ``ITEM_INVALID``); ``publicities_complete`` computed, not trusted."""
    problems = schemas.problems_of("catalog_item", body)
    if not problems:
        problems = item_problems(body)
    if problems:
        raise UnprocessableContent("事项内容不符合要求，请按提示修改", problems, code="ITEM_INVALID")
    record = dict(body)
    record["publicities_complete"] = ServiceItem(record).publicities_complete
    return record


def _item_view(item: ServiceItem, meta: dict[str, Any]) -> dict[str, Any]:
    return {**item.summary(), "version": meta["version"], "retired": item.retired, "retired_at": item.retired_at,
            "changed_at": meta["changed_at"], "change": meta["change"], "record": item.record}


def _write_item(principal: Principal, origin: Origin, record: dict[str, Any], *, expected: int, change: str,
                retired_at: str | None, catalog, publisher, now: Clock) -> dict[str, Any]:
    """Write version ``expected + 1`` (see the module docstring) and send its messages."""
    moment = now()
    version = expected + 1
    digest = content_hash(record)
    note = marker("item", record["code"], version, f"item.{change}", moment)
    trail = audit.entry(principal, origin, f"catalog.item.{change}", audit.item_target(record["code"]),
                        {"version": version, "content_hash": digest}, moment)
    try:
        catalog.save_item(record, digest, version, expected_version=expected, change=change,
                          changed_by=principal.subject, retired_at=retired_at, audit=trail, marker=note)
    except StaleCatalog:
        current = catalog.get_item(record["code"])
        if expected == 0:
            raise Conflict("该事项编码已存在", [FieldProblem("code", "ITEM_EXISTS", "事项编码已存在，修改请用 PUT")],
                           code="ITEM_EXISTS") from None
        raise _stale(current["version"] if current else 0) from None
    sent = publish_change(note, catalog=catalog, publisher=publisher, now=now)
    item = ServiceItem(record, retired_at)
    return {**_item_view(item, {"version": version, "changed_at": note["created_at"], "change": change}),
            "outcome": change, "messages": sent}


def create_item(principal: Principal, origin: Origin, body: Any, *, catalog, publisher,
                now: Clock = utcnow) -> dict[str, Any]:
    """``POST /v1/admin/services`` (administrator): a new item at version 1. Raises
    UnprocessableContent (422 ``ITEM_INVALID``, per field), Conflict (409 ``ITEM_EXISTS``).
    Returns the item view with ``outcome`` and ``messages`` (publicity messages sent; None if
    they are left to the outbox sweep)."""
    principal.require(ADMINISTRATOR)
    record = _checked_item(body)
    if catalog.get_item(record["code"]) is not None:
        raise Conflict("该事项编码已存在", [FieldProblem("code", "ITEM_EXISTS", "事项编码已存在，修改请用 PUT")],
                       code="ITEM_EXISTS")
    return _write_item(principal, origin, record, expected=0, change="created", retired_at=None, catalog=catalog,
                       publisher=publisher, now=now)


def update_item(principal: Principal, origin: Origin, code: str, body: Any, *, if_match: str | None, catalog,
                publisher, now: Clock = utcnow) -> dict[str, Any]:
    """``PUT /v1/admin/services/{code}`` (administrator) with ``If-Match: <version>``
    (required): version n+1 of the item. Content equal to the current version answers
    ``outcome: unchanged`` (no version, no message). Updating a retired item offers it again
    (``reinstated``). Raises ValidationFailed (400: If-Match), NotFound (404), UnprocessableContent
    (422: content, or ``CODE_MISMATCH`` between the path and the body), PreconditionFailed
    (412 ``VERSION_MISMATCH``, with the current ``version``)."""
    principal.require(ADMINISTRATOR)
    expected = _if_match(if_match, required=True)
    current = catalog.get_item(code)
    if current is None:
        raise NotFound("未找到该服务事项", [FieldProblem("code", "UNKNOWN_ITEM", "事项编码不存在")])
    record = _checked_item(body)
    if record["code"] != code:
        raise UnprocessableContent("事项编码与请求路径不一致", [FieldProblem("code", "CODE_MISMATCH", "应与请求路径中的事项编码一致")],
                                   code="ITEM_INVALID")
    if expected != current["version"]:
        raise _stale(current["version"])
    if content_hash(record) == current["content_hash"] and not current["retired_at"]:
        return {**_item_view(current["item"], current), "outcome": "unchanged", "messages": 0}
    change = "reinstated" if current["retired_at"] else "updated"
    return _write_item(principal, origin, record, expected=expected, change=change, retired_at=None,
                       catalog=catalog, publisher=publisher, now=now)


def retire_item(principal: Principal, origin: Origin, code: str, *, if_match: str | None, catalog,
                publisher, now: Clock = utcnow) -> dict[str, Any]:
    """``POST /v1/admin/services/{code}/retire`` (administrator) with ``If-Match``: version
    n+1, the same content marked retired. It stays readable (also in every version) and cases
    filed before keep it; new cases are refused (409 ``ITEM_RETIRED``); it leaves the public
    list. Raises NotFound, PreconditionFailed (412), Conflict (409 ``ITEM_RETIRED`` when it
    already is)."""
    principal.require(ADMINISTRATOR)
    expected = _if_match(if_match, required=True)
    current = catalog.get_item(code)
    if current is None:
        raise NotFound("未找到该服务事项", [FieldProblem("code", "UNKNOWN_ITEM", "事项编码不存在")])
    if expected != current["version"]:
        raise _stale(current["version"])
    if current["retired_at"]:
        raise Conflict("该事项已停止办理", code="ITEM_RETIRED", version=current["version"])
    return _write_item(principal, origin, current["item"].record, expected=expected, change="retired",
                       retired_at=utc_iso(now()), catalog=catalog, publisher=publisher, now=now)


def _positive(raw: Any, field: str, upper: int) -> int | None:
    if raw is None:
        return None
    text = str(raw)
    if not (text.isascii() and text.isdigit() and 0 < int(text) <= upper):
        raise ValidationFailed(details=[FieldProblem(field, "FIELD_FORMAT", f"应为 1-{upper} 的整数")])
    return int(text)


def item_versions(code: str, *, catalog, limit: Any = None, cursor: Any = None) -> dict[str, Any]:
    """``GET /v1/services/{code}/versions`` (public): the item's versions, newest first,
    ``?limit=1..100`` (20) a page, ``?cursor=`` the ``next_cursor`` of the previous page (a
    version number). Each: ``{version, name, changed_at, change, retired_at, content_hash}``.
    Cost: one GetItem + one BatchGetItem. Raises NotFound, ValidationFailed (INVALID_CURSOR)."""
    size = _positive(limit, "limit", MAX_VERSIONS_PAGE) or 20
    current = catalog.get_item(code)
    if current is None:
        raise NotFound("未找到该服务事项", [FieldProblem("code", "UNKNOWN_ITEM", "事项编码不存在")])
    top = current["version"]
    if cursor is not None:
        text = str(cursor)
        if not (text.isascii() and text.isdigit() and 0 < int(text) <= top):
            raise invalid_cursor()
        top = int(text)
    wanted = list(range(top, max(top - size, 0), -1))
    rows = catalog.item_versions(code, wanted)
    if not rows and top == current["version"]:  # written before versions were kept: the head is the only one
        rows = [{**current}]
    last = wanted[-1] if wanted else 1
    return {"code": code, "current_version": current["version"],
            "versions": [{"version": r["version"], "name": r["item"].name, "changed_at": r["changed_at"],
                          "change": r["change"], "retired_at": r["retired_at"], "content_hash": r["content_hash"]}
                         for r in rows],
            "next_cursor": str(last - 1) if last > 1 else None}


def item_version(code: str, version: Any, *, catalog) -> dict[str, Any]:
    """``GET /v1/services/{code}/versions/{n}`` (public): the item as it was at version ``n``
    (the full record, as cases filed under it see it). Raises NotFound (unknown item or version)."""
    number = _positive(version, "version", 10 ** 9)
    rows = catalog.item_versions(code, [number])
    if not rows:
        current = catalog.get_item(code)
        if current is None or current["version"] != number:
            raise NotFound("未找到该事项的这一版本", [FieldProblem("version", "UNKNOWN_VERSION", "版本不存在")])
        rows = [current]
    return _item_view(rows[0]["item"], rows[0])


# --- township settings ------------------------------------------------------------------------

def _settings_view(found: dict[str, Any]) -> dict[str, Any]:
    township = found["township"]
    return {"code": township.code, "version": found["version"], "changed_at": found["changed_at"],
            "changed_by": found["changed_by"], "market_days_text": township.market_days_text(),
            "settings": township.record}


def put_township_settings(principal: Principal, origin: Origin, code: str, body: Any, *, if_match: str | None,
                          catalog, publisher, now: Clock = utcnow) -> dict[str, Any]:
    """``PUT /v1/admin/townships/{code}/settings`` (administrator): version n+1 of a township's
    settings (``schemas/township.json``: offered items with delegation and staff, phones, office
    hours, address, market days). ``If-Match`` is required once settings exist (412 when stale);
    new settings take none (or ``0``). Sends one publicity message per offered item and per item
    withdrawn, none for other townships. Content equal to the current version: ``unchanged``.

    Raises ValidationFailed (400: If-Match), UnprocessableContent (422 ``TOWNSHIP_SETTINGS_INVALID``:
    schema, :func:`domain.catalog.township_problems` incl. unknown items, ``CODE_MISMATCH``,
    ``TOO_MANY_OFFER_CHANGES``), PreconditionFailed (412)."""
    principal.require(ADMINISTRATOR)
    current = catalog.get_township(code)
    expected = _if_match(if_match, required=current is not None)
    problems = schemas.problems_of("township", body)
    if not problems:
        offers = body.get("offers") or {}
        known = catalog.existing_hashes(offers)
        problems = township_problems(body, known)
        if body["code"] != code:
            problems.append(FieldProblem("code", "CODE_MISMATCH", "应与请求路径中的乡镇编码一致"))
    if problems:
        raise UnprocessableContent("乡镇设置不符合要求，请按提示修改", problems, code="TOWNSHIP_SETTINGS_INVALID")
    seen = current["version"] if current else 0
    if (expected or 0) != seen:
        raise _stale(seen)
    digest = content_hash(body)
    if current and current["content_hash"] == digest:
        return {**_settings_view(current), "outcome": "unchanged", "messages": 0}
    old = set((current["township"].offers or {}) if current else ())
    new = set(offers)
    added, removed = sorted(new - old), sorted(old - new)
    if len(added) + len(removed) > MAX_OFFER_CHANGES:
        raise UnprocessableContent("一次修改的办理事项过多，请分批修改", [FieldProblem(
            "offers", "TOO_MANY_OFFER_CHANGES", f"一次至多增减 {MAX_OFFER_CHANGES} 个事项")],
            code="TOWNSHIP_SETTINGS_INVALID")
    withdrawn = catalog.existing_hashes(removed) if removed else {}
    messages = [[c, known[c][1], "township.updated"] for c in sorted(new)] + \
               [[c, withdrawn[c][1], "township.offer_withdrawn"] for c in removed if c in withdrawn]
    moment = now()
    version = seen + 1
    note = marker("township", code, version, "township.updated", moment, messages)
    trail = audit.entry(principal, origin, "catalog.township.update", audit.township_target(code),
                        {"version": version, "content_hash": digest, "added": len(added), "removed": len(removed)},
                        moment)
    try:
        catalog.save_township(body, digest, version, expected_version=seen, change="updated" if current else "created",
                              changed_by=principal.subject, added=added, removed=removed, audit=trail, marker=note)
    except StaleCatalog:
        fresh = catalog.get_township(code)
        raise _stale(fresh["version"] if fresh else 0) from None
    sent = publish_change(note, catalog=catalog, publisher=publisher, now=now)
    view = _settings_view({"township": Township(body), "version": version, "changed_at": note["created_at"],
                           "changed_by": principal.subject})
    return {**view, "outcome": "updated" if current else "created", "messages": sent}


def get_township_settings(principal: Principal, code: str, *, catalog, version: Any = None) -> dict[str, Any]:
    """``GET /v1/admin/townships/{code}/settings[?version=n]`` (administrator): the current
    settings or version ``n``, with ``version`` (what ``If-Match`` takes). Raises NotFound."""
    principal.require(ADMINISTRATOR)
    found = catalog.get_township(code, _positive(version, "version", 10 ** 9))
    if found is None:
        raise NotFound("未找到该乡镇的设置", [FieldProblem("code", "UNKNOWN_TOWNSHIP", "乡镇编码或版本不存在")])
    return _settings_view(found)
