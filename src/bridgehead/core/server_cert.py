"""Browser-grade checks on a server certificate chain that OpenSSL's default verification leaves out.

OpenSSL builds and verifies the chain (signatures, dates, trust, name constraints, purpose,
the host name); bridgehead runs it *without* ``X509_V_FLAG_X509_STRICT``, which refuses
what curl, Chrome and Windows accept (a leaf without Authority Key Identifier, X509 error
85; a CA whose Basic Constraints are not marked critical, error 89; ...). What browsers
refuse and OpenSSL accepts is checked here, explicitly, on the certificates the server
sent (leaf first):

* a leaf with no subjectAltName: Chrome 58+ and Firefox ignore the subject CN
  (RFC 6125 §6.4.4 allows it only as a fallback; CA/B Forum BR §7.1.2.7.12 requires the SAN)
  → ``upstream-cert-no-san``;
* a leaf whose Basic Constraints say ``CA:TRUE`` (RFC 5280 §4.2.1.9: a CA certificate;
  Firefox refuses it as an end-entity, MOZILLA_PKIX_ERROR_CA_CERT_USED_AS_END_ENTITY)
  → ``upstream-cert-leaf-is-ca``;
* an MD5 or SHA-1 signature on any certificate but a self-signed root (Chrome, Firefox and
  Windows refuse SHA-1 server chains; OpenSSL does so only at security level ≥ 1)
  → ``upstream-cert-weak-signature``.

Pure functions on DER bytes (``cryptography``); no sockets.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes

WEAK_HASHES = ("md5", "sha1")


@dataclass(frozen=True)
class Refusal:
    code: str
    detail: str


def check_chain(chain_der: list[bytes]) -> Refusal | None:
    """The first browser-grade refusal for the chain the server sent (leaf first), or ``None``."""
    if not chain_der:
        return None
    leaf = x509.load_der_x509_certificate(chain_der[0])
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    if san is None or not (san.get_values_for_type(x509.DNSName) or san.get_values_for_type(x509.IPAddress)):
        cn = [a.value for a in leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
        return Refusal("upstream-cert-no-san",
                       f"the certificate names {cn[0]!r} only in its subject CN and has no DNS/IP "
                       "subjectAltName (browsers ignore the CN)" if cn else
                       "the certificate has no DNS/IP subjectAltName")
    try:
        constraints = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is not None and constraints.ca:
        return Refusal("upstream-cert-leaf-is-ca",
                       "the server certificate has Basic Constraints CA:TRUE (a CA certificate used as a "
                       "server certificate)")
    for depth, der in enumerate(chain_der):
        cert = leaf if depth == 0 else x509.load_der_x509_certificate(der)
        if depth > 0 and cert.subject == cert.issuer:
            continue  # a root's self-signature is not relied on (RFC 5280 §6.1: trust anchor)
        algorithm = _hash_name(cert)
        if algorithm in WEAK_HASHES:
            what = "server certificate" if depth == 0 else f"CA certificate at depth {depth}"
            oid = cert.signature_algorithm_oid.dotted_string
            return Refusal("upstream-cert-weak-signature", f"the {what} is signed with {algorithm.upper()} ({oid})")
    return None


def _hash_name(cert: x509.Certificate) -> str:
    try:
        algorithm = cert.signature_hash_algorithm
    except Exception:  # unknown or hash-less (Ed25519) signature algorithms are not weak by hash
        return ""
    return algorithm.name if isinstance(algorithm, hashes.HashAlgorithm) else ""


def certificates_from_handshake(body: bytes, tls13: bool) -> list[bytes]:
    """The DER certificates of a TLS Certificate handshake message body (type 11).

    TLS 1.2 (RFC 5246 §7.4.2): ``certificate_list<0..2^24-1>`` of ``opaque ASN.1Cert<1..2^24-1>``.
    TLS 1.3 (RFC 8446 §4.4.2): ``certificate_request_context<0..255>`` first, and every entry
    is followed by its ``extensions<0..2^16-1>``. Raises ``ValueError`` on a malformed body.
    """
    pos = 0
    if tls13:
        if not body:
            raise ValueError("empty Certificate message")
        pos = 1 + body[0]
    if pos + 3 > len(body):
        raise ValueError("truncated Certificate message")
    total = int.from_bytes(body[pos:pos + 3], "big")
    pos += 3
    end = pos + total
    if end != len(body):
        raise ValueError("Certificate list length does not match the message")
    out: list[bytes] = []
    while pos < end:
        if pos + 3 > end:
            raise ValueError("truncated certificate entry")
        n = int.from_bytes(body[pos:pos + 3], "big")
        pos += 3
        if n == 0 or pos + n > end:
            raise ValueError("bad certificate entry length")
        out.append(body[pos:pos + n])
        pos += n
        if tls13:
            if pos + 2 > end:
                raise ValueError("truncated certificate entry extensions")
            pos += 2 + int.from_bytes(body[pos:pos + 2], "big")
    if pos != end:
        raise ValueError("certificate entries overrun the list")
    return out
