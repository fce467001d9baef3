"""Who may see and do what: roles, the authenticated principal, agent consent, and the
object-level rules every use case applies (issue 3; Huaihua model roles, domain.md section 3).

Rules live here once; use cases call them with the object they loaded. A caller who may not
see an object gets the same answer as for an object that does not exist (404), so existence
does not leak.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .errors import DomainError

VILLAGER = "villager"                    # 村民 (申请人本人)
VILLAGE_AGENT = "village_agent"          # 村代办员
WINDOW_CLERK = "window_clerk"            # 乡镇便民服务中心窗口工作人员
COUNTY_APPROVER = "county_approver"      # 县直部门审批人员
SUPERVISOR = "supervisor"                # 乡镇监督人员（纪检、督查）
ADMINISTRATOR = "administrator"          # 系统管理员（事项目录与账号）
STATION_OPERATOR = "station_operator"    # 第三方民生服务站运营方

STAFF_ROLES = (WINDOW_CLERK, COUNTY_APPROVER, SUPERVISOR, ADMINISTRATOR)
ALL_ROLES = (VILLAGER, VILLAGE_AGENT, *STAFF_ROLES, STATION_OPERATOR)
ROLE_LABELS = {VILLAGER: "村民", VILLAGE_AGENT: "村代办员", WINDOW_CLERK: "窗口工作人员",
               COUNTY_APPROVER: "县直部门审批人员", SUPERVISOR: "监督人员", ADMINISTRATOR: "系统管理员",
               STATION_OPERATOR: "服务站运营方"}


class Unauthenticated(DomainError):
    """No valid credentials (HTTP 401): missing, expired or tampered token, bad password,
    invalid or reused login code, bad operator signature."""

    code = "UNAUTHENTICATED"
    message = "登录已失效，请重新登录"


class Forbidden(DomainError):
    """The caller is known but their role may not use this endpoint at all (HTTP 403). For a
    single object the caller may not see, raise ``NotFound`` instead (no existence leak)."""

    code = "FORBIDDEN"
    message = "您没有权限执行该操作"


class TooManyRequests(DomainError):
    """Rate limit or lockout (HTTP 429); ``retry_after`` seconds in the body."""

    code = "TOO_MANY_REQUESTS"
    message = "请求过于频繁，请稍后再试"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller, as carried by a verified access token or operator signature.

    ``subject`` is stable and opaque: ``u_<id>`` for mini-program users, ``staff_<username>``
    for staff, ``op_<operator_id>`` for station operators. ``id_key`` is the keyed hash of the
    bound resident ID number (never the number itself); ``id_verified`` says a window clerk
    checked that binding against the ID card (a self-declared binding is not). ``township_codes`` are 9-digit
    township codes (clerks, supervisors, agents), ``villages`` 12-digit village codes (agents),
    ``department`` a county department code (approvers).
    """

    subject: str
    roles: frozenset[str]
    township_codes: tuple[str, ...] = ()
    villages: tuple[str, ...] = ()
    department: str | None = None
    operator_id: str | None = None
    id_key: str | None = None
    session_id: str | None = None
    id_verified: bool = False

    def has(self, *roles: str) -> bool:
        """True if the principal holds any of ``roles``."""
        return bool(self.roles.intersection(roles))

    def require(self, *roles: str) -> None:
        """Raise :class:`Forbidden` unless the principal holds one of ``roles``."""
        if not self.has(*roles):
            raise Forbidden()


@dataclass(frozen=True)
class Origin:
    """Where a request came from, for the audit log: source IP, user agent, request id, and
    the channel (``mini_program``, ``staff``, ``operator_api``, ``operator_sqs``, ``cli``)."""

    ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    channel: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"ip": self.ip, "user_agent": self.user_agent[:200], "request_id": self.request_id,
                "channel": self.channel}


@dataclass(frozen=True)
class Consent:
    """A villager's authorization of a village agent (代办委托).

    ``scope`` is ``"case"`` (one case, ``case_no``) or ``"period"`` (every case of the villager
    from ``valid_from`` to ``valid_until``, UTC). A revoked consent (``revoked_at`` set) covers
    nothing from that moment on. ``granter_verified``: the account that gave it (``granted_by``)
    holds a binding to the villager's ID that a window clerk verified, now (a declared binding
    is what anybody who knows the ID number could type).
    """

    consent_id: str
    applicant_key: str
    agent_subject: str
    scope: str
    granted_at: dt.datetime
    valid_from: dt.datetime
    valid_until: dt.datetime | None = None
    case_no: str | None = None
    revoked_at: dt.datetime | None = None
    granted_by: str = ""
    granter_verified: bool = False

    def active(self, at: dt.datetime) -> bool:
        """In force at ``at`` (UTC): started, not ended, not revoked."""
        if self.revoked_at is not None and self.revoked_at <= at:
            return False
        if at < self.valid_from:
            return False
        return self.valid_until is None or at < self.valid_until

    def covers(self, case_no: str | None, at: dt.datetime) -> bool:
        """True if the agent may act at ``at`` on case ``case_no`` (None: a case not filed
        yet, which only a period consent covers)."""
        if not self.active(at):
            return False
        return self.scope == "period" or (case_no is not None and self.case_no == case_no)


@dataclass
class CaseAccess:
    """The facts about a case the access rules need (from the case item)."""

    township_code: str
    applicant_key: str | None = None
    village_code: str | None = None
    filed_by: str | None = None
    operator_id: str | None = None
    forwarded_departments: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, case: Mapping[str, Any]) -> "CaseAccess":
        return cls(township_code=case["township_code"], applicant_key=case.get("applicant_key"),
                   village_code=case.get("village_code"), filed_by=case.get("filed_by"),
                   operator_id=case.get("operator_id"),
                   forwarded_departments=tuple(case.get("forwarded_departments") or ()))


def agent_may_act(principal: Principal, case_no: str | None, applicant_key: str | None,
                  village_code: str | None, consents: Iterable[Consent], at: dt.datetime,
                  filed_by: str | None = None) -> bool:
    """A village agent may act for a villager when the villager's village is one of the
    agent's and a consent of that villager to that agent covers the case at ``at``.

    ``case_no`` None is a case not filed yet (the agent files it); otherwise ``filed_by`` is
    who filed the case. A consent given from a declared (unverified) binding covers only the
    cases that the agent or the consenting account filed: like the declared binding itself,
    it must not open cases the window, a station or another agent filed for that person."""
    if not principal.has(VILLAGE_AGENT) or not applicant_key:
        return False
    if village_code not in principal.villages:
        return False
    return any(c.applicant_key == applicant_key and c.agent_subject == principal.subject
               and c.covers(case_no, at)
               and (case_no is None or c.granter_verified or filed_by in (principal.subject, c.granted_by))
               for c in consents)


def may_read_case(principal: Principal, case_no: str, case: CaseAccess,
                  consents: Iterable[Consent] = (), at: dt.datetime | None = None) -> bool:
    """The object-level rule for reading one case (issue 3, item 3):

    - villager: their own case (bound ID matches the applicant), but a case somebody else
      filed for them (agent, window, operator) only once their binding was verified at the
      window: knowing a person's ID number must not open that person's cases;
    - village agent: a case of a villager in their villages who consented (case or period;
      a consent from a declared binding only for the cases the agent or that account filed);
    - window clerk and supervisor: cases of their township;
    - county approver: cases forwarded to their department;
    - station operator: cases it filed;
    - administrator: none (catalog and accounts only).
    """
    at = at or dt.datetime.now(dt.timezone.utc)
    if principal.has(VILLAGER) and principal.id_key and principal.id_key == case.applicant_key and (
            principal.id_verified or case.filed_by == principal.subject):
        return True
    if principal.has(WINDOW_CLERK, SUPERVISOR) and case.township_code in principal.township_codes:
        return True
    if principal.has(COUNTY_APPROVER) and principal.department in case.forwarded_departments:
        return True
    if principal.has(STATION_OPERATOR) and principal.operator_id and principal.operator_id == case.operator_id:
        return True
    return agent_may_act(principal, case_no, case.applicant_key, case.village_code, consents, at, case.filed_by)


def village_in_township(village_code: str, township_code: str) -> bool:
    """A 12-digit village code (GB/T 10114 statistical division code) belongs to the 9-digit
    township that prefixes it."""
    return len(village_code) == 12 and village_code.startswith(township_code)
