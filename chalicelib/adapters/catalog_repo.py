"""DynamoDB catalog repository: service items and township settings, their versions, which
townships offer which item, and the outbox markers of catalog changes (issue 7).

Access patterns (catalog table, hash key ``code``; no scans):

- current item, township settings, or both for a case: GetItem / one BatchGetItem
  (``<item code>``, ``TOWNSHIP#<code>``); an item at a version with the township:
  one BatchGetItem (``ITEM#<code>#v<n>``, the head as fallback, ``TOWNSHIP#<code>``);
- a page of an item's versions: GetItem of the head + BatchGetItem of the page's version keys;
- townships offering an item: Query ``by_listing`` listing=``OFFER#<item>``;
- pending change markers: Query ``by_listing`` listing=``catalog_change``;
- an administrator's change: one TransactWriteItems (head conditioned on the version read,
  new version row, offer rows that changed, change marker, audit record).
"""
from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any, Iterable

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from ..domain.catalog import ServiceItem, Township, content_hash
from ..domain.errors import invalid_cursor
from ..usecases.ports import StaleCatalog
from .models import (AuditModel, CatalogChangeModel, CatalogEntryModel, CatalogOfferModel,
                     transaction_connection)

TOWNSHIP_PREFIX = "TOWNSHIP#"
_ITEM_LISTING = "item"
CHANGE_LISTING = "catalog_change"


def item_version_key(code: str, version: int) -> str:
    """Key of the immutable row of item ``code`` at ``version``."""
    return f"ITEM#{code}#v{int(version):04d}"


def township_version_key(code: str, version: int) -> str:
    """Key of the immutable row of township ``code``'s settings at ``version``."""
    return f"{TOWNSHIP_PREFIX}{code}#v{int(version):04d}"


def offer_key(item_code: str, township_code: str) -> str:
    return f"OFFER#{item_code}#{township_code}"


def change_key(kind: str, subject: str, version: int) -> str:
    """Key of the outbox marker of version ``version`` of ``kind`` (item/township) ``subject``."""
    return f"CHANGE#{kind}#{subject}#v{int(version):04d}"


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")


def _item_entry(record: dict[str, Any], digest: str, version: int, now: str, *, head: bool,
                retired_at: str | None = None, change: str | None = None,
                changed_by: str | None = None) -> CatalogEntryModel:
    """The head row of an item (listed by the indexes unless retired) or its version row."""
    common = dict(name=record["name"], doc=record, content_hash=digest, version=version, updated_at=now,
                  retired_at=retired_at, change=change, changed_by=changed_by)
    if not head:
        return CatalogEntryModel(item_version_key(record["code"], version), entity="item_version", **common)
    listed = {} if retired_at else dict(
        listing=_ITEM_LISTING, category=record["category"], exercising_level=record["exercising_level"],
        category_level=f"{record['category']}#{record['exercising_level']}")
    return CatalogEntryModel(record["code"], entity="item", **listed, **common)


def _version_dict(entry: CatalogEntryModel) -> dict[str, Any]:
    return {"version": int(entry.version), "changed_at": entry.updated_at, "change": entry.change or "imported",
            "changed_by": entry.changed_by, "retired_at": entry.retired_at, "content_hash": entry.content_hash}


def _get(key: str, consistent: bool) -> CatalogEntryModel | None:
    try:
        return CatalogEntryModel.get(key, consistent_read=consistent)
    except DoesNotExist:
        return None


def _marker_dict(m: CatalogChangeModel) -> dict[str, Any]:
    return {"key": m.code, "kind": m.kind, "subject": m.subject, "version": int(m.version), "reason": m.reason,
            "messages": m.messages, "created_at": m.created_at}

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
        """The current item and township settings, each with its version, in one BatchGetItem
        (consistent reads); either is None when it does not exist (the publicity consumer)."""
        keys = [item_code, TOWNSHIP_PREFIX + township_code]
        found = {e.code: e for e in CatalogEntryModel.batch_get(keys, consistent_read=True)}
        item = found.get(item_code)
        township = found.get(keys[1])
        return ((ServiceItem(item.doc, item.retired_at), int(item.version)) if item and item.entity == "item" else None,
                (Township(township.doc), int(township.version)) if township and township.entity == "township"
                else None)

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

    def get_offer_at(self, item_code: str, version: int | None, township_code: str
                     ) -> tuple[tuple[ServiceItem, int] | None, Township | None]:
        """Like :meth:`get_offer`, with the item as it was at ``version`` (the version a case was
        filed under), in one BatchGetItem. The head answers when ``version`` is None or its row
        is missing (items written before versions were kept: their head is the only copy)."""
        keys = [item_code, TOWNSHIP_PREFIX + township_code]
        if version:
            keys.append(item_version_key(item_code, version))
        found = {e.code: e for e in CatalogEntryModel.batch_get(keys)}
        item = found.get(keys[2]) if version else None
        if item is None:
            head = found.get(item_code)
            item = head if head is not None and head.entity == "item" else None
        township = found.get(keys[1])
        return ((ServiceItem(item.doc, item.retired_at), int(item.version)) if item else None,
                Township(township.doc) if township else None)

    def get_item(self, code: str) -> dict[str, Any] | None:
        """The current item (strongly consistent GetItem): ``{"item": ServiceItem, "version",
        "content_hash", "changed_at", "change", "changed_by", "retired_at"}``, or None."""
        entry = _get(code, consistent=True) if code else None
        if entry is None or entry.entity != "item":
            return None
        return {"item": ServiceItem(entry.doc, entry.retired_at), **_version_dict(entry)}

    def item_versions(self, code: str, versions: Iterable[int]) -> list[dict[str, Any]]:
        """The version rows of item ``code`` at ``versions`` (one BatchGetItem per 100), each
        ``{"item": ServiceItem, "version", "changed_at", "change", "changed_by", "retired_at",
        "content_hash"}``, in the order asked; versions without a row are left out."""
        keys = [item_version_key(code, v) for v in versions]
        found = {e.code: e for e in CatalogEntryModel.batch_get(keys)} if keys else {}
        return [{"item": ServiceItem(found[k].doc, found[k].retired_at), **_version_dict(found[k])}
                for k in keys if k in found]

    def get_township(self, code: str, version: int | None = None) -> dict[str, Any] | None:
        """Township settings, current (strongly consistent) or at ``version``: ``{"township":
        Township, "version", "changed_at", "change", "changed_by", "content_hash"}``, or None."""
        key = TOWNSHIP_PREFIX + code if version is None else township_version_key(code, version)
        entry = _get(key, consistent=version is None)
        if entry is None or entry.entity not in ("township", "township_version"):
            return None
        return {"township": Township(entry.doc), **_version_dict(entry)}

    def offered_by(self, item_code: str) -> list[str]:
        """Codes of the townships whose settings offer ``item_code`` (Query ``by_listing``)."""
        return [o.township_code for o in CatalogOfferModel.by_listing.query(f"OFFER#{item_code}")]

    def save_item(self, record: dict[str, Any], digest: str, version: int, *, expected_version: int,
                  change: str, changed_by: str, retired_at: str | None, audit: dict[str, Any] | None,
                  marker: dict[str, Any]) -> None:
        """Write version ``version`` of an item in one TransactWriteItems: the head (conditioned on
        ``expected_version``, 0 = must not exist), the immutable version row, the change marker
        (:meth:`pending_changes`) and the audit record. Raises :class:`StaleCatalog` when the
        head moved on (nothing is written)."""
        now = marker["created_at"]
        head = _item_entry(record, digest, version, now, head=True, retired_at=retired_at, change=change,
                           changed_by=changed_by)
        row = _item_entry(record, digest, version, now, head=False, retired_at=retired_at, change=change,
                          changed_by=changed_by)
        condition = (CatalogEntryModel.code.does_not_exist() if expected_version == 0
                     else CatalogEntryModel.version == expected_version)
        self._transact([(head, condition), (row, CatalogEntryModel.code.does_not_exist()),
                        (self._marker(marker), None)], audit, record["code"])

    def save_township(self, record: dict[str, Any], digest: str, version: int, *, expected_version: int,
                      change: str, changed_by: str, added: Iterable[str], removed: Iterable[str],
                      audit: dict[str, Any] | None, marker: dict[str, Any]) -> None:
        """Write version ``version`` of township settings in one TransactWriteItems: the head
        (conditioned on ``expected_version``, 0 = must not exist), the version row, an offer row
        per item ``added`` to ``offers`` and a delete per item ``removed``, the change marker and
        the audit record (at most 100 items: the caller keeps the offer changes to 96). Raises
        :class:`StaleCatalog` when the settings moved on."""
        now = marker["created_at"]
        common = dict(name=record["name"], doc=record, content_hash=digest, version=version, updated_at=now,
                      change=change, changed_by=changed_by)
        head = CatalogEntryModel(TOWNSHIP_PREFIX + record["code"], entity="township", listing=_TOWNSHIP_LISTING,
                                 **common)
        row = CatalogEntryModel(township_version_key(record["code"], version), entity="township_version", **common)
        condition = (CatalogEntryModel.code.does_not_exist() if expected_version == 0
                     else CatalogEntryModel.version == expected_version)
        writes: list[tuple[Any, Any]] = [(head, condition), (row, CatalogEntryModel.code.does_not_exist()),
                                         (self._marker(marker), None)]
        writes += [(CatalogOfferModel(offer_key(code, record["code"]), listing=f"OFFER#{code}", item_code=code,
                                      township_code=record["code"], updated_at=now), None) for code in added]
        deletes = [CatalogOfferModel(offer_key(code, record["code"])) for code in removed]
        self._transact(writes, audit, record["code"], deletes)

    def _transact(self, writes, audit, subject: str, deletes=()) -> None:
        try:
            with TransactWrite(connection=transaction_connection()) as tx:
                for model, condition in writes:
                    tx.save(model, condition=condition)
                for model in deletes:
                    tx.delete(model)
                if audit is not None:
                    tx.save(AuditModel(**audit), condition=AuditModel.pk.does_not_exist())
        except TransactWriteError as exc:
            raise StaleCatalog(subject) from exc

    @staticmethod
    def _marker(marker: dict[str, Any]) -> CatalogChangeModel:
        return CatalogChangeModel(change_key(marker["kind"], marker["subject"], marker["version"]),
                                  listing=CHANGE_LISTING, kind=marker["kind"], subject=marker["subject"],
                                  version=marker["version"], reason=marker["reason"],
                                  messages=marker.get("messages"), created_at=marker["created_at"])

    def pending_changes(self) -> list[dict[str, Any]]:
        """Every change marker not yet cleared (Query ``by_listing``; as many as changes whose
        messages are in flight or were lost), each ``{key, kind, subject, version, reason,
        messages, created_at}``."""
        return [_marker_dict(m) for m in CatalogChangeModel.by_listing.query(CHANGE_LISTING)]

    def clear_change(self, key: str) -> None:
        """Delete a change marker once its messages are sent (a missing marker is fine)."""
        CatalogChangeModel(key).delete()

    def clear_changes(self, keys: Iterable[str]) -> None:
        """Delete change markers once their messages are sent (BatchWriteItem, 25 a call)."""
        with CatalogChangeModel.batch_write() as batch:
            for key in keys:
                batch.delete(CatalogChangeModel(key))

    def offers_by_item(self) -> dict[str, list[str]]:
        """``{item code: [township codes]}`` of every township's settings (one Query of
        ``by_listing`` listing="township", every page): the offers of many item changes at once."""
        offers: dict[str, list[str]] = {}
        for entry in CatalogEntryModel.by_listing.query(_TOWNSHIP_LISTING):
            for code in (entry.doc or {}).get("offers") or {}:
                offers.setdefault(code, []).append(entry.code.removeprefix(TOWNSHIP_PREFIX))
        return offers

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
        """Write items ``(record, content_hash, version)`` from an import: per row a change
        marker, the immutable version row and the head, in that order (``reason="import"``: the publicity messages
        go out from ``usecases.catalog_changes.publish_pending``) (BatchWriteItem, 25 a call,
        not one transaction: a rerun of the import rewrites what a failure left out). A head
        written here is offered again if it had been retired."""
        now = _now_iso()
        # The markers first: a failure after them leaves rows that a rerun rewrites (with their
        # markers again); a failure after the rows would leave rows a rerun skips as unchanged,
        # whose notices would never be made. publish_pending holds a marker until its row is in.
        with CatalogChangeModel.batch_write() as batch:
            for record, _digest, version in rows:
                batch.save(self._marker({"kind": "item", "subject": record["code"], "version": version,
                                         "reason": "import", "created_at": now}))
        with CatalogEntryModel.batch_write() as batch:  # version rows before heads: a head is the commit
            for record, digest, version in rows:
                batch.save(_item_entry(record, digest, version, now, head=False, change="imported"))
            for record, digest, version in rows:
                batch.save(_item_entry(record, digest, version, now, head=True, change="imported"))

    def put_township(self, record: dict[str, Any]) -> str:
        """Create or update township settings from a file (``import-townships``, seed), as a new
        version like the admin API's (:meth:`save_township`, no audit record: the command line's
        operator); returns created/updated/unchanged. Raises :class:`StaleCatalog` when a
        concurrent change won."""
        current = self.get_township(record["code"])
        digest = content_hash(record)
        if current and current["content_hash"] == digest:
            return "unchanged"
        version = current["version"] + 1 if current else 1
        old = set((current["township"].offers or {}) if current else ())
        new = set(record.get("offers") or {})
        versions = self.existing_hashes(sorted(new | old))  # items not imported yet announce themselves
        messages = [[c, versions[c][1], "township.updated"] for c in sorted(new) if c in versions] + \
                   [[c, versions[c][1], "township.offer_withdrawn"] for c in sorted(old - new) if c in versions]
        self.save_township(record, digest, version, expected_version=current["version"] if current else 0,
                           change="imported", changed_by="cli", added=sorted(new - old), removed=sorted(old - new),
                           audit=None, marker={"kind": "township", "subject": record["code"], "version": version,
                                               "reason": "township.updated", "messages": messages,
                                               "created_at": _now_iso()})
        return "updated" if current else "created"
