#!/usr/bin/env python
"""Time, AWS calls and peak Python memory of importing the 1,135-row Guang'an catalog (dry run,
real run, rerun) and of exporting it (XLSX, CSV, GB/T 39046), in-process under moto.

Run from the project root: ``.venv/bin/python bench/catalog_import.py`` (times and calls), then
with ``--memory`` (peak memory under tracemalloc, which slows everything several times).

AWS calls are counted by wrapping ``botocore.client.BaseClient._make_api_call`` (every client,
PynamoDB's included), by operation. Memory is ``tracemalloc``'s peak (Python allocations only,
moto's included, so an upper bound for our part). Durations under moto include moto's own work
(about 1 ms a call, design.md): they rank the steps, they are not AWS latencies.
Results: printed, and written to ``bench/results/catalog_import.json``.
"""
from __future__ import annotations

import collections
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"})
os.environ.pop("AWS_ENDPOINT_URL", None)

import boto3  # noqa: E402
import botocore.client  # noqa: E402
from moto import mock_aws  # noqa: E402

CALLS: collections.Counter = collections.Counter()
_original = botocore.client.BaseClient._make_api_call


def _counting(self, operation, params):
    CALLS[operation] += 1
    return _original(self, operation, params)


MEMORY = "--memory" in sys.argv  # tracemalloc slows the run several times: timings come from a run without it


def measure(name, results, fn):
    CALLS.clear()
    if MEMORY:
        tracemalloc.start()
    started = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - started
    row = {"seconds": round(seconds, 2), "aws_calls": dict(CALLS), "aws_calls_total": sum(CALLS.values())}
    if MEMORY:
        row = {"peak_python_mb": round(tracemalloc.get_traced_memory()[1] / 2**20, 1), "aws_calls_total": row["aws_calls_total"]}
        tracemalloc.stop()
    results[name] = row
    print(f"{name:28} {json.dumps(row, ensure_ascii=False)}")
    return value


def main() -> None:
    botocore.client.BaseClient._make_api_call = _counting
    from chalicelib import container
    from chalicelib.usecases import catalog_files, catalog_gbt
    from infra.local.stack import ensure_resources
    data = (ROOT / "data" / "catalog" / "guangan_items.csv").read_bytes()
    results: dict = {}
    with mock_aws():
        container.reset()
        ensure_resources(boto3.session.Session(region_name="us-east-1"))
        repo = container.catalog()
        run = lambda dry: catalog_files.import_file("guangan_items.csv", data, repo, dry_run=dry)  # noqa: E731
        dry = measure("import dry run (1,135 rows)", results, lambda: run(True))
        assert not dry.errors and len(dry.created) == 1135
        real = measure("import real run", results, lambda: run(False))
        assert real.written == 1135
        again = measure("import rerun (unchanged)", results, lambda: run(False))
        assert again.unchanged == 1135
        records = measure("read all items (export)", results, lambda: catalog_files.all_records(repo))
        xlsx = measure("export xlsx (+ self-check)", results, lambda: catalog_files.export_table(records, "xlsx"))
        measure("export csv (+ self-check)", results, lambda: catalog_files.export_table(records, "csv"))
        measure("export gbt39046", results, lambda: catalog_gbt.gbt39046_document(records))
        back = measure("import exported xlsx", results,
                       lambda: catalog_files.import_file("catalog.xlsx", xlsx, repo, dry_run=True))
        assert not back.errors and back.unchanged == 1135  # the round trip, on the real 1,135 items
    out = ROOT / "bench" / "results" / "catalog_import.json"
    saved = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    saved["memory" if MEMORY else "time_and_calls"] = results
    out.write_text(json.dumps(saved, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
