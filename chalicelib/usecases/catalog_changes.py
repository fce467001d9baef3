"""Catalog change messages (issue 7): the publicity queue's requests to regenerate
eight-publicity notices, sent after the change commits, through a transactional outbox.

Every catalog change writes, in its own transaction (an import: in its batch), a change marker
(``adapters.catalog_repo``: ``CHANGE#<kind>#<code>#v<n>``). After the commit,
:func:`publish_change` sends its messages and deletes the marker. A publish that is lost (the
process dies, SQS fails) leaves the marker behind, and the scheduled :func:`republish_stalled`
sends it later: so the messages of a committed change go out at least once (the consumer
regenerates the same notice again when one arrives twice).

Fan-out (one message per affected item and township, ``domain.catalog.publicity_request``):

- an item change: one message per township whose settings offer the item (the ``OFFER#<item>``
  rows, read when the messages are sent), with the item's new version;
- a township settings change: one message per item the settings offer, with that item's current
  version, plus one per item the change withdrew (``township.offer_withdrawn``); computed at the
  change and kept in the marker. No message for any other township.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from .. import settings
from ..domain.cases import utc_iso
from ..domain.catalog import publicity_request
from ..logs import logger
from .ports import Clock, utcnow


def marker(kind: str, subject: str, version: int, reason: str, at: dt.datetime,
           messages: list[list[Any]] | None = None) -> dict[str, Any]:
    """The outbox marker of one change: ``kind`` ``item`` or ``township``, ``subject`` its code,
    ``version`` the version the change made, ``reason`` (``item.created``...), ``messages`` the
    ``[item_code, item_version, reason]`` triples of a township change (None for an item)."""
    return {"kind": kind, "subject": subject, "version": int(version), "reason": reason,
            "messages": messages, "created_at": utc_iso(at)}


def messages_of(change: dict[str, Any], catalog, at: dt.datetime,
                offers: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """The publicity requests of one change marker (see the module docstring). An item change
    reads its offer rows (one Query) unless ``offers`` (``{item code: [township codes]}``, from
    ``catalog.offers_by_item()``) is given; a township change reads nothing."""
    if change["kind"] == "item":
        townships = offers.get(change["subject"], []) if offers is not None else catalog.offered_by(change["subject"])
        return [publicity_request(change["subject"], change["version"], township, change["reason"], at)
                for township in sorted(townships)]
    return [publicity_request(code, version, change["subject"], reason, at)
            for code, version, reason in change.get("messages") or []]


def publish_change(change: dict[str, Any], *, catalog, publisher, now: Clock = utcnow) -> int | None:
    """Send the messages of a committed change and clear its marker; returns how many were sent,
    or None when sending failed (logged, never raised: the change stands and the administrator's
    answer must not turn into an error; :func:`republish_stalled` sends them later)."""
    from ..adapters.catalog_repo import change_key
    try:
        messages = messages_of(change, catalog, now())
        if messages:
            publisher.publish_many(messages)
        catalog.clear_change(change.get("key") or change_key(change["kind"], change["subject"], change["version"]))
    except Exception:
        logger.exception("catalog change messages not sent yet; the outbox sweep will",
                         extra={"kind": change["kind"], "subject": change["subject"], "version": change["version"]})
        return None
    return len(messages)


_PUBLISH_GROUP = 100


def publish_pending(*, catalog, publisher, now: Clock = utcnow, older_than_seconds: int = 0) -> dict[str, int]:
    """Send the messages of every change marker created at least ``older_than_seconds`` ago
    (0: all; the hook an import calls after its writes, ``cli import-catalog`` and ``seed`` do).

    In groups of 100 markers: the group's messages, one per (item, version, township) even when
    an item's and a township's change both name it, ten a SendMessageBatch, then the group's
    markers cleared (BatchWriteItem). A group whose sending fails keeps its markers for the
    next sweep (at least once; the consumer makes a notice once). Reads: one Query for the
    markers, one BatchGetItem a hundred import markers, and the townships' offers once (one
    Query of the township settings) when item changes are pending.

    An import writes its markers before its rows and not in one transaction with them: a
    marker whose item row is not (yet) at its version waits (the rerun of the import writes
    it). Returns ``{"changes": markers sent, "messages": messages sent, "failed": markers left
    for later, "waiting": import markers whose item row is not written yet}``."""
    moment = now()
    cutoff = utc_iso(moment - dt.timedelta(seconds=older_than_seconds))
    report = {"changes": 0, "messages": 0, "failed": 0, "waiting": 0}
    changes = [c for c in catalog.pending_changes() if not (older_than_seconds and c["created_at"] > cutoff)]
    imported = [c["subject"] for c in changes if c["kind"] == "item" and c["reason"] == "import"]
    heads = catalog.existing_hashes(imported) if imported else {}
    ready = []
    for change in changes:
        if change["kind"] == "item" and change["reason"] == "import" and \
                heads.get(change["subject"], ("", 0))[1] < change["version"]:
            report["waiting"] += 1
        else:
            ready.append(change)
    offers = catalog.offers_by_item() if any(c["kind"] == "item" for c in ready) else {}
    for start in range(0, len(ready), _PUBLISH_GROUP):
        group = ready[start:start + _PUBLISH_GROUP]
        messages, seen = [], set()
        for change in group:
            for message in messages_of(change, catalog, moment, offers):
                key = (message["item_code"], message["item_version"], message["township_code"])
                if key not in seen:
                    seen.add(key)
                    messages.append(message)
        try:
            if messages:
                publisher.publish_many(messages)
            catalog.clear_changes([c["key"] for c in group])
        except Exception:
            logger.exception("catalog change messages not sent yet; the outbox sweep will",
                             extra={"changes": len(group)})
            report["failed"] += len(group)
            continue
        report["changes"] += len(group)
        report["messages"] += len(messages)
    return report


def republish_stalled(*, catalog, publisher, now: Clock = utcnow) -> dict[str, int]:
    """Scheduled (with the case events' outbox sweep): the changes whose messages were not sent
    ``settings.EVENT_STALL_SECONDS`` after they committed."""
    return publish_pending(catalog=catalog, publisher=publisher, now=now,
                           older_than_seconds=settings.EVENT_STALL_SECONDS)
