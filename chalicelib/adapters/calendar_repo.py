"""DynamoDB calendar repository: working-day calendar years loaded as data, and the markers
that the administrators were alerted about a missing year (catalog table, ``models.py``).

Access patterns: GetItem ``CALENDAR#<year>`` (current), GetItem ``CALENDAR#<year>#v<n>``
(a version), Query ``by_listing`` listing="calendar" (every loaded year, one page for decades
of years), conditional PutItem ``ALERT#calendar#<year>``, Query ``by_listing``
listing="calendar_alert". No scans.
"""
from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from ..usecases.ports import StaleCalendar
from .models import AuditModel, CalendarAlertModel, CalendarYearModel, transaction_connection

LISTING = "calendar"
ALERT_LISTING = "calendar_alert"
_FIELDS = ("year", "source", "example", "holidays", "workdays", "loaded_by", "loaded_at", "version", "content_hash")


def year_code(year: int) -> str:
    return f"CALENDAR#{year}"


def version_code(year: int, version: int) -> str:
    return f"CALENDAR#{year}#v{version:04d}"


def alert_code(year: int) -> str:
    return f"ALERT#calendar#{year}"


def _record(model: CalendarYearModel) -> dict[str, Any]:
    out = {name: getattr(model, name) for name in _FIELDS}
    out["year"], out["version"] = int(out["year"]), int(out["version"])
    if not out.get("example"):
        out.pop("example", None)
    return out


class DynamoCalendarRepository:
    """Calendar years and missing-year alert markers in the catalog table."""

    def __init__(self) -> None:
        self._connection = transaction_connection()

    def get_year(self, year: int) -> dict[str, Any] | None:
        """The current record of ``year`` (strongly consistent GetItem), or None."""
        try:
            return _record(CalendarYearModel.get(year_code(year), consistent_read=True))
        except DoesNotExist:
            return None

    def get_version(self, year: int, version: int) -> dict[str, Any] | None:
        """Version ``version`` of ``year`` as it was loaded, or None."""
        try:
            return _record(CalendarYearModel.get(version_code(year, version)))
        except DoesNotExist:
            return None

    def list_years(self) -> list[dict[str, Any]]:
        """Every loaded year's current record, ascending (one Query on ``by_listing``, paged)."""
        return [_record(m) for m in CalendarYearModel.by_listing.query(LISTING)]

    def save_year(self, record: dict[str, Any], expected_version: int, audit: dict[str, Any]) -> None:
        """Write version ``record["version"]`` of a year: the current record (conditioned on the
        version read, ``expected_version``; 0 = the year must not exist yet), the immutable
        version record and the audit record, in one TransactWriteItems. Raises
        :class:`StaleCalendar` when another load got there first (nothing is written)."""
        attrs = {name: record.get(name) for name in _FIELDS}
        current = CalendarYearModel(year_code(record["year"]), listing=LISTING, **attrs)
        version = CalendarYearModel(version_code(record["year"], record["version"]), **attrs)
        condition = (CalendarYearModel.code.does_not_exist() if expected_version == 0
                     else CalendarYearModel.version == expected_version)
        try:
            with TransactWrite(connection=self._connection) as tx:
                tx.save(current, condition=condition)
                tx.save(version, condition=CalendarYearModel.code.does_not_exist())
                tx.save(AuditModel(**audit), condition=AuditModel.pk.does_not_exist())
        except TransactWriteError as exc:
            raise StaleCalendar(record["year"]) from exc

    # --- missing-year alerts -----------------------------------------------------------------

    def claim_alert(self, year: int, case_no: str | None, at: str) -> bool:
        """Put the marker that ``year`` is missing and the administrators are being told
        (conditional PutItem): True for the one caller that put it, False when it existed."""
        try:
            CalendarAlertModel(alert_code(year), listing=ALERT_LISTING, year=year, case_no=case_no,
                               created_at=at).save(condition=CalendarAlertModel.code.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release_alert(self, year: int) -> None:
        """Delete the marker (the alert could not be delivered: the next case tries again)."""
        try:
            CalendarAlertModel(alert_code(year)).delete()
        except DeleteError:
            pass

    def alerts(self) -> list[dict[str, Any]]:
        """Every missing-year marker ``{year, case_no, created_at}`` (one Query on ``by_listing``)."""
        return [{"year": int(m.year), "case_no": m.case_no, "created_at": m.created_at}
                for m in CalendarAlertModel.by_listing.query(ALERT_LISTING)]
