"""Explain a bearer token for humans and logs — never the signature, never the whole token.

:func:`describe` turns ``Bearer …`` / a bare JWT into a dict: header, each claim with its
meaning (RFC 7519 §4.1 and [MS-OAUTH2EX] §2.2.1), times as ISO dates, the nested
``actortoken`` described the same way, the token type, and — with ``at_host`` — whether
the audience fits that host. :func:`summarize` is the one-line form for access logs
(``Request-Authorization`` as a decoded summary).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bridgehead.core.oauth.model import Audience, ModelError, expected_audience_host, hosts_equal
from bridgehead.wire.jwt import CompactJwt, JwtFormatError, decode, strip_bearer

MEANINGS: dict[str, str] = {
    "aud": "audience: APPID/HOST@REALM the token is for; HOST must equal the request's Host",
    "iss": "issuer: ID@REALM of who issued (signed) the token",
    "nbf": "not valid before",
    "exp": "expires",
    "iat": "issued at",
    "nameid": "name identifier: the user (outer token) or the calling application ID@REALM (actor token)",
    "nii": "name identifier issuer: where the user's identity comes from",
    "smtp": "the user's primary SMTP address",
    "upn": "the user's UPN",
    "sip": "the user's SIP address",
    "actortoken": "the signed actor token (the calling application), decoded below",
    "trustedfordelegation": "whether the actor may act on behalf of users",
    "identityprovider": "identity provider of the application",
    "isbrowserhostedapp": "app hosted in a browser",
    "appctx": "application context",
    "appctxsender": "application context sender",
    "tid": "tenant ID",
    "appid": "application (client) ID",
    "scp": "scopes (delegated permissions)",
    "roles": "roles (application permissions)",
    "ver": "token format version",
}
HEADER_MEANINGS = {
    "alg": "signature algorithm ('none' = unsigned)",
    "typ": "token type",
    "x5t": "base64url SHA-1 thumbprint of the signing certificate",
    "kid": "key identifier",
}
TIME_CLAIMS = ("nbf", "exp", "iat")


class DescribeError(ValueError):
    """Not a JWT (message is one line)."""


def describe(
    text: str, *, at_host: str | None = None, scheme: str = "https", now: datetime | None = None
) -> dict[str, Any]:
    token = strip_bearer(text)
    try:
        jwt = decode(token)
    except JwtFormatError as exc:
        raise DescribeError(f"not a JWT: {exc}") from None
    result = _describe_one(jwt, now)
    actor_raw = jwt.claims.get("actortoken")
    if isinstance(actor_raw, str):
        try:
            result["actortoken"] = _describe_one(decode(actor_raw), now)
        except JwtFormatError as exc:
            result["actortoken"] = {"error": f"actor token is not a JWT: {exc}"}
        result["token_type"] = "app_asserted_user_v1"
    else:
        result["token_type"] = "service_asserted_app_v1" if jwt.alg.lower() != "none" else "unsigned"
    if at_host is not None:
        result["audience_check"] = audience_check(jwt, at_host, scheme)
    return result


def audience_check(jwt: CompactJwt, host: str, scheme: str = "https") -> dict[str, Any]:
    actor_raw = jwt.claims.get("actortoken")
    claims = jwt.claims
    if isinstance(actor_raw, str):
        try:
            claims = decode(actor_raw).claims
        except JwtFormatError:
            pass
    raw = claims.get("aud")
    try:
        aud = Audience.parse(raw)  # type: ignore[arg-type]
    except ModelError as exc:
        return {"host": host, "fits": False, "reason": str(exc)}
    fits = hosts_equal(host, aud.host, scheme) and (aud.scheme is None or aud.scheme == scheme)
    reason = (
        f"the audience host '{aud.host_part}' fits Host '{host}'"
        if fits
        else "Exchange would answer 2000003: "
        f"Expected '{_expected(host, aud, scheme)}'. Actual '{aud.host_part}'."
    )
    return {"host": host, "fits": fits, "audience": str(aud), "reason": reason}


def _expected(host: str, aud: Audience, scheme: str) -> str:
    name = expected_audience_host(host, aud.host, scheme)
    return name if aud.scheme is None else f"{scheme}://{name}"


def _describe_one(jwt: CompactJwt, now: datetime | None) -> dict[str, Any]:
    claims: list[dict[str, Any]] = []
    for name, value in jwt.claims.items():
        entry: dict[str, Any] = {"name": name, "meaning": MEANINGS.get(name, "")}
        if name == "actortoken":
            entry["value"] = f"<nested JWT, {len(str(value))} characters, decoded below>"
        elif name in TIME_CLAIMS and isinstance(value, int | float) and not isinstance(value, bool):
            entry["value"] = value
            entry["date"] = _date(float(value))
        else:
            entry["value"] = value
        claims.append(entry)
    out: dict[str, Any] = {
        "header": [
            {"name": k, "value": v, "meaning": HEADER_MEANINGS.get(k, "")} for k, v in jwt.header.items()
        ],
        "claims": claims,
        "signature": f"<{len(jwt.signature)} bytes, not shown>" if jwt.signature else "<none: unsigned>",
    }
    exp = jwt.claims.get("exp")
    if now is not None and isinstance(exp, int | float) and not isinstance(exp, bool):
        out["expired"] = now.timestamp() > float(exp)
    return out


def summarize(text: str) -> str:
    """One line for logs: type, issuer, actor, user, audience, x5t, expiry — no secret material."""
    token = strip_bearer(text)
    try:
        jwt = decode(token)
    except JwtFormatError as exc:
        return f"Bearer <not a JWT: {exc}; {len(token)} chars>"
    parts = []
    actor_raw = jwt.claims.get("actortoken")
    signed = jwt
    if isinstance(actor_raw, str):
        try:
            signed = decode(actor_raw)
        except JwtFormatError:
            return "Bearer app_asserted_user_v1 <actor token not a JWT>"
        parts.append("app_asserted_user_v1")
        user = jwt.claims.get("smtp") or jwt.claims.get("upn")
        parts.append(f"user={_short(user)}")
    else:
        parts.append("service_asserted_app_v1")
    parts.append(f"actor={_short(signed.claims.get('nameid'))}")
    parts.append(f"iss={_short(signed.claims.get('iss'))}")
    parts.append(f"aud={_short(signed.claims.get('aud'))}")
    parts.append(f"alg={_short(signed.alg)}")
    parts.append(f"x5t={_short(signed.x5t)}")
    exp = signed.claims.get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool):
        parts.append(f"exp={_date(float(exp))}")
    return "Bearer " + " ".join(parts)


def _short(value: object, limit: int = 120) -> str:
    text = str(value) if value is not None else "-"
    text = "".join(c if c.isprintable() and not c.isspace() else "?" for c in text)
    return text if len(text) <= limit else text[:limit] + "…"


def _date(stamp: float) -> str:
    try:
        return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return "<out of range>"
