"""PynamoDB models. Tables and indexes are declared in ``infra/resources.json`` (the single
source of truth); these classes only describe how the code reads and writes them.

Access patterns (GetItem and Query only; never a table scan):

=====================================  ===============================================
pattern                                key / index
=====================================  ===============================================
item by code                           catalog: GetItem code
list items (paginated)                 catalog GSI ``by_listing``: listing="item", code
list items of a category               catalog GSI ``by_category``: category, code
list items of a level                  catalog GSI ``by_level``: exercising_level, code
list items of a category and a level   catalog GSI ``by_category_level``: "<category>#<level>", code
township settings                      catalog: GetItem code="TOWNSHIP#<code>"
a loaded calendar year                 catalog: GetItem code="CALENDAR#<year>" (its versions:
                                       code="CALENDAR#<year>#v<0001>")
loaded calendar years                  catalog GSI ``by_listing``: listing="calendar"
a missing year's admin alert marker    catalog: conditional put code="ALERT#calendar#<year>";
                                       all of them: GSI ``by_listing``, listing="calendar_alert"
a township's eight-publicity notice    catalog: GetItem / conditional put
(current keys, issue 7)                code="NOTICE#<township>#<item>"
townships (regenerate notices)         catalog GSI ``by_listing``: listing="township"
the search index (once per container)  catalog GSI ``by_listing``: listing="item", every page
an e-seal (root, a township's)         catalog: GetItem / conditional put code="SEAL#ROOT",
                                       code="SEAL#<township code>"
case by number (+ its history)         cases: Query pk="CASE#<no>"
idempotency key -> case                cases: GetItem pk="IDEMP#<scope>#<key>", sk="IDEMP"
cases waiting for intake classification  cases GSI ``pending_intake`` (sparse, 8 shards):
                                       intake_shard, submitted_at < cutoff
a villager's cases                     cases GSI ``by_applicant``: applicant_key, submitted_at
cases an agent filed                   cases GSI ``by_agent``: agent_subject, submitted_at
webhook delivery                       cases: GetItem pk="DELIVERY#<operator_id>", sk="<delivery_id>"
an operator's failed deliveries        cases GSI ``failed_deliveries`` (sparse: failed only):
                                       failed_operator, failed_at (newest first)
a window's queue, by state             cases GSI ``by_queue``: queue="<township>#<window>",
                                       queue_sort begins_with "<status>#" (oldest first)
a county department's pending steps    cases GSI ``by_department`` (sparse: pending steps only):
                                       pending_department, started_at
a case's one-time notice (document)    cases: GetItem pk="CASE#<no>", sk="NOTICE#<round:03d>"
a sealed document by id (public)       cases: GetItem pk="DOCUMENT#<document id>", sk="DOCUMENT"
a case's sealed documents              cases: Query pk="CASE#<no>", sk begins_with "DOC#"
a sealed document by its bytes' SHA-256  cases: GetItem pk="DOCSHA#<sha256 hex>", sk="DOCUMENT"
events not yet published (outbox)      cases GSI ``pending_events`` (sparse, 8 shards):
                                       outbox_shard, created_at < cutoff
a case's materials (heads, versions)   cases: Query pk="CASE#<no>", sk begins_with "MAT#"
an upload slot (from its S3 key)       cases: GetItem pk="CASE#<no>", sk="SLOT#<slot_id>"
a township's windows (A/B posts)       cases: Query pk="TOWNSHIP#<code>", sk begins_with "WINDOW#"
a villager's messages                  cases: Query pk="INBOX#<applicant_key>" (newest first)
a staff inbox (deadline alerts)        cases: Query pk="INBOX#<staff_x|TOWNSHIP#|SUPERVISOR#|DEPARTMENT#..>"
cases whose warning may rise by a day   cases GSI ``by_deadline`` (sparse: open cases with a
                                       next check, 8 shards): deadline_shard, next_check <= day
cases with a provisional due date       cases GSI ``by_provisional_year`` (sparse): the year
                                       without calendar data, case_no
=====================================  ===============================================
"""
from __future__ import annotations

import json

from pynamodb.attributes import (BooleanAttribute, JSONAttribute, ListAttribute, NumberAttribute,
                                 TTLAttribute, UnicodeAttribute)
from pynamodb.connection import Connection
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from .. import settings


def transaction_connection() -> Connection:
    """A PynamoDB connection for ``TransactWrite`` with the same region, endpoint, timeouts and
    retries as the models (``_Meta``)."""
    return Connection(region=settings.region(), host=settings.endpoint_url(),
                      connect_timeout_seconds=settings.CONNECT_TIMEOUT, read_timeout_seconds=settings.READ_TIMEOUT,
                      max_retry_attempts=settings.MAX_ATTEMPTS)


class Utf8JSONAttribute(JSONAttribute):
    """JSON stored as UTF-8 text. PynamoDB's JSONAttribute writes every Chinese character as a
    six-byte escape sequence instead of three UTF-8 bytes, which doubles items and can push a
    case with a long form past DynamoDB's 400 KB item limit."""

    def serialize(self, value):
        return None if value is None else json.dumps(value, ensure_ascii=False)


class _Meta:
    region = settings.region()
    host = settings.endpoint_url()
    connect_timeout_seconds = settings.CONNECT_TIMEOUT
    read_timeout_seconds = settings.READ_TIMEOUT
    max_retry_attempts = settings.MAX_ATTEMPTS


class ListingIndex(GlobalSecondaryIndex):
    """All catalog items ordered by code (items only: townships lack ``listing``)."""

    class Meta:
        index_name = "by_listing"
        projection = AllProjection()

    listing = UnicodeAttribute(hash_key=True)
    code = UnicodeAttribute(range_key=True)


class CategoryIndex(GlobalSecondaryIndex):
    """Catalog items of one category ordered by code."""

    class Meta:
        index_name = "by_category"
        projection = AllProjection()

    category = UnicodeAttribute(hash_key=True)
    code = UnicodeAttribute(range_key=True)


class LevelIndex(GlobalSecondaryIndex):
    """Catalog items of one exercising level ordered by code."""

    class Meta:
        index_name = "by_level"
        projection = AllProjection()

    exercising_level = UnicodeAttribute(hash_key=True)
    code = UnicodeAttribute(range_key=True)


class CategoryLevelIndex(GlobalSecondaryIndex):
    """Catalog items of one category and level (``category_level`` = "<category>#<level>")."""

    class Meta:
        index_name = "by_category_level"
        projection = AllProjection()

    category_level = UnicodeAttribute(hash_key=True)
    code = UnicodeAttribute(range_key=True)


class CatalogEntryModel(Model):
    """A catalog entry: a service item (``entity="item"``, key = the item code) or township
    settings (``"township"``, key ``TOWNSHIP#<code>``): the current version, read in one
    GetItem/BatchGetItem; and one immutable row per version of either, ``ITEM#<code>#v<0001>``
    (``"item_version"``) or ``TOWNSHIP#<code>#v<0001>`` (``"township_version"``), without
    ``listing`` so that no index lists them.

    ``doc`` holds the record as imported (``schemas/catalog_item.json`` or ``township.json``);
    ``retired_at`` (UTC ISO) marks a retired item (and the version that retired it);
    ``change`` says what made a version (``created``, ``updated``, ``retired``, ``imported``),
    ``changed_by`` who.
    """

    class Meta(_Meta):
        table_name = settings.CATALOG_TABLE

    code = UnicodeAttribute(hash_key=True)
    entity = UnicodeAttribute()
    listing = UnicodeAttribute(null=True)
    category = UnicodeAttribute(null=True)
    exercising_level = UnicodeAttribute(null=True)
    category_level = UnicodeAttribute(null=True)
    name = UnicodeAttribute()
    doc = Utf8JSONAttribute()
    content_hash = UnicodeAttribute()
    version = NumberAttribute(default=1)
    updated_at = UnicodeAttribute()
    retired_at = UnicodeAttribute(null=True)
    change = UnicodeAttribute(null=True)
    changed_by = UnicodeAttribute(null=True)

    by_listing = ListingIndex()
    by_category = CategoryIndex()
    by_level = LevelIndex()
    by_category_level = CategoryLevelIndex()


class CalendarYearModel(Model):
    """A working-day calendar year loaded as data, in the catalog table: the current record
    ``code="CALENDAR#<year>"`` (``listing="calendar"``, so ``by_listing`` lists the loaded
    years) and one immutable record per version ``code="CALENDAR#<year>#v<0001>"`` (no
    ``listing``). ``holidays``/``workdays`` as in ``schemas/calendar_year.json``; times UTC ISO."""

    class Meta(_Meta):
        table_name = settings.CATALOG_TABLE

    code = UnicodeAttribute(hash_key=True)
    entity = UnicodeAttribute(default="calendar_year")
    listing = UnicodeAttribute(null=True)
    year = NumberAttribute()
    source = UnicodeAttribute()
    example = BooleanAttribute(null=True)
    holidays = Utf8JSONAttribute()
    workdays = Utf8JSONAttribute()
    loaded_by = UnicodeAttribute()
    loaded_at = UnicodeAttribute()
    version = NumberAttribute()
    content_hash = UnicodeAttribute()

    by_listing = ListingIndex()


class CalendarAlertModel(Model):
    """The marker that the administrators were told a calendar year is missing
    (``code="ALERT#calendar#<year>"``, ``listing="calendar_alert"``): put once, conditionally."""

    class Meta(_Meta):
        table_name = settings.CATALOG_TABLE

    code = UnicodeAttribute(hash_key=True)
    entity = UnicodeAttribute(default="calendar_alert")
    listing = UnicodeAttribute(null=True)
    year = NumberAttribute()
    case_no = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()

    by_listing = ListingIndex()


class CatalogOfferModel(Model):
    """That a township offers an item (issue 7): ``code="OFFER#<item>#<township>"``,
    ``listing="OFFER#<item>"``, so one Query of ``by_listing`` answers which townships offer an
    item (the fan-out of an item's change messages). Written in the township settings' transaction."""

    class Meta(_Meta):
        table_name = settings.CATALOG_TABLE

    code = UnicodeAttribute(hash_key=True)
    entity = UnicodeAttribute(default="offer")
    listing = UnicodeAttribute()
    item_code = UnicodeAttribute()
    township_code = UnicodeAttribute()
    updated_at = UnicodeAttribute()

    by_listing = ListingIndex()


class CatalogChangeModel(Model):
    """Outbox marker of a catalog change whose publicity messages are not yet all sent:
    ``code="CHANGE#item#<code>#v<0001>"`` or ``"CHANGE#township#<code>#v<0001>"``,
    ``listing="catalog_change"``. Written with the change, deleted once its messages are sent;
    the scheduled sweep sends those of markers left behind (``usecases.catalog_changes``).
    ``messages`` (township changes): ``[[item_code, item_version, reason], ...]``."""

    class Meta(_Meta):
        table_name = settings.CATALOG_TABLE

    code = UnicodeAttribute(hash_key=True)
    entity = UnicodeAttribute(default="catalog_change")
    listing = UnicodeAttribute()
    kind = UnicodeAttribute()
    subject = UnicodeAttribute()
    version = NumberAttribute()
    reason = UnicodeAttribute()
    messages = Utf8JSONAttribute(null=True)
    created_at = UnicodeAttribute()

    by_listing = ListingIndex()


class NoticeModel(Model):
    """The current eight-publicity notice of an item in a township (``code="NOTICE#<township>#<item>"``,
    catalog table, no ``listing``): the versions it was made from and its S3 keys. Replaced only
    by a notice of a higher ``(item_version, township_version)`` (conditional put)."""

    class Meta(_Meta):
        table_name = settings.CATALOG_TABLE

    code = UnicodeAttribute(hash_key=True)
    entity = UnicodeAttribute(default="notice")
    name = UnicodeAttribute(default="notice")
    item_version = NumberAttribute()
    township_version = NumberAttribute()
    doc = Utf8JSONAttribute()
    updated_at = UnicodeAttribute()


class SealModel(Model):
    """An e-seal: its certificate (PEM), the backend key id and its names, in the catalog table
    (``code="SEAL#ROOT"`` or ``"SEAL#<township code>"``): put once, conditionally, so two
    racing creators agree on one key."""

    class Meta(_Meta):
        table_name = settings.CATALOG_TABLE

    code = UnicodeAttribute(hash_key=True)
    entity = UnicodeAttribute(default="seal")
    owner = UnicodeAttribute()
    backend = UnicodeAttribute()
    key_id = UnicodeAttribute()
    certificate_pem = UnicodeAttribute()
    seal_name = UnicodeAttribute()
    seal_type = UnicodeAttribute()
    signer = UnicodeAttribute()
    created_at = UnicodeAttribute()


class PendingIntakeIndex(GlobalSecondaryIndex):
    """Sparse: only cases not yet classified carry ``intake_shard``."""

    class Meta:
        index_name = "pending_intake"
        projection = KeysOnlyProjection()

    intake_shard = UnicodeAttribute(hash_key=True)
    submitted_at = UnicodeAttribute(range_key=True)


class ApplicantIndex(GlobalSecondaryIndex):
    """A villager's cases, by the keyed hash of the applicant's resident ID, newest last."""

    class Meta:
        index_name = "by_applicant"
        projection = AllProjection()

    applicant_key = UnicodeAttribute(hash_key=True)
    submitted_at = UnicodeAttribute(range_key=True)


class AgentIndex(GlobalSecondaryIndex):
    """Cases a village agent filed, newest last."""

    class Meta:
        index_name = "by_agent"
        projection = AllProjection()

    agent_subject = UnicodeAttribute(hash_key=True)
    submitted_at = UnicodeAttribute(range_key=True)


class QueueIndex(GlobalSecondaryIndex):
    """A window's queue: every case routed to ``<township>#<window>``, sorted by
    ``<status>#<submitted_at>`` so one Query lists one state, oldest first."""

    class Meta:
        index_name = "by_queue"
        projection = AllProjection()

    queue = UnicodeAttribute(hash_key=True)
    queue_sort = UnicodeAttribute(range_key=True)


class DepartmentIndex(GlobalSecondaryIndex):
    """Sparse: the approval steps still pending at a county department (forwarded cases and
    joint-approval steps), oldest first."""

    class Meta:
        index_name = "by_department"
        projection = AllProjection()

    pending_department = UnicodeAttribute(hash_key=True)
    started_at = UnicodeAttribute(range_key=True)


class PendingEventsIndex(GlobalSecondaryIndex):
    """Sparse, sharded: case events written with their state change but not yet published."""

    class Meta:
        index_name = "pending_events"
        projection = KeysOnlyProjection()

    outbox_shard = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class DeadlineIndex(GlobalSecondaryIndex):
    """Sparse, sharded: open cases with the day (Asia/Shanghai, ISO) a warning may next rise."""

    class Meta:
        index_name = "by_deadline"
        projection = KeysOnlyProjection()

    deadline_shard = UnicodeAttribute(hash_key=True)
    next_check = UnicodeAttribute(range_key=True)


class ProvisionalYearIndex(GlobalSecondaryIndex):
    """Sparse: open cases whose due date rests on a year without calendar data."""

    class Meta:
        index_name = "by_provisional_year"
        projection = KeysOnlyProjection()

    provisional_year = UnicodeAttribute(hash_key=True)
    case_no = UnicodeAttribute(range_key=True)


class CaseModel(Model):
    """The case item: pk="CASE#<case_no>", sk="CASE". Times are UTC ISO-8601."""

    class Meta(_Meta):
        table_name = settings.CASES_TABLE

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    case_no = UnicodeAttribute()
    status = UnicodeAttribute()
    item_code = UnicodeAttribute()
    item_name = UnicodeAttribute()
    item_version = NumberAttribute()
    township_code = UnicodeAttribute()
    channel = UnicodeAttribute()
    submitted_by = UnicodeAttribute()
    applicant = Utf8JSONAttribute()
    agent = Utf8JSONAttribute(null=True)
    form = Utf8JSONAttribute(null=True)
    submitted_at = UnicodeAttribute()
    application_time = UnicodeAttribute()
    case_classes = ListAttribute(of=UnicodeAttribute, null=True)
    case_type = UnicodeAttribute(null=True)
    due_date = UnicodeAttribute(null=True)
    due_date_provisional = BooleanAttribute(null=True)
    classified_at = UnicodeAttribute(null=True)
    intake_error = UnicodeAttribute(null=True)
    note = UnicodeAttribute(null=True)
    intake_shard = UnicodeAttribute(null=True)
    history_count = NumberAttribute()
    version = NumberAttribute()
    # who may see it (domain.access.CaseAccess)
    applicant_key = UnicodeAttribute(null=True)
    village_code = UnicodeAttribute(null=True)
    filed_by = UnicodeAttribute(null=True)
    agent_subject = UnicodeAttribute(null=True)
    operator_id = UnicodeAttribute(null=True)
    station_id = UnicodeAttribute(null=True)
    forwarded_departments = ListAttribute(of=UnicodeAttribute, null=True)
    # lifecycle (chalicelib/domain/lifecycle.py; docs/lifecycle.md)
    window = UnicodeAttribute(null=True)
    queue = UnicodeAttribute(null=True)
    queue_sort = UnicodeAttribute(null=True)
    responsible = UnicodeAttribute(null=True)
    responsible_name = UnicodeAttribute(null=True)
    accepted_at = UnicodeAttribute(null=True)
    accepted_on = UnicodeAttribute(null=True)
    accepted_by = UnicodeAttribute(null=True)
    acceptance_basis = UnicodeAttribute(null=True)
    materials_complete_at = UnicodeAttribute(null=True)
    notices = Utf8JSONAttribute(null=True)
    special_procedure = Utf8JSONAttribute(null=True)
    special_procedures = Utf8JSONAttribute(null=True)
    forwarded_to = Utf8JSONAttribute(null=True)
    forwarded_at = UnicodeAttribute(null=True)
    joint_departments = ListAttribute(of=UnicodeAttribute, null=True)
    approvals = Utf8JSONAttribute(null=True)
    legs = Utf8JSONAttribute(null=True)
    outcome = Utf8JSONAttribute(null=True)
    concluded_at = UnicodeAttribute(null=True)
    on_the_spot = BooleanAttribute(null=True)
    # deadlines (chalicelib/domain/deadlines.py)
    clock = Utf8JSONAttribute(null=True)
    clock_paused = BooleanAttribute(null=True)
    yellow_date = UnicodeAttribute(null=True)
    warning_level = NumberAttribute(null=True)
    step_warnings = Utf8JSONAttribute(null=True)
    next_check = UnicodeAttribute(null=True)
    deadline_shard = UnicodeAttribute(null=True)
    provisional_year = UnicodeAttribute(null=True)
    extension = Utf8JSONAttribute(null=True)
    timeliness = Utf8JSONAttribute(null=True)
    # application materials: ``{code: {"version", "trust_level"}}`` (the rest: MaterialModel)
    materials = Utf8JSONAttribute(null=True)

    pending_intake = PendingIntakeIndex()
    by_applicant = ApplicantIndex()
    by_agent = AgentIndex()
    by_queue = QueueIndex()
    by_deadline = DeadlineIndex()
    by_provisional_year = ProvisionalYearIndex()


class CaseHistoryModel(Model):
    """A history entry: pk="CASE#<case_no>", sk="HIST#<seq:06d>". Never updated or deleted."""

    class Meta(_Meta):
        table_name = settings.CASES_TABLE

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    seq = NumberAttribute()
    at = UnicodeAttribute()
    actor = UnicodeAttribute()
    role = UnicodeAttribute()
    step_name = UnicodeAttribute()
    action = UnicodeAttribute()
    opinion = UnicodeAttribute(default="")
    reason = UnicodeAttribute(default="")
    data = Utf8JSONAttribute(null=True)
    handler = UnicodeAttribute(null=True)
    step_start = UnicodeAttribute(null=True)


class CaseStepModel(Model):
    """An approval step at a county department: pk="CASE#<no>", sk="STEP#<kind>#<department>".
    ``pending_department`` is set while the step waits (the department's queue)."""

    class Meta(_Meta):
        table_name = settings.CASES_TABLE

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    case_no = UnicodeAttribute()
    township_code = UnicodeAttribute()
    item_name = UnicodeAttribute()
    department = UnicodeAttribute()
    name = UnicodeAttribute()
    kind = UnicodeAttribute()
    state = UnicodeAttribute()
    started_at = UnicodeAttribute()
    ended_at = UnicodeAttribute(null=True)
    decision = UnicodeAttribute(null=True)
    opinion = UnicodeAttribute(null=True)
    by = UnicodeAttribute(null=True)
    pending_department = UnicodeAttribute(null=True)

    by_department = DepartmentIndex()


class CaseDocumentModel(Model):
    """A stored case document (the one-time notice): pk="CASE#<no>", sk="NOTICE#<round:03d>".
    Written once, never changed."""

    class Meta(_Meta):
        table_name = settings.CASES_TABLE

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    doc = Utf8JSONAttribute()
    created_at = UnicodeAttribute()


class SealedDocumentModel(Model):
    """A generated, e-sealed document: the public record pk="DOCUMENT#<id>", sk="DOCUMENT", and
    its copies in the case's partition pk="CASE#<no>", sk="DOC#<id>" (the case's list) and under
    its bytes' digest pk="DOCSHA#<sha256>", sk="DOCUMENT" (uploaded copies), written
    together once (conditional) with the case history entry. ``seal``: seal name, type, signer,
    certificate serial, algorithm; ``sha256`` of the sealed bytes; times UTC ISO."""

    class Meta(_Meta):
        table_name = settings.CASES_TABLE

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    document_id = UnicodeAttribute()
    case_no = UnicodeAttribute()
    kind = UnicodeAttribute()
    round = NumberAttribute()
    township_code = UnicodeAttribute()
    event_id = UnicodeAttribute()
    sha256 = UnicodeAttribute()
    size = NumberAttribute()
    s3_key = UnicodeAttribute()
    s3_version_id = UnicodeAttribute(null=True)
    seal = Utf8JSONAttribute()
    sealed_at = UnicodeAttribute()
    sealed_at_local = UnicodeAttribute()


class CaseEventModel(Model):
    """A case event (outbox): pk="CASE#<no>", sk="EVENT#<history seq:06d>", written in the
    transaction of its state change; ``outbox_shard`` is removed once it is published."""

    class Meta(_Meta):
        table_name = settings.CASES_TABLE

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    event_id = UnicodeAttribute()
    body = Utf8JSONAttribute()
    created_at = UnicodeAttribute()
    published_at = UnicodeAttribute(null=True)
    outbox_shard = UnicodeAttribute(null=True)

    pending_events = PendingEventsIndex()


class MaterialModel(Model):
    """An application material of a case (``domain/materials.py``), in the case's partition:
    the head ``sk="MAT#<code>"`` (``version`` = the current version, 0 before one was accepted;
    ``trust_level``; ``doc``: name, last rejection) and one item per accepted upload
    ``sk="MAT#<code>#V#<version:03d>"`` (``doc``: S3 key and VersionId, size, content type,
    SHA-256, who uploaded it and when, who checked it). Versions are never overwritten."""

    class Meta(_Meta):
        table_name = settings.CASES_TABLE

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    code = UnicodeAttribute()
    version = NumberAttribute()
    trust_level = UnicodeAttribute(null=True)
    doc = Utf8JSONAttribute()


class UploadSlotModel(Model):
    """An upload slot (presigned POST for one key): pk="CASE#<no>", sk="SLOT#<slot_id>";
    ``status`` open, used (``doc.version_id`` recorded) or rejected (``doc.rejection``)."""

    class Meta(_Meta):
        table_name = settings.CASES_TABLE

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    status = UnicodeAttribute()
    doc = Utf8JSONAttribute()


class WindowModel(Model):
    """A window of a township center: pk="TOWNSHIP#<code>", sk="WINDOW#<window>" (domain/windows.py)."""

    class Meta(_Meta):
        table_name = settings.CASES_TABLE

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    window = UnicodeAttribute()
    name = UnicodeAttribute()
    a_post = UnicodeAttribute(null=True)
    b_post = UnicodeAttribute(null=True)
    a_absent = BooleanAttribute(default=False)
    items = ListAttribute(of=UnicodeAttribute, null=True)
    categories = ListAttribute(of=UnicodeAttribute, null=True)
    default = BooleanAttribute(default=False)
    updated_at = UnicodeAttribute()
    updated_by = UnicodeAttribute()


class MessageModel(Model):
    """A message in an inbox: pk="INBOX#<recipient>" (an applicant's key or a staff inbox,
    ``CaseRepository.add_message``), sk="<created_at>#<event_id>". Written once per event
    (conditional put)."""

    class Meta(_Meta):
        table_name = settings.CASES_TABLE

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    event_id = UnicodeAttribute()
    case_no = UnicodeAttribute(null=True)
    event_type = UnicodeAttribute()
    text = UnicodeAttribute()
    filed_by = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)


class IdempotencyModel(Model):
    """Idempotency record: pk="IDEMP#<scope>#<key>", sk="IDEMP", written in the same
    transaction as the case it created; TTL (``expires_at``) removes it after a day."""

    class Meta(_Meta):
        table_name = settings.CASES_TABLE

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    case_no = UnicodeAttribute()
    request_hash = UnicodeAttribute()
    created_at = UnicodeAttribute()
    expires_at = TTLAttribute()


class FailedDeliveriesIndex(GlobalSecondaryIndex):
    """Sparse: only deliveries that failed every retry (and were not redelivered since) carry
    ``failed_operator``."""

    class Meta:
        index_name = "failed_deliveries"
        projection = AllProjection()

    failed_operator = UnicodeAttribute(hash_key=True)
    failed_at = UnicodeAttribute(range_key=True)


class WebhookDeliveryModel(Model):
    """One webhook delivery to a station operator: pk="DELIVERY#<operator_id>",
    sk="<delivery_id>" (``whd_`` + 32 hex). ``body`` is the exact JSON text sent on every
    attempt (no personal data, ``schemas/webhook_event.json``). ``status`` is pending,
    delivered or failed; ``attempts`` counts HTTP attempts over all redeliveries; ``last_error``
    is ``HTTP <status>`` or a short network error. Times are UTC ISO-8601. TTL removes a record
    30 days after delivery, otherwise 90 days after creation (``settings``)."""

    class Meta(_Meta):
        table_name = settings.CASES_TABLE

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    delivery_id = UnicodeAttribute()
    operator_id = UnicodeAttribute()
    case_no = UnicodeAttribute()
    event_type = UnicodeAttribute()
    body = UnicodeAttribute()
    status = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    last_error = UnicodeAttribute(null=True)
    last_status_code = NumberAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    last_attempt_at = UnicodeAttribute(null=True)
    delivered_at = UnicodeAttribute(null=True)
    failed_operator = UnicodeAttribute(null=True)
    failed_at = UnicodeAttribute(null=True)
    redeliveries = NumberAttribute(default=0)
    redelivered_at = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)

    failed_deliveries = FailedDeliveriesIndex()


# --- identity table (bianmin-identity): accounts, sessions, consents ------------------------
#
# =====================================  ===============================================
# pattern                                key / index
# =====================================  ===============================================
# user profile                           pk="USER#<subject>", sk="PROFILE"
# mini-program user by WeChat openid     pk="WX#<openid>", sk="WX" -> subject
# account bound to a resident ID         pk="IDKEY#<id_key>", sk="BINDING" -> subject
# village agent appointment              pk="IDKEY#<id_key>", sk="AGENT"
# staff account by user name             pk="STAFF#<username>", sk="STAFF"
# refresh session                        pk="SESSION#<sid>", sk="SESSION" (TTL)
# used WeChat login code                 pk="WXCODE#<sha256>", sk="WXCODE" (TTL)
# a villager's consents                  pk="CONSENT#<applicant_key>", sk="C#<consent_id>"
# consents given to an agent             GSI ``consents_by_agent``: agent_subject, granted_at
# station operators, API keys, nonces,   pk="OPERATOR#...", "OPKEY#...", "NONCE#...", "RATE#..."
#   request counters                     (models and patterns in ``operator_repo.py``)
# =====================================  ===============================================


class _IdentityMeta(_Meta):
    table_name = settings.IDENTITY_TABLE


class UserModel(Model):
    """A mini-program user (villager, and village agent once appointed). Stores the minimum:
    the keyed hash of the bound resident ID and masked name and ID for display."""

    class Meta(_IdentityMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    subject = UnicodeAttribute()
    openid = UnicodeAttribute()
    created_at = UnicodeAttribute()
    id_key = UnicodeAttribute(null=True)
    name_masked = UnicodeAttribute(null=True)
    id_masked = UnicodeAttribute(null=True)
    bound_at = UnicodeAttribute(null=True)
    verified_at = UnicodeAttribute(null=True)
    verified_by = UnicodeAttribute(null=True)


class LinkModel(Model):
    """A unique link to a subject: ``WX#<openid>`` or ``IDKEY#<id_key>`` / ``BINDING``."""

    class Meta(_IdentityMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    subject = UnicodeAttribute()
    created_at = UnicodeAttribute()


class AgentAppointmentModel(Model):
    """A village agent appointed by an administrator, keyed by the agent's resident ID hash;
    the account that binds that ID gets the village-agent role for ``villages``."""

    class Meta(_IdentityMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    township_code = UnicodeAttribute()
    villages = ListAttribute(of=UnicodeAttribute)
    active = BooleanAttribute(default=True)
    appointed_by = UnicodeAttribute()
    appointed_at = UnicodeAttribute()


class StaffAccountModel(Model):
    """A staff account created by an administrator; ``password_hash`` is argon2id."""

    class Meta(_IdentityMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    username = UnicodeAttribute()
    subject = UnicodeAttribute()
    display_name = UnicodeAttribute()
    roles = ListAttribute(of=UnicodeAttribute)
    township_codes = ListAttribute(of=UnicodeAttribute, null=True)
    department = UnicodeAttribute(null=True)
    password_hash = UnicodeAttribute()
    disabled = BooleanAttribute(default=False)
    failed_logins = NumberAttribute(default=0)
    failure_window_start = NumberAttribute(default=0)
    created_by = UnicodeAttribute()
    created_at = UnicodeAttribute()


class SessionModel(Model):
    """A login session: the SHA-256 of the current refresh secret (rotated on every refresh,
    the previous one kept to detect reuse) and, for WeChat logins, the session key, which
    never leaves the server. TTL removes it after ``settings.REFRESH_SESSION_SECONDS``."""

    class Meta(_IdentityMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    subject = UnicodeAttribute()
    kind = UnicodeAttribute()
    refresh_hash = UnicodeAttribute()
    previous_hash = UnicodeAttribute(null=True)
    wechat_session_key = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    rotated_at = UnicodeAttribute(null=True)
    revoked_at = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()


class LoginCodeModel(Model):
    """A WeChat login code already exchanged (hash only); a second use is refused."""

    class Meta(_IdentityMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    used_at = UnicodeAttribute()
    expires_at = TTLAttribute()


class ConsentsByAgentIndex(GlobalSecondaryIndex):
    """Consents given to one agent, newest last."""

    class Meta:
        index_name = "consents_by_agent"
        projection = AllProjection()

    agent_subject = UnicodeAttribute(hash_key=True)
    granted_at = UnicodeAttribute(range_key=True)


class ConsentModel(Model):
    """A villager's consent to a village agent (``domain.access.Consent``). Revoking sets
    ``revoked_at``; nothing is deleted."""

    class Meta(_IdentityMeta):
        pass

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    consent_id = UnicodeAttribute()
    applicant_key = UnicodeAttribute()
    applicant_name_masked = UnicodeAttribute(null=True)
    agent_subject = UnicodeAttribute()
    agent_name = UnicodeAttribute(null=True)
    scope = UnicodeAttribute()
    case_no = UnicodeAttribute(null=True)
    granted_at = UnicodeAttribute()
    valid_from = UnicodeAttribute()
    valid_until = UnicodeAttribute(null=True)
    revoked_at = UnicodeAttribute(null=True)
    granted_by = UnicodeAttribute()

    by_agent = ConsentsByAgentIndex()


# --- audit table (bianmin-audit): append-only ------------------------------------------------
# pk="CASE#<case_no>" (everything about one case) or "SUBJECT#<subject>" (an account),
# sk="<UTC ISO time>#<random>". Written with a does-not-exist condition; the Lambda role may
# PutItem and Query it, never UpdateItem or DeleteItem (.chalice/policy-prod.json).


class AuditModel(Model):
    """One audit record: who (actor, roles), what (action, target, detail), when (UTC), from
    where (origin: IP, user agent, request id, channel). No personal data in clear."""

    class Meta(_Meta):
        table_name = settings.AUDIT_TABLE

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    at = UnicodeAttribute()
    actor = UnicodeAttribute()
    roles = ListAttribute(of=UnicodeAttribute)
    action = UnicodeAttribute()
    target = UnicodeAttribute()
    origin = Utf8JSONAttribute()
    detail = Utf8JSONAttribute(null=True)
