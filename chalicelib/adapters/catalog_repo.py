"""DynamoDB catalog repository: service items and township settings."""
from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any, Iterable

from ..domain.catalog import ServiceItem, Township, content_hash
from ..domain.errors import invalid_cursor
from .models import CatalogEntryModel

TOWNSHIP_PREFIX = "TOWNSHIP#"
_ITEM_LISTING = "item"
_TOWNSHIP_LISTING = "township"


def _encode_cursor(key: dict | None, scope: str) -> str | None:
    if not key:
        return None
    body = json.dumps({"k": key, "s": scope}, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None, scope: str, index_key: str, index_value: str) -> dict | None:
    """The DynamoDB start key inside ``cursor``. It must come from a query of the same ``scope``
    and be exactly a key of that index: ``{"code", index_key}``, ``index_key`` holding
    ``index_value``. Anything else raises ValidationFailed(INVALID_CURSOR)."""
    if not cursor:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key = raw["k"]
        ok = (raw["s"] == scope and isinstance(key, dict) and set(key) == {"code", index_key}
              and key[index_key] == {"S": index_value} and isinstance(key["code"], dict)
              and set(key["code"]) == {"S"} and isinstance(key["code"]["S"], str) and 0 < len(key["code"]["S"]) <= 80)
    except (ValueError, TypeError, KeyError, AttributeError):
        ok = False
    if not ok:
        raise invalid_cursor()
    return key


class DynamoCatalogRepository:
    """Reads and writes catalog entries in the catalog table (see ``models.py`` for keys)."""

    def get_offer(self, item_code: str, township_code: str) -> tuple[tuple[ServiceItem, int] | None,
                                                                      Township | None]:
        """The item (with its version) and the township settings in one BatchGetItem; either is
        None when it does not exist."""
        item, township = self.get_versions(item_code, township_code)
        return item, township[0] if township else None

    def get_versions(self, item_code: str, township_code: str) -> tuple[tuple[ServiceItem, int] | None,
                                                                         tuple[Township, int] | None]:
        """The item and the township settings, each with its version, in one BatchGetItem
        (consistent reads); either is None when it does not exist."""
        keys = [item_code, TOWNSHIP_PREFIX + township_code]
        found = {e.code: e for e in CatalogEntryModel.batch_get(keys, consistent_read=True)}
        item = found.get(item_code)
        township = found.get(keys[1])
        return ((ServiceItem(item.doc), int(item.version)) if item and item.entity == "item" else None,
                (Township(township.doc), int(township.version)) if township and township.entity == "township"
                else None)

    def get_item(self, item_code: str) -> ServiceItem | None:
        """The item, or None (one GetItem)."""
        try:
            entry = CatalogEntryModel.get(item_code)
        except CatalogEntryModel.DoesNotExist:
            return None
        return ServiceItem(entry.doc) if entry.entity == "item" else None

    def get_township(self, township_code: str) -> Township | None:
        """The township settings, or None (one GetItem)."""
        try:
            entry = CatalogEntryModel.get(TOWNSHIP_PREFIX + township_code)
        except CatalogEntryModel.DoesNotExist:
            return None
        return Township(entry.doc) if entry.entity == "township" else None

    def township_codes(self) -> list[str]:
        """Codes of the townships recorded with a listing (GSI ``by_listing``, listing="township";
        keys only are needed, a page holds hundreds)."""
        return [e.code.removeprefix(TOWNSHIP_PREFIX)
                for e in CatalogEntryModel.by_listing.query(_TOWNSHIP_LISTING, attributes_to_get=["code"])]

    def all_items(self) -> Iterable[tuple[ServiceItem, int]]:
        """Every item with its version, ordered by code (GSI ``by_listing``, every page: 1 MB a
        Query). For building the per-container search index and regenerating notices, never
        per request."""
        for entry in CatalogEntryModel.by_listing.query(_ITEM_LISTING):
            yield ServiceItem(entry.doc), int(entry.version)

    def list_items(self, *, category: str | None, level: str | None, limit: int,
                   cursor: str | None) -> tuple[list[ServiceItem], str | None]:
        """One page of items ordered by code; ``cursor`` is the opaque value of a previous page.

        Each combination of filters reads its own index (no filter expressions, so a page costs
        one Query whatever the catalog size). Raises ValidationFailed(INVALID_CURSOR) for a
        cursor that was not issued by this API for the same filters.
        """
        if category and level:
            index, key_attr, value = CatalogEntryModel.by_category_level, "category_level", f"{category}#{level}"
        elif category:
            index, key_attr, value = CatalogEntryModel.by_category, "category", category
        elif level:
            index, key_attr, value = CatalogEntryModel.by_level, "exercising_level", level
        else:
            index, key_attr, value = CatalogEntryModel.by_listing, "listing", _ITEM_LISTING
        scope = f"{category or ''}|{level or ''}"
        start = _decode_cursor(cursor, scope, key_attr, value)
        query = index.query(value, limit=limit, last_evaluated_key=start, page_size=limit)
        items = [ServiceItem(e.doc) for e in query]
        next_key = query.last_evaluated_key if len(items) == limit else None
        return items, _encode_cursor(next_key, scope)

    def existing_hashes(self, codes: Iterable[str]) -> dict[str, tuple[str, int]]:
        """``{code: (content_hash, version)}`` for the codes that exist (BatchGetItem, 100 a call)."""
        found: dict[str, tuple[str, int]] = {}
        codes = list(dict.fromkeys(codes))
        for entry in CatalogEntryModel.batch_get(codes, attributes_to_get=["code", "content_hash", "version"]):
            found[entry.code] = (entry.content_hash, int(entry.version))
        return found

    def put_items(self, rows: list[tuple[dict[str, Any], str, int]]) -> None:
        """Write items ``(record, content_hash, version)`` (BatchWriteItem, 25 a call)."""
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        with CatalogEntryModel.batch_write() as batch:
            for record, digest, version in rows:
                batch.save(CatalogEntryModel(
                    record["code"], entity="item", listing=_ITEM_LISTING, category=record["category"],
                    exercising_level=record["exercising_level"],
                    category_level=f"{record['category']}#{record['exercising_level']}", name=record["name"], doc=record,
                    content_hash=digest, version=version, updated_at=now))

    def put_township(self, record: dict[str, Any]) -> str:
        """Create or update township settings; returns created/updated/unchanged."""
        code = TOWNSHIP_PREFIX + record["code"]
        digest = content_hash(record)
        existing = self.existing_hashes([code]).get(code)
        if existing and existing[0] == digest:
            return "unchanged"
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        CatalogEntryModel(code, entity="township", listing=_TOWNSHIP_LISTING, name=record["name"], doc=record,
                          content_hash=digest, version=(existing[1] + 1) if existing else 1,
                          updated_at=now).save()
        return "updated" if existing else "created"
