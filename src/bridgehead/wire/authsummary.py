"""One-line summaries of Authorization / WWW-Authenticate values seen in logs — never the raw token.

Logs and FREB traces carry ``Authorization: NTLM|Negotiate <base64>`` and ``Bearer <jwt>``
values. Diagnostics need what is inside (message type, user, domain, workstation; token
issuer and audience) and must never print the credential itself.

NTLM: a deliberately small reader of the fixed message header (MS-NLMP §2.2.1.1-§2.2.1.3:
signature ``NTLMSSP\\0``, MessageType, and for AUTHENTICATE the DomainName/UserName/
Workstation fields at offsets 28/36/44 as (length, maxlen, offset)). The full decoder with
AV pairs and channel bindings is :mod:`bridgehead.wire.ntlm`; this one only names who logged
on, so the log scanner stays independent and cheap. SPNEGO-wrapped NTLM (Negotiate) is
found by searching the DER for the NTLMSSP signature; a Kerberos AP-REQ is named as such.

Bearer: PyJWT's unverified decode (no signature check: this is a summary, not a
validation), plus the nested Exchange ``actortoken``.
"""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Any

import jwt

NTLM_SIGNATURE = b"NTLMSSP\x00"
_TYPES = {1: "NEGOTIATE", 2: "CHALLENGE", 3: "AUTHENTICATE"}
MAX_VALUE = 64 * 1024  # longer values are not credentials a log line should hold; refuse early


def summarize(value: str) -> dict[str, Any]:
    """A summary of one header value (``Scheme data``); ``{"scheme": …, "error": …}`` if undecodable.

    The result never contains the raw token: only decoded names, types and claims.
    """
    value = value.strip()
    # W3C logs write the space after the scheme as '+' (base64 may contain '+' too: split once)
    scheme, _, data = value.partition(" ") if " " in value else value.partition("+")
    scheme_l = scheme.lower()
    data = data.strip()
    out: dict[str, Any] = {"scheme": scheme or None}
    if len(data) > MAX_VALUE:
        out["error"] = f"value longer than {MAX_VALUE} bytes"
        return out
    try:
        if scheme_l in ("ntlm", "negotiate"):
            out.update(_summarize_negotiate(data))
        elif scheme_l == "bearer":
            out.update(summarize_jwt(data))
        elif scheme_l == "basic":
            user = base64.b64decode(data, validate=True).decode("utf-8", "replace").partition(":")[0]
            out.update({"type": "basic", "user": user})  # the password is never kept
        else:
            out["error"] = "unknown scheme"
    except (ValueError, binascii.Error, struct.error, jwt.PyJWTError) as exc:
        out["error"] = f"undecodable: {type(exc).__name__}"
    return out


def _summarize_negotiate(data: str) -> dict[str, Any]:
    raw = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
    pos = raw.find(NTLM_SIGNATURE)
    if pos < 0:
        if raw[:1] in (b"\x60", b"\xa0", b"\xa1"):  # GSS/SPNEGO DER without NTLM inside (RFC 4178 §4.2)
            kerberos = b"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02" in raw  # OID 1.2.840.113554.1.2.2
            return {"type": "kerberos" if kerberos else "spnego"}
        raise ValueError("no NTLMSSP signature")
    return summarize_ntlm(raw[pos:])


def summarize_ntlm(msg: bytes) -> dict[str, Any]:
    """Message type and, for AUTHENTICATE, domain/user/workstation (MS-NLMP §2.2.1.3)."""
    if msg[:8] != NTLM_SIGNATURE or len(msg) < 12:
        raise ValueError("not an NTLM message")
    (mtype,) = struct.unpack_from("<I", msg, 8)
    out: dict[str, Any] = {"type": "ntlm", "message": _TYPES.get(mtype, f"type {mtype}")}
    if mtype == 3 and len(msg) >= 64:
        (flags,) = struct.unpack_from("<I", msg, 60)
        unicode = bool(flags & 0x1)  # NTLMSSP_NEGOTIATE_UNICODE
        for name, off in (("domain", 28), ("user", 36), ("workstation", 44)):
            length, _max, start = struct.unpack_from("<HHI", msg, off)
            field = msg[start:start + length]
            out[name] = field.decode("utf-16-le" if unicode else "latin-1", "replace")
        nt_len = struct.unpack_from("<H", msg, 20)[0]
        out["ntlm_version"] = "v2" if nt_len > 24 else ("v1" if nt_len == 24 else "anonymous")
    return out


def summarize_jwt(token: str) -> dict[str, Any]:
    """Issuer, audience, subject names and lifetime of a JWT, unverified; nested actor token too."""
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    out: dict[str, Any] = {"type": "jwt", "alg": header.get("alg")}
    for key in ("iss", "aud", "nameid", "upn", "smtp", "nii", "appid", "nbf", "exp"):
        if key in claims:
            out[key] = claims[key]
    actor = claims.get("actortoken")
    if isinstance(actor, str):
        try:
            inner = jwt.decode(actor, options={"verify_signature": False})
            ih = jwt.get_unverified_header(actor)
            keys = ("iss", "aud", "nameid", "trustedfordelegation")
            out["actor"] = {k: inner[k] for k in keys if k in inner}
            if "x5t" in ih:
                out["actor"]["x5t"] = ih["x5t"]
        except jwt.PyJWTError as exc:
            out["actor"] = {"error": f"undecodable: {type(exc).__name__}"}
    return out


def one_line(summary: dict[str, Any]) -> str:
    """Human form: ``NTLM AUTHENTICATE MSXFAQ\\miguser from PADPRO08MB6223`` / ``Bearer iss=… aud=…``."""
    if "error" in summary:
        return f"{summary.get('scheme')} ({summary['error']})"
    kind = summary.get("type")
    if kind == "ntlm":
        text = f"{summary.get('scheme')} {summary.get('message')}"
        if summary.get("message") == "AUTHENTICATE":
            who = f"{summary.get('domain', '')}\\{summary.get('user', '')}"
            text += f" {who} from {summary.get('workstation', '')}"
            text += f" (NTLM{summary.get('ntlm_version', '')})"
        return text
    if kind == "jwt":
        parts = [f"{k}={summary[k]}" for k in ("iss", "aud", "smtp", "upn", "nameid") if k in summary]
        actor = summary.get("actor")
        if isinstance(actor, dict) and actor:
            parts.append("actor(" + " ".join(f"{k}={v}" for k, v in actor.items()) + ")")
        return "Bearer " + " ".join(parts)
    if kind == "basic":
        return f"Basic user={summary.get('user')}"
    return f"{summary.get('scheme')} {kind}"
