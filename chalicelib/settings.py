"""Names and tunables read once per container.

Resource names are fixed per deployment because Chalice's ``on_sqs_message`` needs queue names
at import time; ``infra/resources.json`` declares the same names (a test checks they agree).
"""
from __future__ import annotations

import os

CATALOG_TABLE = os.environ.get("BIANMIN_CATALOG_TABLE", "bianmin-catalog")
CASES_TABLE = os.environ.get("BIANMIN_CASES_TABLE", "bianmin-cases")

CASE_INTAKE_QUEUE = "bianmin-case-intake"
OPERATOR_INTAKE_QUEUE = "bianmin-operator-intake"
OPERATOR_INTAKE_DLQ = "bianmin-operator-intake-dlq"

#: Township used for the staff/phone publicities when a request names none.
DEFAULT_TOWNSHIP = os.environ.get("BIANMIN_DEFAULT_TOWNSHIP", "431224100")

#: Idempotency records live this long (seconds) before TTL removes them.
IDEMPOTENCY_TTL_SECONDS = 24 * 3600

#: Shards of the sparse "pending intake" index (spreads writes; design.md scale rules).
INTAKE_SHARDS = 8

#: A case still unclassified after this many seconds has its intake event published again.
INTAKE_STALL_SECONDS = int(os.environ.get("BIANMIN_INTAKE_STALL_SECONDS", "120"))

#: botocore timeouts (seconds): API Gateway gives up at 29 s; fail fast and retry once.
CONNECT_TIMEOUT = 2
READ_TIMEOUT = 4
MAX_ATTEMPTS = 2


def region() -> str:
    """The AWS region from the environment (Lambda sets ``AWS_REGION``)."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def endpoint_url() -> str | None:
    """An endpoint override for the local stack (moto server), else None (real AWS)."""
    return os.environ.get("AWS_ENDPOINT_URL") or None
