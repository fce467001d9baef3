#!/usr/bin/env python
"""Count the AWS API calls each operation makes (DynamoDB, SQS), in-process under moto.

Run from the project root: ``.venv/bin/python bench/aws_calls.py`` (or ``make bench``).

What is counted: every botocore API call (``before-call.<service>.<Operation>``) of

* boto3's default session (``chalicelib.adapters.aws.client``: SQS), and
* every botocore session PynamoDB creates (``pynamodb.connection.base.get_session``, one per
  connection and thread: all DynamoDB traffic of the models and of ``DynamoCaseRepository``).

HTTP attempts (``before-send``) are counted as well, so retries would show up. As a check,
``botocore.client.BaseClient._make_api_call`` is wrapped to count every call of every client,
hooked or not; the script exits non-zero if the two disagree or if DynamoDB shows no calls.

Each operation is measured in a steady state: the container is reset (cold), the operation runs
once (the "cold" figure), then once more (the figure in the table). The same operations are
measured again after importing the 1,135-item Guang'an catalog and after 200 more cases; a
figure that grows with the data would mean a scan or an unbounded loop.

Results: a Markdown table on stdout, the same data in ``bench/results/aws_calls.json``.
No timings are taken: call counts under moto are deterministic, durations are not meaningful.
"""
from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections import Counter
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
for _var in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE"):
    os.environ.pop(_var, None)
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # keep the consumers' INFO lines off stdout
os.chdir(ROOT)  # chalice.test.Client reads .chalice/config.json from the current directory
sys.path.insert(0, str(ROOT))

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
        self.hooked_sessions = 0

    def reset(self) -> None:
        self.calls.clear()
        self.attempts.clear()
        self.raw.clear()

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
        return {"calls": sum(self.calls.values()), "breakdown": dict(self.calls),
                "http_attempts": sum(self.attempts.values()), "unhooked": _difference(self.raw, self.calls)}


def _difference(raw: Counter, hooked: Counter) -> dict[str, int]:
    return {k: raw[k] - hooked.get(k, 0) for k in raw if raw[k] != hooked.get(k, 0)}


COUNTER = CallCounter()
STARTED = time.perf_counter()  # progress lines on stderr only; durations are not results


def _install_hooks() -> None:
    """Hook PynamoDB's sessions (created lazily, so before any model is used) and wrap
    ``_make_api_call`` for the independent cross-check."""
    original_get_session = pynamodb_base.get_session

    def instrumented_get_session():
        session = original_get_session()
        COUNTER.attach(session.get_component("event_emitter"))
        return session

    pynamodb_base.get_session = instrumented_get_session

    original_call = botocore.client.BaseClient._make_api_call

    def counting_call(self, operation_name, api_params):
        COUNTER.raw[f"{self.meta.service_model.service_id.hyphenize()}.{operation_name}"] += 1
        return original_call(self, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = counting_call


def breakdown_text(breakdown: dict[str, int]) -> str:
    return ", ".join(f"{k}×{v}" for k, v in breakdown.items()) or "(none)"


# -- the operations ---------------------------------------------------------------------------

SUBMISSION = {
    "item_code": "HH-MZ-001",
    "township_code": "431224100",
    "applicant": {"name": "张三", "id_number": "431224195001011234"},
}


class Bench:
    def __init__(self, client, container) -> None:
        self.client = client
        self.container = container

    # HTTP ---------------------------------------------------------------------------------
    def request(self, method: str, path: str, expect: int | tuple[int, ...], **kwargs) -> dict:
        response = getattr(self.client.http, method)(path, **kwargs)
        expected = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in expected:
            raise SystemExit(f"{method.upper()} {path}: HTTP {response.status_code}, expected {expected}: "
                             f"{response.body[:500]!r}")
        return json.loads(response.body)

    def submit(self, key: str | None = None, expect: int | tuple[int, ...] = 201) -> dict:
        headers = {"Content-Type": "application/json", "Idempotency-Key": key or f"bench-{uuid.uuid4().hex}"}
        return self.request("post", "/v1/cases", expect, headers=headers,
                            body=json.dumps(SUBMISSION, ensure_ascii=False).encode("utf-8"))

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

    # measuring ----------------------------------------------------------------------------
    def measure(self, name: str, prepare: Callable[[], Any] | None, run: Callable[[Any], Any]) -> dict:
        """Cold container, one warm-up run, then the measured run. ``prepare`` (not counted)
        makes the input of each run, e.g. fresh cases for the consumer."""
        self.container.reset()
        results = []
        for _ in range(2):
            arg = prepare() if prepare else None
            COUNTER.reset()
            run(arg)
            results.append(COUNTER.snapshot())
        cold, warm = results
        print(f"  {name}: {warm['calls']} calls ({time.perf_counter() - STARTED:.0f} s)", file=sys.stderr)
        for label, snap in (("cold", cold), ("warm", warm)):
            if snap["unhooked"]:
                raise SystemExit(f"{name} ({label}): calls not seen by the event hooks: {snap['unhooked']}")
        return {"operation": name, **warm, "cold_calls": cold["calls"], "cold_breakdown": cold["breakdown"]}

    def operations(self) -> list[dict]:
        out = []
        out.append(self.measure("GET /v1/services (limit 20)", None, lambda _: self._page("/v1/services")))
        out.append(self.measure("GET /v1/services?limit=20", None,
                                lambda _: self.request("get", "/v1/services?limit=20", 200)))
        cursor = self.request("get", "/v1/services?limit=20", 200)["next_cursor"]
        if not cursor:
            raise SystemExit("GET /v1/services?limit=20 returned no next_cursor")
        out.append(self.measure("GET /v1/services?limit=20&cursor=<page 2>", None,
                                lambda _: self.request("get", f"/v1/services?limit=20&cursor={cursor}", 200)))
        out.append(self.measure("GET /v1/services/HH-MZ-001", None,
                                lambda _: self.request("get", "/v1/services/HH-MZ-001", 200)))
        out.append(self.measure("POST /v1/cases (new Idempotency-Key)", None, lambda _: self.submit()))

        replay_key = f"bench-replay-{uuid.uuid4().hex}"
        replay_case = self.submit(replay_key)["case_no"]
        out.append(self.measure("POST /v1/cases replay (case not yet classified)", None,
                                lambda _: self.submit(replay_key, expect=200)))
        self.intake([replay_case])
        out.append(self.measure("POST /v1/cases replay (case classified)", None,
                                lambda _: self.submit(replay_key, expect=200)))
        out.append(self.measure("GET /v1/cases/{case_no}", None,
                                lambda _: self.request("get", f"/v1/cases/{replay_case}", 200)))

        out.append(self.measure("intake consumer, 1 message", lambda: [self.submit()["case_no"]], self.intake))
        out.append(self.measure("intake consumer, batch of 10",
                                lambda: [self.submit()["case_no"] for _ in range(10)], self.intake))
        out.append(self.measure("intake consumer, 1 duplicate delivery (already classified)", None,
                                lambda _: self.intake([replay_case])))
        return out


# -- output -----------------------------------------------------------------------------------

def markdown_main(rows: list[dict]) -> str:
    lines = ["| operation | calls | breakdown | first call, cold container |",
             "|---|---:|---|---|"]
    for r in rows:
        cold = str(r["cold_calls"]) if r["cold_breakdown"] == r["breakdown"] else (
            f"{r['cold_calls']}: {breakdown_text(r['cold_breakdown'])}")
        lines.append(f"| {r['operation']} | {r['calls']} | {breakdown_text(r['breakdown'])} | {cold} |")
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

            stages.append({"label": "seed (44 items)", "operations": bench.operations()})

            report = cli.import_file(GUANGAN_CSV)
            if report.errors:
                raise SystemExit(f"Guang'an import failed: {json.dumps(report.to_dict(), ensure_ascii=False)[:1000]}")
            print(f"imported {GUANGAN_CSV.name}: {report.total} rows, {len(report.created)} created",
                  file=sys.stderr)
            stages.append({"label": f"+{report.total} Guang'an items", "operations": bench.operations()})

            new_cases = [bench.submit()["case_no"] for _ in range(200)]
            for i in range(0, len(new_cases), 10):
                bench.intake(new_cases[i:i + 10])
            stages.append({"label": "+200 cases", "operations": bench.operations()})

    main_rows = stages[0]["operations"]
    grows = [r["operation"] for i, r in enumerate(main_rows)
             if any(s["operations"][i]["breakdown"] != r["breakdown"] for s in stages)]
    retries = [r["operation"] for s in stages for r in s["operations"] if r["http_attempts"] != r["calls"]]

    print("## AWS API calls per operation (steady state, seed data)\n")
    print(markdown_main(main_rows))
    print("\n## Growth with data (calls per operation, steady state)\n")
    print(markdown_growth(stages))
    print()
    print("grows with data: " + (", ".join(grows) if grows else "nothing"))
    print("retried HTTP attempts: " + (", ".join(retries) if retries else "none"))

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {
        "description": "AWS API calls per operation, counted with botocore before-call hooks under moto "
                       "(warm container: the second of two runs; cold_* is the first run after "
                       "container.reset())",
        "commit": git_commit(),
        "versions": {"boto3": boto3.__version__, "botocore": botocore.__version__,
                     "pynamodb": pynamodb.__version__, "moto": moto.__version__,
                     "python": sys.version.split()[0]},
        "hooked_sessions": COUNTER.hooked_sessions,
        "operations": main_rows,
        "growth": stages,
        "grows_with_data": grows,
        "retried": retries,
    }
    path = RESULTS / "aws_calls.json"
    path.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"\nwritten {path.relative_to(ROOT)}")
    return 0  # a figure that grows is reported (⚠ in the table, "grows_with_data" in the JSON), not fatal


if __name__ == "__main__":
    sys.exit(main())
