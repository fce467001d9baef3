"""The materials bucket (S3): presigned uploads and downloads, and objects by version.

One bucket holds uploaded application materials (``materials/...``) and generated, sealed
documents (``documents/...``); it is versioned, so an object is always addressed by its key
and ``VersionId`` once recorded: a later object under the same key never replaces what a case
refers to. Bytes of uploads never pass through Lambda (6 MB request limit, design.md).
"""
from __future__ import annotations

from typing import Any

from .. import settings
from .aws import client


class S3ObjectStore:
    """Objects of ``bucket`` (default ``settings.MATERIALS_BUCKET``)."""

    def __init__(self, bucket: str | None = None) -> None:
        self.bucket = bucket or settings.MATERIALS_BUCKET

    def presigned_post(self, key: str, *, content_types: list[str], min_bytes: int, max_bytes: int,
                       expires_seconds: int, metadata: dict[str, str] | None = None) -> dict[str, Any]:
        """A presigned POST for exactly ``key``: ``{"url", "fields"}``. The policy bounds the
        size to ``[min_bytes, max_bytes]`` and the ``Content-Type`` to one of ``content_types``;
        it expires after ``expires_seconds``. (S3 enforces the policy; moto does not, so the
        upload consumer checks size and type itself.) ``metadata`` becomes ``x-amz-meta-*``."""
        fields: dict[str, str] = {}
        conditions: list[Any] = [["content-length-range", min_bytes, max_bytes]]
        if len(content_types) == 1:
            fields["Content-Type"] = content_types[0]
            conditions.append({"Content-Type": content_types[0]})
        else:
            conditions.append(["starts-with", "$Content-Type", ""])
        for name, value in (metadata or {}).items():
            fields[f"x-amz-meta-{name}"] = value
            conditions.append({f"x-amz-meta-{name}": value})
        return client("s3").generate_presigned_post(self.bucket, key, Fields=fields, Conditions=conditions,
                                                    ExpiresIn=expires_seconds)

    def presigned_get(self, key: str, version_id: str | None, *, expires_seconds: int,
                      filename: str | None = None, content_type: str | None = None) -> str:
        """A presigned GET URL for ``key`` at ``version_id`` valid ``expires_seconds``; with
        ``filename`` the browser saves it under that name (RFC 6266 ``filename*``, UTF-8)."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        if filename:
            from urllib.parse import quote
            params["ResponseContentDisposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
        if content_type:
            params["ResponseContentType"] = content_type
        return client("s3").generate_presigned_url("get_object", Params=params, ExpiresIn=expires_seconds)

    def head(self, key: str, version_id: str | None = None) -> dict[str, Any] | None:
        """The object's metadata (``ContentLength``, ``ContentType``, ``VersionId``,
        ``Metadata``...) or None when it does not exist."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        try:
            return client("s3").head_object(**params)
        except client("s3").exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NoSuchVersion", "403"):
                return None
            raise

    def get_bytes(self, key: str, version_id: str | None = None, *, max_bytes: int | None = None) -> bytes:
        """The object's bytes (at most ``max_bytes`` read, when given)."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        if max_bytes is not None:
            params["Range"] = f"bytes=0-{max_bytes - 1}"
        return client("s3").get_object(**params)["Body"].read()

    def put_bytes(self, key: str, data: bytes, *, content_type: str,
                  metadata: dict[str, str] | None = None) -> str:
        """Store ``data`` under ``key`` with its SHA-256 checksum; returns the new ``VersionId``."""
        response = client("s3").put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type,
                                           Metadata=metadata or {}, ChecksumAlgorithm="SHA256")
        return response.get("VersionId") or ""

    def delete_version(self, key: str, version_id: str | None) -> None:
        """Delete one version of ``key`` for good: a sealed document whose record lost a race, or a
        refused upload (nothing reachable through the API deletes an object). Without a version
        nothing is deleted (an unversioned bucket would lose the winner's object)."""
        if version_id:
            client("s3").delete_object(Bucket=self.bucket, Key=key, VersionId=version_id)
