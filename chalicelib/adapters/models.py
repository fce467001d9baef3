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
case by number (+ its history)         cases: Query pk="CASE#<no>"
idempotency key -> case                cases: GetItem pk="IDEMP#<scope>#<key>", sk="IDEMP"
cases waiting for intake classification  cases GSI ``pending_intake`` (sparse, 8 shards):
                                       intake_shard, submitted_at < cutoff
=====================================  ===============================================
"""
from __future__ import annotations

import json

from pynamodb.attributes import (BooleanAttribute, JSONAttribute, ListAttribute, NumberAttribute,
                                 TTLAttribute, UnicodeAttribute)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from .. import settings


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
    """A catalog entry: a service item (``entity="item"``) or township settings (``"township"``).

    ``doc`` holds the record as imported (``schemas/catalog_item.json`` or ``township.json``).
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

    by_listing = ListingIndex()
    by_category = CategoryIndex()
    by_level = LevelIndex()
    by_category_level = CategoryLevelIndex()


class PendingIntakeIndex(GlobalSecondaryIndex):
    """Sparse: only cases not yet classified carry ``intake_shard``."""

    class Meta:
        index_name = "pending_intake"
        projection = KeysOnlyProjection()

    intake_shard = UnicodeAttribute(hash_key=True)
    submitted_at = UnicodeAttribute(range_key=True)


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

    pending_intake = PendingIntakeIndex()


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
