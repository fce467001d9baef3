#!/usr/bin/env python
"""The deadline sweep's cost against the number of open cases: the same 50 cases due among
1,000 and among 100,000 open cases, in-process under moto.

Run from the project root: ``.venv/bin/python bench/deadline_sweep.py`` (or ``make bench``);
``--sizes 1000,100000 --due 50`` are the defaults.

Setup per size, each in a fresh ``moto.mock_aws()``: the tables of ``infra/resources.json``
(``infra.local.stack.ensure_resources``), one real case filed, classified and accepted through
the use cases (HH-MZ-006, 10 working days promised, accepted Monday 2026-03-02 10:00
Asia/Shanghai), and copies of its item under new case numbers put straight into moto's
DynamoDB backend (:func:`seed`; not counted, not timed): ``due`` copies with ``next_check`` on the sweep
day (the case's yellow date) and the rest with ``next_check`` 30-395 days later, each with its
``deadline_shard`` (``case_repo.deadline_shard``), so every open case is in the sparse
``by_deadline`` index, as they are in production.

Measured: one sweep (``usecases.deadlines.sweep``) at 00:30 Asia/Shanghai on the yellow date,
after a warm-up sweep the day before on the template case alone (nothing due; the boto3
clients exist after it). Every AWS API
call is counted by operation and timed by wrapping ``botocore.client.BaseClient._make_api_call``
(all clients, PynamoDB's included). Reported: calls per operation, total wall time, time inside
AWS calls (moto's in-process work), and time outside them (our code: the rules, PynamoDB
(de)serialisation, the event). A second sweep at the same instant (idempotency: nothing
announced twice) is measured the same way.

moto's Query on a GSI walks every item of the table in memory, so time inside AWS calls grows
with the table under moto. DynamoDB reads only the index items in the key range: its cost is
the items returned. The calls, and the time outside AWS calls, are what this measures.

Results: a Markdown table on stdout and ``bench/results/deadline_sweep.json``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from collections import Counter
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
REGION = "us-east-1"

os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = REGION
for _var in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE",
             "MOTO_ENABLE_RECORDING", "BIANMIN_STAGE"):
    os.environ.pop(_var, None)
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.chdir(ROOT)
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
import botocore.client  # noqa: E402
from moto import mock_aws  # noqa: E402

from _common import git_commit  # noqa: E402  (bench/ is on sys.path when run as a script)

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)
APPLICANT = {"name": "张三", "id_number": "431224195001011234", "phone": "13812345678"}


def without_moto_table_backup() -> None:
    """moto's ``TransactWriteItems`` deep-copies every table it touches before writing, to roll
    back a transaction that fails: its time grows with the table (about 0.8 s per transaction at
    1,000 cases, 2.9 s at 5,000 on this machine), where DynamoDB's cost is the items written.
    The bench skips that backup (only ``copy.deepcopy`` of a whole ``Table`` inside
    ``moto.dynamodb.models``; items are still copied), so it cannot roll back: every measured
    transaction must succeed, and :func:`run_size` asserts that none conflicted."""
    import copy
    import types

    import moto.dynamodb.models as ddb_models
    from moto.dynamodb.models.table import Table

    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)
    ddb_models.copy = types.SimpleNamespace(deepcopy=deepcopy, copy=copy.copy)


class Meter:
    """Counts and times every botocore API call (all clients) while ``on``."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.inside = 0.0
        self.on = False
        original = botocore.client.BaseClient._make_api_call
        meter = self

        def metered(client, operation_name, api_params):
            if not meter.on:
                return original(client, operation_name, api_params)
            started = time.perf_counter()
            try:
                return original(client, operation_name, api_params)
            finally:
                spent = time.perf_counter() - started
                name = f"{client.meta.service_model.service_name}.{operation_name}"
                meter.inside += spent
                meter.calls[name] += 1
                meter.seconds[name] += spent
        botocore.client.BaseClient._make_api_call = metered

    def measure(self, run):
        self.calls, self.seconds, self.inside, self.on = Counter(), Counter(), 0.0, True
        started = time.perf_counter()
        try:
            report = run()
        finally:
            wall = time.perf_counter() - started
            self.on = False
        return {"report": report, "calls": dict(sorted(self.calls.items())), "total_calls": sum(self.calls.values()),
                "inside_aws_s_by_operation": {k: round(v, 4) for k, v in sorted(self.seconds.items())},
                "wall_s": round(wall, 4), "inside_aws_s": round(self.inside, 4),
                "outside_aws_s": round(wall - self.inside, 4)}


def template_case() -> tuple[str, dict]:
    """One real case, filed, classified and accepted through the use cases; its raw item."""
    from chalicelib import cli, container, settings
    from chalicelib.domain.access import VILLAGER, WINDOW_CLERK, Origin, Principal
    from chalicelib.usecases import intake, lifecycle
    list(cli.seed(ROOT / "data" / "seed"))
    clerk = _clerk()
    villager = Principal(subject="u_bench", roles=frozenset({VILLAGER}),
                         id_key=container.id_keys()(APPLICANT["id_number"]))
    ports = dict(catalog=container.catalog(), cases=container.cases(), events=container.case_event_publisher())
    body = {"item_code": "HH-MZ-006", "township_code": "431224100", "applicant": dict(APPLICANT)}
    view, _ = intake.submit_case(body, principal=villager, origin=Origin(channel="bench"), idempotency_key=None,
                                 publisher=container.intake_publisher(), identity=container.identity(),
                                 id_keys=container.id_keys(), audit_log=container.audit_log(), now=lambda: T0, **ports)
    case_no = view["case_no"]
    intake.classify_case(case_no, calendar=container.calendar(), now=lambda: T0, **ports)
    lifecycle.act("accept", case_no, {}, principal=clerk, origin=Origin(channel="bench"),
                  idempotency_key="bench-accept-1", identity=container.identity(), calendar=container.calendar(),
                  audit_log=container.audit_log(), now=lambda: T0, **ports)
    assert WINDOW_CLERK in clerk.roles
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=settings.CASES_TABLE, Key={"pk": {"S": f"CASE#{case_no}"}, "sk": {"S": "CASE"}})["Item"]
    return case_no, item


def _clerk():
    """A window clerk account of township 431224100 (created by the administrator's use case)."""
    from chalicelib import container
    from chalicelib.domain.access import ADMINISTRATOR, Origin, Principal
    from chalicelib.usecases import identity as identity_uc
    admin = Principal(subject="staff_admin.bench", roles=frozenset({ADMINISTRATOR}))
    identity_uc.create_staff_account(admin, Origin(channel="bench"),
                             {"username": "clerk.bench", "display_name": "基准窗口", "roles": ["window_clerk"],
                              "township_codes": ["431224100"], "password": "Bench-Passw0rd-456"},
                             identity=container.identity(), passwords=container.passwords(),
                             audit_log=container.audit_log())
    return identity_uc.staff_principal(container.identity().get_staff("clerk.bench"))


def seed(template_no: str, item: dict, total: int, due: int, due_day: dt.date) -> float:
    """``total`` open cases (the template included) of which ``due`` are due on ``due_day``,
    put straight into moto's DynamoDB backend (``put_item`` of the table, as a
    ``batch_write_item`` request ends up; through boto3 it took 1.8 ms per item, 3 minutes for
    100,000). Every copy is the template's stored item under a new number."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    from chalicelib import settings
    from chalicelib.adapters.case_repo import deadline_shard
    backend = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION]
    started = time.perf_counter()
    prefix = template_no[:-4]
    for i in range(1, total):  # the template case itself is the first due case
        number = f"{prefix}{i:06d}"
        next_check = due_day if i < due else due_day + dt.timedelta(days=30 + i % 366)
        backend.put_item(settings.CASES_TABLE, {
            **item, "pk": {"S": f"CASE#{number}"}, "case_no": {"S": number},
            "next_check": {"S": next_check.isoformat()}, "deadline_shard": {"S": deadline_shard(number)}})
    return time.perf_counter() - started


def run_size(meter: Meter, total: int, due: int) -> dict:
    from chalicelib import container, settings
    from chalicelib.usecases import deadlines
    from infra.local.stack import ensure_resources
    with mock_aws():
        container.reset()
        ensure_resources(boto3.session.Session(region_name=REGION))
        case_no, item = template_case()
        yellow = dt.date.fromisoformat(item["yellow_date"]["S"])

        def sweep(day, hour=0, minute=30):
            moment = dt.datetime.combine(day, dt.time(hour, minute), SHANGHAI)
            return deadlines.sweep(container.cases(), container.calendar(), container.case_event_publisher(),
                                   now=lambda: moment)
        warmup = meter.measure(lambda: sweep(yellow - dt.timedelta(days=1)))  # clients built, nothing due
        seeding = seed(case_no, item, total, due, yellow)
        first = meter.measure(lambda: sweep(yellow))
        again = meter.measure(lambda: sweep(yellow, 0, 30))
        assert first["report"]["yellow"] == due, first["report"]
        assert first["report"]["conflicts"] == first["report"]["unchanged"] == 0, first["report"]
        assert again["report"]["examined"] == 0, again["report"]
        container.reset()
    return {"open_cases": total, "due": due, "shards": settings.DEADLINE_SHARDS, "seed_s": round(seeding, 1),
            "warmup": warmup, "sweep": first, "sweep_again_same_instant": again}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--due", type=int, default=50)
    args = parser.parse_args(argv)
    without_moto_table_backup()
    meter = Meter()
    runs = []
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"seeding {size:,} open cases ({args.due} due) and sweeping...", file=sys.stderr, flush=True)
        runs.append(run_size(meter, size, args.due))
    equal_calls = len({json.dumps(r["sweep"]["calls"]) for r in runs}) == 1
    print("\n| open cases | due | calls per operation | calls | wall s | inside AWS s | outside AWS s |")
    print("|---:|---:|---|---:|---:|---:|---:|")
    for r in runs:
        for label in ("sweep", "sweep_again_same_instant"):
            m = r[label]
            ops = ", ".join(f"{k}×{v}" for k, v in m["calls"].items())
            name = f"{r['open_cases']:,}" + ("" if label == "sweep" else " (again)")
            print(f"| {name} | {r['due'] if label == 'sweep' else 0} | {ops} | {m['total_calls']} | {m['wall_s']:.3f} "
                  f"| {m['inside_aws_s']:.3f} | {m['outside_aws_s']:.3f} |")
    ratio = runs[-1]["sweep"]["outside_aws_s"] / runs[0]["sweep"]["outside_aws_s"] if len(runs) > 1 else None
    print(f"\ncalls per operation equal for every size: {equal_calls}")
    if ratio is not None:
        print(f"time outside AWS calls, largest / smallest: {ratio:.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"commit": git_commit(), "moto": metadata.version("moto"), "pynamodb": metadata.version("pynamodb"),
           "boto3": metadata.version("boto3"), "python": sys.version.split()[0],
           "calls_equal_for_every_size": equal_calls, "outside_aws_ratio": round(ratio, 3) if ratio else None,
           "runs": runs}
    (RESULTS / "deadline_sweep.json").write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n")
    return 0 if equal_calls else 1


if __name__ == "__main__":
    sys.exit(main())
