"""Validate Exchange-style S2S bearer tokens and answer like Exchange does ([MS-OAUTH2EX]).

Two token shapes ([MS-OAUTH2EX] §2.2):

* ``app_asserted_user_v1`` — an *unsigned* outer JWT (``alg: none``) carrying user claims
  (``nameid``, ``nii``, ``smtp``, ``upn``), ``aud``, ``iss``, ``nbf``, ``exp`` and an
  ``actortoken``: an RS256 JWT signed by a trusted issuer (``x5t`` names the certificate).
* ``service_asserted_app_v1`` — one signed JWT, no user.

Checks, in this order (the first failure answers): structure → issuer trusted (2000009) →
algorithm allowed and signature with *the issuer's* key by ``x5t`` (2000000; the algorithm
the token names is never trusted: only ``policy.algorithms``, so ``alg: none`` or HS256 with
the public key as secret are refused) → lifetime with skew (2000002 expired, 2000001 not yet
valid) → audience ``APPID/HOST@REALM`` (2000003 app id / host / scheme, 2000004 realm; HOST
must equal the request's Host, case-insensitive; a URL-form host part must also match the
request's scheme, so SSL offloading that turns https into http fails) → outer token against
the actor (outer ``iss`` = actor ``nameid``, same ``aud``, 2000001) → delegation (2000006)
→ user claims (2000005).

The numbers and categories come from the failure registry; see :mod:`.diagnostics`.
Pure: the clock is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt as pyjwt

from bridgehead.core.oauth.diagnostics import Diagnostic, challenge, diagnostic
from bridgehead.core.oauth.model import (
    Audience,
    Identifier,
    ModelError,
    TrustedIssuer,
    TrustPolicy,
    expected_audience_host,
    hosts_equal,
)
from bridgehead.wire.jwt import CompactJwt, JwtFormatError, decode

APP_ASSERTED_USER = "app_asserted_user_v1"
SERVICE_ASSERTED_APP = "service_asserted_app_v1"


class Refusal(Exception):
    """Internal: one failed check, carried to :func:`validate` as a value."""

    def __init__(self, diag: Diagnostic) -> None:
        super().__init__(diag.header)
        self.diagnostic = diag


@dataclass(frozen=True)
class Principal:
    token_type: str
    issuer: str
    issuer_name: str
    actor: str
    user: str | None
    audience: str
    x5t: str | None
    expires: datetime


@dataclass(frozen=True)
class Outcome:
    """``status`` 200 (accepted) or 401 (anonymous challenge or refusal) with its headers."""

    status: int
    headers: tuple[tuple[str, str], ...]
    principal: Principal | None = None
    diagnostic: Diagnostic | None = None

    @property
    def ok(self) -> bool:
        return self.principal is not None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` value (RFC 6750 §2.1), else ``None``."""
    if not authorization:
        return None
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not rest.strip():
        return None
    return rest.strip()


def validate(
    authorization: str | None,
    *,
    host: str | None,
    scheme: str,
    policy: TrustPolicy,
    now: datetime,
) -> Outcome:
    """Validate one request's Authorization header against ``policy`` at time ``now``."""
    token = bearer_token(authorization)
    if token is None:
        return Outcome(401, (("WWW-Authenticate", challenge(policy, error=False)),))
    try:
        principal = _validate_token(token, host=host, scheme=scheme.lower(), policy=policy, now=now)
    except Refusal as refusal:
        diag = refusal.diagnostic
        return Outcome(
            401,
            (("WWW-Authenticate", challenge(policy, error=True)), ("x-ms-diagnostics", diag.header)),
            diagnostic=diag,
        )
    return Outcome(200, (), principal=principal)


def _fail(code: str, reason: str, *, numbered: str | None = None) -> Refusal:
    diag = diagnostic(numbered or code, reason)
    if numbered is not None:
        diag = Diagnostic(code, diag.number, diag.category, diag.reason)
    return Refusal(diag)


def _validate_token(
    token: str, *, host: str | None, scheme: str, policy: TrustPolicy, now: datetime
) -> Principal:
    outer = _decode(token, "token")
    actor_raw = outer.claims.get("actortoken")
    if actor_raw is None:
        signed, token_type = outer, SERVICE_ASSERTED_APP
    else:
        if not isinstance(actor_raw, str):
            raise _fail("oauth-invalid-token", "The claim 'actortoken' is not a string.")
        if outer.alg.lower() != "none" or outer.signature:
            raise _fail(
                "oauth-invalid-token",
                "The outer token of an app_asserted_user_v1 token must be "
                f"unsigned (alg 'none'); it names alg '{outer.alg}'.",
            )
        signed, token_type = _decode(actor_raw, "actor token"), APP_ASSERTED_USER

    issuer_id = _identifier(signed.claims, "iss")
    issuer = policy.find_issuer(issuer_id)
    if issuer is None:
        reason = f"The issuer of the token is unknown. Issuer was '{issuer_id}'."
        raise _fail("oauth-unknown-issuer", reason)
    _check_signature(signed, issuer, policy)
    expires = _check_lifetime(signed, policy, now)
    audience = _check_audience(signed, host=host, scheme=scheme, policy=policy)

    user: str | None = None
    actor = str(signed.claims.get("nameid") or issuer_id)
    if token_type == APP_ASSERTED_USER:
        expires = min(expires, _check_lifetime(outer, policy, now))
        _check_outer(outer, signed)
        _check_delegation(signed)
        user = _check_user(outer, policy)
    return Principal(token_type, str(issuer_id), issuer.name, actor, user, str(audience), signed.x5t, expires)


def _decode(token: str, what: str) -> CompactJwt:
    try:
        return decode(token)
    except JwtFormatError as exc:
        raise _fail("oauth-invalid-token", f"The {what} is malformed: {exc}.") from None


def _identifier(claims: dict[str, Any], name: str) -> Identifier:
    value = claims.get(name)
    try:
        return Identifier.parse(value)  # type: ignore[arg-type]
    except ModelError:
        raise _fail(
            "oauth-invalid-token", f"The token has an invalid value '{value}' for the claim '{name}'."
        ) from None


def _check_signature(signed: CompactJwt, issuer: TrustedIssuer, policy: TrustPolicy) -> None:
    # RFC 8725 §3.1/§2.1: the verifier picks the algorithms, never the token, and only those of
    # the key's family — trusted keys are RSA certificates, so an HMAC algorithm can never be
    # used with one (the public-key-as-HMAC-secret confusion). PyJWT verifies.
    allowed = [a for a in policy.algorithms if a.startswith(("RS", "PS"))]
    if signed.alg not in allowed:
        raise _fail(
            "oauth-invalid-signature",
            "The token has an invalid signature: algorithm "
            f"'{signed.alg}' "
            f"is not accepted (allowed: {', '.join(allowed)}).",
        )
    key = issuer.key_for(signed.x5t)
    if key is None:
        raise _fail(
            "oauth-invalid-signature",
            "The token has an invalid signature: no certificate of "
            "issuer "
            f"'{issuer.identifier}' has the thumbprint (x5t) '{signed.x5t}'.",
        )
    try:
        pyjwt.PyJWS().decode_complete(signed.raw, key=key.public_key, algorithms=allowed)
    except (pyjwt.PyJWTError, TypeError, ValueError):
        raise _fail("oauth-invalid-signature", "The token has an invalid signature.") from None


def _check_lifetime(token: CompactJwt, policy: TrustPolicy, now: datetime) -> datetime:
    """RFC 7519 §4.1.4/§4.1.5 with ``policy.skew_seconds`` of clock skew either way."""
    nbf, exp = token.claims.get("nbf"), token.claims.get("exp")
    if not _is_number(exp):
        raise _fail("oauth-invalid-token", "The token has no valid 'exp' claim.")
    if nbf is not None and not _is_number(nbf):
        raise _fail("oauth-invalid-token", "The token has an invalid value for the claim 'nbf'.")
    assert isinstance(exp, int | float)
    stamp = now.timestamp()
    if stamp > float(exp) + policy.skew_seconds:
        raise _fail(
            "oauth-token-expired",
            f"The token has expired. ValidTo '{_iso(float(exp))}', current time '{_iso(stamp)}'.",
        )
    if isinstance(nbf, int | float) and stamp + policy.skew_seconds < float(nbf):
        raise _fail(
            "oauth-invalid-token",
            f"The token is not yet valid. ValidFrom '{_iso(float(nbf))}', current time '{_iso(stamp)}'.",
        )
    return datetime.fromtimestamp(float(exp), UTC)


def _check_audience(signed: CompactJwt, *, host: str | None, scheme: str, policy: TrustPolicy) -> Audience:
    raw = signed.claims.get("aud")
    try:
        audience = Audience.parse(raw)  # type: ignore[arg-type]
    except ModelError:
        reason = f"The audience claim value '{raw}' is invalid."
        raise _fail("oauth-audience-host-mismatch", reason) from None
    if audience.app_id.lower() != policy.service_id.lower():
        raise _fail(
            "oauth-audience-host-mismatch",
            "The application identifier component of the audience "
            f"claim value is invalid. Expected '{policy.service_id}'. Actual '{audience.app_id}'.",
        )
    if policy.realm != "*" and audience.realm.lower() != policy.realm.lower():
        raise _fail(
            "oauth-invalid-tenant",
            "The realm component of the audience claim value is invalid. "
            f"Expected '{policy.realm}'. Actual '{audience.realm}'.",
        )
    if not host or not host.strip():
        # seed 003, "Kein Hostheader": no Expected/Actual pair, the host part quoted, no final period
        raise _fail(
            "oauth-host-header-missing",
            f"The hostname component of the audience claim value '{audience.host_part}' is invalid",
            numbered="oauth-audience-host-mismatch",
        )
    mismatch = not hosts_equal(host, audience.host, scheme)
    if mismatch or (audience.scheme is not None and audience.scheme != scheme):
        name = expected_audience_host(host, audience.host, scheme)
        expected = name if audience.scheme is None else f"{scheme}://{name}"
        raise _fail(
            "oauth-audience-host-mismatch",
            "The hostname component of the audience claim value is "
            f"invalid. Expected '{expected}'. Actual '{audience.host_part}'.",
        )
    return audience


def _check_outer(outer: CompactJwt, actor: CompactJwt) -> None:
    outer_iss, nameid = outer.claims.get("iss"), actor.claims.get("nameid")
    if not isinstance(outer_iss, str) or not isinstance(nameid, str) or outer_iss.lower() != nameid.lower():
        raise _fail(
            "oauth-invalid-token",
            f"The issuer of the outer token '{outer_iss}' does not match "
            "the "
            f"nameid of the actor token '{nameid}'.",
        )
    outer_aud, actor_aud = outer.claims.get("aud"), actor.claims.get("aud")
    if not isinstance(outer_aud, str) or str(outer_aud).lower() != str(actor_aud).lower():
        raise _fail(
            "oauth-invalid-token",
            f"The audience of the outer token '{outer_aud}' does not "
            "match the "
            f"audience of the actor token '{actor_aud}'.",
        )


def _check_delegation(actor: CompactJwt) -> None:
    value = actor.claims.get("trustedfordelegation")
    if str(value).lower() != "true":
        raise _fail(
            "oauth-invalid-client",
            f"The actor '{actor.claims.get('nameid')}' is not trusted for "
            "delegation (claim 'trustedfordelegation'), so it cannot assert a user.",
        )


def _check_user(outer: CompactJwt, policy: TrustPolicy) -> str:
    claims = outer.claims
    names = [claims.get(k) for k in ("smtp", "upn", "sip")]
    user = next((str(v) for v in names if isinstance(v, str) and v), None)
    if not isinstance(claims.get("nameid"), str) or user is None:
        raise _fail(
            "oauth-invalid-user", "There are no user claims in the token (nameid with smtp, upn or sip)."
        )
    if policy.known_users is not None and not any(
        isinstance(v, str) and v.lower() in policy.known_users for v in names
    ):
        raise _fail(
            "oauth-invalid-user", "The user specified by the user-context in the token does not exist."
        )
    return user


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and abs(float(value)) < 1e11


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
