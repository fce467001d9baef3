"""Architecture rules of design.md that a grep can hold: the domain stays pure, and no product
code scans a table."""
import re

from tests.conftest import ROOT

PRODUCT = [ROOT / "app.py", *sorted((ROOT / "chalicelib").rglob("*.py"))]


def test_domain_imports_neither_aws_nor_chalice():
    for path in (ROOT / "chalicelib" / "domain").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^\s*(import|from)\s+(boto3|botocore|chalice|pynamodb)\b", text, re.M), path


def test_no_scan_in_product_code():
    for path in PRODUCT:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\.scan\(|\bScan\b", text), path


def test_local_runner_is_not_in_the_package_sources():
    for path in PRODUCT:
        assert "infra.local" not in path.read_text(encoding="utf-8"), path
