"""Mint Exchange-style S2S test tokens — correct ones and every wrong variant.

A correct ``app_asserted_user_v1`` token is an unsigned outer JWT with the user claims and
an RS256 actor token signed with the issuer's key, ``x5t`` naming its certificate
([MS-OAUTH2EX] §2.2, §3.1.5). The variants reproduce the rows of seed 003's error table and
the attack set of the tests: another audience host, an unknown issuer, expired / not yet
valid, a broken signature, an unknown ``x5t``, ``alg: none`` on the actor, and HS256 signed
with the issuer's *public* key as the HMAC secret (the classic key-confusion attack;
hand-written with :mod:`hmac` because PyJWT rightly refuses to do it).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from bridgehead.core.oauth.model import EXCHANGE_APP_ID, x5t_of
from bridgehead.wire.jwt import b64url_decode, b64url_encode, encode_unsigned, encode_with_signature

ALGS = ("RS256", "none", "HS256")


class MintError(ValueError):
    """Options that cannot produce a token."""


@dataclass(frozen=True)
class MintOptions:
    host: str  # the audience host part: "owa.example.test" or "https://owa.example.test"
    realm: str
    actor_id: str = EXCHANGE_APP_ID  # the calling application (actor nameid = actor_id@realm)
    issuer: str | None = None  # actor ``iss``; default: self-issued, actor_id@realm
    audience_app: str = EXCHANGE_APP_ID
    user: str | None = "user1@example.test"  # None: app-only (service_asserted_app_v1)
    lifetime: int = 3600
    expired: bool = False
    not_yet_valid: bool = False
    alg: str = "RS256"
    bad_signature: bool = False
    x5t: str | None = None  # override (an unknown thumbprint)
    outer_issuer: str | None = None  # override (outer iss ≠ actor nameid)
    trusted_for_delegation: bool = True


def mint(opts: MintOptions, key: RSAPrivateKey, cert: x509.Certificate, now: datetime) -> str:
    """Serialise one token for ``opts``, signed (if at all) with ``key`` / ``cert``."""
    if opts.alg not in ALGS:
        raise MintError(f"alg must be one of {', '.join(ALGS)}, not {opts.alg!r}")
    if opts.expired and opts.not_yet_valid:
        raise MintError("a token cannot be both expired and not yet valid")
    if opts.lifetime <= 0 or opts.lifetime > 366 * 86400:
        raise MintError("lifetime must be between 1 second and one year")
    nbf, exp = _lifetime(opts, int(now.timestamp()))
    audience = f"{opts.audience_app}/{opts.host}@{opts.realm}"
    actor_nameid = f"{opts.actor_id}@{opts.realm}"
    actor_claims: dict[str, Any] = {
        "aud": audience,
        "iss": opts.issuer or actor_nameid,
        "nbf": nbf,
        "exp": exp,
        "nameid": actor_nameid,
        "trustedfordelegation": "true" if opts.trusted_for_delegation else "false",
    }
    header: dict[str, Any] = {"typ": "JWT", "alg": opts.alg, "x5t": opts.x5t or x5t_of(cert)}
    signed = _sign(header, actor_claims, opts, key, cert)
    if opts.user is None:
        return signed
    outer_claims: dict[str, Any] = {
        "aud": audience,
        "iss": opts.outer_issuer or actor_nameid,
        "nbf": nbf,
        "exp": exp,
        "nameid": str(uuid.uuid5(uuid.NAMESPACE_URL, "bridgehead:" + opts.user)),
        "nii": "urn:federation:MicrosoftOnline",
        "smtp": opts.user,
        "upn": opts.user,
        "actortoken": signed,
    }
    return encode_unsigned({"typ": "JWT", "alg": "none"}, outer_claims)


def _lifetime(opts: MintOptions, now: int) -> tuple[int, int]:
    if opts.expired:
        return now - opts.lifetime - 3600, now - 3600
    if opts.not_yet_valid:
        return now + 3600, now + 3600 + opts.lifetime
    return now - 60, now + opts.lifetime


def _sign(
    header: dict[str, Any],
    claims: dict[str, Any],
    opts: MintOptions,
    key: RSAPrivateKey,
    cert: x509.Certificate,
) -> str:
    if opts.alg == "none":
        return encode_unsigned({k: v for k, v in header.items() if k != "x5t"}, claims)
    if opts.alg == "HS256":
        secret = cert.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        token = encode_with_signature(
            header, claims, lambda data: hmac.new(secret, data, hashlib.sha256).digest()
        )
    else:
        token = encode_with_signature(
            header, claims, lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        )
    if opts.bad_signature:
        body, _, sig = token.rpartition(".")
        flipped = bytearray(b64url_decode(sig))
        flipped[len(flipped) // 2] ^= 0x01
        token = f"{body}.{b64url_encode(bytes(flipped))}"
    return token
