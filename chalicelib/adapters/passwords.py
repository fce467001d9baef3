"""Staff password hashing with argon2-cffi (argon2id, the library's recommended parameters)."""
from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Argon2Passwords:
    """``hash(password) -> str`` and ``verify(hash, password) -> bool``."""

    def __init__(self) -> None:
        self._hasher = PasswordHasher()
        self._dummy = self._hasher.hash("bianmin-timing-equaliser")

    def hash(self, password: str) -> str:
        """An argon2id hash string (salt and parameters included)."""
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True if ``password`` matches. With ``password_hash`` None (unknown user) a dummy
        hash is checked so the answer takes as long as for a real account."""
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
