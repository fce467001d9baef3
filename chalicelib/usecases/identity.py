"""Identity use cases (issue 3, items 1-2): mini-program login through WeChat's
code2Session, real-name binding, staff password login, refresh-token rotation, logout, and the
administrator's staff accounts and village agent appointments.

Tokens: a short-lived access token (JWT, ``settings.ACCESS_TOKEN_SECONDS``) and an opaque
refresh token ``<session id>.<secret>``; the server keeps only the SHA-256 of the secret and
rotates it on every refresh. Presenting the previous secret again (a stolen or replayed refresh
token) revokes the whole session.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

from .. import settings
from .. import validation as schemas
from ..domain.access import (ADMINISTRATOR, COUNTY_APPROVER, ROLE_LABELS, SUPERVISOR, VILLAGE_AGENT,
                             VILLAGER, WINDOW_CLERK, Origin, Principal, TooManyRequests,
                             Unauthenticated, village_in_township)
from ..domain.cases import utc_iso
from ..domain.errors import Conflict, FieldProblem, NotFound, ServiceUnavailable, ValidationFailed
from ..domain.people import id_number_valid, mask_id_number, mask_name
from . import audit
from .ports import Clock, utcnow





def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _check_id(body: dict[str, Any], field: str = "id_number") -> str:
    number = body[field].upper()
    if not id_number_valid(number):
        raise ValidationFailed(details=[FieldProblem(field, "ID_NUMBER_CHECKSUM", "身份证号码校验位不正确，请核对")])
    return number


# --- principals -------------------------------------------------------------------------------

def user_principal(user: dict[str, Any], identity, session_id: str | None = None) -> Principal:
    """The principal of a mini-program user: a villager, and a village agent for the villages
    of an active appointment matching the bound resident ID once a window clerk has verified
    that binding (a self-declared ID never makes anyone an agent)."""
    roles = {VILLAGER}
    townships: tuple[str, ...] = ()
    villages: tuple[str, ...] = ()
    verified = bool(user.get("id_key") and user.get("verified_at"))
    appointment = identity.agent_appointment(user.get("id_key")) if verified else None
    if appointment:
        roles.add(VILLAGE_AGENT)
        townships = (appointment["township_code"],)
        villages = tuple(appointment["villages"])
    return Principal(subject=user["subject"], roles=frozenset(roles), township_codes=townships, villages=villages,
                     id_key=user.get("id_key"), session_id=session_id, id_verified=verified)


def staff_principal(staff: dict[str, Any], session_id: str | None = None) -> Principal:
    """The principal of a staff account."""
    return Principal(subject=staff["subject"], roles=frozenset(staff["roles"]),
                     township_codes=tuple(staff.get("township_codes") or ()), department=staff.get("department"),
                     session_id=session_id)


def _tokens(principal: Principal, refresh_token: str, tokens, now: dt.datetime) -> dict[str, Any]:
    access, expires_in = tokens.issue(principal, now)
    return {"access_token": access, "token_type": "Bearer", "expires_in": expires_in,
            "refresh_token": refresh_token, "refresh_expires_in": settings.REFRESH_SESSION_SECONDS,
            "subject": principal.subject, "roles": sorted(principal.roles)}


def _new_session(subject: str, kind: str, identity, now: dt.datetime,
                 wechat_session_key: str | None = None) -> tuple[str, str]:
    sid = secrets.token_urlsafe(16)
    secret = secrets.token_urlsafe(32)
    identity.create_session(sid, {"subject": subject, "kind": kind, "refresh_hash": _sha256(secret),
                                  "wechat_session_key": wechat_session_key, "created_at": utc_iso(now),
                                  "expires_at": now + dt.timedelta(seconds=settings.REFRESH_SESSION_SECONDS)})
    return sid, f"{sid}.{secret}"


# --- mini-program -----------------------------------------------------------------------------

def wechat_login(body: Any, *, origin: Origin, wechat, identity, tokens, audit_log,
                 now: Clock = utcnow) -> dict[str, Any]:
    """``POST /v1/auth/wx-login``: exchange a ``wx.login()`` code for our tokens.

    The code is recorded as used before it is exchanged, so a second use is refused even if
    the first exchange is still running (``LOGIN_CODE_USED``); an invalid or expired code gets
    ``LOGIN_CODE_INVALID`` (WeChat errcode 40029). First login creates the user.
    """
    from ..adapters.wechat import ERR_CODE_USED, ERR_RATE_LIMIT, WeChatLoginError
    schemas.validate("wx_login", body)
    moment = now()
    if not identity.use_login_code(_sha256(body["code"]), moment):
        raise Unauthenticated("登录凭证已使用，请重新打开小程序登录", code="LOGIN_CODE_USED")
    try:
        session = wechat.code2session(body["code"])
    except (OSError, ValueError, KeyError) as exc:  # WeChat unreachable or answering garbage: not the code's fault
        identity.release_login_code(_sha256(body["code"]))
        raise ServiceUnavailable("微信登录服务暂时不可用，请稍后重试", code="WECHAT_UNAVAILABLE", retry_after=5) from exc
    except WeChatLoginError as exc:
        if exc.errcode == ERR_CODE_USED:
            raise Unauthenticated("登录凭证已使用，请重新打开小程序登录", code="LOGIN_CODE_USED") from exc
        if exc.errcode == ERR_RATE_LIMIT:
            raise TooManyRequests(code="LOGIN_RATE_LIMITED", retry_after=60) from exc
        raise Unauthenticated("登录凭证无效或已过期，请重新打开小程序登录", code="LOGIN_CODE_INVALID") from exc
    user = identity.user_for_openid(session.openid, "u_" + secrets.token_hex(10), moment)
    sid, refresh_token = _new_session(user["subject"], "wechat", identity, moment, session.session_key)
    principal = user_principal(user, identity, sid)
    audit.record(audit_log, principal, origin, "auth.login", audit.subject_target(principal.subject),
                 {"method": "wechat"}, moment)
    return {**_tokens(principal, refresh_token, tokens, moment), "identity_bound": bool(user.get("id_key"))}


def bind_identity(principal: Principal, origin: Origin, body: Any, *, identity, id_keys, tokens, audit_log,
                  now: Clock = utcnow) -> dict[str, Any]:
    """``PUT /v1/me/identity``: real-name binding of a mini-program user (name and resident ID,
    GB 11643 check digit). Stores only the keyed hash of the ID and masked name and ID. One
    account per ID (``IDENTITY_TAKEN`` 409 otherwise); the same ID again is a no-op. Returns
    fresh tokens, since an appointed village agent gains that role now."""
    from ..adapters.identity_repo import AlreadyBound, IdentityTaken
    principal.require(VILLAGER)
    schemas.validate("identity_binding", body)
    number = _check_id(body)
    key = id_keys(number)
    moment = now()
    profile = identity.get_user(principal.subject)
    if profile is None:
        raise Unauthenticated(code="TOKEN_INVALID")
    if profile.get("id_key") and profile["id_key"] != key:  # the stored profile, not a possibly stale token
        raise Conflict("您已完成实名认证，不能更换为其他身份证号", code="IDENTITY_ALREADY_BOUND")
    trail = [audit.entry(principal, origin, "identity.bind", audit.subject_target(principal.subject),
                         {"id_number": mask_id_number(number)}, moment)]
    try:
        identity.bind_identity(principal.subject, key, mask_name(body["name"]), mask_id_number(number), moment, trail)
    except IdentityTaken as exc:
        raise Conflict("该身份证号已绑定其他微信账号，如有疑问请到乡镇便民服务中心窗口办理",
                       code="IDENTITY_TAKEN") from exc
    except AlreadyBound as exc:
        raise Conflict("您已完成实名认证，不能更换为其他身份证号", code="IDENTITY_ALREADY_BOUND") from exc
    user = identity.get_user(principal.subject)
    fresh = user_principal(user, identity, principal.session_id)
    access, expires_in = tokens.issue(fresh, moment)
    return {"access_token": access, "token_type": "Bearer", "expires_in": expires_in, "me": me_view(fresh, user)}


def me_view(principal: Principal, profile: dict[str, Any] | None) -> dict[str, Any]:
    """``GET /v1/me``: who the caller is, masked."""
    view = {"subject": principal.subject, "roles": sorted(principal.roles),
            "role_labels": [ROLE_LABELS[r] for r in sorted(principal.roles) if r in ROLE_LABELS],
            "township_codes": list(principal.township_codes), "villages": list(principal.villages),
            "department": principal.department}
    if profile is not None:
        view.update({"identity_bound": bool(profile.get("id_key")), "identity_verified": bool(profile.get("verified_at")),
                     "name": profile.get("name_masked"),
                     "id_number": profile.get("id_masked"), "display_name": profile.get("display_name")})
    return view


def me(principal: Principal, *, identity) -> dict[str, Any]:
    """The caller's profile (mini-program user or staff)."""
    if principal.subject.startswith("u_"):
        return me_view(principal, identity.get_user(principal.subject))
    if principal.subject.startswith("staff_"):
        staff = identity.get_staff(principal.subject[len("staff_"):]) or {}
        return me_view(principal, {"display_name": staff.get("display_name")})
    return me_view(principal, None)


def verify_identity(principal: Principal, origin: Origin, body: Any, *, identity, id_keys, audit_log,
                    now: Clock = utcnow) -> dict[str, Any]:
    """``POST /v1/identity-verifications`` (window clerk): the clerk has checked a villager's
    ID card at the window and binds that resident ID to the villager's account (``subject``,
    shown on the villager's phone) as verified. Only a verified binding shows the villager
    cases others filed for them and gives an appointed agent the agent role. If somebody else
    had bound that ID (typed it without holding the card), the binding moves to the verified
    owner. Audited for both accounts, in the same transaction. NotFound for an unknown
    account."""
    principal.require(WINDOW_CLERK)
    schemas.validate("identity_verification", body)
    number = _check_id(body)
    key = id_keys(number)
    moment = now()
    subject = body["subject"]
    trail = [audit.entry(principal, origin, "identity.verify", audit.subject_target(subject),
                         {"id_number": mask_id_number(number)}, moment)]
    holder = identity.subject_for_id_key(key)
    if holder and holder != subject:
        trail.append(audit.entry(principal, origin, "identity.unbind", audit.subject_target(holder),
                                 {"id_number": mask_id_number(number), "moved_to": subject}, moment))
    try:
        taken_from = identity.verify_binding(subject, key, mask_name(body["name"]), mask_id_number(number),
                                             principal.subject, moment, trail)
    except KeyError as exc:
        raise NotFound("未找到该用户，请让村民在小程序“我的”页面出示用户编号",
                       details=[FieldProblem("subject", "UNKNOWN_USER", "用户编号不存在")]) from exc
    return {"subject": subject, "identity_verified": True, "id_number": mask_id_number(number),
            "name": mask_name(body["name"]), "binding_moved_from_another_account": bool(taken_from)}


# --- staff ------------------------------------------------------------------------------------

def staff_login(body: Any, *, origin: Origin, identity, passwords, tokens, audit_log,
                now: Clock = utcnow) -> dict[str, Any]:
    """``POST /v1/auth/staff-login``: user name and password (argon2id).

    ``BAD_CREDENTIALS`` (401) for an unknown user or a wrong password alike, in about the same
    time; after ``settings.STAFF_MAX_FAILED_LOGINS`` failures within
    ``settings.STAFF_LOCKOUT_SECONDS`` the account is locked for that window
    (``ACCOUNT_LOCKED`` 429 with ``retry_after``); a disabled account gets ``ACCOUNT_DISABLED``.
    """
    schemas.validate("staff_login", body)
    moment = now()
    staff = identity.get_staff(body["username"])
    clock = int(moment.timestamp())
    if staff and not identity.reserve_login_attempt(body["username"], clock, settings.STAFF_LOCKOUT_SECONDS,
                                                    settings.STAFF_MAX_FAILED_LOGINS):
        retry = settings.STAFF_LOCKOUT_SECONDS - (clock - int(staff.get("failure_window_start") or clock))
        raise TooManyRequests("登录失败次数过多，账号已暂时锁定，请稍后再试", code="ACCOUNT_LOCKED",
                              retry_after=max(1, min(retry, settings.STAFF_LOCKOUT_SECONDS)))
    ok = passwords.verify(staff["password_hash"] if staff else None, body["password"])
    if not ok:
        if staff:
            audit.record(audit_log, None, origin, "auth.login_failed", audit.subject_target(staff["subject"]),
                         {"method": "password"}, moment)
        raise Unauthenticated("用户名或密码错误", code="BAD_CREDENTIALS")
    if staff.get("disabled"):
        raise Unauthenticated("账号已停用，请联系系统管理员", code="ACCOUNT_DISABLED")
    identity.reset_login_failures(body["username"], clock)
    sid, refresh_token = _new_session(staff["subject"], "staff", identity, moment)
    principal = staff_principal(staff, sid)
    audit.record(audit_log, principal, origin, "auth.login", audit.subject_target(principal.subject),
                 {"method": "password"}, moment)
    return _tokens(principal, refresh_token, tokens, moment)


def refresh(body: Any, *, origin: Origin, identity, tokens, audit_log, now: Clock = utcnow) -> dict[str, Any]:
    """``POST /v1/auth/refresh``: a new access token and a new refresh token; the old refresh
    token stops working. Roles are read again (an agent appointed or a staff account disabled
    since the last login takes effect now). ``REFRESH_INVALID`` for an unknown, expired or
    revoked session; ``REFRESH_REUSED`` when an already-rotated token comes back, which revokes
    the session (someone else may hold it)."""
    from ..adapters.identity_repo import SessionChanged
    schemas.validate("token_refresh", body)
    moment = now()
    sid, _, secret = body["refresh_token"].partition(".")
    session = identity.get_session(sid) if sid and secret else None
    invalid = Unauthenticated("登录已失效，请重新登录", code="REFRESH_INVALID")
    if (session is None or session.get("revoked_at")
            or session["expires_at"] <= moment):
        raise invalid
    presented = _sha256(secret)
    if not hmac.compare_digest(presented, session["refresh_hash"]):
        if session.get("previous_hash") and hmac.compare_digest(presented, session["previous_hash"]):
            identity.revoke_session(sid, moment)
            audit.record(audit_log, None, origin, "auth.refresh_reused", audit.subject_target(session["subject"]),
                         {"session": sid[:6]}, moment)
            raise Unauthenticated("登录状态异常，已为您安全退出，请重新登录", code="REFRESH_REUSED")
        raise invalid
    principal = _principal_for_session(session, sid, identity)
    new_secret = secrets.token_urlsafe(32)
    try:
        identity.rotate_session(sid, presented, _sha256(new_secret), moment)
    except SessionChanged as exc:
        raise invalid from exc
    return _tokens(principal, f"{sid}.{new_secret}", tokens, moment)


def _principal_for_session(session: dict[str, Any], sid: str, identity) -> Principal:
    subject = session["subject"]
    if session["kind"] == "staff":
        staff = identity.get_staff(subject[len("staff_"):])
        if not staff or staff.get("disabled"):
            raise Unauthenticated("账号已停用，请联系系统管理员", code="ACCOUNT_DISABLED")
        return staff_principal(staff, sid)
    user = identity.get_user(subject)
    if not user:
        raise Unauthenticated(code="REFRESH_INVALID")
    return user_principal(user, identity, sid)


def logout(principal: Principal, origin: Origin, *, identity, audit_log, now: Clock = utcnow) -> dict[str, Any]:
    """``POST /v1/auth/logout``: revoke the caller's refresh session. The access token in hand
    stays valid until it expires (at most ``settings.ACCESS_TOKEN_SECONDS``)."""
    moment = now()
    if principal.session_id:
        identity.revoke_session(principal.session_id, moment)
    audit.record(audit_log, principal, origin, "auth.logout", audit.subject_target(principal.subject), None, moment)
    return {"logged_out": True}


# --- administration ---------------------------------------------------------------------------

def create_staff_account(principal: Principal, origin: Origin, body: Any, *, identity, passwords, audit_log,
                         now: Clock = utcnow) -> dict[str, Any]:
    """``POST /v1/admin/accounts`` (administrator): a staff account. Clerks and supervisors
    need their township codes, county approvers their department. The password is stored as
    an argon2id hash and never returned. ``USERNAME_TAKEN`` 409 for an existing user name."""
    from ..adapters.identity_repo import AlreadyExists
    principal.require(ADMINISTRATOR)
    schemas.validate("staff_account", body)
    roles = set(body["roles"])
    problems = []
    if roles & {WINDOW_CLERK, SUPERVISOR} and not body.get("township_codes"):
        problems.append(FieldProblem("township_codes", "FIELD_REQUIRED", "窗口工作人员和监督人员须指定所属乡镇"))
    if COUNTY_APPROVER in roles and not body.get("department"):
        problems.append(FieldProblem("department", "FIELD_REQUIRED", "县直部门审批人员须指定所属部门"))
    if body["password"].lower() in body["username"].lower() or len(set(body["password"])) < 5:
        problems.append(FieldProblem("password", "PASSWORD_WEAK", "密码过于简单，请至少使用10位且不含用户名"))
    if problems:
        raise ValidationFailed(details=problems)
    moment = now()
    record = {"username": body["username"], "subject": f"staff_{body['username']}",
              "display_name": body["display_name"], "roles": sorted(roles),
              "township_codes": body.get("township_codes") or None, "department": body.get("department"),
              "password_hash": passwords.hash(body["password"]), "created_by": principal.subject,
              "created_at": utc_iso(moment)}
    trail = [audit.entry(principal, origin, "account.create", audit.subject_target(record["subject"]),
                         {"roles": record["roles"], "township_codes": record["township_codes"] or []}, moment)]
    try:
        identity.create_staff(record, trail)
    except AlreadyExists as exc:
        raise Conflict("该用户名已存在", code="USERNAME_TAKEN") from exc
    return {k: record[k] for k in ("username", "subject", "display_name", "roles", "township_codes", "department",
                                   "created_at")}


def disable_staff_account(principal: Principal, origin: Origin, username: str, *, identity, audit_log,
                          now: Clock = utcnow) -> dict[str, Any]:
    """``POST /v1/admin/accounts/{username}/disable`` (administrator): the account can no
    longer log in or refresh; its current access token expires within 15 minutes."""
    principal.require(ADMINISTRATOR)
    if principal.subject == f"staff_{username}":
        raise Conflict("不能停用自己的账号", code="CANNOT_DISABLE_SELF")
    trail = [audit.entry(principal, origin, "account.disable", audit.subject_target(f"staff_{username}"), None, now())]
    if not identity.set_staff_disabled(username, True, trail):
        raise NotFound("未找到该账号")
    return {"username": username, "disabled": True}


def appoint_agent(principal: Principal, origin: Origin, body: Any, *, identity, id_keys, audit_log,
                  now: Clock = utcnow) -> dict[str, Any]:
    """``POST /v1/admin/agents`` (administrator): appoint (or update, or with ``active: false``
    end) a village agent for villages of one township, by the agent's resident ID. The agent's
    account gets the role when it is bound to that ID (at its next login or refresh)."""
    principal.require(ADMINISTRATOR)
    schemas.validate("agent_appointment", body)
    number = _check_id(body)
    bad = [FieldProblem(f"villages[{i}]", "VILLAGE_NOT_IN_TOWNSHIP", "村代码不属于该乡镇")
           for i, v in enumerate(body["villages"]) if not village_in_township(v, body["township_code"])]
    if bad:
        raise ValidationFailed(details=bad)
    moment = now()
    key = id_keys(number)
    subject = identity.subject_for_id_key(key)
    trail = [audit.entry(principal, origin, "agent.appoint", audit.subject_target(subject or f"idkey_{key[:12]}"),
                         {"villages": body["villages"], "active": body.get("active", True)}, moment)]
    identity.put_agent_appointment(key, {"name": body["name"], "township_code": body["township_code"],
                                         "villages": body["villages"], "active": body.get("active", True),
                                         "appointed_by": principal.subject, "appointed_at": utc_iso(moment)}, trail)
    return {"name": mask_name(body["name"]), "id_number": mask_id_number(number),
            "township_code": body["township_code"], "villages": body["villages"],
            "active": body.get("active", True), "agent_subject": subject}

