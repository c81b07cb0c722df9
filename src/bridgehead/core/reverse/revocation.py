"""Revocation decisions for client certificates, with an explicit freshness bound.

The seed's commenter saw a revoked certificate keep working for hours: the CRL was cached
until its nextUpdate. Here every piece of revocation data (a CRL, an OCSP answer) is used
for at most ``max_age`` seconds after it was fetched, and never past its own nextUpdate
(RFC 5280 §5.1.2.5, RFC 6960 §4.2.2.1); after that the runtime fetches it again. So a
revoked certificate is refused at most ``max_age`` seconds (plus one fetch) after the CA
publishes the revocation.

Pure functions: parsing and checking with ``cryptography``; the runtime does the fetching.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from bridgehead.core.reverse.model import FailMode

GOOD = "good"
REVOKED = "revoked"
UNKNOWN = "unknown"


class RevocationDataError(ValueError):
    """The CRL or OCSP answer is malformed, badly signed or stale."""


def is_fresh(fetched_at: float, now: float, max_age: float | None, next_update: dt.datetime | None,
             wall_now: dt.datetime) -> bool:
    """Whether data fetched at ``fetched_at`` (monotonic) may still be used."""
    if max_age is not None and now - fetched_at > max_age:
        return False
    return not (next_update is not None and wall_now > next_update)


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise RevocationDataError(f"not a CRL: {exc}") from None


def check_crl(crl: x509.CertificateRevocationList, issuer: x509.Certificate, wall_now: dt.datetime) -> None:
    """Raise unless ``crl`` is signed by ``issuer`` and current (RFC 5280 §6.3.3 (a), (f), (g))."""
    if crl.issuer != issuer.subject:
        raise RevocationDataError("CRL issuer is not the certificate's issuer")
    if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        raise RevocationDataError("CRL signature does not verify with the issuer's key")
    if crl.next_update_utc is not None and wall_now > crl.next_update_utc:
        raise RevocationDataError(f"CRL is stale (nextUpdate {crl.next_update_utc.isoformat()})")


def crl_status(crl: x509.CertificateRevocationList, cert: x509.Certificate) -> tuple[str, str]:
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    if entry is None:
        return GOOD, "not listed in the CRL"
    return REVOKED, f"listed in the CRL since {entry.revocation_date_utc.isoformat()}"


def responder_url(cert: x509.Certificate) -> str | None:
    """The first OCSP responder in the certificate's AIA (RFC 5280 §4.2.2.1), or None."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None
    for desc in aia:
        if desc.access_method == AuthorityInformationAccessOID.OCSP and \
                isinstance(desc.access_location, x509.UniformResourceIdentifier):
            return str(desc.access_location.value)
    return None


def ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """DER OCSPRequest for ``cert`` (RFC 6960 §4.1), SHA-1 CertID as responders expect."""
    from cryptography.hazmat.primitives.serialization import Encoding

    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())  # noqa: S303 CertID identifier (RFC 6960 §4.1.1), not a signature
    return builder.build().public_bytes(Encoding.DER)


@dataclass(frozen=True)
class OcspAnswer:
    status: str  # good | revoked | unknown
    detail: str
    next_update: dt.datetime | None


def parse_ocsp(data: bytes, cert: x509.Certificate, issuer: x509.Certificate, wall_now: dt.datetime) -> OcspAnswer:
    """Check an OCSPResponse (RFC 6960 §3.2, §4.2.2.2): signer, CertID, times; its status."""
    try:
        resp = ocsp.load_der_ocsp_response(data)
    except ValueError as exc:
        raise RevocationDataError(f"not an OCSP response: {exc}") from None
    if resp.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise RevocationDataError(f"OCSP responder answered {resp.response_status.name}")
    signer = _ocsp_signer(resp, issuer)
    _verify(signer, resp.signature, resp.tbs_response_bytes, resp.signature_hash_algorithm)
    if resp.serial_number != cert.serial_number:
        raise RevocationDataError("OCSP answer is for another certificate")
    if resp.issuer_key_hash != _key_hash(issuer, resp.hash_algorithm):
        raise RevocationDataError("OCSP answer names another issuer")
    skew = dt.timedelta(minutes=5)
    if resp.this_update_utc > wall_now + skew:
        raise RevocationDataError("OCSP answer thisUpdate is in the future")
    if resp.next_update_utc is not None and wall_now > resp.next_update_utc + skew:
        raise RevocationDataError("OCSP answer is stale (nextUpdate passed)")
    status = resp.certificate_status
    if status == ocsp.OCSPCertStatus.REVOKED:
        when = resp.revocation_time_utc.isoformat() if resp.revocation_time_utc else "?"
        return OcspAnswer(REVOKED, f"OCSP: revoked since {when}", resp.next_update_utc)
    if status == ocsp.OCSPCertStatus.GOOD:
        return OcspAnswer(GOOD, "OCSP: good", resp.next_update_utc)
    return OcspAnswer(UNKNOWN, "OCSP: responder does not know the certificate", resp.next_update_utc)


def _key_hash(issuer: x509.Certificate, algorithm: hashes.HashAlgorithm) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    spki = issuer.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    # the hash is over the BIT STRING contents of subjectPublicKey (RFC 6960 §4.1.1)
    raw = _subject_public_key_bits(spki)
    digest = hashes.Hash(algorithm)
    digest.update(raw)
    return digest.finalize()


def _subject_public_key_bits(spki: bytes) -> bytes:
    """The subjectPublicKey BIT STRING value (without the unused-bits byte) of a DER SPKI."""
    def tlv(buf: bytes, pos: int) -> tuple[int, int, int]:
        tag = buf[pos]
        first = buf[pos + 1]
        if first < 0x80:
            return tag, pos + 2, first
        n = first & 0x7F
        return tag, pos + 2 + n, int.from_bytes(buf[pos + 2 : pos + 2 + n], "big")

    _, start, _ = tlv(spki, 0)  # SEQUENCE
    _, alg_start, alg_len = tlv(spki, start)  # AlgorithmIdentifier
    tag, bits_start, bits_len = tlv(spki, alg_start + alg_len)
    if tag != 0x03:
        raise RevocationDataError("malformed SubjectPublicKeyInfo")
    return spki[bits_start + 1 : bits_start + bits_len]


def _ocsp_signer(resp: ocsp.OCSPResponse, issuer: x509.Certificate) -> x509.Certificate:
    """The issuer itself, or a delegated responder it issued with id-kp-OCSPSigning (RFC 6960 §4.2.2.2)."""
    if resp.responder_name == issuer.subject or resp.responder_key_hash == _key_hash(issuer, hashes.SHA1()):  # noqa: S303 ResponderID byKey is SHA-1 (RFC 6960 §4.2.1)
        return issuer
    for cert in resp.certificates:
        if cert.issuer != issuer.subject:
            continue
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
            continue
        _verify(issuer, cert.signature, cert.tbs_certificate_bytes, cert.signature_hash_algorithm)
        return cert
    raise RevocationDataError("OCSP answer not signed by the issuer or a responder it authorised")


def _verify(signer: x509.Certificate, signature: bytes, data: bytes,
            algorithm: hashes.HashAlgorithm | None) -> None:
    key = signer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        else:
            raise RevocationDataError("unsupported OCSP signature algorithm")
    except InvalidSignature:
        raise RevocationDataError("OCSP signature does not verify") from None


@dataclass(frozen=True)
class SourceResult:
    """One revocation source's answer for one certificate."""

    source: str  # "crl:<where>" | "ocsp:<url>"
    status: str  # good | revoked | unknown
    detail: str


def decide(results: list[SourceResult], fail: FailMode) -> tuple[str | None, str, bool]:
    """Combine source answers: ``(code or None, detail, failed_open)``.

    Any ``revoked`` refuses. Otherwise one ``good`` is enough; when every source is
    ``unknown`` (unreachable, stale, bad signature) the listener's ``fail`` mode decides.
    """
    for r in results:
        if r.status == REVOKED:
            return "edge-client-cert-revoked", f"{r.source}: {r.detail}", False
    if not results or any(r.status == GOOD for r in results):
        return None, "; ".join(f"{r.source}: {r.detail}" for r in results), False
    detail = "; ".join(f"{r.source}: {r.detail}" for r in results)
    if fail == FailMode.OPEN:
        return None, f"revocation status unavailable, allowed (fail = open): {detail}", True
    return "edge-revocation-unavailable", detail, False
