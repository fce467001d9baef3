"""Calendar administration blueprint: working-day calendar years loaded as data (issue 5).

``PUT`` is the administrator's (the State Council's notice, typed in or loaded from a file);
the reads are open to every staff role: the schedule is public information, and the window,
the county departments and the supervisors need to see whether a year is loaded when they
explain a provisional due date to a villager."""
from __future__ import annotations

from chalice import Blueprint

from .. import container
from ..domain.access import ADMINISTRATOR
from ..usecases import calendar_years
from .errors import BODY_TYPES, json_body, query_params
from .security import endpoint

bp = Blueprint(__name__)


@endpoint(bp, "/v1/admin/calendar/{year}", methods=["PUT"], roles=(ADMINISTRATOR,), content_types=BODY_TYPES)
def load_year(year, caller):
    """Load a year's holidays and make-up working days; recompute its provisional due dates.
    ``If-Match: <version>`` (optional) refuses the load when the year moved on (409)."""
    request = bp.current_request
    report = calendar_years.load_year(
        caller.principal, caller.origin, json_body(request), path_year=year,
        if_match=(request.headers or {}).get("if-match"), calendars=container.calendars(),
        cases=container.cases(), audit_log=container.audit_log())
    container.refresh_calendar()  # this container sees the year at once; others within minutes
    return report


@endpoint(bp, "/v1/admin/calendar", roles=calendar_years.READERS)
def list_years(caller):
    """Loaded years, the library's years and the missing ones."""
    return calendar_years.list_years(caller.principal, calendars=container.calendars())


@endpoint(bp, "/v1/admin/calendar/{year}", roles=calendar_years.READERS)
def get_year(year, caller):
    """One loaded year (``?version=n`` for an earlier version)."""
    return calendar_years.get_year(caller.principal, year, calendars=container.calendars(),
                                   version=query_params(bp.current_request).get("version"))
