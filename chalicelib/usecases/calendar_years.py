"""Working-day calendar years loaded as data (issue 5): load, read and list them, recompute the
provisional due dates a loaded year settles, and alert the administrators once per missing year.

The State Council publishes next year's holidays and make-up working days around November
(《国务院办公厅关于部分节假日安排的通知》); until an administrator loads them, due dates that
reach that year are weekends-only guesses marked provisional (``domain.calendar``), and the
cases carrying one sit in the sparse ``by_provisional_year`` index. Loading the year writes a
new version (conditioned on the version read: of two administrators loading at once exactly
one wins) and then recomputes every open case of that index for the year, each with one
history entry "办结期限重算".
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable

from .. import settings
from .. import validation as schemas
from ..domain import lifecycle as rules
from ..domain.access import ADMINISTRATOR, COUNTY_APPROVER, SUPERVISOR, WINDOW_CLERK, Origin, Principal
from ..domain.calendar import (WorkingDayCalendar, calendar_from_years, library_years, normalized_year,
                               year_table)
from ..domain.cases import SHANGHAI, utc_iso
from ..domain.catalog import content_hash
from ..domain.errors import Conflict, FieldProblem, NotFound, ValidationFailed
from ..logs import logger
from . import audit
from .ports import Clock, StaleCalendar, StaleCase, utcnow

#: Attempts per case when a concurrent action moves it on between the read and the write.
RECOMPUTE_ATTEMPTS = 4
#: How long the administrators' alert about a missing year stays in their inbox.
ALERT_KEEP_DAYS = 365

#: Staff who may read the calendar: it is public information (the State Council's notice),
#: and the window, the county departments and the supervisors explain provisional due dates.
READERS = (ADMINISTRATOR, WINDOW_CLERK, SUPERVISOR, COUNTY_APPROVER)

#: Years this container already alerted about (or found alerted): repeat calls cost nothing.
_alerted: set[int] = set()




def forget_alerts() -> None:
    """Clear the per-container memo of alerted years (``container.reset``)."""
    _alerted.clear()


def _year(raw: Any) -> int:
    text = str(raw or "")
    if not (text.isascii() and text.isdigit() and len(text) == 4):
        raise ValidationFailed(details=[FieldProblem("year", "FIELD_FORMAT", "年份应为4位数字")])
    return int(text)


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    text = if_match.strip().strip('"')
    if not (text.isascii() and text.isdigit() and len(text) <= 6):
        raise ValidationFailed(details=[FieldProblem("If-Match", "FIELD_FORMAT", "应为节假日安排的版本号")])
    return int(text)


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in ("year", "version", "source", "loaded_by", "loaded_at", "content_hash")} | (
        {"example": True} if record.get("example") else {})


def load_year(principal: Principal, origin: Origin, body: Any, *, calendars, cases, audit_log,
              path_year: Any = None, if_match: str | None = None, now: Clock = utcnow) -> dict[str, Any]:
    """``PUT /v1/admin/calendar/{year}`` and ``cli calendar-load`` (administrator): load one
    year's schedule (``schemas/calendar_year.json``), then recompute the provisional due dates
    of that year.

    ``path_year`` (the URL's year) must equal ``body["year"]`` (400 YEAR_MISMATCH);
    ``if_match`` is the version the caller saw (0: the year must be new), 409
    CALENDAR_VERSION_MISMATCH when it moved on. Content equal to the current version is
    ``unchanged`` (no new version; the recompute still runs, as a safety net that costs one
    Query); otherwise version n+1 is written with its immutable copy and audit record in one
    transaction conditioned on version n (409 CALENDAR_VERSION_CONFLICT for the loser of a race).

    Returns ``{year, version, outcome: created|updated|unchanged, recomputed, still_provisional}``.
    Raises Forbidden (403), ValidationFailed (400: schema, year, the dates' problems)."""
    principal.require(ADMINISTRATOR)
    schemas.validate("calendar_year", body)
    if path_year is not None and _year(path_year) != body["year"]:
        raise ValidationFailed("路径中的年份与内容中的年份不一致",
                               [FieldProblem("year", "YEAR_MISMATCH", "应与请求路径中的年份一致")])
    expected = _version(if_match)
    year_table(body)  # the dates' problems, all of them at once (400)
    data = normalized_year(body)
    digest = content_hash(data)
    moment = now()
    year = body["year"]
    library_knew = WorkingDayCalendar().knows(year)
    current = calendars.get_year(year)
    seen = int(current["version"]) if current else 0
    if expected is not None and expected != seen:
        raise Conflict("节假日安排已被他人更新，请刷新后重试", code="CALENDAR_VERSION_MISMATCH", version=seen)
    if current and current["content_hash"] == digest:
        outcome, record = "unchanged", current
        audit.record(audit_log, principal, origin, "calendar.load", calendar_target(year),
                     {"version": seen, "outcome": outcome}, moment)
    else:
        outcome = "updated" if current else "created"
        record = {**data, "version": seen + 1, "content_hash": digest, "loaded_by": principal.subject,
                  "loaded_at": utc_iso(moment)}
        trail = audit.entry(principal, origin, "calendar.load", calendar_target(year),
                            {"version": seen + 1, "outcome": outcome, "content_hash": digest}, moment)
        try:
            calendars.save_year(record, seen, trail)
        except StaleCalendar:
            raise Conflict("节假日安排正被他人同时加载，请刷新后核对", code="CALENDAR_VERSION_CONFLICT",
                           version=seen) from None
        logger.info("calendar year loaded", extra={"year": year, "version": seen + 1, "outcome": outcome})
    # the index of loaded years is eventually consistent: the year just written comes from here
    calendar = calendar_from_years([r for r in calendars.list_years() if r["year"] != year] + [data])
    recomputed, still = recompute_year(year, cases=cases, calendar=calendar, now=now,
                                       limit=settings.RECOMPUTE_IN_REQUEST)
    if outcome == "updated" or (outcome == "created" and library_knew):
        # a correction (or an override of a year the library knew): due dates computed on the
        # old data are exact but wrong; the open cases whose warnings fall in the year follow
        recomputed += recompute_open_cases_of(year, cases=cases, calendar=calendar, now=now,
                                              limit=max(settings.RECOMPUTE_IN_REQUEST - recomputed, 0))
    return {"year": year, "version": int(record["version"]), "outcome": outcome, "recomputed": recomputed,
            "still_provisional": still}


def calendar_target(year: int) -> str:
    """The audit partition of a calendar year."""
    return f"CALENDAR#{year}"


def get_year(principal: Principal, year: Any, *, calendars, version: Any = None) -> dict[str, Any]:
    """``GET /v1/admin/calendar/{year}``: the loaded schedule (current, or ``version``) with
    its source, who loaded it and when. NotFound (404 CALENDAR_YEAR_NOT_LOADED) when it was
    never loaded (the library's years are not records: ``list_years`` names them)."""
    principal.require(*READERS)
    number = _year(year)
    record = calendars.get_year(number) if version is None else calendars.get_version(number, _version(str(version)))
    if record is None:
        raise NotFound(f"{number}年节假日安排尚未加载", code="CALENDAR_YEAR_NOT_LOADED")
    return {**_summary(record), "holidays": record["holidays"], "workdays": record["workdays"]}


def list_years(principal: Principal, *, calendars, now: Clock = utcnow) -> dict[str, Any]:
    """``GET /v1/admin/calendar``: the loaded years (version, source, when and by whom), the
    years the ``chinese-calendar`` library knows, and the years missing: this year and next
    when neither loaded nor known, and every year a case's due date already needed (alerted).
    Two Queries on ``by_listing``."""
    principal.require(*READERS)
    this_year = now().astimezone(SHANGHAI).year
    loaded = calendars.list_years()
    known = library_years(this_year)
    have = {r["year"] for r in loaded} | set(known)
    alerts = {a["year"]: a for a in calendars.alerts()}
    missing = sorted(({y for y in (this_year, this_year + 1)} | set(alerts)) - have)
    return {"loaded": [_summary(r) for r in loaded],
            "library": {"package": "chinese-calendar", "first_year": min(known) if known else None,
                        "last_year": max(known) if known else None},
            "missing": [{"year": y, "needed_by_cases": y in alerts,
                         "first_needed_at": (alerts.get(y) or {}).get("created_at")} for y in missing]}



# --- recomputing provisional due dates ----------------------------------------------------------

def recompute_year(year: int, *, cases, calendar: WorkingDayCalendar, now: Clock = utcnow,
                   limit: int | None = None) -> tuple[int, int]:
    """Recompute every open case whose due date rests on ``year`` (``by_provisional_year``,
    KEYS_ONLY, paged; each case read again, strongly consistent, and written with
    ``domain.lifecycle.recompute`` conditioned on its version, again on a concurrent change).
    Returns ``(cases written, cases still provisional afterwards)``. Idempotent: a case
    already exact is not written. A case that fails is logged and left in the index (the next
    load or :func:`recompute_loaded_years` tries again). With ``limit``, at most that many
    cases are examined (about 2 AWS calls each); the rest count as still provisional and are
    left for the sweep's :func:`recompute_loaded_years`, so a load answers within API
    Gateway's 29 s."""
    policy = settings.deadline_policy()
    written = still = examined = 0
    for case_no in cases.provisional_cases(str(year)):
        if limit is not None and examined >= limit:
            still += 1
            continue
        examined += 1
        try:
            wrote, provisional = _recompute_case(case_no, cases, calendar, policy, now)
        except Exception:
            logger.exception("due date not recomputed", extra={"case_no": case_no, "year": year})
            continue
        written += wrote
        still += provisional
    return written, still


def recompute_open_cases_of(year: int, *, cases, calendar: WorkingDayCalendar, now: Clock = utcnow,
                            limit: int | None = None) -> int:
    """After a correction of ``year``: recompute the open cases whose next warning check falls
    between the December before it and the end of the year after (``by_deadline``, one paged
    Query per shard), at most ``limit`` of them. A paused or already red case has no check
    there; it is recomputed with its next action (its live view is right meanwhile). Returns
    how many cases were written."""
    policy = settings.deadline_policy()
    written = examined = 0
    for shard in range(settings.DEADLINE_SHARDS):
        for case_no in cases.checks_between(str(shard), f"{year - 1}-12-01", f"{year + 1}-12-31"):
            if limit is not None and examined >= limit:
                return written
            examined += 1
            try:
                written += _recompute_case(case_no, cases, calendar, policy, now)[0]
            except Exception:
                logger.exception("due date not recomputed", extra={"case_no": case_no, "year": year})
    return written


def _recompute_case(case_no: str, cases, calendar: WorkingDayCalendar, policy, now: Clock) -> tuple[bool, bool]:
    """``(written, still provisional)`` for one case, read again and written conditioned on
    its version (read and decided again when a concurrent action moved it on)."""
    for _ in range(RECOMPUTE_ATTEMPTS):
        case = cases.get_case(case_no)
        if case is None:
            return False, False
        moment = now()
        change = rules.recompute(case, moment, calendar, policy)
        if change is None:
            return False, bool(case.get("provisional_year"))
        try:
            cases.apply(case, change, idempotency=None, audit=None, event=None, at=moment)
        except StaleCase:
            continue
        after = {**case, **change.set}
        return True, bool(after.get("provisional_year")) and "provisional_year" not in change.remove
    raise RuntimeError("case kept changing while its due date was recomputed")


def recompute_loaded_years(cases, calendar: WorkingDayCalendar, now: Clock = utcnow) -> int:
    """Safety net for the deadline sweep: recompute the cases still in ``by_provisional_year``
    for every year ``calendar`` now knows from this year on (one Query per such loaded year),
    e.g. after a load whose recompute was cut short. Returns how many cases were written."""
    this_year = now().astimezone(SHANGHAI).year
    total = 0
    for year in calendar.loaded_years:
        if year >= this_year:
            total += recompute_year(year, cases=cases, calendar=calendar, now=now)[0]
    return total


# --- alerting the administrators about a missing year -------------------------------------------

def alert_missing_year(year: int, case_no: str | None, *, cases, markers, now: Clock = utcnow) -> bool:
    """Tell the administrators, once, that ``year`` has no calendar data while a case's due
    date (``case_no``'s) already reaches it: a conditional put of the marker
    ``ALERT#calendar#<year>`` and, only for the caller whose put succeeded, a message in the
    ``ROLE#administrator`` inbox and an ERROR log line. A per-container memo makes repeat calls
    free. Never raises (an alert must not fail the user's request): failures are logged, and a
    message that could not be stored releases the marker so a later case tries again.
    Returns True when this call sent the alert."""
    if year in _alerted:
        return False
    try:
        moment = now()
        if not markers.claim_alert(year, case_no, utc_iso(moment)):
            _alerted.add(year)
            return False
        try:
            cases.add_message({
                "recipient": f"ROLE#{ADMINISTRATOR}", "event_id": f"calendar-missing-{year}",
                "event_type": "calendar.year_missing", "case_no": case_no,
                "text": f"{year}年节假日安排尚未加载，相关办件的办结期限暂按周末推算（临时），"
                        f"请管理员在国务院办公厅公布{year}年部分节假日安排后及时加载。",
                "created_at": utc_iso(moment), "expires_at": moment + dt.timedelta(days=ALERT_KEEP_DAYS)})
        except Exception:
            markers.release_alert(year)
            raise
        _alerted.add(year)
        logger.error("calendar year missing: due dates reaching it are provisional until it is loaded",
                     extra={"year": year, "case_no": case_no})
        return True
    except Exception:
        logger.exception("missing calendar year alert failed", extra={"year": year, "case_no": case_no})
        return False


def alert_years(years: Iterable[Any], case_no: str | None, *, cases, markers, now: Clock = utcnow) -> None:
    """:func:`alert_missing_year` for each provisional year a committed change left on a case
    (``None`` and repeats skipped); for the hooks in intake and lifecycle. Never raises."""
    for raw in dict.fromkeys(y for y in years if y):
        try:
            year = int(raw)
        except (TypeError, ValueError):
            continue
        alert_missing_year(year, case_no, cases=cases, markers=markers, now=now)
