"""Names and tunables read once per container.

Resource names are fixed per deployment because Chalice's ``on_sqs_message`` needs queue names
at import time; ``infra/resources.json`` declares the same names (a test checks they agree).
"""
from __future__ import annotations

import os

CATALOG_TABLE = os.environ.get("BIANMIN_CATALOG_TABLE", "bianmin-catalog")
CASES_TABLE = os.environ.get("BIANMIN_CASES_TABLE", "bianmin-cases")
IDENTITY_TABLE = os.environ.get("BIANMIN_IDENTITY_TABLE", "bianmin-identity")
AUDIT_TABLE = os.environ.get("BIANMIN_AUDIT_TABLE", "bianmin-audit")

CASE_INTAKE_QUEUE = "bianmin-case-intake"
#: Case events (every committed state change; domain/lifecycle.py): applicant messages and
#: operator webhooks consume them.
CASE_EVENTS_QUEUE = "bianmin-case-events"
OPERATOR_INTAKE_QUEUE = "bianmin-operator-intake"
OPERATOR_INTAKE_DLQ = "bianmin-operator-intake-dlq"
WEBHOOK_QUEUE = "bianmin-webhooks"
WEBHOOK_DLQ = "bianmin-webhooks-dlq"
#: Application materials and generated documents (issue 6). The bucket name carries the account
#: and region (infra/resources.json ``MaterialsBucket``); the local stack and tests use moto's.
MATERIALS_BUCKET = os.environ.get("BIANMIN_MATERIALS_BUCKET", "bianmin-materials-123456789012-us-east-1")
#: S3 object-created notifications for uploaded materials (prefix ``materials/``) land here.
MATERIAL_UPLOADS_QUEUE = "bianmin-material-uploads"
MATERIAL_UPLOADS_DLQ = "bianmin-material-uploads-dlq"
#: Upload slots (docs/materials.md): a presigned POST is valid this long (seconds); one file may
#: be at most this large (bytes; S3 enforces it through the POST policy, the upload consumer
#: again); a presigned GET of a material is valid this long (seconds).
MATERIAL_SLOT_SECONDS = int(os.environ.get("BIANMIN_MATERIAL_SLOT_SECONDS", "600"))
MATERIAL_MAX_BYTES = int(os.environ.get("BIANMIN_MATERIAL_MAX_BYTES", str(10 * 1024 * 1024)))
MATERIAL_DOWNLOAD_SECONDS = int(os.environ.get("BIANMIN_MATERIAL_DOWNLOAD_SECONDS", "300"))
#: An uploaded image (JPEG, PNG) may have at most this many pixels (width x height): a page
#: scanned at 600 dpi (A4: 4960 x 7016, 35 Mpx) or an ordinary phone photo (12 to 48 Mpx) fits;
#: more is refused as a decompression bomb (``FILE_UNREADABLE``, ``adapters/file_inspect.py``),
#: which also bounds the memory of decoding it.
MATERIAL_MAX_PIXELS = int(os.environ.get("BIANMIN_MATERIAL_MAX_PIXELS", str(50_000_000)))
#: Requests to generate and seal a document (receipt, one-time notice, decision).
DOCUMENTS_QUEUE = "bianmin-documents"
DOCUMENTS_DLQ = "bianmin-documents-dlq"
#: Requests to (re)generate the eight-publicity notice of one item in one township (issue 7):
#: ``{"item_code", "item_version", "township_code", "reason", "requested_at"}``.
PUBLICITY_QUEUE = "bianmin-publicity"
PUBLICITY_DLQ = "bianmin-publicity-dlq"
#: The catalog search index (code, name, keywords, filters and list view of every item) is built
#: once per container from the ``by_listing`` index and rebuilt after this many seconds, so a
#: catalog change reaches search within minutes (issue 7, docs/publicity.md).
SEARCH_INDEX_SECONDS = int(os.environ.get("BIANMIN_SEARCH_INDEX_SECONDS", "300"))
#: Where e-seal private keys live: ``kms`` (AWS KMS asymmetric keys; tests use moto's KMS) or
#: ``file`` (PEM files under ``SEAL_KEY_DIR``, created on first use: the local runner, whose
#: moto state is replayed on restart and would lose KMS key material).
SEAL_KEYS = os.environ.get("BIANMIN_SEAL_KEYS", "kms")
SEAL_KEY_DIR = os.environ.get("BIANMIN_SEAL_KEY_DIR", ".local/seal-keys")
#: Presigned download links of sealed documents stay valid this long (seconds).
DOCUMENT_URL_SECONDS = int(os.environ.get("BIANMIN_DOCUMENT_URL_SECONDS", "300"))
#: The public base URL QR codes on documents lead to (verification page).
PUBLIC_BASE_URL = os.environ.get("BIANMIN_PUBLIC_BASE_URL", "http://127.0.0.1:8000")
#: Deliveries a webhook gets before SQS moves it to the dead-letter queue (the queue's
#: ``maxReceiveCount`` in infra/resources.json; a test checks they agree).
WEBHOOK_MAX_ATTEMPTS = 6
#: Webhook retry backoff (seconds): after failed attempt n the message waits
#: ``base × 2^(n−1)``, at most the cap (defaults: 1, 2, 4, 8, 16 minutes between the six
#: attempts). ``BIANMIN_WEBHOOK_BACKOFF_SECONDS=0`` retries at once (tests).
WEBHOOK_BACKOFF_SECONDS = int(os.environ.get("BIANMIN_WEBHOOK_BACKOFF_SECONDS", "60"))
WEBHOOK_BACKOFF_MAX_SECONDS = 3600
#: Webhook HTTP timeouts (seconds): connecting, each read, and the whole request.
WEBHOOK_CONNECT_TIMEOUT = 3
WEBHOOK_READ_TIMEOUT = 5
WEBHOOK_TOTAL_TIMEOUT = 10
#: Delivery records expire (TTL) this many days after delivery, or after creation otherwise.
WEBHOOK_DELIVERED_KEEP_DAYS = 30
WEBHOOK_RECORD_KEEP_DAYS = 90

#: Secrets Manager names (infra/resources.json creates them).
TOKEN_KEY_SECRET = "bianmin/token-key"
ID_PEPPER_SECRET = "bianmin/id-pepper"
WECHAT_SECRET = "bianmin/wechat"
OPERATOR_KEY_SECRET_PREFIX = "bianmin/operator-key/"
OPERATOR_WEBHOOK_SECRET_PREFIX = "bianmin/operator-webhook/"

#: "local" (make run, tests: the WeChat stand-in, plain-HTTP webhooks to loopback) or a cloud stage.
STAGE = os.environ.get("BIANMIN_STAGE", "local")

#: Lifetimes (seconds): access tokens, refresh sessions, WeChat login codes (5 min at WeChat).
ACCESS_TOKEN_SECONDS = int(os.environ.get("BIANMIN_ACCESS_TOKEN_SECONDS", "900"))
REFRESH_SESSION_SECONDS = 30 * 24 * 3600
LOGIN_CODE_SECONDS = 300

#: Staff password login: this many failures within the window lock the account for the window.
STAFF_MAX_FAILED_LOGINS = 5
STAFF_LOCKOUT_SECONDS = 15 * 60

#: Operator API: accepted clock skew (seconds, each way) and default requests per minute.
OPERATOR_SIGNATURE_WINDOW_SECONDS = 300
OPERATOR_RATE_LIMIT_PER_MINUTE = 120

#: Township used for the staff/phone publicities when a request names none.
DEFAULT_TOWNSHIP = os.environ.get("BIANMIN_DEFAULT_TOWNSHIP", "431224100")

#: Idempotency records live this long (seconds) before TTL removes them.
IDEMPOTENCY_TTL_SECONDS = 24 * 3600

#: Shards of the sparse "pending intake" index (spreads writes; design.md scale rules).
INTAKE_SHARDS = 8

#: Shards of the sparse "pending events" outbox index; an event still unpublished after
#: ``EVENT_STALL_SECONDS`` is published again by the scheduled outbox sweep.
EVENT_SHARDS = 8
EVENT_STALL_SECONDS = int(os.environ.get("BIANMIN_EVENT_STALL_SECONDS", "60"))

#: A joint-approval department that has taken more working days than this is shown late
#: (行政许可法第四十二条: 20 working days for the decision; the step limit is the promise's).
JOINT_STEP_WORKING_DAYS = 5

#: Deadline warnings (GB/T 39046 e-supervision, domain.md section 4): yellow when at most
#: ``YELLOW_WORKING_DAYS`` working days are left or ``YELLOW_SHARE`` of the limit has elapsed.
YELLOW_WORKING_DAYS = int(os.environ.get("BIANMIN_YELLOW_WORKING_DAYS", "2"))
YELLOW_SHARE = float(os.environ.get("BIANMIN_YELLOW_SHARE", "0.8"))
#: Step limit of the county leg of a forwarded case, in working days (local practice; the
#: county's own review of 20 working days under 行政许可法第四十三条 is the legal ceiling).
COUNTY_STEP_WORKING_DAYS = int(os.environ.get("BIANMIN_COUNTY_STEP_WORKING_DAYS", "10"))
#: A calendar load recomputes at most this many provisional due dates in its own request
#: (about 2 AWS calls each, within API Gateway's 29 s); the deadline sweep does the rest.
RECOMPUTE_IN_REQUEST = int(os.environ.get("BIANMIN_RECOMPUTE_IN_REQUEST", "300"))
#: Shards of the sparse ``by_deadline`` index the deadline sweep queries (spreads writes).
DEADLINE_SHARDS = 8
#: Minutes between deadline sweeps. Levels turn at midnight Asia/Shanghai, so hourly is
#: enough in the cloud (a warning is raised within the first hour of its day); the local runner
#: sets 1 so that ``make run`` shows warnings without waiting (``infra/local/runner.py``).
DEADLINE_SWEEP_MINUTES = int(os.environ.get("BIANMIN_DEADLINE_SWEEP_MINUTES", "60"))

#: How long a container keeps its working-day calendar (seconds) before reading the loaded
#: years again: a year loaded elsewhere reaches every container within this time.
CALENDAR_REFRESH_SECONDS = int(os.environ.get("BIANMIN_CALENDAR_REFRESH_SECONDS", "300"))


def deadline_policy():
    """The deadline rules' thresholds from the settings above (``domain.deadlines.Policy``)."""
    from .domain.deadlines import Policy
    return Policy(yellow_days=YELLOW_WORKING_DAYS, yellow_share=YELLOW_SHARE,
                  joint_step_days=JOINT_STEP_WORKING_DAYS, county_step_days=COUNTY_STEP_WORKING_DAYS)

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
