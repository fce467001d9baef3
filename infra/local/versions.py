"""Re-point recorded S3 object versions after the local replay (``make run``; never packaged).

Replaying the recording re-creates every object of the materials bucket (PutObject, presigned
POST) with a NEW ``VersionId``, while the replayed DynamoDB records still name the version the
first run got. Records that name an object version:

* sealed documents (``SealedDocumentModel``: ``s3_key``/``s3_version_id``), three rows each:
  ``DOCUMENT#<id>``, the case's ``DOC#<id>`` and ``DOCSHA#<sha256>``;
* accepted uploads: the material's version rows (``MaterialModel``, ``sk="MAT#<code>#V#nnn"``,
  ``doc.key``/``doc.version_id``/``doc.sha256``) and the used slot (``UploadSlotModel``,
  ``doc.version_id``; its bytes' digest is on the version row it produced).

:func:`repoint_versions` walks the bucket's keys (no table scan: each key names its records)
and gives every record whose version no longer exists the replayed version of the same key
whose bytes have the recorded SHA-256. It runs after the replay and before the queue pollers,
so the upload consumer sees, for a replayed upload's new S3 event, the recorded version as the
key's latest one: "already", nothing deleted. Versions the first run deleted (refused uploads,
a document whose record lost a race) come back with the replay; nothing points at them, and
the upload consumer deletes a refused upload's again. Rejections record no digest and keep
their old version id (it only ever serves to recognise a redelivery).
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable

_NO_VERSION = object()


class _Versions:
    """The versions of one key: which exist, and which one holds bytes of a given SHA-256."""

    def __init__(self, s3, bucket: str, key: str, versions: list[dict[str, Any]]) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key
        # newest first: with identical bytes twice, the newest one is the key's latest, which
        # the upload consumer takes a replayed event to be about
        self.versions = sorted(versions, key=lambda v: (not v.get("IsLatest"), -v["LastModified"].timestamp()))
        self.ids = {v["VersionId"] for v in versions}
        self._digests: dict[str, str] | None = None

    def exists(self, version_id: str | None) -> bool:
        return bool(version_id) and version_id in self.ids

    def with_sha256(self, digest: str | None) -> str | None:
        """The newest version whose bytes have SHA-256 ``digest``, or None."""
        if not digest:
            return None
        if self._digests is None:
            self._digests = {}
            for version in reversed(self.versions):  # newest last: it wins a tie
                body = self.s3.get_object(Bucket=self.bucket, Key=self.key, VersionId=version["VersionId"])["Body"]
                self._digests[hashlib.sha256(body.read()).hexdigest()] = version["VersionId"]
        return self._digests.get(digest)


def _object_versions(s3, bucket: str) -> dict[str, list[dict[str, Any]]]:
    """``{key: [version, ...]}`` of every object version in ``bucket`` (delete markers aside)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []):
            found.setdefault(version["Key"], []).append(version)
    return found


def _documents(case_no: str, document_id: str, key: str, versions: _Versions) -> int:
    """Re-point the three rows of one sealed document; returns how many changed."""
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.adapters.case_repo import _case_pk
    from chalicelib.adapters.document_repo import DOCUMENT_SK
    from chalicelib.adapters.models import SealedDocumentModel
    try:
        public = SealedDocumentModel.get(f"DOCUMENT#{document_id}", DOCUMENT_SK, consistent_read=True)
    except DoesNotExist:  # a version nobody recorded (the loser of a race): nothing to do
        return 0
    rows = [public]
    for hash_key, range_key in ((_case_pk(case_no), f"DOC#{document_id}"), (f"DOCSHA#{public.sha256}", DOCUMENT_SK)):
        try:
            rows.append(SealedDocumentModel.get(hash_key, range_key, consistent_read=True))
        except DoesNotExist:
            pass
    changed = 0
    for row in rows:
        if row.s3_key != key or versions.exists(row.s3_version_id):
            continue
        replayed = versions.with_sha256(row.sha256)
        if replayed:
            row.update(actions=[SealedDocumentModel.s3_version_id.set(replayed)])
            changed += 1
    return changed


def _materials(case_no: str, code: str, slot_id: str, key: str, versions: _Versions) -> int:
    """Re-point the material version rows stored from ``key`` and the slot that wrote it;
    returns how many changed."""
    from pynamodb.exceptions import DoesNotExist

    from chalicelib.adapters.case_repo import _case_pk
    from chalicelib.adapters.models import MaterialModel, UploadSlotModel
    pk = _case_pk(case_no)
    changed = 0
    by_slot: dict[str, str] = {}
    for row in MaterialModel.query(pk, MaterialModel.sk.startswith(f"MAT#{code}#V#"), consistent_read=True):
        doc = row.doc or {}
        if doc.get("key") != key:
            continue
        version_id = doc.get("version_id")
        if not versions.exists(version_id):
            replayed = versions.with_sha256(doc.get("sha256"))
            if replayed:
                row.update(actions=[MaterialModel.doc.set({**doc, "version_id": replayed})])
                version_id = replayed
                changed += 1
        if doc.get("slot_id"):
            by_slot[doc["slot_id"]] = version_id
    try:
        slot = UploadSlotModel.get(pk, f"SLOT#{slot_id}", consistent_read=True)
    except DoesNotExist:
        return changed
    doc = slot.doc or {}
    recorded = doc.get("version_id", _NO_VERSION)
    if recorded is _NO_VERSION or versions.exists(recorded):
        return changed  # open or rejected (no digest to go by), or still right
    replayed = by_slot.get(slot_id)
    if replayed and versions.exists(replayed):
        slot.update(actions=[UploadSlotModel.doc.set({**doc, "version_id": replayed})])
        changed += 1
    return changed


def repoint_versions(s3=None, bucket: str | None = None) -> int:
    """Give every record that names a version of an object in the materials bucket that no
    longer exists the replayed version of the same key with the recorded SHA-256 (see the
    module's docstring). Returns how many records changed. Reads each object once at most
    (local data is small); keys without a record are left alone."""
    from chalicelib import settings
    from chalicelib.adapters.aws import client
    from chalicelib.domain import materials as material_rules
    s3 = s3 or client("s3")
    bucket = bucket or settings.MATERIALS_BUCKET
    changed = 0
    for key, listed in sorted(_object_versions(s3, bucket).items()):
        versions = _Versions(s3, bucket, key, listed)
        parts = key.split("/")
        handler: Callable[..., int] | None = None
        if len(parts) == 3 and parts[0] == "documents" and parts[2].endswith(".pdf"):
            handler, args = _documents, (parts[1], parts[2][:-len(".pdf")])
        elif material_rules.parse_key(key) is not None and material_rules.object_key(**material_rules.parse_key(key)) == key:
            where = material_rules.parse_key(key)
            handler, args = _materials, (where["case_no"], where["code"], where["slot_id"])
        if handler is not None:
            changed += handler(*args, key, versions)
    return changed
