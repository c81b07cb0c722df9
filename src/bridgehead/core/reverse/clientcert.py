"""Judge a client certificate at the edge: trust, validity, restrictions, route policy.

The TLS layer lets the handshake finish whatever the certificate is (its verify callback
records OpenSSL's X509_V_ERR numbers instead of failing), so that the client gets an HTTP
answer that names the cause, as TMG's error pages did:

* no certificate on a ``required`` route → ``edge-client-cert-missing`` (TMG 12213), or a
  Basic challenge when the route falls back to a password;
* chain not leading to the trust list → ``edge-client-cert-untrusted`` (12221);
* outside its validity period → ``edge-client-cert-expired``;
* trusted but failing a restriction or the mapping → ``edge-client-cert-not-acceptable`` (12222).

Revocation is judged separately (``revocation``), because it needs fetched data.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from bridgehead.core.reverse.identity import names_of
from bridgehead.core.reverse.model import ClientCert, Fallback, Restrictions, Route

# OpenSSL X509_V_ERR_* (include/openssl/x509_vfy.h) that mean "outside the validity period"
V_ERR_CERT_NOT_YET_VALID = 9
V_ERR_CERT_HAS_EXPIRED = 10
_TIME_ERRORS = (V_ERR_CERT_NOT_YET_VALID, V_ERR_CERT_HAS_EXPIRED)
# OpenSSL checks the purpose (sslclient) itself; the EKU restriction below decides that instead
V_ERR_INVALID_PURPOSE = 26
_NAMES = {2: "unable to get issuer certificate", 18: "self-signed certificate",
          19: "self-signed certificate in chain", 20: "unable to get local issuer certificate",
          21: "unable to verify the first certificate", 24: "invalid CA certificate",
          26: "unsupported certificate purpose", 7: "certificate signature failure",
          9: "certificate is not yet valid", 10: "certificate has expired"}


@dataclass(frozen=True)
class Verdict:
    """``code`` is a registry code, or ``None`` when the certificate is acceptable."""

    code: str | None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.code is None


ACCEPT = Verdict(None)


def judge_certificate(cert: x509.Certificate, verify_errors: Sequence[tuple[int, int]], restrictions: Restrictions,
                      now: dt.datetime) -> Verdict:
    """Trust (from the handshake's ``(depth, X509_V_ERR)`` list), validity and restrictions."""
    other = [(d, e) for d, e in verify_errors if e not in (*_TIME_ERRORS, V_ERR_INVALID_PURPOSE)]
    if other:
        depth, err = other[0]
        return Verdict("edge-client-cert-untrusted",
                       f"{_NAMES.get(err, 'verification failed')} (X509_V_ERR {err} at depth {depth}); "
                       f"issuer {cert.issuer.rfc4514_string()}")
    if now < cert.not_valid_before_utc:
        return Verdict("edge-client-cert-expired", f"not valid before {cert.not_valid_before_utc.isoformat()}")
    if now > cert.not_valid_after_utc:
        return Verdict("edge-client-cert-expired", f"expired {cert.not_valid_after_utc.isoformat()}")
    if any(e in _TIME_ERRORS for _, e in verify_errors):
        return Verdict("edge-client-cert-expired", "a certificate of the chain is outside its validity period")
    return check_restrictions(cert, restrictions)


def check_restrictions(cert: x509.Certificate, r: Restrictions) -> Verdict:
    if r.eku_client_auth:
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            eku = None  # no EKU extension: any purpose (RFC 5280 §4.2.1.12)
        if eku is not None and ExtendedKeyUsageOID.CLIENT_AUTH not in eku \
                and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku:
            return Verdict("edge-client-cert-not-acceptable",
                           "the certificate's Extended Key Usage lacks Client Authentication (1.3.6.1.5.5.7.3.2)")
    issuer = cert.issuer.rfc4514_string()
    if r.issuers and not any(_dn_equal(issuer, allowed) for allowed in r.issuers):
        return Verdict("edge-client-cert-not-acceptable", f"issuer {issuer} is not among the allowed issuers")
    names = names_of(cert)
    if r.subject_patterns and not any(re.search(p, names.subject) for p in r.subject_patterns):
        return Verdict("edge-client-cert-not-acceptable", f"subject {names.subject} matches no subject pattern")
    if r.san_patterns and not any(re.search(p, v) for p in r.san_patterns for v in names.san_values()):
        return Verdict("edge-client-cert-not-acceptable", "no subject alternative name matches the patterns")
    return ACCEPT


def _dn_equal(a: str, b: str) -> bool:
    def norm(text: str) -> list[str]:
        return sorted(part.strip().lower().replace(" = ", "=") for part in text.split(","))
    return norm(a) == norm(b)


@dataclass(frozen=True)
class RouteDecision:
    """What the route does with the connection's certificate state."""

    action: str  # "pass" | "refuse" | "challenge-basic"
    code: str | None = None
    detail: str = ""
    use_certificate: bool = False


def route_decision(route: Route, has_cert: bool, cert_verdict: Verdict | None) -> RouteDecision:
    """Apply the route's ``client_certificate`` (off|optional|required) and ``fallback``.

    A certificate that was sent but fails (untrusted, expired, restriction) is refused on
    ``optional`` and ``required`` routes alike (IIS Accept does the same: 403.16); ``off``
    routes ignore it.
    """
    if route.client_certificate == ClientCert.OFF:
        return RouteDecision("pass")
    if has_cert:
        assert cert_verdict is not None
        if not cert_verdict.ok:
            return RouteDecision("refuse", cert_verdict.code, cert_verdict.detail)
        return RouteDecision("pass", use_certificate=True)
    if route.client_certificate == ClientCert.OPTIONAL:
        return RouteDecision("pass")
    if route.fallback == Fallback.BASIC:
        return RouteDecision("challenge-basic", detail="no client certificate: password logon (Basic) instead")
    return RouteDecision("refuse", "edge-client-cert-missing",
                         "the route requires a client certificate and the client sent none")
