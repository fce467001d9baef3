"""Eight-publicity notices (issue 7): generate one on a publicity-queue message, publish the
requests for what is offered (CLI), and read the current notice for the API.

The message contract (``schemas/publicity_request.json``; the catalog administration publishes
one per affected item x township on every change): ``{"item_code", "item_version",
"township_code", "reason", "requested_at"}``. The consumer never fans out: it makes exactly the
notice its message names.

Versioned reads: the catalog keeps only the current item (the administration's versioned read
is not on main yet), so the consumer reads the current item and compares versions: the same
version -> generate; a newer one -> "superseded" (the message of the newer version makes that
notice); an older one -> the write is not visible yet: raise, the queue retries.

PDF and QR libraries are imported inside :func:`generate_notice` only (cold start, design.md).
"""
from __future__ import annotations

import base64
import datetime as dt
from typing import Any, Callable, Mapping

from .. import settings
from .. import validation as schemas
from ..domain import publicity as rules
from ..domain.cases import SHANGHAI, utc_iso
from ..domain.errors import FieldProblem, NotFound
from .ports import Clock, utcnow


class NotYetVisible(Exception):
    """The message names an item version newer than the catalog shows: retried by the queue."""


def request(item_code: str, item_version: int, township_code: str, reason: str,
            now: Clock = utcnow) -> dict[str, Any]:
    """One publicity-queue message (the contract above)."""
    return {"item_code": item_code, "item_version": int(item_version), "township_code": township_code,
            "reason": reason, "requested_at": utc_iso(now())}


def generate_notice(message: Mapping[str, Any], *, catalog, notices, objects,
                    base_url: str | None = None, now: Clock = utcnow) -> str:
    """Make the HTML, PDF and QR code of the notice ``message`` asks for, store them under
    ``publicity/<township>/<item>/v<item version>-s<township version>.{html,pdf,png}`` and record
    them as the township's current notice of the item.

    Idempotent: when the current record already has this version key, nothing is read from S3
    or written ("already"); an object already stored under its key (a crash between puts, a
    concurrent twin) is not written again. Returns "generated", "already" or "superseded".
    Raises ValidationFailed (malformed message) and NotFound (unknown item or township): the
    consumer drops those; :class:`NotYetVisible` and AWS errors are retried.
    ``catalog``: ``get_versions``; ``notices``: ``get``, ``put_if_newer``; ``objects``: ``head``,
    ``put_bytes``."""
    schemas.validate("publicity_request", message)
    item_code, township_code, wanted = message["item_code"], message["township_code"], int(message["item_version"])
    found, place = catalog.get_versions(item_code, township_code)
    if found is None:
        raise NotFound("未找到该服务事项", [FieldProblem("item_code", "UNKNOWN_ITEM", "事项编码不存在")])
    if place is None:
        raise NotFound("未找到该乡镇", [FieldProblem("township_code", "UNKNOWN_TOWNSHIP", "乡镇编码不存在")])
    (item, item_version), (township, township_version) = found, place
    if item_version > wanted:
        return "superseded"
    if item_version < wanted:
        raise NotYetVisible(f"{item_code} is at version {item_version}, the message names {wanted}")
    base_key = rules.notice_base_key(township_code, item_code, item_version, township_version)
    current = notices.get(township_code, item_code)
    if current and current["base_key"] == base_key:
        return "already"
    if current and (current["item_version"], current["township_version"]) > (item_version, township_version):
        return "superseded"
    from ..adapters import pdf
    url = rules.notice_url(base_url or settings.PUBLIC_BASE_URL, township_code, item_code)
    issued_on = dt.datetime.fromisoformat(message["requested_at"]).astimezone(SHANGHAI).date().isoformat()
    versions = dict(item_version=item_version, township_version=township_version)
    qr = pdf.qr_png(url)
    files: dict[str, Callable[[], bytes]] = {
        "png": lambda: qr,
        "html": lambda: rules.notice_html(item, township, url=url, issued_on=issued_on,
                                          qr_png_base64=base64.b64encode(qr).decode("ascii"), **versions
                                          ).encode("utf-8"),
        "pdf": lambda: pdf.render(rules.notice_content(item, township, url=url, issued_on=issued_on, **versions)),
    }
    stored = {}
    for suffix, make in files.items():
        key = f"{base_key}.{suffix}"
        head = objects.head(key)
        if head is None:
            stored[suffix] = objects.put_bytes(key, make(), content_type=rules.FILES[suffix],
                                               metadata={"item-code": item_code, "township-code": township_code})
        else:
            stored[suffix] = head.get("VersionId") or ""
    record = rules.notice_record(township_code=township_code, item_code=item_code, base_key=base_key,
                                 versions=stored, reason=message["reason"], generated_at=utc_iso(now()), **versions)
    return "generated" if notices.put_if_newer(record) else "already"


def current_notice(notices, township_code: str, item_code: str, catalog=None) -> dict[str, Any]:
    """The current notice record of ``item_code`` in ``township_code`` (one GetItem). When there
    is none, NotFound says why, reading the catalog (one BatchGetItem) when ``catalog`` is given:
    ``UNKNOWN_TOWNSHIP``, ``UNKNOWN_ITEM``, ``ITEM_NOT_OFFERED`` (the township's settings do not
    offer it, or it is retired), else ``NOTICE_NOT_READY`` (the consumer has not made it yet)."""
    plausible = _plausible(township_code, item_code)
    record = notices.get(township_code, item_code) if plausible else None
    if record is not None:
        return record
    if catalog is not None:
        found, township = catalog.get_offer(item_code, township_code) if plausible else (None, None)
        if township is None:
            raise NotFound("未找到该乡镇", [FieldProblem("township_code", "UNKNOWN_TOWNSHIP", "乡镇编码不存在")])
        if found is None:
            raise NotFound("未找到该服务事项", [FieldProblem("item_code", "UNKNOWN_ITEM", "事项编码不存在")])
        if found[0].retired or not township.offers_item(item_code):
            raise NotFound("本乡镇不办理该事项",
                           [FieldProblem("item_code", "ITEM_NOT_OFFERED", "本乡镇未公开办理该事项")])
    raise NotFound("该事项的办事公开告知单尚未生成",
                   [FieldProblem("item_code", "NOTICE_NOT_READY", "告知单尚未生成，请稍后再试")])


def _plausible(township_code: str, item_code: str) -> bool:
    """Codes short enough to be keys (township codes are 9 digits, item codes under 100 chars)."""
    return 0 < len(township_code) <= 12 and 0 < len(item_code) <= 100


def notice_page(notices, objects, township_code: str, item_code: str, catalog=None) -> bytes:
    """The current notice's HTML bytes (GetItem + GetObject; a page is a few KB). NotFound as
    :func:`current_notice`."""
    record = current_notice(notices, township_code, item_code, catalog)
    return objects.get_bytes(record["keys"]["html"], record["s3_versions"].get("html") or None)


def notice_file_url(notices, objects, township_code: str, item_code: str, file: str, catalog=None) -> str:
    """A short-lived presigned GET (``settings.DOCUMENT_URL_SECONDS``) of the current notice's
    ``file`` (``notice.pdf`` or ``qr.png``); NotFound for another name or no notice
    (:func:`current_notice`)."""
    suffix = rules.PUBLIC_FILES.get(file)
    if suffix is None:
        raise NotFound("未找到该文件", [FieldProblem("file", "UNKNOWN_FILE", "可选 notice.pdf 或 qr.png")])
    record = current_notice(notices, township_code, item_code, catalog)
    return objects.presigned_get(record["keys"][suffix], record["s3_versions"].get(suffix) or None,
                                 expires_seconds=settings.DOCUMENT_URL_SECONDS, content_type=rules.FILES[suffix])


def links(notices, township_code: str, item_code: str) -> dict[str, Any] | None:
    """``{html_url, pdf_url, qr_url, item_version, township_version, generated_at}`` of the
    current notice (stable API URLs), or None when none was generated yet (one GetItem)."""
    record = notices.get(township_code, item_code)
    if record is None:
        return None
    return {**rules.notice_links(settings.PUBLIC_BASE_URL, township_code, item_code),
            "item_version": record["item_version"], "township_version": record["township_version"],
            "generated_at": record["generated_at"]}


def regenerate(catalog, publisher, *, township: str | None = None, item: str | None = None,
               reason: str = "regenerate", now: Clock = utcnow) -> int:
    """Publish one request per item x township offered (today: every item in every township
    with a listing; ``township``/``item`` narrow it) at the item's current version. Returns
    how many were published. For seeding and repairs; the catalog administration publishes its
    own on every change."""
    townships = [township] if township else catalog.township_codes()
    count = 0
    for found, version in catalog.all_items():
        if item and found.code != item:
            continue
        for code in townships:
            publisher.publish(request(found.code, version, code, reason, now))
            count += 1
    return count
