"""Authentication for every route, and the route decorator that makes it the default.

- Mini-program users and staff send ``Authorization: Bearer <access token>``. The Chalice
  built-in authorizer :func:`token_authorizer` verifies it (it runs under ``chalice local`` and
  ``chalice.test`` too): a forged or altered token is denied by the gateway (403), a missing one
  is refused by the gateway (401), an expired one reaches the view marked expired and is
  answered 401 ``TOKEN_EXPIRED`` so the client knows to refresh.
- Station operators sign each request (HMAC-SHA256 over method, path, query, timestamp, nonce
  and body hash, ``docs/operator-api.md``). The body is not available to a TOKEN authorizer, so
  the signature is verified in the view wrapper, before the view runs.
- Public routes (the catalog, login) say so explicitly.

Every route is declared with :func:`endpoint`, which records its access kind in
:data:`ROUTES`; a test fails when a route exists that was not declared this way or has no
entry in the role x endpoint matrix (``tests/integration/test_access_matrix.py``).
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from chalice import AuthResponse, Blueprint

from .. import container
from ..domain.access import Origin, Principal, Unauthenticated
from .errors import api_view

bp = Blueprint(__name__)

PUBLIC, TOKEN, OPERATOR = "public", "token", "operator"
#: ``(method, path) -> access kind`` of every route declared with :func:`endpoint`.
ROUTES: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Caller:
    """Who is calling (None on public routes) and from where; passed to views as ``caller``."""

    principal: Principal | None
    origin: Origin


@bp.authorizer(ttl_seconds=0)
def token_authorizer(auth_request):
    """Verify ``Authorization: Bearer <JWT>``. Not cached (TTL 0), so expiry is exact."""
    from ..adapters.tokens import TokenExpired, TokenInvalid
    scheme, _, token = (auth_request.token or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return AuthResponse(routes=[], principal_id="anonymous")
    try:
        principal = container.tokens().verify(token.strip())
    except TokenExpired:
        return AuthResponse(routes=["*"], principal_id="expired", context={"token_error": "TOKEN_EXPIRED"})
    except TokenInvalid:
        return AuthResponse(routes=[], principal_id="anonymous")
    context = {"principal": json.dumps({
        "sub": principal.subject, "roles": sorted(principal.roles), "twp": list(principal.township_codes),
        "vil": list(principal.villages), "dept": principal.department, "op": principal.operator_id,
        "idk": principal.id_key, "sid": principal.session_id, "idv": principal.id_verified})}
    return AuthResponse(routes=["*"], principal_id=principal.subject, context=context)


def origin_of(request, channel: str) -> Origin:
    """Source IP, user agent and request id of a Chalice request."""
    context = request.context or {}
    return Origin(ip=(context.get("identity") or {}).get("sourceIp") or "",
                  user_agent=(request.headers or {}).get("user-agent", ""),
                  request_id=context.get("requestId") or "", channel=channel)


def principal_of(request) -> Principal:
    """The principal the authorizer put in the request context. Raises Unauthenticated."""
    from ..adapters.tokens import principal_from_claims
    authorizer = (request.context or {}).get("authorizer") or {}
    if authorizer.get("token_error") == "TOKEN_EXPIRED":
        raise Unauthenticated("登录已过期，请刷新登录状态", code="TOKEN_EXPIRED")
    if not authorizer.get("principal"):
        raise Unauthenticated(code="TOKEN_INVALID")
    return principal_from_claims(json.loads(authorizer["principal"]))


def signed_path(request) -> str:
    """The path an operator signs: the route (``request.path`` is the template, e.g.
    ``/v1/operator/cases/{case_no}``) with its path parameters filled in. The same in AWS and
    locally, whatever stage or custom-domain base path the URL carries (API Gateway's own
    ``path`` includes a base path; Chalice's local server has no ``path`` at all)."""
    path = request.path
    for name, value in (request.uri_params or {}).items():
        path = path.replace("{" + name + "}", value)
    return path


def endpoint(blueprint: Blueprint, path: str, *, methods: Iterable[str] = ("GET",), access: str = TOKEN,
             roles: Iterable[str] = (), **route_kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
    """Declare a route. ``access`` is :data:`TOKEN` (default: bearer token, ``roles`` checked,
    403 otherwise), :data:`OPERATOR` (signed operator request) or :data:`PUBLIC`. The view gets
    ``caller`` (a :class:`Caller`) as a keyword argument, and its result or domain error is
    shaped by :func:`api_view`."""
    methods = tuple(methods)
    roles = tuple(roles)
    if access not in (PUBLIC, TOKEN, OPERATOR):
        raise ValueError(f"unknown access kind {access}")

    def decorate(view: Callable[..., Any]) -> Any:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            request = blueprint.current_request
            if access == TOKEN:
                principal = principal_of(request)
                if roles:
                    principal.require(*roles)
                caller = Caller(principal, origin_of(request, "api"))
            elif access == OPERATOR:
                from ..usecases import operators
                origin = origin_of(request, "operator_api")
                event = request.to_original_event()
                principal = operators.authenticate(
                    method=request.method, path=signed_path(request),
                    query=event.get("multiValueQueryStringParameters") or {},
                    headers=dict(request.headers or {}), body=request.raw_body or b"",
                    gate=container.operator_gate())
                caller = Caller(principal, origin)
            else:
                caller = Caller(None, origin_of(request, "public"))
            return view(*args, caller=caller, **kwargs)

        for method in methods:
            ROUTES[(method, path)] = access
        if access == TOKEN:
            route_kwargs["authorizer"] = token_authorizer
        return blueprint.route(path, methods=list(methods), **route_kwargs)(api_view(wrapper))
    return decorate
