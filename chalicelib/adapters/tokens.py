"""The API's own access tokens: JWT (RFC 7519) signed HS256 with PyJWT.

Access tokens are short-lived (``settings.ACCESS_TOKEN_SECONDS``, 15 minutes) and carry the
principal; refresh is by an opaque, server-side, rotating refresh token (``usecases.identity``),
so rotating the signing key only makes clients refresh.
"""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Callable

import jwt

from .. import settings
from ..domain.access import Principal

ISSUER = "bianmin"
AUDIENCE = "bianmin-api"


class TokenExpired(Exception):
    """The token was valid but its ``exp`` has passed (the client should refresh)."""


class TokenInvalid(Exception):
    """The token is malformed, signed with another key, altered, or not an access token."""


class JwtTokens:
    """Issue and verify access tokens. ``key`` returns the current HS256 key (bytes)."""

    def __init__(self, key: Callable[[], bytes]) -> None:
        self._key = key

    def issue(self, principal: Principal, now: dt.datetime) -> tuple[str, int]:
        """``(token, expires_in seconds)`` for ``principal``, valid from ``now`` (UTC)."""
        claims = {
            "iss": ISSUER, "aud": AUDIENCE, "typ": "access", "jti": uuid.uuid4().hex,
            "sub": principal.subject, "roles": sorted(principal.roles),
            "twp": list(principal.township_codes), "vil": list(principal.villages),
            "dept": principal.department, "op": principal.operator_id, "idk": principal.id_key,
            "sid": principal.session_id, "idv": principal.id_verified,
            "iat": int(now.timestamp()), "exp": int(now.timestamp()) + settings.ACCESS_TOKEN_SECONDS,
        }
        return jwt.encode(claims, self._key(), algorithm="HS256"), settings.ACCESS_TOKEN_SECONDS

    def verify(self, token: str) -> Principal:
        """The principal of a valid token. Raises :class:`TokenExpired` or :class:`TokenInvalid`."""
        try:
            claims = jwt.decode(token, self._key(), algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER,
                                options={"require": ["exp", "iat", "sub", "iss", "aud"]}, leeway=5)
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired() from exc
        except jwt.PyJWTError as exc:
            raise TokenInvalid(str(exc)) from exc
        if claims.get("typ") != "access":
            raise TokenInvalid("not an access token")
        return principal_from_claims(claims)


def principal_from_claims(claims: dict) -> Principal:
    """The principal a verified claim set describes (also the authorizer context's shape)."""
    return Principal(subject=claims["sub"], roles=frozenset(claims.get("roles") or ()),
                     township_codes=tuple(claims.get("twp") or ()), villages=tuple(claims.get("vil") or ()),
                     department=claims.get("dept"), operator_id=claims.get("op"), id_key=claims.get("idk"),
                     session_id=claims.get("sid"), id_verified=bool(claims.get("idv")))
