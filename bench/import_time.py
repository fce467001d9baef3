#!/usr/bin/env python
"""Cold import time of the Chalice app (``import app``) versus a bare ``import chalice, boto3,
pynamodb``: the part of a Lambda cold start our own module graph adds.

Run from the project root: ``.venv/bin/python bench/import_time.py`` (or ``make bench``).

Each measurement is a fresh interpreter (``sys.executable -c``) timing the import statement
with ``time.perf_counter``; interpreter start-up is not included. Runs alternate between the
two so drift in machine load hits both alike; one discarded warm-up run of each comes first
(it writes any missing ``.pyc`` and warms the OS file cache, which a Lambda container does not
have, so these are "warm disk, cold interpreter" figures). The median of RUNS is reported.

Separately, ``python -X importtime`` runs of each statement list the modules ``import app``
loads that the bare import does not, with their median cumulative time (the module and
everything it imported first), slowest first. ``-X importtime`` itself adds overhead, so its
numbers are larger than the perf_counter figures; use them to rank, not to add up.

Besides ``import app`` (the API and queue functions) the script measures the token authorizer,
which Chalice deploys as a Lambda function of its own (handler
``chalicelib.api.security.token_authorizer``) and API Gateway invokes before every authenticated
request, and what the first authenticated request wires up (PyJWT, Powertools' parameters
utility, the identity and audit repositories, argon2's module).

Results: printed, and written to ``bench/results/import_time.json``.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from _common import git_commit  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RUNS = 7
TOP = 10

STATEMENTS = {
    "bare": "import chalice, boto3, pynamodb",
    "app": "import app",
    # ``import app`` defers boto3 and the PynamoDB models to chalicelib.container, so the first
    # request pays for them; this adds that wiring (object construction only, no AWS calls: the
    # working-day calendar's first build Queries the loaded years, so only its repository and
    # module are wired here).
    "app_wired": ("import app; from chalicelib import container; container.catalog(); container.cases(); "
                  "container.intake_publisher(); container.calendars(); import chalicelib.domain.calendar"),
    # ... plus what the first authenticated request adds: tokens (PyJWT), the identity and audit
    # repositories, Powertools' parameters utility (secrets), the password hasher's module (argon2;
    # container.passwords() is left out: it computes an argon2 hash, CPU time, not import time).
    "app_wired_auth": ("import app; from chalicelib import container; container.catalog(); container.cases(); "
                       "container.intake_publisher(); container.calendars(); import chalicelib.domain.calendar; "
                       "container.tokens(); "
                       "container.identity(); container.audit_log(); import chalicelib.adapters.passwords; "
                       "import aws_lambda_powertools.utilities.parameters"),
    # The token authorizer is its own Lambda function (handler chalicelib.api.security.token_authorizer),
    # invoked on every authenticated request (TTL 0): its cold start imports this module, not app ...
    "authorizer": "import chalicelib.api.security",
    # ... and its first invocation wires the token verifier and the secrets provider.
    "authorizer_wired": ("import chalicelib.api.security; from chalicelib import container; container.tokens(); "
                         "import aws_lambda_powertools.utilities.parameters"),
}
LABELS = {"bare": "bare: chalice, boto3, pynamodb", "app": "import app",
          "app_wired": "import app + first-request wiring (container.*())",
          "app_wired_auth": "import app + first-request wiring + identity wiring (tokens, identity, audit, "
                            "secrets, argon2 module)",
          "authorizer": "authorizer function: import chalicelib.api.security",
          "authorizer_wired": "authorizer function + first-invocation wiring (tokens, secrets)"}


def environment() -> dict[str, str]:
    """The same AWS environment as bench/aws_calls.py (nothing is contacted at import time)."""
    env = dict(os.environ)
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    for var in ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE",
                "PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME"):
        env.pop(var, None)
    env["PYTHONPATH"] = str(ROOT)
    return env


ENV = environment()


def timed_import(statement: str) -> float:
    """Milliseconds the import statement takes in a fresh interpreter."""
    code = ("import time; t = time.perf_counter(); " + statement +
            "; print(repr((time.perf_counter() - t) * 1000))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"`{statement}` failed:\n{out.stderr}")
    return float(out.stdout.strip().splitlines()[-1])


def importtime(statement: str) -> dict[str, tuple[int, int]]:
    """``{module: (self_us, cumulative_us)}`` from one ``python -X importtime`` run."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], cwd=ROOT, env=ENV,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"`-X importtime {statement}` failed:\n{out.stderr}")
    modules: dict[str, tuple[int, int]] = {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        fields = line[len("import time:"):].split("|")
        if len(fields) != 3:
            continue
        name = fields[2].strip()
        modules.setdefault(name, (int(fields[0]), int(fields[1])))
    return modules


def extra_modules(runs: list[dict[str, tuple[int, int]]], baseline: set[str]) -> list[dict]:
    """Modules in ``runs`` but not in ``baseline``, median times, slowest cumulative first."""
    rows = []
    for name in set().union(*runs) - baseline:
        samples = [t[name] for t in runs if name in t]
        rows.append({"module": name,
                     "cumulative_ms": statistics.median(s[1] for s in samples) / 1000,
                     "self_ms": statistics.median(s[0] for s in samples) / 1000})
    rows.sort(key=lambda r: r["cumulative_ms"], reverse=True)
    return rows


def main() -> int:
    for statement in STATEMENTS.values():  # warm-up: .pyc files, OS cache
        timed_import(statement)
    times: dict[str, list[float]] = {k: [] for k in STATEMENTS}
    traces: dict[str, list[dict[str, tuple[int, int]]]] = {k: [] for k in STATEMENTS}
    for _ in range(RUNS):
        for key, statement in STATEMENTS.items():
            times[key].append(timed_import(statement))
            traces[key].append(importtime(statement))

    medians = {k: statistics.median(v) for k, v in times.items()}
    diffs = {k: medians[k] - medians["bare"] for k in STATEMENTS if k != "bare"}
    bare_modules = set().union(*traces["bare"])
    extras = {k: extra_modules(traces[k], bare_modules) for k in diffs}
    app_modules = set().union(*traces["app"])
    missing = [m for m in ("chalice", "boto3", "botocore", "botocore.session", "pynamodb", "pynamodb.models")
               if m not in app_modules]

    print(f"## Cold import time (median of {RUNS} fresh interpreters, {sys.executable})\n")
    print("| import | median ms | min ms | median − bare ms | runs (ms) |")
    print("|---|---:|---:|---:|---|")
    for key in STATEMENTS:
        runs = ", ".join(f"{t:.0f}" for t in times[key])
        delta = f"{diffs[key]:+.1f}" if key in diffs else ""
        print(f"| {LABELS[key]} | {medians[key]:.1f} | {min(times[key]):.1f} | {delta} | {runs} |")
    print(f"\n`import app` does not load: {', '.join(missing) or 'nothing'} "
          "(chalicelib.container imports the adapters on first use)")
    for key, rows in extras.items():
        self_ms = sum(r["self_ms"] for r in rows)
        print(f"\n## {LABELS[key]}: the {TOP} slowest modules beyond the bare import "
              f"({len(rows)} modules, {self_ms:.0f} ms self time under -X importtime)\n")
        print("| module | cumulative ms | self ms |")
        print("|---|---:|---:|")
        for r in rows[:TOP]:
            print(f"| {r['module']} | {r['cumulative_ms']:.1f} | {r['self_ms']:.1f} |")

    RESULTS.mkdir(parents=True, exist_ok=True)
    def rounded(row: dict) -> dict:
        return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in row.items()}

    out = {
        "description": "in-process import time (time.perf_counter around the import) in fresh "
                       "interpreters, median of runs; modules from -X importtime (median per module)",
        "commit": git_commit(),
        "python": sys.version.split()[0],
        "runs": RUNS,
        "statements": STATEMENTS,
        "median_ms": {k: round(v, 1) for k, v in medians.items()},
        "min_ms": {k: round(min(v), 1) for k, v in times.items()},
        "runs_ms": {k: [round(t, 1) for t in v] for k, v in times.items()},
        "difference_ms": {k: round(v, 1) for k, v in diffs.items()},
        "not_loaded_by_import_app": missing,
        "extra_modules": {k: {"count": len(rows), "self_ms_importtime": round(sum(r["self_ms"] for r in rows), 1),
                              "slowest": [rounded(r) for r in rows[:TOP]]} for k, rows in extras.items()},
    }
    path = RESULTS / "import_time.json"
    path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"\nwritten {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
