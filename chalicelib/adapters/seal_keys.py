"""E-seal private keys behind one interface: a :class:`SealKey` has ``key_id``,
``public_key_der`` (DER SubjectPublicKeyInfo) and ``sign_raw(message) -> signature``
(RSASSA-PKCS1-v1_5 with SHA-256 over ``message``; the backend hashes).

* :class:`KmsSealKeys` (``settings.SEAL_KEYS == "kms"``): AWS KMS asymmetric ``RSA_2048``
  ``SIGN_VERIFY`` keys. The private key never leaves KMS. ``Sign`` is called with
  ``MessageType='RAW'`` (moto ignores ``DIGEST`` and hashes again, design.md; RAW is also right
  in AWS: pyHanko's signed attributes are far below KMS's 4,096-byte message limit).
* :class:`FileSealKeys` (``"file"``, the local runner, whose moto state is replayed after a
  restart and would lose KMS key material): PEM private keys under ``settings.SEAL_KEY_DIR``,
  created on first use with mode 0600.

``cryptography`` is imported only inside these functions (documents path only).
"""
from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import settings
from .aws import client

SIGNING_ALGORITHM = "RSASSA_PKCS1_V1_5_SHA_256"


@dataclass(frozen=True)
class SealKey:
    """One seal key: its id in the backend, its public key and the signing function."""

    key_id: str
    public_key_der: bytes
    sign_raw: Callable[[bytes], bytes]


class KmsSealKeys:
    """Seal keys in AWS KMS. Calls: CreateKey + GetPublicKey per new key (tags go with
    CreateKey), CreateAlias for the one that became the seal; GetPublicKey once per key and
    container; Sign per signature."""

    backend = "kms"

    def __init__(self) -> None:
        self._public: dict[str, bytes] = {}

    def create(self, tags: dict[str, str]) -> SealKey:
        """A new key tagged ``tags`` (CreateKey + GetPublicKey)."""
        key_id = client("kms").create_key(
            KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY", Description=f"bianmin e-seal {tags.get('owner', '')}",
            Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()])["KeyMetadata"]["KeyId"]
        return self.key(key_id)

    def name(self, key_id: str, alias: str) -> None:
        """Attach ``alias`` to the key that became the seal (after its record was put, so the
        alias never points at a key that lost a creation race)."""
        client("kms").create_alias(AliasName=alias, TargetKeyId=key_id)

    def key(self, key_id: str) -> SealKey:
        """The key ``key_id`` (its public key read once per container)."""
        if key_id not in self._public:
            self._public[key_id] = client("kms").get_public_key(KeyId=key_id)["PublicKey"]

        def sign_raw(message: bytes) -> bytes:
            return client("kms").sign(KeyId=key_id, Message=message, MessageType="RAW",
                                      SigningAlgorithm=SIGNING_ALGORITHM)["Signature"]
        return SealKey(key_id, self._public[key_id], sign_raw)

    def discard(self, key_id: str) -> None:
        """Schedule the deletion of a key that lost a creation race (7 days, KMS's minimum)."""
        client("kms").schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)


class FileSealKeys:
    """Seal keys as PEM files (PKCS#8, unencrypted, 0600) in ``directory``: the local stand-in."""

    backend = "file"

    def __init__(self, directory: str | None = None) -> None:
        self.directory = Path(directory or settings.SEAL_KEY_DIR)

    def create(self, tags: dict[str, str]) -> SealKey:
        """A new RSA-2048 key in a new file (``<uuid>.pem``, created exclusively, mode 0600)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_id = f"file-{uuid.uuid4().hex}"
        pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        fd = os.open(self._path(key_id), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        return self.key(key_id)

    def key(self, key_id: str) -> SealKey:
        """The key stored as ``<key_id>.pem``. Raises FileNotFoundError when it is gone."""
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding
        private = serialization.load_pem_private_key(self._path(key_id).read_bytes(), password=None)
        public = private.public_key().public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)

        def sign_raw(message: bytes) -> bytes:
            return private.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return SealKey(key_id, public, sign_raw)

    def name(self, key_id: str, alias: str) -> None:
        """Files have no aliases: the catalog record names the key."""

    def discard(self, key_id: str) -> None:
        """Delete the file of a key that lost a creation race."""
        self._path(key_id).unlink(missing_ok=True)

    def _path(self, key_id: str) -> Path:
        if not key_id.startswith("file-") or not key_id[5:].isalnum():
            raise ValueError("not a file seal key id")
        return self.directory / f"{key_id}.pem"


def seal_keys():
    """The backend ``settings.SEAL_KEYS`` names."""
    if settings.SEAL_KEYS == "file":
        return FileSealKeys()
    if settings.SEAL_KEYS == "kms":
        return KmsSealKeys()
    raise ValueError(f"unknown BIANMIN_SEAL_KEYS {settings.SEAL_KEYS!r} (kms or file)")
