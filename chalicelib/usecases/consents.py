"""Agent consent (代办授权, issue 3 item 4): a villager authorizes a village agent for one case
or for a period, and can revoke it. Every agent action checks it
(``domain.access.agent_may_act``)."""
from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from .. import validation as schemas
from ..domain.access import VILLAGE_AGENT, VILLAGER, Forbidden, Origin, Principal
from ..domain.cases import SHANGHAI, utc_iso
from ..domain.errors import FieldProblem, NotFound, ValidationFailed
from ..domain.people import mask_name
from . import audit
from .ports import Clock, utcnow


#: A period consent lasts at most this many days.
MAX_PERIOD_DAYS = 366




def _view(row: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
    active = not row.get("revoked_at") and (not row.get("valid_until")
                                             or dt.datetime.fromisoformat(row["valid_until"]) > at)
    return {"consent_id": row["consent_id"], "scope": row["scope"], "case_no": row.get("case_no"),
            "agent_subject": row["agent_subject"], "agent_name": row.get("agent_name"),
            "applicant_name": row.get("applicant_name_masked"), "granted_at": row["granted_at"],
            "valid_from": row["valid_from"], "valid_until": row.get("valid_until"),
            "revoked_at": row.get("revoked_at"), "active": active}


def _bound(principal: Principal) -> str:
    principal.require(VILLAGER)
    if not principal.id_key:
        raise Forbidden("请先完成实名认证", code="IDENTITY_NOT_BOUND")
    return principal.id_key


def grant(principal: Principal, origin: Origin, body: Any, *, identity, cases, audit_log,
          now: Clock = utcnow) -> dict[str, Any]:
    """``POST /v1/consents`` (a bound villager): authorize ``agent_subject`` (an appointed
    village agent) for ``case_no`` (one of the villager's own cases) or until ``valid_until``
    (a date, Asia/Shanghai, at most a year ahead; the consent ends at the end of that day).

    Raises ValidationFailed, NotFound (unknown agent, or a case that is not the villager's)."""
    applicant_key = _bound(principal)
    schemas.validate("consent_grant", body)
    moment = now()
    agent = identity.get_user(body["agent_subject"])
    appointment = identity.agent_appointment(agent.get("id_key")) if agent else None
    if not appointment or agent["subject"] == principal.subject:
        raise NotFound("未找到该村代办员，请核对代办员编号", details=[
            FieldProblem("agent_subject", "UNKNOWN_AGENT", "代办员编号不存在")])
    valid_until = None
    if body["scope"] == "case":
        case = cases.get_case(body["case_no"]) if body.get("case_no") else None
        if not case or case.get("applicant_key") != applicant_key:
            raise NotFound("未找到该办件", details=[FieldProblem("case_no", "UNKNOWN_CASE", "办件不存在")])
    else:
        try:
            last_day = dt.date.fromisoformat(body["valid_until"])
        except ValueError as exc:
            raise ValidationFailed(details=[FieldProblem("valid_until", "FIELD_FORMAT", "日期格式应为YYYY-MM-DD")]) from exc
        end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), SHANGHAI)
        if end <= moment or end - moment > dt.timedelta(days=MAX_PERIOD_DAYS + 1):
            raise ValidationFailed(details=[FieldProblem("valid_until", "PERIOD_OUT_OF_RANGE",
                                                         "授权截止日期须在今天之后、一年以内")])
        valid_until = utc_iso(end)
    profile = identity.get_user(principal.subject) or {}
    record = {"consent_id": f"{moment.strftime('%Y%m%d%H%M%S')}{secrets.token_hex(4)}",
              "applicant_key": applicant_key, "applicant_name_masked": profile.get("name_masked"),
              "agent_subject": agent["subject"], "agent_name": mask_name(appointment["name"]),
              "scope": body["scope"], "case_no": body.get("case_no") if body["scope"] == "case" else None,
              "granted_at": utc_iso(moment), "valid_from": utc_iso(moment), "valid_until": valid_until,
              "granted_by": principal.subject}
    detail = {"consent_id": record["consent_id"], "agent": agent["subject"], "scope": record["scope"]}
    trail = [audit.entry(principal, origin, "consent.grant", audit.subject_target(principal.subject), detail, moment)]
    if record["case_no"]:
        trail.append(audit.entry(principal, origin, "consent.grant", audit.case_target(record["case_no"]), detail, moment))
    identity.put_consent(record, trail)
    return _view(record, moment)


def revoke(principal: Principal, origin: Origin, consent_id: str, *, identity, audit_log,
           now: Clock = utcnow) -> dict[str, Any]:
    """``POST /v1/consents/{consent_id}/revoke`` (the villager who gave it): from now on the
    agent may not act under it. NotFound for someone else's or an already revoked consent."""
    applicant_key = _bound(principal)
    moment = now()
    trail = [audit.entry(principal, origin, "consent.revoke", audit.subject_target(principal.subject),
                         {"consent_id": consent_id}, moment)]
    if not (consent_id.isalnum() and len(consent_id) <= 40) or not identity.revoke_consent(
            applicant_key, consent_id, moment, trail):
        raise NotFound("未找到该授权，或已撤销")
    return {"consent_id": consent_id, "revoked_at": utc_iso(moment)}


def list_consents(principal: Principal, *, identity, now: Clock = utcnow) -> dict[str, Any]:
    """``GET /v1/consents``: a villager's consents given, and for a village agent the consents
    received. Names are masked."""
    moment = now()
    given = [_view(r, moment) for r in identity.consent_rows_of(principal.id_key)] if (
        principal.has(VILLAGER) and principal.id_key) else []
    received = [_view(r, moment) for r in identity.consent_rows_for_agent(principal.subject)] if (
        principal.has(VILLAGE_AGENT)) else []
    return {"given": given, "received": received}
