"""Login blueprint: mini-program (WeChat code) and staff (password) login, token refresh,
logout, the caller's profile and real-name binding."""
from __future__ import annotations

from chalice import Blueprint

from .. import container
from ..domain.access import VILLAGER, WINDOW_CLERK
from ..usecases import identity
from .errors import BODY_TYPES, json_body
from .security import PUBLIC, endpoint

bp = Blueprint(__name__)


@endpoint(bp, "/v1/auth/wx-login", methods=["POST"], access=PUBLIC, content_types=BODY_TYPES)
def wx_login(caller):
    """``{code}`` from ``wx.login()`` -> access and refresh tokens."""
    return identity.wechat_login(json_body(bp.current_request), origin=caller.origin, wechat=container.wechat(),
                                 identity=container.identity(), tokens=container.tokens(),
                                 audit_log=container.audit_log())


@endpoint(bp, "/v1/auth/staff-login", methods=["POST"], access=PUBLIC, content_types=BODY_TYPES)
def staff_login(caller):
    """``{username, password}`` -> access and refresh tokens."""
    return identity.staff_login(json_body(bp.current_request), origin=caller.origin, identity=container.identity(),
                                passwords=container.passwords(), tokens=container.tokens(),
                                audit_log=container.audit_log())


@endpoint(bp, "/v1/auth/refresh", methods=["POST"], access=PUBLIC, content_types=BODY_TYPES)
def refresh(caller):
    """``{refresh_token}`` -> new access and refresh tokens (the old refresh token dies)."""
    return identity.refresh(json_body(bp.current_request), origin=caller.origin, identity=container.identity(),
                            tokens=container.tokens(), audit_log=container.audit_log())


@endpoint(bp, "/v1/auth/logout", methods=["POST"], content_types=BODY_TYPES)
def logout(caller):
    """End the caller's session (refresh refused from now on)."""
    return identity.logout(caller.principal, caller.origin, identity=container.identity(),
                           audit_log=container.audit_log())


@endpoint(bp, "/v1/me")
def me(caller):
    """Who am I: roles, townships or villages, masked name and ID."""
    return identity.me(caller.principal, identity=container.identity())


@endpoint(bp, "/v1/me/identity", methods=["PUT"], roles=(VILLAGER,), content_types=BODY_TYPES)
def bind_identity(caller):
    """Real-name binding ``{name, id_number}``; returns a fresh access token."""
    return identity.bind_identity(caller.principal, caller.origin, json_body(bp.current_request),
                                  identity=container.identity(), id_keys=container.id_keys(),
                                  tokens=container.tokens(), audit_log=container.audit_log())


@endpoint(bp, "/v1/identity-verifications", methods=["POST"], roles=(WINDOW_CLERK,), content_types=BODY_TYPES)
def verify_identity(caller):
    """A window clerk verifies a villager's real-name binding against the ID card."""
    return identity.verify_identity(caller.principal, caller.origin, json_body(bp.current_request),
                                    identity=container.identity(), id_keys=container.id_keys(),
                                    audit_log=container.audit_log())
