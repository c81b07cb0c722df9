"""Signing-key documents: read certificates from PEM/DER/JWKS/metadata, write JWKS and metadata.

Formats:

* PEM (one or more ``CERTIFICATE`` blocks) or one DER certificate;
* JWKS (RFC 7517 §5) — keys with ``x5c`` (RFC 7517 §4.7, base64 DER, not base64url);
* Exchange/ACS authentication metadata (``/metadata/json/1``: ``issuer``, ``realm``,
  ``keys[].keyvalue.value`` = base64 DER certificate, ``keys[].keyinfo.x5t``).

Only certificate-bearing keys are accepted: the validator looks keys up by ``x5t`` and reports
certificate lifetimes, which a bare ``n``/``e`` key cannot give.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from bridgehead.core.oauth.model import x5t_of
from bridgehead.wire.jwt import b64url_encode

MAX_DOCUMENT = 1024 * 1024


class MetadataError(ValueError):
    """A key document that cannot be read (one line)."""


@dataclass(frozen=True)
class KeyDocument:
    certificates: tuple[x509.Certificate, ...]
    issuer: str | None = None  # from a metadata document
    realm: str | None = None


def load_key_document(data: bytes) -> KeyDocument:
    if len(data) > MAX_DOCUMENT:
        raise MetadataError(f"document is {len(data)} bytes (limit {MAX_DOCUMENT})")
    stripped = data.lstrip()
    if stripped.startswith(b"-----BEGIN"):
        try:
            certs = tuple(x509.load_pem_x509_certificates(data))
        except ValueError as exc:
            raise MetadataError(f"not a PEM certificate: {exc}") from None
        return KeyDocument(certs)
    if stripped.startswith(b"{"):
        return _from_json(stripped)
    try:
        return KeyDocument((x509.load_der_x509_certificate(data),))
    except ValueError:
        raise MetadataError("neither a PEM/DER certificate nor a JWKS/metadata JSON document") from None


def _from_json(data: bytes) -> KeyDocument:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MetadataError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise MetadataError("JSON document has no 'keys' list (expected JWKS or authentication metadata)")
    certs: list[x509.Certificate] = []
    for index, key in enumerate(doc["keys"]):
        if not isinstance(key, dict):
            raise MetadataError(f"keys[{index}] is not an object")
        blob = _cert_blob(key)
        if blob is None:
            continue
        try:
            certs.append(x509.load_der_x509_certificate(base64.b64decode(blob, validate=True)))
        except (ValueError, binascii.Error) as exc:
            raise MetadataError(f"keys[{index}] holds no valid certificate: {exc}") from None
    if not certs:
        raise MetadataError("the document has no key with a certificate (x5c or keyvalue)")
    issuer = doc.get("issuer") if isinstance(doc.get("issuer"), str) else None
    realm = doc.get("realm") if isinstance(doc.get("realm"), str) else None
    return KeyDocument(tuple(certs), issuer, realm)


def _cert_blob(key: dict[str, Any]) -> str | None:
    x5c = key.get("x5c")
    if isinstance(x5c, list) and x5c and isinstance(x5c[0], str):
        return x5c[0]
    value = key.get("keyvalue")
    if isinstance(value, dict) and isinstance(value.get("value"), str):
        return str(value["value"])
    info = key.get("keyinfo")
    if isinstance(info, dict) and isinstance(info.get("x509data"), str):
        return str(info["x509data"])
    return None


def jwks(certs: list[x509.Certificate]) -> dict[str, Any]:
    """A JWKS (RFC 7517) with one RS256 signing key per certificate, ``x5t`` as ``kid``."""
    keys = []
    for cert in certs:
        pub = cert.public_key()
        if not isinstance(pub, RSAPublicKey):
            continue
        numbers = pub.public_numbers()
        keys.append(
            {
                "kty": "RSA",
                "use": "sig",
                "alg": "RS256",
                "kid": x5t_of(cert),
                "x5t": x5t_of(cert),
                "n": b64url_encode(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                "e": b64url_encode(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
                "x5c": [_der_b64(cert)],
            }
        )
    return {"keys": keys}


def metadata(
    certs: list[x509.Certificate], *, service_id: str, realm: str, location: str | None = None
) -> dict[str, Any]:
    """An Exchange-style authentication metadata document (what partners import)."""
    doc: dict[str, Any] = {
        "id": f"_{uuid.uuid5(uuid.NAMESPACE_URL, service_id + '@' + realm)}",
        "version": "1.0",
        "name": "bridgehead",
        "realm": realm,
        "serviceName": service_id,
        "issuer": f"{service_id}@{realm}",
        "allowedAudiences": [f"{service_id}@{realm}"],
        "keys": [
            {
                "usage": "signing",
                "keyinfo": {"x5t": x5t_of(c)},
                "keyvalue": {"type": "x509Certificate", "value": _der_b64(c)},
            }
            for c in certs
        ],
        "endpoints": [],
    }
    if location:
        doc["endpoints"].append({"location": location, "protocol": "OAuth2", "usage": "metadata"})
    return doc


def _der_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")
