"""Compact JWT serialisation (RFC 7515 §7.1, RFC 7519 §7.2): split, decode, encode — no crypto.

A compact JWT is ``BASE64URL(header) . BASE64URL(payload) . BASE64URL(signature)``. This
module only moves bytes: it splits a token, decodes header and claims as JSON objects and
keeps the signing input and the raw signature for a verifier (PyJWT, in
:mod:`bridgehead.core.oauth`). Nothing here decides whether a token is trusted.

Exchange's server-to-server tokens nest a signed *actor* token inside an unsigned outer one
(claim ``actortoken``); :func:`decode` handles one level, callers decode the nested one.

Bad input (wrong number of segments, bad base64url, non-JSON, non-object JSON, oversize
tokens) raises :class:`JwtFormatError` with one line naming the problem.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

MAX_TOKEN_LENGTH = 64 * 1024  # Exchange tokens are a few KiB; refuse anything absurd early
BEARER_PREFIX = "bearer"


class JwtFormatError(ValueError):
    """The text is not a well-formed compact JWT."""


@dataclass(frozen=True)
class CompactJwt:
    """One decoded compact JWT. ``signature`` is raw bytes (empty for ``alg: none``)."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes
    raw: str

    @property
    def alg(self) -> str:
        value = self.header.get("alg")
        return value if isinstance(value, str) else ""

    @property
    def x5t(self) -> str | None:
        value = self.header.get("x5t")
        return value if isinstance(value, str) else None


def b64url_decode(segment: str) -> bytes:
    """Base64url without padding (RFC 7515 §2, Appendix C); strict alphabet."""
    if any(c not in _B64URL_ALPHABET for c in segment):
        raise JwtFormatError("segment is not base64url")
    if len(segment) % 4 == 1:
        raise JwtFormatError("segment has an impossible base64url length")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:  # pragma: no cover - alphabet checked above
        raise JwtFormatError(f"segment is not base64url: {exc}") from None


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def strip_bearer(text: str) -> str:
    """The token from ``Authorization: Bearer X``, ``Bearer X``, ``Bearer+X`` (IIS logs) or ``X``."""
    value = text.strip()
    if value.lower().startswith("authorization:"):
        value = value.split(":", 1)[1].strip()
    head = value[: len(BEARER_PREFIX) + 1]
    if head[: len(BEARER_PREFIX)].lower() == BEARER_PREFIX and head[len(BEARER_PREFIX) :] in (" ", "+"):
        value = value[len(BEARER_PREFIX) + 1 :].strip()
    return value


def looks_like_jwt(text: str) -> bool:
    token = strip_bearer(text)
    return token.count(".") == 2 and token.startswith("eyJ")


def decode(token: str) -> CompactJwt:
    """Split and decode one compact JWT without verifying anything (RFC 7519 §7.2 steps 1-6)."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise JwtFormatError(f"token is {len(token)} characters long (limit {MAX_TOKEN_LENGTH})")
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtFormatError(f"a compact JWT has 3 dot-separated segments, this has {len(parts)}")
    header_b64, payload_b64, signature_b64 = parts
    if not header_b64 or not payload_b64:
        raise JwtFormatError("header or payload segment is empty")
    header = _json_object(b64url_decode(header_b64), "header")
    claims = _json_object(b64url_decode(payload_b64), "payload")
    signature = b64url_decode(signature_b64)
    return CompactJwt(
        header=header,
        claims=claims,
        signing_input=f"{header_b64}.{payload_b64}".encode("ascii"),
        signature=signature,
        raw=token,
    )


def encode_unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An ``alg: none`` token (RFC 7519 §6.1): empty signature segment, as Exchange's outer token."""
    return f"{_segment(header)}.{_segment(claims)}."


def encode_with_signature(header: dict[str, Any], claims: dict[str, Any], sign: Any) -> str:
    """Serialise and sign with ``sign(signing_input: bytes) -> bytes`` (used for test tokens)."""
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    signature: bytes = sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


def _segment(obj: dict[str, Any]) -> str:
    return b64url_encode(json.dumps(obj, separators=(",", ":")).encode("utf-8"))


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise JwtFormatError(f"{what} is not JSON: {exc}") from None
    except RecursionError:
        raise JwtFormatError(f"{what} nests too deeply") from None
    if not isinstance(value, dict):
        raise JwtFormatError(f"{what} is JSON but not an object")
    return value
