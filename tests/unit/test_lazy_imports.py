"""Cold start (design.md): importing the app for the API must not load the PDF, QR or signing
libraries; only the document consumer and the verification code paths import them."""
import json
import subprocess
import sys

from tests.conftest import ROOT

HEAVY = ("pyhanko", "pyhanko_certvalidator", "fpdf", "qrcode", "asn1crypto", "cryptography.x509", "pypdf")


def _loaded_after(statement):
    code = (f"import sys, json; {statement}; "
            f"print(json.dumps(sorted({{m.split('.')[0] if not m.startswith('cryptography.x509') else m "
            f"for m in sys.modules}})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"})
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_app_loads_no_pdf_or_signing_library():
    loaded = _loaded_after("import app")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_documents_paths_do_load_them():  # the check above would pass vacuously otherwise
    loaded = _loaded_after("import app; from chalicelib.adapters import pades, pdf; import fpdf")
    assert {"pyhanko", "fpdf", "asn1crypto"} <= loaded
