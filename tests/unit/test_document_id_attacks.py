"""Attack on issue 6's public verification: the masked case number is not masked."""
import hashlib
import itertools
import base64
import secrets

from chalicelib.domain import seals
from chalicelib.domain.cases import _CROCKFORD, new_case_no


def test_the_public_verification_does_not_reveal_the_full_case_number():
    """``GET /v1/public/documents/{id}/verification`` (anyone who sees the QR code, or guesses an
    id) answers the case number with its serial masked (``...-431224100-****``) next to the
    document id. But the id is an unkeyed SHA-256 of ``<case_no>#<kind>#<round>``: the 4 masked
    characters are 32^4 = 1,048,576 candidates, recovered offline in about a second. The
    promise "the case number's serial is masked" (docs/documents.md; ``domain/seals.document_number``:
    "the id does not show the case number") does not hold: anyone holding a photo of the QR code
    gets the full case number (the reference used to ask about a case at the window or by phone).
    Fix: ``domain/seals.document_number``: derive the id with a server-side secret (HMAC-SHA-256
    with a key from settings/Secrets Manager), or a random id stored with the record."""
    import datetime as dt
    case_no = new_case_no(dt.datetime(2026, 11, 30, 1, 51, 44, 123000, tzinfo=dt.timezone.utc), "431224100", "7KQ3")
    key = secrets.token_bytes(32)                 # the server-side key (adapters.secrets.document_id_key)
    document_id = seals.document_number("acceptance_receipt", case_no, 1, key)
    assert seals.is_document_id(document_id)
    assert seals.document_number("acceptance_receipt", case_no, 1, key) == document_id  # still idempotent
    masked = seals.mask_case_no(case_no)          # what the public answer shows
    head = masked[:-len("****")]
    recovered = None
    for letters in itertools.product(_CROCKFORD, repeat=4):
        candidate = head + "".join(letters)
        digest = hashlib.sha256(f"{candidate}#acceptance_receipt#1".encode()).digest()
        if "D" + base64.b32encode(digest).decode()[:26] == document_id:
            recovered = candidate
            break
    assert recovered is None, f"the masked case number {masked} was recovered as {recovered}"
