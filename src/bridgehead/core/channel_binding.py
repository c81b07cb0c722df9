"""TLS channel bindings as NTLM and Kerberos use them (Extended Protection).

* :func:`tls_server_end_point` — RFC 5929 §4.1: the hash of the server's certificate
  (DER) with the certificate's signature hash, except that MD5 and SHA-1 are replaced by
  SHA-256. Certificates whose signature names no single hash (Ed25519, Ed448) are not
  covered by RFC 5929; Windows (SChannel) and Chromium hash them with SHA-256, and so do we.
* :func:`gss_channel_bindings` — the flat ``gss_channel_bindings_struct`` of RFC 2744
  §3.11 / MS-NLMP §2.2.2.1 (MsvAvChannelBindings): initiator and acceptor address type
  and address (all zero for TLS bindings) and the application data
  ``b"tls-server-end-point:" + hash`` (RFC 5929 §4 / RFC 5056), each length a 32-bit
  little-endian integer.
* :func:`ntlm_binding_hash` — MD5 of that structure: the 16 bytes an NTLMv2 client puts in
  the MsvAvChannelBindings AV pair (MS-NLMP §3.1.5.1.2 / §2.2.2.1).
"""

from __future__ import annotations

import hashlib
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes

__all__ = [
    "TLS_SERVER_END_POINT_PREFIX",
    "ZERO_BINDING",
    "application_data",
    "end_point_hash_name",
    "gss_channel_bindings",
    "ntlm_binding_for_cert",
    "ntlm_binding_hash",
    "tls_server_end_point",
]

TLS_SERVER_END_POINT_PREFIX = b"tls-server-end-point:"
# An all-zero MsvAvChannelBindings value means "no bindings known" (MS-NLMP §2.2.2.1);
# Windows treats it as unbound (refused under Allow/Require and with the Proxy flag).
ZERO_BINDING = b"\x00" * 16

_WEAK = ("md5", "sha1")


def end_point_hash_name(cert: x509.Certificate) -> str:
    """The hash RFC 5929 §4.1 prescribes for ``cert`` (e.g. ``"sha256"``)."""
    try:
        algorithm = cert.signature_hash_algorithm
    except Exception:  # an algorithm cryptography cannot name: treat like "no single hash"
        algorithm = None
    if algorithm is None or algorithm.name in _WEAK:
        return "sha256"
    return str(algorithm.name)


def tls_server_end_point(cert_der: bytes) -> bytes:
    """The RFC 5929 §4.1 ``tls-server-end-point`` hash of a DER certificate."""
    cert = x509.load_der_x509_certificate(cert_der)
    name = end_point_hash_name(cert)
    algorithm = {
        "sha256": hashes.SHA256(),
        "sha384": hashes.SHA384(),
        "sha512": hashes.SHA512(),
        "sha224": hashes.SHA224(),
        "sha3-256": hashes.SHA3_256(),
        "sha3-384": hashes.SHA3_384(),
        "sha3-512": hashes.SHA3_512(),
    }.get(name, hashes.SHA256())
    digest = hashes.Hash(algorithm)
    digest.update(cert_der)
    return digest.finalize()


def application_data(end_point_hash: bytes) -> bytes:
    """``tls-server-end-point:`` followed by the raw hash (RFC 5929 §4, no hex)."""
    return TLS_SERVER_END_POINT_PREFIX + end_point_hash


def gss_channel_bindings(
    app_data: bytes,
    *,
    initiator_addrtype: int = 0,
    initiator_address: bytes = b"",
    acceptor_addrtype: int = 0,
    acceptor_address: bytes = b"",
) -> bytes:
    """The flat gss_channel_bindings_struct (RFC 2744 §3.11, MS-NLMP §2.2.2.1)."""
    return (
        struct.pack("<II", initiator_addrtype, len(initiator_address))
        + initiator_address
        + struct.pack("<II", acceptor_addrtype, len(acceptor_address))
        + acceptor_address
        + struct.pack("<I", len(app_data))
        + app_data
    )


def ntlm_binding_hash(app_data: bytes) -> bytes:
    """MD5 of the gss_channel_bindings_struct: the MsvAvChannelBindings value (MS-NLMP §3.1.5.1.2)."""
    # MD5 is what the protocol prescribes here, not a security choice of ours.
    return hashlib.md5(gss_channel_bindings(app_data), usedforsecurity=False).digest()


def ntlm_binding_for_cert(cert_der: bytes) -> bytes:
    """The 16-byte MsvAvChannelBindings value a client computes for this server certificate."""
    return ntlm_binding_hash(application_data(tls_server_end_point(cert_der)))
