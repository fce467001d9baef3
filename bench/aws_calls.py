#!/usr/bin/env python
"""Count the AWS API calls each operation makes (DynamoDB, SQS, Secrets Manager), in-process
under moto.

Run from the project root: ``.venv/bin/python bench/aws_calls.py`` (or ``make bench``).

What is counted: every botocore API call (``before-call.<service>.<Operation>``) of

* boto3's default session (``chalicelib.adapters.aws.client``: SQS, Secrets Manager through
  Powertools' ``SecretsProvider``, and the raw DynamoDB ``Query`` of ``DynamoCaseRepository.get``),
* every botocore session PynamoDB creates (``pynamodb.connection.base.get_session``, one per
  connection and thread: all DynamoDB traffic of the models and of the repositories'
  ``Connection`` objects used for transactions).

HTTP attempts (``before-send``) are counted as well, so retries would show up. As a check,
``botocore.client.BaseClient._make_api_call`` is wrapped to count every call of every client,
hooked or not; the script exits non-zero if the two disagree, if DynamoDB shows no calls, or if
no cold request shows a Secrets Manager call. The wrapper also records what each call touches
(table and key kind, secret name, queue), printed as a second table.

Work that is not an AWS call but matters for cost is counted beside the calls: argon2 hashes and
verifications (``argon2.PasswordHasher``, tens of milliseconds of CPU each) and WeChat
``code2Session`` exchanges (an HTTPS call to WeChat in a cloud stage; the local stand-in here).

Callers log in like the tests do (``tests/conftest.py``, ``Auth``): a villager through
``POST /v1/auth/wx-login`` with a code from ``mint_local_code`` and ``PUT /v1/me/identity``, an
administrator created with ``chalicelib.cli.create_admin``, a window clerk created by that
administrator, and a village agent appointed by the administrator with a period consent of the
villager. Logins and every other input are prepared before counting starts.

Each operation is measured in a steady state: inputs for two runs are prepared, the container is
reset (``chalicelib.container.reset()``: adapters, boto3 clients, the secrets cache), the
operation runs once (the "cold" figure), then once more (the figure in the table). The same
operations are measured again after importing the 1,135-item Guang'an catalog and after 200
more cases, 100 more users and 20 more consents; a figure that grows with the data would mean a
scan, an unbounded loop or a per-row lookup.

Results: Markdown tables on stdout, the same data in ``bench/results/aws_calls.json``.
No timings are taken: call counts under moto are deterministic, durations are not meaningful.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
import uuid
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
GUANGAN_CSV = ROOT / "data" / "catalog" / "guangan_items.csv"
REGION = "us-east-1"

# -- environment, before anything reads it (settings, models' Meta, boto3) ---------------------
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = REGION
for _var in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE",
             "BIANMIN_STAGE", "BIANMIN_ACCESS_TOKEN_SECONDS", "POWERTOOLS_PARAMETERS_MAX_AGE"):
    os.environ.pop(_var, None)  # product defaults: local stage (WeChat stand-in), 15-minute tokens
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # keep the consumers' INFO lines off stdout
os.chdir(ROOT)  # chalice.test.Client reads .chalice/config.json from the current directory
sys.path.insert(0, str(ROOT))

import argon2  # noqa: E402
import boto3  # noqa: E402
import botocore.client  # noqa: E402
import moto  # noqa: E402
import pynamodb  # noqa: E402
import pynamodb.connection.base as pynamodb_base  # noqa: E402

from _common import git_commit  # noqa: E402  (bench/ is on sys.path when run as a script)


class CallCounter:
    """Counts API calls by ``service.Operation`` through botocore event hooks."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()      # before-call: one per API call
        self.attempts: Counter[str] = Counter()   # before-send: one per HTTP attempt (retries)
        self.raw: Counter[str] = Counter()        # _make_api_call wrapper: the cross-check
        self.targets: Counter[str] = Counter()    # _make_api_call wrapper: what each call touches
        self.other: Counter[str] = Counter()      # not AWS: argon2, WeChat code2Session
        self.hooked_sessions = 0

    def reset(self) -> None:
        for counter in (self.calls, self.attempts, self.raw, self.targets, self.other):
            counter.clear()

    def _on_call(self, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        self.calls[f"{service}.{operation}"] += 1

    def _on_send(self, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        self.attempts[f"{service}.{operation}"] += 1

    def attach(self, events) -> None:
        """Register on a botocore event system (a session's; clients created later copy it).
        ``before-send`` goes first: moto's stubber answers there and stops the chain."""
        events.register("before-call", self._on_call, unique_id="bench-count-call")
        events.register_first("before-send", self._on_send, unique_id="bench-count-send")
        self.hooked_sessions += 1

    def snapshot(self) -> dict[str, Any]:
        return {"calls": sum(self.calls.values()), "breakdown": dict(sorted(self.calls.items())),
                "targets": dict(sorted(self.targets.items())), "other": dict(sorted(self.other.items())),
                "http_attempts": sum(self.attempts.values()), "unhooked": _difference(self.raw, self.calls)}


def _difference(raw: Counter, hooked: Counter) -> dict[str, int]:
    keys = set(raw) | set(hooked)
    return {k: raw.get(k, 0) - hooked.get(k, 0) for k in sorted(keys) if raw.get(k, 0) != hooked.get(k, 0)}


COUNTER = CallCounter()
STARTED = time.perf_counter()  # progress lines on stderr only; durations are not results


# -- what a call touches (from the API parameters; for reading the figures) -------------------

def _table(name: str | None) -> str:
    return (name or "?").removeprefix("bianmin-")


def _key_kind(key: dict[str, Any] | None) -> str:
    """``USER/PROFILE``-style kind of a DynamoDB key or item: the prefixes of pk and sk."""
    if not key:
        return "?"
    if "pk" not in key:  # the catalog table: one key attribute, ``code`` (items, TOWNSHIP#<code>)
        code = next(iter(key.get("code", {}).values()), "")
        return code.split("#", 1)[0] if "#" in code else "item"
    pk = next(iter(key["pk"].values()), "")
    sk = next(iter((key.get("sk") or {}).values()), "")
    kind = pk.split("#", 1)[0]
    sk_kind = sk.split("#", 1)[0]
    if sk_kind and sk_kind.replace("_", "").isalpha() and sk_kind.isupper() and sk_kind != kind:
        kind += "/" + sk_kind
    return kind


def describe(service: str, operation: str, params: dict[str, Any]) -> str:
    """A short label of what one API call touches, e.g. ``dynamodb.GetItem identity:USER/PROFILE``."""
    head = f"{service}.{operation}"
    try:
        if service == "secrets-manager":
            return f"{head} {params.get('SecretId')}"
        if service == "sqs":
            queue = params.get("QueueName") or (params.get("QueueUrl") or "").rsplit("/", 1)[-1]
            return f"{head} {queue}"
        if service != "dynamodb":
            return head
        if operation in ("GetItem", "DeleteItem", "UpdateItem"):
            return f"{head} {_table(params.get('TableName'))}:{_key_kind(params.get('Key'))}"
        if operation == "PutItem":
            return f"{head} {_table(params.get('TableName'))}:{_key_kind(params.get('Item'))}"
        if operation == "Query":
            where = _table(params.get("TableName"))
            if params.get("IndexName"):
                return f"{head} {where}/{params['IndexName']}"
            values = [v.get("S", "") for v in (params.get("ExpressionAttributeValues") or {}).values()]
            prefix = next((v.split("#", 1)[0] for v in values if "#" in v), "?")
            return f"{head} {where}:{prefix}"
        if operation == "BatchGetItem":
            parts = [f"{_table(t)}:" + "+".join(sorted(_key_kind(k) for k in spec.get("Keys", [])))
                     for t, spec in (params.get("RequestItems") or {}).items()]
            return f"{head} " + ", ".join(parts)
        if operation == "TransactWriteItems":
            parts = []
            for item in params.get("TransactItems", []):
                for action, spec in item.items():
                    parts.append(f"{action} {_table(spec.get('TableName'))}:"
                                 f"{_key_kind(spec.get('Item') or spec.get('Key'))}")
            return f"{head} [" + ", ".join(parts) + "]"
        return f"{head} {_table(params.get('TableName'))}"
    except (AttributeError, KeyError, TypeError, StopIteration):
        return head


def _install_hooks() -> None:
    """Hook PynamoDB's sessions (created lazily, so before any model is used), wrap
    ``_make_api_call`` for the independent cross-check, and count argon2 and code2Session."""
    original_get_session = pynamodb_base.get_session

    def instrumented_get_session():
        session = original_get_session()
        COUNTER.attach(session.get_component("event_emitter"))
        return session

    pynamodb_base.get_session = instrumented_get_session

    original_call = botocore.client.BaseClient._make_api_call

    def counting_call(self, operation_name, api_params):
        service = self.meta.service_model.service_id.hyphenize()
        COUNTER.raw[f"{service}.{operation_name}"] += 1
        COUNTER.targets[describe(service, operation_name, api_params)] += 1
        return original_call(self, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = counting_call

    def counted(owner, name: str, label: str) -> None:
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            COUNTER.other[label] += 1
            return original(*args, **kwargs)

        setattr(owner, name, wrapper)

    counted(argon2.PasswordHasher, "hash", "argon2.hash")
    counted(argon2.PasswordHasher, "verify", "argon2.verify")
    from chalicelib.adapters import wechat
    counted(wechat.LocalWeChat, "code2session", "wechat.code2Session")
    counted(wechat.WeChatApi, "code2session", "wechat.code2Session")


def breakdown_text(breakdown: dict[str, int]) -> str:
    return ", ".join(f"{k}×{v}" for k, v in breakdown.items()) or "(none)"


def counter_minus(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    """``a - b`` per key, non-zero entries only (sign kept)."""
    keys = sorted(set(a) | set(b))
    return {k: a.get(k, 0) - b.get(k, 0) for k in keys if a.get(k, 0) != b.get(k, 0)}


# -- people and inputs ------------------------------------------------------------------------

TOWNSHIP = "431224100"
VILLAGE = "431224100201"  # a village of TOWNSHIP, the agent's
VILLAGER = {"openid": "openid-bench-zhangsan", "name": "张三", "id_number": "431224195001011234"}
AGENT = {"openid": "openid-bench-lisi", "name": "李四", "id_number": "431224198002024567"}
ADMIN = ("bench.admin", "基准管理员", "Bench-Admin-Passw0rd")
CLERK = ("bench.clerk", "基准窗口人员", "Bench-Clerk-Passw0rd")
APPROVER = ("bench.approver", "基准县民政局审批人员", "Bench-Approver-Passw0rd", "MZJ")  # SUBMISSION's item decides there

SUBMISSION = {
    "item_code": "HH-MZ-001",
    "township_code": TOWNSHIP,
    "applicant": {"name": VILLAGER["name"], "id_number": VILLAGER["id_number"]},
}
AGENT_SUBMISSION = {**SUBMISSION, "village_code": VILLAGE}


def with_check_digit(first17: str) -> str:
    """A GB 11643 ID number with a correct check digit."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights)) % 11]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def as_body(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


class Bench:
    def __init__(self, client, container) -> None:
        self.client = client
        self.container = container
        self.people = 0          # serial of generated users (openids, ID numbers)
        self.villager: dict[str, str] = {}
        self.agent: dict[str, str] = {}
        self.clerk: dict[str, str] = {}
        self.approver: dict[str, str] = {}
        self.admin: dict[str, str] = {}
        self.agent_subject = ""
        self.codes: set[str] = set()  # login codes handed out (each works once)

    # HTTP ---------------------------------------------------------------------------------
    def request(self, method: str, path: str, expect: int | tuple[int, ...], **kwargs) -> dict:
        response = getattr(self.client.http, method)(path, **kwargs)
        expected = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in expected:
            raise SystemExit(f"{method.upper()} {path}: HTTP {response.status_code}, expected {expected}: "
                             f"{response.body[:500]!r}")
        return json.loads(response.body)

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None, expect: int | tuple = 200) -> dict:
        return self.request("post", path, expect, headers=headers or {"Content-Type": "application/json"},
                            body=as_body(body))

    def submit(self, key: str | None = None, expect: int | tuple[int, ...] = 201, headers=None,
               body: dict | None = None) -> dict:
        headers = {**(headers or self.villager), "Idempotency-Key": key or f"bench-{uuid.uuid4().hex}"}
        return self.request("post", "/v1/cases", expect, headers=headers, body=as_body(body or SUBMISSION))

    def intake(self, case_nos: list[str]) -> None:
        bodies = [json.dumps({"type": "case.submitted", "case_no": no}) for no in case_nos]
        event = self.client.events.generate_sqs_event(message_bodies=bodies, queue_name="bianmin-case-intake")
        result = self.client.lambda_.invoke("on_case_intake", event)
        failures = (result.payload or {}).get("batchItemFailures")
        if failures:
            raise SystemExit(f"intake consumer reported failures: {failures}")

    def _page(self, path: str) -> dict:
        page = self.request("get", path, 200)
        if len(page["items"]) != 20:
            raise SystemExit(f"GET {path}: {len(page['items'])} items, expected 20")
        return page

    # people -------------------------------------------------------------------------------
    def code(self, openid: str) -> str:
        """A fresh login code for ``openid``. Codes are single-use and a code minted twice in the
        same second for the same openid is the same code, so the issue time steps back a second
        until the code is new (the stand-in accepts codes up to 5 minutes old)."""
        from chalicelib.adapters.wechat import mint_local_code
        issued = int(time.time())
        while (code := mint_local_code(openid, issued)) in self.codes:
            issued -= 1
        self.codes.add(code)
        return code

    def wx_login(self, openid: str) -> dict:
        return self.post("/v1/auth/wx-login", {"code": self.code(openid)})

    def bind(self, access_token: str, name: str, id_number: str) -> dict:
        return self.request("put", "/v1/me/identity", 200, headers=bearer(access_token),
                            body=as_body({"name": name, "id_number": id_number}))

    def staff_login(self, username: str, password: str) -> dict:
        return self.post("/v1/auth/staff-login", {"username": username, "password": password})

    def new_person(self) -> tuple[str, str]:
        """A fresh openid and a fresh valid resident ID number (not yet bound)."""
        self.people += 1
        n = self.people
        birth = dt.date(1960, 1, 1) + dt.timedelta(days=n // 900)
        return f"openid-bench-{n:06d}", with_check_digit(f"431224{birth:%Y%m%d}{100 + n % 900:03d}")

    def new_user(self, bound: bool) -> dict:
        """A new mini-program user (first login); bound to a fresh resident ID if ``bound``."""
        openid, id_number = self.new_person()
        tokens = self.wx_login(openid)
        if bound:
            tokens = {**tokens, **self.bind(tokens["access_token"], "王五", id_number)}
        return tokens

    def setup_people(self) -> None:
        """Once: the administrator (CLI code), a window clerk, the villager (bound and verified
        at the window), the village agent (appointed, bound, verified) and a period consent of
        the villager to the agent."""
        from chalicelib import cli
        cli.create_admin(*ADMIN)
        self.admin = bearer(self.staff_login(*ADMIN[::2])["access_token"])
        self.post("/v1/admin/accounts", {"username": CLERK[0], "display_name": CLERK[1], "roles": ["window_clerk"],
                                         "township_codes": [TOWNSHIP], "password": CLERK[2]}, self.admin, expect=201)
        self.post("/v1/admin/accounts", {"username": APPROVER[0], "display_name": APPROVER[1],
                                         "roles": ["county_approver"], "department": APPROVER[3],
                                         "password": APPROVER[2]}, self.admin, expect=201)
        self.post("/v1/admin/agents", {"name": AGENT["name"], "id_number": AGENT["id_number"],
                                       "township_code": TOWNSHIP, "villages": [VILLAGE]}, self.admin)
        clerk = bearer(self.staff_login(CLERK[0], CLERK[2])["access_token"])
        for person in (VILLAGER, AGENT):
            tokens = self.wx_login(person["openid"])
            self.bind(tokens["access_token"], person["name"], person["id_number"])
            # the window checks the ID card: only a verified binding makes an agent
            self.post("/v1/identity-verifications", {"subject": tokens["subject"], "name": person["name"],
                                                     "id_number": person["id_number"]}, clerk)
        self.login()
        self.agent_subject = self.request("get", "/v1/me", 200, headers=self.agent)["subject"]
        self.grant_consent()

    def login(self) -> None:
        """Fresh access tokens for everyone (they last 15 minutes; each stage logs in again)."""
        self.admin = bearer(self.staff_login(ADMIN[0], ADMIN[2])["access_token"])
        self.clerk = bearer(self.staff_login(CLERK[0], CLERK[2])["access_token"])
        self.approver = bearer(self.staff_login(APPROVER[0], APPROVER[2])["access_token"])
        self.villager = bearer(self.wx_login(VILLAGER["openid"])["access_token"])
        agent = self.wx_login(AGENT["openid"])
        if "village_agent" not in agent["roles"]:
            raise SystemExit(f"the agent's login has roles {agent['roles']}, expected village_agent")
        self.agent = bearer(agent["access_token"])

    def grant_consent(self) -> dict:
        until = (dt.date.today() + dt.timedelta(days=30)).isoformat()
        return self.post("/v1/consents", {"agent_subject": self.agent_subject, "scope": "period",
                                          "valid_until": until}, self.villager, expect=201)

    def expired_token(self) -> dict[str, str]:
        from chalicelib import settings
        from chalicelib.domain.access import Principal
        past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=settings.ACCESS_TOKEN_SECONDS + 60)
        token, _ = self.container.tokens().issue(
            Principal(subject="u_0000000000", roles=frozenset({"villager"})), past)
        return bearer(token)

    # measuring ----------------------------------------------------------------------------
    def measure(self, name: str, prepare: Callable[[], Any] | None, run: Callable[[Any], Any]) -> dict:
        """Inputs for two runs (``prepare``, not counted: fresh cases, login codes, refresh
        tokens...), then a container reset, a first run (cold) and the measured run (warm).
        Inputs are prepared before the reset so that preparing does not warm the container."""
        args = [prepare() if prepare else None for _ in range(2)]
        self.container.reset()
        results = []
        for arg in args:
            COUNTER.reset()
            run(arg)
            results.append(COUNTER.snapshot())
        cold, warm = results
        print(f"  {name}: {warm['calls']} calls, cold {cold['calls']} "
              f"({time.perf_counter() - STARTED:.0f} s)", file=sys.stderr)
        for label, snap in (("cold", cold), ("warm", warm)):
            if snap["unhooked"]:
                raise SystemExit(f"{name} ({label}): calls not seen by the event hooks: {snap['unhooked']}")
        return {"operation": name, **warm, "cold_calls": cold["calls"], "cold_breakdown": cold["breakdown"],
                "cold_targets": cold["targets"], "cold_other": cold["other"],
                "cold_http_attempts": cold["http_attempts"]}

    def operations(self) -> list[dict]:
        out = []
        m = self.measure
        # the catalog (public) -------------------------------------------------------------
        out.append(m("GET /v1/services (limit 20)", None, lambda _: self._page("/v1/services")))
        out.append(m("GET /v1/services?limit=20", None, lambda _: self.request("get", "/v1/services?limit=20", 200)))
        cursor = self.request("get", "/v1/services?limit=20", 200)["next_cursor"]
        if not cursor:
            raise SystemExit("GET /v1/services?limit=20 returned no next_cursor")
        out.append(m("GET /v1/services?limit=20&cursor=<page 2>", None,
                     lambda _: self.request("get", f"/v1/services?limit=20&cursor={cursor}", 200)))
        out.append(m("GET /v1/services/HH-MZ-001", None,
                     lambda _: self.request("get", "/v1/services/HH-MZ-001", 200)))

        # login and identity ---------------------------------------------------------------
        out.append(m("POST /v1/auth/wx-login (first login, creates the user)",
                     lambda: self.code(self.new_person()[0]),
                     lambda code: self.post("/v1/auth/wx-login", {"code": code})))
        out.append(m("POST /v1/auth/wx-login (returning user, bound)", lambda: self.code(VILLAGER["openid"]),
                     lambda code: self.post("/v1/auth/wx-login", {"code": code})))

        def unbound_user():
            openid, id_number = self.new_person()
            return self.wx_login(openid)["access_token"], id_number
        out.append(m("PUT /v1/me/identity (real-name binding)", unbound_user,
                     lambda arg: self.bind(arg[0], "王五", arg[1])))
        out.append(m("POST /v1/auth/staff-login (window clerk)", None,
                     lambda _: self.staff_login(CLERK[0], CLERK[2])))
        out.append(m("POST /v1/auth/refresh (villager, bound)",
                     lambda: self.wx_login(VILLAGER["openid"])["refresh_token"],
                     lambda token: self.post("/v1/auth/refresh", {"refresh_token": token})))
        out.append(m("POST /v1/auth/refresh (window clerk)",
                     lambda: self.staff_login(CLERK[0], CLERK[2])["refresh_token"],
                     lambda token: self.post("/v1/auth/refresh", {"refresh_token": token})))
        out.append(m("GET /v1/me (villager)", None, lambda _: self.request("get", "/v1/me", 200, headers=self.villager)))
        out.append(m("GET /v1/me with an expired token (401)", self.expired_token,
                     lambda headers: self.request("get", "/v1/me", 401, headers=headers)))
        out.append(m("POST /v1/consents (period consent to the agent)", None, lambda _: self.grant_consent()))

        # cases ----------------------------------------------------------------------------
        out.append(m("POST /v1/cases (villager, new Idempotency-Key)", None, lambda _: self.submit()))
        out.append(m("POST /v1/cases (agent with consent, new Idempotency-Key)", None,
                     lambda _: self.submit(headers=self.agent, body=AGENT_SUBMISSION)))

        replay_key = f"bench-replay-{uuid.uuid4().hex}"
        replay_case = self.submit(replay_key)["case_no"]
        out.append(m("POST /v1/cases replay (case not yet classified)", None,
                     lambda _: self.submit(replay_key, expect=200)))
        self.intake([replay_case])
        out.append(m("POST /v1/cases replay (case classified)", None, lambda _: self.submit(replay_key, expect=200)))
        out.append(m("GET /v1/cases/{case_no} (owner)", None,
                     lambda _: self.request("get", f"/v1/cases/{replay_case}", 200, headers=self.villager)))
        out.append(m("GET /v1/cases/{case_no} (window clerk)", None,
                     lambda _: self.request("get", f"/v1/cases/{replay_case}", 200, headers=self.clerk)))
        agent_case = self.submit(headers=self.agent, body=AGENT_SUBMISSION)["case_no"]
        out.append(m("GET /v1/cases/{case_no} (agent with consent)", None,
                     lambda _: self.request("get", f"/v1/cases/{agent_case}", 200, headers=self.agent)))
        out.append(m("GET /v1/cases (villager's list)", None,
                     lambda _: self.request("get", "/v1/cases", 200, headers=self.villager)))
        out.append(m("GET /v1/cases (agent's list)", None,
                     lambda _: self.request("get", "/v1/cases", 200, headers=self.agent)))

        # the intake consumer --------------------------------------------------------------
        out.append(m("intake consumer, 1 message", lambda: [self.submit()["case_no"]], self.intake))
        out.append(m("intake consumer, batch of 10",
                     lambda: [self.submit()["case_no"] for _ in range(10)], self.intake))
        out.append(m("intake consumer, 1 duplicate delivery (already classified)", None,
                     lambda _: self.intake([replay_case])))
        return out + self.lifecycle_operations()

    def act(self, case_no: str, action: str, body: dict, headers: dict[str, str], key: str | None = None) -> dict:
        """One lifecycle action (``POST /v1/cases/{no}/<action>``) with an Idempotency-Key."""
        return self.request("post", f"/v1/cases/{case_no}/{action}", 200, body=as_body(body),
                            headers={**headers, "Idempotency-Key": key or f"bench-{uuid.uuid4().hex}"})

    def case_in(self, state: str) -> str:
        """A fresh case of SUBMISSION's item (低保, entrusted to MZJ) brought to ``state``."""
        case_no = self.submit()["case_no"]
        steps = {"supplement_required": [("notices", {"other": ["请补充收入证明"]}, self.clerk)],
                 "accepted": [("accept", {}, self.clerk)],
                 "forwarded": [("accept", {}, self.clerk), ("forward", {}, self.clerk)]}
        for action, body, headers in steps.get(state, []):
            self.act(case_no, action, body, headers)
        return case_no

    def lifecycle_operations(self) -> list[dict]:
        """The staff workbench and the applicant's actions (issue 4), each on a fresh case."""
        out = []
        m = self.measure
        out.append(m("POST /v1/cases/{no}/accept (window clerk)", lambda: self.case_in("submitted"),
                     lambda no: self.act(no, "accept", {}, self.clerk)))
        out.append(m("POST /v1/cases/{no}/notices (one-time notice)", lambda: self.case_in("submitted"),
                     lambda no: self.act(no, "notices", {"materials": [{"name": "居民户口簿", "problem": "missing"}]},
                                         self.clerk)))
        out.append(m("POST /v1/cases/{no}/supplements (villager)", lambda: self.case_in("supplement_required"),
                     lambda no: self.act(no, "supplements", {"materials": ["收入证明"]}, self.villager)))
        out.append(m("POST /v1/cases/{no}/forward (to the county)", lambda: self.case_in("accepted"),
                     lambda no: self.act(no, "forward", {}, self.clerk)))
        out.append(m("POST /v1/cases/{no}/conclusion (county approver)", lambda: self.case_in("forwarded"),
                     lambda no: self.act(no, "conclusion", {"result": "approved"}, self.approver)))
        replayed = self.case_in("submitted")
        key = f"bench-replay-{uuid.uuid4().hex}"
        self.act(replayed, "accept", {}, self.clerk, key)
        out.append(m("POST /v1/cases/{no}/accept again, same Idempotency-Key", None,
                     lambda _: self.act(replayed, "accept", {}, self.clerk, key)))
        out.append(m("POST /v1/cases/{no}/notices on an accepted case (409, nothing written)", None,
                     lambda _: self.request("post", f"/v1/cases/{replayed}/notices", 409, body=as_body({"other": ["x"]}),
                                            headers={**self.clerk, "Idempotency-Key": f"bench-{uuid.uuid4().hex}"})))
        out.append(m("GET /v1/workbench/queue?status=submitted (window clerk)", None,
                     lambda _: self.request("get", "/v1/workbench/queue?status=submitted", 200, headers=self.clerk)))
        out.append(m("GET /v1/workbench/approvals (county approver)", None,
                     lambda _: self.request("get", "/v1/workbench/approvals", 200, headers=self.approver)))
        out.append(m("GET /v1/me/messages (villager)", None,
                     lambda _: self.request("get", "/v1/me/messages", 200, headers=self.villager)))

        def events():
            from chalicelib import settings
            sqs = boto3.client("sqs", region_name=REGION)
            url = sqs.get_queue_url(QueueName=settings.CASE_EVENTS_QUEUE)["QueueUrl"]
            while True:  # what earlier operations left on the queue
                old = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
                if not old:
                    break
                for message in old:
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            self.case_in("accepted")
            return [m_["Body"] for m_ in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]

        def consume(bodies):
            event = self.client.events.generate_sqs_event(message_bodies=bodies, queue_name="bianmin-case-events")
            result = self.client.lambda_.invoke("on_case_event", event)
            if (result.payload or {}).get("batchItemFailures"):
                raise SystemExit(f"case events consumer reported failures: {result.payload}")
        out.append(m("case events consumer, 2 events (case.created, case.accept: one applicant message)", events,
                     consume))
        return out + self.material_operations()

    def material_operations(self) -> list[dict]:
        """Application materials (docs/materials.md): a slot, one upload through the consumer
        (the S3 event that lands on the queue, with a real PDF under the slot's key), the
        checklist, a download link and the window's check."""
        import requests

        from fpdf import FPDF

        from chalicelib import settings
        pdf = FPDF()
        pdf.add_page()
        pdf.set_font("helvetica", size=12)
        pdf.cell(text="bench application")
        data = bytes(pdf.output())
        out = []
        m = self.measure
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.get_queue_url(QueueName=settings.MATERIAL_UPLOADS_QUEUE)["QueueUrl"]
        case_no = self.submit()["case_no"]

        def slot(case=case_no):
            return self.request("post", f"/v1/cases/{case}/materials/1/slots", 201,
                                body=as_body({"content_type": "application/pdf"}), headers=self.villager)

        def uploaded(case=case_no):
            while sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
                pass  # what earlier operations (the bucket's s3:TestEvent) left: received, then invisible
            form = slot(case)["upload"]
            requests.post(form["url"], data=form["fields"], files={"file": ("a.pdf", data, "application/pdf")})
            return [sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]["Body"]]

        def consume(bodies):
            event = self.client.events.generate_sqs_event(message_bodies=bodies, queue_name=settings.MATERIAL_UPLOADS_QUEUE)
            result = self.client.lambda_.invoke("on_material_upload", event)
            if (result.payload or {}).get("batchItemFailures"):
                raise SystemExit(f"material upload consumer reported failures: {result.payload}")

        def case_with_upload():
            case = self.submit()["case_no"]
            consume(uploaded(case))
            return case
        out.append(m("POST /v1/cases/{no}/materials/{code}/slots (villager)", None, lambda _: slot()))
        out.append(m("material upload consumer, 1 PDF accepted (a new version)", uploaded, consume))
        out.append(m("GET /v1/cases/{no}/materials (villager)", None,
                     lambda _: self.request("get", f"/v1/cases/{case_no}/materials", 200, headers=self.villager)))
        out.append(m("GET /v1/cases/{no}/materials/{code} (download link)", None,
                     lambda _: self.request("get", f"/v1/cases/{case_no}/materials/1", 200, headers=self.villager)))
        out.append(m("POST /v1/cases/{no}/materials/{code}/verify (window clerk: C -> B)", case_with_upload,
                     lambda case: self.request("post", f"/v1/cases/{case}/materials/1/verify", 200, body=as_body({}),
                                               headers=self.clerk)))
        return out

    def add_data(self, cases: int = 200, users: int = 100, consents: int = 20) -> str:
        """More cases (half by the villager, a quarter each by the agent and the clerk, all
        classified), more users (half of them bound) and more consents of the villager."""
        new_cases = []
        for i in range(cases):
            if i % 4 == 1:
                new_cases.append(self.submit(headers=self.agent, body=AGENT_SUBMISSION)["case_no"])
            elif i % 4 == 3:
                new_cases.append(self.submit(headers=self.clerk)["case_no"])
            else:
                new_cases.append(self.submit()["case_no"])
        for i in range(0, len(new_cases), 10):
            self.intake(new_cases[i:i + 10])
        for i in range(users):
            self.new_user(bound=i % 2 == 0)
        for _ in range(consents):
            self.grant_consent()
        for i in range(cases // 10):  # some further along: accepted, forwarded to the county
            self.case_in("forwarded" if i % 2 else "accepted")
        return f"+{cases} cases (+{cases // 10} accepted or forwarded), +{users} users, +{consents} consents"


# -- output -----------------------------------------------------------------------------------

def _other_text(other: dict[str, int]) -> str:
    return ", ".join(f"{k}×{v}" for k, v in other.items())


def markdown_main(rows: list[dict]) -> str:
    lines = ["| operation | calls | breakdown (warm container) | cold container | not AWS (warm; cold) |",
             "|---|---:|---|---|---|"]
    for r in rows:
        extra = counter_minus(r["cold_breakdown"], r["breakdown"])
        cold = str(r["cold_calls"]) + (" (" + ", ".join(f"{'+' if v > 0 else ''}{v} {k}" for k, v in extra.items())
                                       + ")" if extra else "")
        other = _other_text(r["other"])
        if r["cold_other"] != r["other"]:
            other = f"{other or '–'}; cold {_other_text(r['cold_other']) or '–'}"
        lines.append(f"| {r['operation']} | {r['calls']} | {breakdown_text(r['breakdown'])} | {cold} | {other} |")
    return "\n".join(lines)


def markdown_targets(rows: list[dict]) -> str:
    lines = ["| operation | what the calls touch (warm container; cold-only calls in brackets) |", "|---|---|"]
    for r in rows:
        warm = breakdown_text(r["targets"])
        extra = {k: v for k, v in counter_minus(r["cold_targets"], r["targets"]).items() if v > 0}
        if extra:
            warm += " [cold: " + breakdown_text(extra) + "]"
        lines.append(f"| {r['operation']} | {warm} |")
    return "\n".join(lines)


def markdown_growth(stages: list[dict]) -> str:
    head = "| operation | " + " | ".join(s["label"] for s in stages) + " |"
    lines = [head, "|---|" + "---:|" * len(stages)]
    for i, row in enumerate(stages[0]["operations"]):
        counts = [s["operations"][i]["calls"] for s in stages]
        same = all(s["operations"][i]["breakdown"] == row["breakdown"] for s in stages)
        mark = "" if same else " ⚠ grows"
        lines.append(f"| {row['operation']}{mark} | " + " | ".join(str(c) for c in counts) + " |")
    return "\n".join(lines)


def main() -> int:
    _install_hooks()
    with moto.mock_aws():
        from infra.local.stack import ensure_resources
        ensure_resources(boto3.session.Session(region_name=REGION))

        # boto3's default session: moto replaces boto3.DEFAULT_SESSION inside mock_aws, so hook
        # the one that exists now; every client chalicelib makes after container.reset() copies it.
        boto3.setup_default_session()
        COUNTER.attach(boto3.DEFAULT_SESSION.events)

        from chalice.test import Client

        import app
        from chalicelib import cli, container

        container.reset()
        for line in cli.seed(ROOT / "data" / "seed"):
            print(f"seed: {line}", file=sys.stderr)

        stages = []
        with Client(app.app) as client:
            bench = Bench(client, container)

            # sanity: the hooks see DynamoDB traffic from PynamoDB
            COUNTER.reset()
            bench.request("get", "/v1/services/HH-MZ-001", 200)
            if not COUNTER.calls or not any(k.startswith("dynamodb.") for k in COUNTER.calls):
                raise SystemExit(f"counting does not work: no DynamoDB calls seen ({dict(COUNTER.calls)})")
            if COUNTER.raw != COUNTER.calls:  # the cross-check itself must see the same calls
                raise SystemExit(f"cross-check disagrees: hooks {dict(COUNTER.calls)}, "
                                 f"_make_api_call {dict(COUNTER.raw)}")
            bench.setup_people()

            stages.append({"label": "seed (44 items)", "operations": bench.operations()})

            report = cli.import_file(GUANGAN_CSV)
            if report.errors:
                raise SystemExit(f"Guang'an import failed: {json.dumps(report.to_dict(), ensure_ascii=False)[:1000]}")
            print(f"imported {GUANGAN_CSV.name}: {report.total} rows, {len(report.created)} created",
                  file=sys.stderr)
            bench.login()
            stages.append({"label": f"+{report.total} Guang'an items", "operations": bench.operations()})

            bench.login()
            label = bench.add_data()
            print(f"added {label}", file=sys.stderr)
            bench.login()
            stages.append({"label": label, "operations": bench.operations()})

    main_rows = stages[0]["operations"]
    # the counter must see Secrets Manager: a cold container fetches the token key
    if not any(k.startswith("secrets-manager.") for r in main_rows for k in r["cold_breakdown"]):
        raise SystemExit("counting does not work: no Secrets Manager call seen in any cold container")
    grows = [r["operation"] for i, r in enumerate(main_rows)
             if any(s["operations"][i]["breakdown"] != r["breakdown"] for s in stages)]
    retries = [r["operation"] for s in stages for r in s["operations"]
               if r["http_attempts"] != r["calls"] or r["cold_http_attempts"] != r["cold_calls"]]
    warm_secrets = sorted({r["operation"] for s in stages for r in s["operations"]
                           if any(k.startswith("secrets-manager.") for k in r["breakdown"])})

    print("## AWS API calls per operation (steady state, seed data)\n")
    print(markdown_main(main_rows))
    print("\n## What the calls touch (seed data)\n")
    print(markdown_targets(main_rows))
    print("\n## Growth with data (calls per operation, steady state)\n")
    print(markdown_growth(stages))
    print()
    print("grows with data: " + (", ".join(grows) if grows else "nothing"))
    print("Secrets Manager calls in a warm container: " + (", ".join(warm_secrets) if warm_secrets else "none"))
    print("retried HTTP attempts: " + (", ".join(retries) if retries else "none"))

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {
        "description": "AWS API calls per operation, counted with botocore before-call hooks under moto "
                       "(warm container: the second of two runs; cold_* is the first run after "
                       "container.reset()); 'other' counts argon2 hashes/verifications and WeChat "
                       "code2Session exchanges; 'targets' says what each call touches",
        "commit": git_commit(),
        "versions": {**{name: metadata.version(name) for name in (
            "boto3", "botocore", "pynamodb", "moto", "aws-lambda-powertools", "PyJWT", "argon2-cffi")},
                     "python": sys.version.split()[0]},
        "hooked_sessions": COUNTER.hooked_sessions,
        "operations": main_rows,
        "growth": stages,
        "grows_with_data": grows,
        "warm_secrets_manager_calls": warm_secrets,
        "retried": retries,
    }
    path = RESULTS / "aws_calls.json"
    path.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"\nwritten {path.relative_to(ROOT)}")
    return 0  # a figure that grows is reported (⚠ in the table, "grows_with_data" in the JSON), not fatal


if __name__ == "__main__":
    sys.exit(main())
