"""PAdES e-seals with pyHanko: seal certificates built around a backend key, signing a PDF
through ``SealKey.sign_raw`` and validating a PDF's seal against OUR root certificate only.

Imported only by the document consumer and the verification use case (pyHanko costs about
340 ms of import time, design.md). PAdES baseline B-B: no timestamp (no TSA is reachable
offline, and none is configured in AWS yet), no LTV data (no CRL/OCSP for our private root).
"""
from __future__ import annotations

import datetime as dt
import io
import secrets
from dataclasses import dataclass
from typing import Any

from asn1crypto import algos, keys, pem, x509
from pyhanko.sign.signers.pdf_cms import Signer

from .seal_keys import SealKey

#: RSA-2048 signatures are 256 bytes (the size pyHanko reserves in the PDF).
SIGNATURE_BYTES = 256
FIELD_NAME = "BianminSeal"
_MECHANISM = "sha256_rsa"


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name.build({"country_name": "CN", "organization_name": organization, "common_name": common_name})


def build_certificate(*, subject_cn: str, subject_org: str, public_key_der: bytes, issuer: SealKey,
                      issuer_cn: str, issuer_org: str, ca: bool, not_before: dt.datetime, years: int) -> str:
    """An X.509 v3 certificate (PEM) for ``public_key_der`` (DER SubjectPublicKeyInfo), signed
    by ``issuer`` through its backend (the TBSCertificate is built with asn1crypto, so no
    private key object is needed: with KMS there is none). ``ca``: a root (basicConstraints
    CA, keyCertSign/cRLSign) or an end-entity seal (digitalSignature/nonRepudiation).
    Valid from ``not_before`` (UTC) for ``years``."""
    usage = {"key_cert_sign", "crl_sign"} if ca else {"digital_signature", "non_repudiation"}
    spki = keys.PublicKeyInfo.load(public_key_der)
    start = not_before.astimezone(dt.timezone.utc).replace(microsecond=0)
    tbs = x509.TbsCertificate({
        "version": "v3", "serial_number": secrets.randbits(63) | 1,
        "signature": {"algorithm": _MECHANISM}, "issuer": _name(issuer_cn, issuer_org),
        "validity": {"not_before": x509.Time({"utc_time": start}),
                     "not_after": x509.Time({"utc_time": start.replace(year=start.year + years)})},
        "subject": _name(subject_cn, subject_org), "subject_public_key_info": spki,
        "extensions": [
            {"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": ca}},
            {"extn_id": "key_usage", "critical": True, "extn_value": usage},
            {"extn_id": "key_identifier", "critical": False, "extn_value": spki.sha1},
        ]})
    certificate = x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": {"algorithm": _MECHANISM},
                                    "signature_value": issuer.sign_raw(tbs.dump())})
    return pem.armor("CERTIFICATE", certificate.dump()).decode()


def load_certificate(pem_text: str) -> x509.Certificate:
    """A PEM certificate as an asn1crypto object."""
    _, _, der = pem.unarmor(pem_text.encode())
    return x509.Certificate.load(der)


class BackendSigner(Signer):
    """A pyHanko signer whose raw signature comes from ``SealKey.sign_raw`` (KMS or file)."""

    def __init__(self, key: SealKey, certificate: x509.Certificate, chain: list[x509.Certificate]) -> None:
        from pyhanko_certvalidator.registry import SimpleCertificateStore
        self._key = key
        super().__init__(signing_cert=certificate, cert_registry=SimpleCertificateStore.from_certs(chain),
                         signature_mechanism=algos.SignedDigestAlgorithm({"algorithm": _MECHANISM}))

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        """RSASSA-PKCS1-v1_5/SHA-256 over ``data`` (the DER signed attributes); a dry run (size
        estimate) answers zeros without calling the backend."""
        if dry_run:
            return bytes(SIGNATURE_BYTES)
        return self._key.sign_raw(data)


def seal_pdf(pdf: bytes, *, key: SealKey, certificate_pem: str, root_pem: str, signer_name: str,
             reason: str, location: str) -> bytes:
    """``pdf`` with a PAdES B-B signature by ``key`` (certificate ``certificate_pem`` issued by
    ``root_pem``, both embedded): ``/Name`` the township service center, ``/Reason`` the seal
    and document, ``/Location`` the township. One ``sign_raw`` call."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    meta = signers.PdfSignatureMetadata(field_name=FIELD_NAME, md_algorithm="sha256", name=signer_name,
                                        reason=reason, location=location,
                                        subfilter=fields.SigSeedSubFilter.PADES)
    signer = BackendSigner(key, load_certificate(certificate_pem), [load_certificate(root_pem)])
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    return signers.PdfSigner(meta, signer).sign_pdf(writer).getvalue()


@dataclass(frozen=True)
class SealCheck:
    """What a PDF's seal says: ``reason`` (a ``domain.seals`` code) and the facts found."""

    reason: str
    facts: dict[str, Any]


def check_pdf(data: bytes, root_pem: str | None) -> SealCheck:
    """Validate the seal of ``data`` with trust anchored at ``root_pem`` only (None: no seal issued yet, nothing is trusted; a PDF signed by
    anyone else's key is ``UNTRUSTED_SIGNER``). Reasons, first that applies: ``NOT_PDF``
    (the PDF reader fails: cross-reference, trailer, catalog or form fields unparsable),
    ``NOT_SIGNED``, ``SIGNATURE_BROKEN`` (a filled signature field whose signature data cannot
    be loaded, e.g. a zeroed ``/Contents``, or whose structure or cryptography fails),
    ``MODIFIED_AFTER_SEALING`` (digest mismatch: ``intact`` false, or bytes/revisions added
    after the seal), ``UNTRUSTED_SIGNER``, else ``VALID``. Facts: ``signer`` (certificate
    subject CN), ``signed_at`` (UTC ISO, as the signer reported it), ``intact``,
    ``signature_valid``, ``trusted``, ``coverage``, ``modification_level``. Never raises for bad input."""
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.errors import SignatureValidationError
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    from ..domain import seals
    if not data.lstrip()[:5].startswith(b"%PDF-"):
        return SealCheck(seals.NOT_PDF, {})
    from pyhanko.sign.fields import enumerate_sig_fields
    try:  # the file itself: cross-reference, trailer, catalog, form fields
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        filled = list(enumerate_sig_fields(reader, filled_status=True))
    except Exception:  # pyHanko raises many kinds for garbage (PdfReadError, ValueError, KeyError...)
        return SealCheck(seals.NOT_PDF, {})
    if not filled:
        return SealCheck(seals.NOT_SIGNED, {})
    try:  # a real PDF with a filled signature field: loading its signature (the CMS in /Contents)
        signatures = reader.embedded_signatures
    except Exception:  # a destroyed or garbled signature container: the seal is broken, the PDF is not
        return SealCheck(seals.SIGNATURE_BROKEN, {"signatures": len(filled)})
    if not signatures:  # only fields of a SubFilter pyHanko ignores: nothing we could have sealed
        return SealCheck(seals.NOT_SIGNED, {})
    signature = signatures[0]
    context = ValidationContext(trust_roots=[load_certificate(root_pem)] if root_pem else [], allow_fetching=False,
                                revocation_mode="soft-fail")
    try:
        status = validate_pdf_signature(signature, signer_validation_context=context)
    except (SignatureValidationError, PdfError, ValueError, KeyError, TypeError, AttributeError):
        # AttributeError: pyHanko on some garbled signer infos (e.g. a changed digest algorithm)
        return SealCheck(seals.SIGNATURE_BROKEN, {})
    cert = status.signing_cert
    facts = {"signer": cert.subject.native.get("common_name") if cert is not None else None,
             "signed_at": status.signer_reported_dt.astimezone(dt.timezone.utc).isoformat()
             if status.signer_reported_dt else None,
             "intact": bool(status.intact), "signature_valid": bool(status.valid), "trusted": bool(status.trusted),
             "coverage": status.coverage.name if status.coverage else None,
             "modification_level": status.modification_level.name if status.modification_level else None,
             "signatures": len(signatures)}
    if not status.intact:
        return SealCheck(seals.MODIFIED, facts)
    if not status.valid:
        return SealCheck(seals.SIGNATURE_BROKEN, facts)
    if (status.coverage is None or status.coverage.name != "ENTIRE_FILE"
            or (status.modification_level is not None and status.modification_level.name != "NONE")):
        return SealCheck(seals.MODIFIED, facts)
    if not status.trusted:
        return SealCheck(seals.UNTRUSTED, facts)
    return SealCheck(seals.VALID, facts)
