"""DynamoDB identity repository: mini-program users, resident-ID bindings, village agent
appointments, staff accounts, refresh sessions, used login codes and consents (the identity
table; key layout in ``models.py``)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from .. import settings
from ..domain.access import Consent
from ..domain.cases import utc_iso
from .models import (AgentAppointmentModel, AuditModel, ConsentModel, LinkModel, LoginCodeModel, SessionModel,
                     StaffAccountModel, UserModel, transaction_connection)


class IdentityTaken(Exception):
    """The resident ID is already bound to another account (``subject`` is that account)."""


class AlreadyBound(Exception):
    """The account was bound to another resident ID meanwhile."""


class AlreadyExists(Exception):
    """A unique record (staff user name) exists already."""


class SessionChanged(Exception):
    """The refresh session was rotated or revoked meanwhile (conditional update failed)."""


def _get(model, pk: str, sk: str):
    try:
        return model.get(pk, sk, consistent_read=True)
    except DoesNotExist:
        return None


Audit = list[dict[str, Any]]


def _condition_failed(exc: TransactWriteError) -> bool:
    """The change's own condition failed (PynamoDB orders a transaction's items by kind, so
    the position is not ours to rely on; an audit record's condition cannot fail in practice,
    its key has a random part)."""
    return any(r is not None and r.code == "ConditionalCheckFailed" for r in exc.cancellation_reasons or [])


def _consent(row: ConsentModel, granter_verified: bool = False) -> Consent:
    parse = dt.datetime.fromisoformat
    return Consent(consent_id=row.consent_id, applicant_key=row.applicant_key, agent_subject=row.agent_subject,
                   scope=row.scope, granted_at=parse(row.granted_at), valid_from=parse(row.valid_from),
                   valid_until=parse(row.valid_until) if row.valid_until else None, case_no=row.case_no,
                   revoked_at=parse(row.revoked_at) if row.revoked_at else None, granted_by=row.granted_by,
                   granter_verified=granter_verified)


class DynamoIdentityRepository:
    """Identity records. Every lookup is a GetItem or a Query on a key (no scans)."""

    def __init__(self) -> None:
        self._connection = transaction_connection()

    def _transact(self, write, audit: Audit) -> None:
        """Run ``write(tx)`` and append the ``audit`` records in one TransactWriteItems, so a
        change is never stored without its trail (nor a trail without its change)."""
        with TransactWrite(connection=self._connection) as tx:
            write(tx)
            for record in audit:
                tx.save(AuditModel(**record), condition=AuditModel.pk.does_not_exist())

    # --- WeChat login codes and users ------------------------------------------------------

    def use_login_code(self, code_hash: str, now: dt.datetime) -> bool:
        """Record a login code as used; False if it was used before (conditional put, TTL)."""
        try:
            LoginCodeModel(f"WXCODE#{code_hash}", "WXCODE", used_at=utc_iso(now),
                           expires_at=now + dt.timedelta(seconds=2 * settings.LOGIN_CODE_SECONDS)
                           ).save(condition=LoginCodeModel.pk.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release_login_code(self, code_hash: str) -> None:
        """Forget that a code was used (the exchange never reached WeChat, so it may be tried
        again)."""
        LoginCodeModel(f"WXCODE#{code_hash}", "WXCODE").delete()

    def user_for_openid(self, openid: str, new_subject: str, now: dt.datetime) -> dict[str, Any]:
        """The user linked to a WeChat openid, created (link + profile, one transaction) on
        first login with ``new_subject``. Concurrent first logins end with one user."""
        link = _get(LinkModel, f"WX#{openid}", "WX")
        if link is None:
            user = UserModel(f"USER#{new_subject}", "PROFILE", subject=new_subject, openid=openid,
                             created_at=utc_iso(now))
            try:
                with TransactWrite(connection=self._connection) as tx:
                    tx.save(LinkModel(f"WX#{openid}", "WX", subject=new_subject, created_at=utc_iso(now)),
                            condition=LinkModel.pk.does_not_exist())
                    tx.save(user, condition=UserModel.pk.does_not_exist())
                return user.attribute_values
            except TransactWriteError:
                pass  # a twin login created it: read it below
            link = _get(LinkModel, f"WX#{openid}", "WX")
        user = self.get_user(link.subject) if link else None
        if user is None:
            raise RuntimeError("user link without profile")
        return user

    def get_user(self, subject: str) -> dict[str, Any] | None:
        """A mini-program user's profile, or None."""
        row = _get(UserModel, f"USER#{subject}", "PROFILE")
        return row.attribute_values if row else None

    def bind_identity(self, subject: str, id_key: str, name_masked: str, id_masked: str,
                      now: dt.datetime, audit: Audit = ()) -> None:
        """Bind a resident ID (by its keyed hash) to a user, one account per ID, atomically.
        Binding the same ID again to the same user is a no-op. Raises :class:`IdentityTaken`."""
        link = _get(LinkModel, f"IDKEY#{id_key}", "BINDING")
        if link is not None and link.subject != subject:
            raise IdentityTaken(link.subject)
        user = UserModel(f"USER#{subject}", "PROFILE")
        try:
            with TransactWrite(connection=self._connection) as tx:
                if link is None:
                    tx.save(LinkModel(f"IDKEY#{id_key}", "BINDING", subject=subject, created_at=utc_iso(now)),
                            condition=LinkModel.pk.does_not_exist())
                tx.update(user, actions=[UserModel.id_key.set(id_key), UserModel.name_masked.set(name_masked),
                                         UserModel.id_masked.set(id_masked), UserModel.bound_at.set(utc_iso(now))],
                          condition=UserModel.pk.exists() & (UserModel.id_key.does_not_exist() | (UserModel.id_key == id_key)))
                for record in audit:
                    tx.save(AuditModel(**record), condition=AuditModel.pk.does_not_exist())
        except TransactWriteError as exc:
            taken = _get(LinkModel, f"IDKEY#{id_key}", "BINDING")
            if taken is not None and taken.subject != subject:
                raise IdentityTaken(taken.subject) from exc
            current = self.get_user(subject)
            if current and current.get("id_key") and current["id_key"] != id_key:
                raise AlreadyBound(subject) from exc
            raise

    def verify_binding(self, subject: str, id_key: str, name_masked: str, id_masked: str, clerk: str,
                       now: dt.datetime, audit: list[dict[str, Any]]) -> str | None:
        """Bind ``id_key`` to ``subject`` as verified by ``clerk`` (who saw the ID card), in one
        transaction with its audit records: a binding of that ID held by another account is
        taken from it (returned: that account's subject), and a different ID the account held
        is released. Raises ``KeyError`` when ``subject`` is not a user."""
        user = self.get_user(subject)
        if user is None:
            raise KeyError(subject)
        holder = self.subject_for_id_key(id_key)
        with TransactWrite(connection=self._connection) as tx:
            tx.save(LinkModel(f"IDKEY#{id_key}", "BINDING", subject=subject, created_at=utc_iso(now)))
            tx.update(UserModel(f"USER#{subject}", "PROFILE"), actions=[
                UserModel.id_key.set(id_key), UserModel.name_masked.set(name_masked),
                UserModel.id_masked.set(id_masked), UserModel.bound_at.set(utc_iso(now)),
                UserModel.verified_at.set(utc_iso(now)), UserModel.verified_by.set(clerk)],
                condition=UserModel.pk.exists())
            if holder and holder != subject:
                tx.update(UserModel(f"USER#{holder}", "PROFILE"), actions=[
                    UserModel.id_key.remove(), UserModel.name_masked.remove(), UserModel.id_masked.remove(),
                    UserModel.bound_at.remove(), UserModel.verified_at.remove(), UserModel.verified_by.remove()])
            if user.get("id_key") and user["id_key"] != id_key:
                tx.delete(LinkModel(f"IDKEY#{user['id_key']}", "BINDING"))
            for record in audit:
                tx.save(AuditModel(**record), condition=AuditModel.pk.does_not_exist())
        return holder if holder != subject else None

    # --- village agents ---------------------------------------------------------------------

    def put_agent_appointment(self, id_key: str, record: dict[str, Any], audit: Audit = ()) -> None:
        """Create or replace the appointment of the agent with this resident ID hash (with its
        audit records, one transaction)."""
        self._transact(lambda tx: tx.save(AgentAppointmentModel(f"IDKEY#{id_key}", "AGENT", **record)), audit)

    def agent_appointment(self, id_key: str | None) -> dict[str, Any] | None:
        """The active appointment for a resident ID hash, or None."""
        if not id_key:
            return None
        row = _get(AgentAppointmentModel, f"IDKEY#{id_key}", "AGENT")
        return row.attribute_values if row and row.active else None

    def subject_for_id_key(self, id_key: str) -> str | None:
        """The account bound to a resident ID hash, or None."""
        link = _get(LinkModel, f"IDKEY#{id_key}", "BINDING")
        return link.subject if link else None

    # --- staff ------------------------------------------------------------------------------

    def create_staff(self, record: dict[str, Any], audit: Audit = ()) -> None:
        """Create a staff account with its audit records (one transaction). Raises
        :class:`AlreadyExists` for a taken user name."""
        model = StaffAccountModel(f"STAFF#{record['username']}", "STAFF", **record)
        try:
            self._transact(lambda tx: tx.save(model, condition=StaffAccountModel.pk.does_not_exist()), audit)
        except TransactWriteError as exc:
            if _condition_failed(exc):
                raise AlreadyExists(record["username"]) from exc
            raise

    def get_staff(self, username: str) -> dict[str, Any] | None:
        """A staff account by user name, or None."""
        row = _get(StaffAccountModel, f"STAFF#{username}", "STAFF")
        return row.attribute_values if row else None

    def reserve_login_attempt(self, username: str, now_seconds: int, window: int, limit: int) -> bool:
        """Count a password attempt before the password is checked, atomically: True while
        fewer than ``limit`` attempts were counted in the current ``window`` (seconds; a window
        that has passed starts again at 1), False when the account is locked. Concurrent
        attempts cannot all slip through. A successful login resets the count
        (:meth:`reset_login_failures`)."""
        model = StaffAccountModel(f"STAFF#{username}", "STAFF")
        try:
            model.update(actions=[StaffAccountModel.failed_logins.add(1)],
                         condition=StaffAccountModel.pk.exists()
                         & (StaffAccountModel.failure_window_start > now_seconds - window)
                         & (StaffAccountModel.failed_logins < limit))
            return True
        except UpdateError:
            pass
        try:
            model.update(actions=[StaffAccountModel.failed_logins.set(1),
                                  StaffAccountModel.failure_window_start.set(now_seconds)],
                         condition=StaffAccountModel.pk.exists()
                         & (StaffAccountModel.failure_window_start <= now_seconds - window))
            return True
        except UpdateError:
            return False

    def reset_login_failures(self, username: str, now_seconds: int) -> None:
        """Clear the failure counter after a successful login."""
        try:
            StaffAccountModel(f"STAFF#{username}", "STAFF").update(
                actions=[StaffAccountModel.failed_logins.set(0),
                         StaffAccountModel.failure_window_start.set(now_seconds)],
                condition=StaffAccountModel.pk.exists())
        except UpdateError:
            pass

    def set_staff_disabled(self, username: str, disabled: bool, audit: Audit = ()) -> bool:
        """Disable or enable an account with its audit records (one transaction); False if
        there is no such account."""
        try:
            self._transact(lambda tx: tx.update(StaffAccountModel(f"STAFF#{username}", "STAFF"),
                                                actions=[StaffAccountModel.disabled.set(disabled)],
                                                condition=StaffAccountModel.pk.exists()), audit)
        except TransactWriteError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True

    # --- sessions ---------------------------------------------------------------------------

    def create_session(self, sid: str, record: dict[str, Any]) -> None:
        """Store a new refresh session (``expires_at`` a datetime)."""
        SessionModel(f"SESSION#{sid}", "SESSION", **record).save(condition=SessionModel.pk.does_not_exist())

    def get_session(self, sid: str) -> dict[str, Any] | None:
        """A session, or None (also after TTL removed it)."""
        row = _get(SessionModel, f"SESSION#{sid}", "SESSION")
        return row.attribute_values if row else None

    def rotate_session(self, sid: str, old_hash: str, new_hash: str, now: dt.datetime) -> None:
        """Replace the refresh hash if it is still ``old_hash`` and the session is not revoked.
        Raises :class:`SessionChanged` otherwise (a concurrent refresh won)."""
        try:
            SessionModel(f"SESSION#{sid}", "SESSION").update(
                actions=[SessionModel.refresh_hash.set(new_hash), SessionModel.previous_hash.set(old_hash),
                         SessionModel.rotated_at.set(utc_iso(now))],
                condition=(SessionModel.refresh_hash == old_hash) & SessionModel.revoked_at.does_not_exist())
        except UpdateError as exc:
            raise SessionChanged(sid) from exc

    def revoke_session(self, sid: str, now: dt.datetime) -> None:
        """Mark a session revoked (refresh refused from now on)."""
        try:
            SessionModel(f"SESSION#{sid}", "SESSION").update(
                actions=[SessionModel.revoked_at.set(utc_iso(now))],
                condition=SessionModel.pk.exists() & SessionModel.revoked_at.does_not_exist())
        except UpdateError:
            pass

    # --- consents ---------------------------------------------------------------------------

    def put_consent(self, record: dict[str, Any], audit: Audit = ()) -> None:
        """Store a new consent (never overwrites) with its audit records, one transaction."""
        model = ConsentModel(f"CONSENT#{record['applicant_key']}", f"C#{record['consent_id']}", **record)
        self._transact(lambda tx: tx.save(model, condition=ConsentModel.pk.does_not_exist()), audit)

    def consents_of(self, applicant_key: str | None) -> list[Consent]:
        """Every consent a villager gave (one Query; a villager has a handful), each with
        whether the account that gave it holds a verified binding to the villager's ID now."""
        if not applicant_key:
            return []
        rows = list(ConsentModel.query(f"CONSENT#{applicant_key}", consistent_read=True))
        verified = {}
        for granter in {r.granted_by for r in rows}:  # one GetItem per granting account (usually one)
            user = self.get_user(granter) or {}
            verified[granter] = bool(user.get("verified_at")) and user.get("id_key") == applicant_key
        return [_consent(r, verified[r.granted_by]) for r in rows]

    def consent_rows_of(self, applicant_key: str) -> list[dict[str, Any]]:
        """The stored consent records of a villager (for listing)."""
        return [r.attribute_values for r in ConsentModel.query(f"CONSENT#{applicant_key}", consistent_read=True)]

    def consent_rows_for_agent(self, agent_subject: str, limit: int = 100) -> list[dict[str, Any]]:
        """Consent records given to an agent, newest first (GSI ``consents_by_agent``)."""
        return [r.attribute_values for r in ConsentModel.by_agent.query(
            agent_subject, scan_index_forward=False, limit=limit)]

    def revoke_consent(self, applicant_key: str, consent_id: str, now: dt.datetime, audit: Audit = ()) -> bool:
        """Set ``revoked_at`` on a villager's consent with its audit records (one
        transaction); False if it does not exist or was revoked."""
        try:
            self._transact(lambda tx: tx.update(
                ConsentModel(f"CONSENT#{applicant_key}", f"C#{consent_id}"),
                actions=[ConsentModel.revoked_at.set(utc_iso(now))],
                condition=ConsentModel.pk.exists() & ConsentModel.revoked_at.does_not_exist()), audit)
        except TransactWriteError as exc:
            if _condition_failed(exc):
                return False
            raise
        return True
