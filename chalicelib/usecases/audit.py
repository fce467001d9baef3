"""The audit trail (issue 3, item 7): every read of personal data and every change is
recorded — who, what, when, from where — append-only, and can be read per case.

Reads fail closed: when the record cannot be written, the data is not returned.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from ..domain.access import (SUPERVISOR, VILLAGER, WINDOW_CLERK, CaseAccess, Origin,
                             Principal, may_read_case)
from ..domain.cases import utc_iso
from ..domain.errors import NotFound, invalid_cursor

_CURSOR = re.compile(r"^[A-Za-z0-9_=-]{1,2048}$")


def case_target(case_no: str) -> str:
    """The audit partition of a case."""
    return f"CASE#{case_no}"


def subject_target(subject: str) -> str:
    """The audit partition of an account (logins, bindings, consents, key issues)."""
    return f"SUBJECT#{subject}"


def township_target(township_code: str) -> str:
    """The audit partition of a township's settings (windows and A/B posts)."""
    return f"TOWNSHIP#{township_code}"


def item_target(item_code: str) -> str:
    """The audit partition of a catalog service item (its versions and retirement)."""
    return f"ITEM#{item_code}"


def entry(principal: Principal | None, origin: Origin, action: str, target: str,
          detail: dict[str, Any] | None = None, now: dt.datetime | None = None) -> dict[str, Any]:
    """One audit record ``{pk, sk, at, actor, roles, action, target, origin, detail}``.
    ``action`` is a stable dotted name (``case.read``, ``case.create``, ``consent.grant``...),
    ``target`` a partition from :func:`case_target` or :func:`subject_target`. ``detail``
    must hold no personal data in clear (masked values or keyed hashes only)."""
    at = now or dt.datetime.now(dt.timezone.utc)
    return {
        "pk": target, "sk": f"{utc_iso(at)}#{secrets.token_hex(4)}", "at": utc_iso(at),
        "actor": principal.subject if principal else "anonymous",
        "roles": sorted(principal.roles) if principal else [],
        "action": action, "target": target.split("#", 1)[1], "origin": origin.to_dict(),
        "detail": detail or None,
    }


def record(log, principal: Principal | None, origin: Origin, action: str, target: str,
           detail: dict[str, Any] | None = None, now: dt.datetime | None = None) -> None:
    """Append :func:`entry` to the audit log on its own (reads; changes that are not written
    in a transaction with their audit record). Raises whatever the log raises: callers fail
    closed."""
    log.append(entry(principal, origin, action, target, detail, now))


def case_audit(principal: Principal, origin: Origin, case_no: str, *, cases, log,
               limit: int = 50, cursor: str | None = None) -> dict[str, Any]:
    """``GET /v1/cases/{case_no}/audit``: who read or changed a case. Visible to the
    applicant (PIPL art. 45 right to know), and to clerks and supervisors of its township;
    everyone else gets 404. Reading the trail is itself recorded."""
    if cursor is not None and not _CURSOR.fullmatch(cursor):
        raise invalid_cursor()
    case = cases.get_case(case_no)
    if case is None or not principal.has(VILLAGER, WINDOW_CLERK, SUPERVISOR):
        raise NotFound("未找到该办件")
    access = CaseAccess.of(case)
    owner = principal.has(VILLAGER) and may_read_case(principal, case_no, access)
    staff = principal.has(WINDOW_CLERK, SUPERVISOR) and may_read_case(principal, case_no, access)
    if not (owner or staff):
        raise NotFound("未找到该办件")
    record(log, principal, origin, "case.audit.read", case_target(case_no))
    try:
        rows, next_cursor = log.query(case_target(case_no), limit, cursor)
    except ValueError as exc:
        raise invalid_cursor() from exc
    return {"case_no": case_no, "records": [
        {k: r.get(k) for k in ("at", "actor", "roles", "action", "origin", "detail")} for r in rows],
        "next_cursor": next_cursor}
