"""Configuration lint for the reverse proxy: findings with registry codes, before anything breaks.

Rules (each finding names a registry code, whose ``fix`` the output shows):

* ``route-ep-cert-mismatch`` — a ``reencrypt``/``offload`` route in front of a backend whose
  Extended Protection is Allow/Require (declared, or measured by ``--probe``) while the
  certificate the client sees is not the backend's: every channel-bound NTLM logon fails
  (seed 002). Offload always differs (the backend sees no TLS from the client at all).
* ``route-offload-oauth`` — ``offload`` on an OAuth path (``/EWS/``, ``/autodiscover/``, …)
  or ``preserve_host = false``: Exchange checks the token audience against Host and scheme.
* ``listener-no-trust-list`` — a listener asking for client certificates without ``client_ca``.
* ``revocation-no-max-age`` / ``revocation-cache-hours`` — no freshness bound, or one of hours.
* ``route-backend-requires-client-cert`` — the backend requires a client certificate
  (declared or probed) and the route has no bridging certificate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bridgehead.core.reverse.model import ClientCert, Mode, ReverseConfig, Route
from bridgehead.core.reverse.routes import needs_client_cert

OAUTH_PATHS = ("/ews/", "/autodiscover/", "/oab/", "/mapi/", "/api/", "/ecp/", "/owa/")
ERROR, WARNING, INFO = "error", "warning", "info"


@dataclass
class RouteFacts:
    """What ``--probe`` (or the proxy at start) measured about a route's backend."""

    same_certificate: bool | None = None  # listener certificate == backend certificate
    extended_protection: str | None = None  # none | allow | require | unknown (probed)
    requests_client_cert: bool | None = None  # backend sent a CertificateRequest
    notes: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (registry code, detail) the probe met


@dataclass(frozen=True)
class Finding:
    severity: str
    code: str | None
    subject: str  # "route <name>" | "listener <name>"
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "code": self.code, "subject": self.subject, "message": self.message}


def lint(config: ReverseConfig, facts: dict[str, RouteFacts] | None = None) -> list[Finding]:
    facts = facts or {}
    out: list[Finding] = []
    for listener in config.listeners:
        subject = f"listener {listener.name}"
        if needs_client_cert(config.routes_of(listener.name)):
            if not listener.client_ca:
                out.append(Finding(ERROR, "listener-no-trust-list", subject,
                                   "routes ask for client certificates but client_ca is empty: every CA of "
                                   "the system store would be trusted"))
            if not listener.revocation.enabled:
                out.append(Finding(WARNING, "revocation-cache-hours", subject,
                                   "client certificates are not checked for revocation (no crl, no ocsp): a "
                                   "lost device's certificate works until it expires"))
        rev = listener.revocation
        if rev.enabled and rev.max_age is None:
            out.append(Finding(ERROR, "revocation-no-max-age", subject,
                               "revocation has no max_age: a CRL/OCSP answer is used until its nextUpdate "
                               "(often days)"))
        elif rev.enabled and rev.max_age is not None and rev.max_age > 3600:
            out.append(Finding(WARNING, "revocation-cache-hours", subject,
                               f"max_age is {rev.max_age / 3600:g} h: a revocation takes that long to bite"))
    for route in config.routes:
        out += _route_findings(route, facts.get(route.name, RouteFacts()))
    return out


def _oauth_paths(route: Route) -> list[str]:
    if not route.paths:
        return ["(all paths)"]
    return [p for p in route.paths if any(p.lower().startswith(o) or o.startswith(p.lower().rstrip("/") + "/")
                                          for o in OAUTH_PATHS)]


def _route_findings(route: Route, f: RouteFacts) -> list[Finding]:
    subject = f"route {route.name}"
    out: list[Finding] = []
    ep = f.extended_protection if f.extended_protection not in (None, "unknown") else route.backend_extended_protection
    how = "measured by --probe" if f.extended_protection not in (None, "unknown") else "declared"
    if route.mode == Mode.OFFLOAD:
        oauth = _oauth_paths(route)
        if oauth:
            out.append(Finding(ERROR, "route-offload-oauth", subject,
                               f"offload (plain HTTP to the backend) on OAuth paths {', '.join(oauth)}"))
        else:
            out.append(Finding(WARNING, None, subject, "offload: the backend gets plain HTTP (allowed, but "
                               "Exchange does not support SSL offloading)"))
    if not route.preserve_host and route.mode != Mode.PASSTHROUGH:
        oauth = _oauth_paths(route)
        out.append(Finding(ERROR if oauth else WARNING, "route-offload-oauth", subject,
                           "preserve_host = false rewrites Host to the backend name"
                           + (f" on OAuth paths {', '.join(oauth)}" if oauth else "")))
    if route.mode != Mode.PASSTHROUGH:
        differs = True if route.mode == Mode.OFFLOAD else f.same_certificate is False
        if ep in ("allow", "require") and differs:
            out.append(Finding(ERROR, "route-ep-cert-mismatch", subject,
                               f"backend Extended Protection is {ep} ({how}) and the client will see another "
                               f"certificate than the backend's ({route.mode.value}): channel-bound NTLM/"
                               "Negotiate logons fail with 401 (SEC_E_BAD_BINDINGS)"))
        elif ep in ("allow", "require") and f.same_certificate is None:
            out.append(Finding(WARNING, "route-ep-cert-mismatch", subject,
                               f"backend Extended Protection is {ep} ({how}): the listener must present the "
                               "backend's own certificate; run lint --probe to compare them (the proxy also "
                               "compares at start)"))
        elif ep == "unknown" and f.same_certificate is False:
            out.append(Finding(WARNING, "route-ep-cert-mismatch", subject,
                               "the listener's certificate is not the backend's: if the backend uses Extended "
                               "Protection (Allow/Require) NTLM logons through this route fail; lint --probe "
                               "--user … measures the setting"))
        elif f.same_certificate is True and route.mode == Mode.REENCRYPT:
            out.append(Finding(INFO, None, subject, "the listener presents the backend's own certificate: "
                               "channel bindings survive re-encryption"))
    backend_requires = f.requests_client_cert is True or route.backend_client_certificate == "require"
    if route.mode == Mode.REENCRYPT and backend_requires and route.bridging_certificate is None:
        out.append(Finding(ERROR, "route-backend-requires-client-cert", subject,
                           "the backend requires a TLS client certificate and the route has no "
                           "bridging_certificate"))
    if route.mode == Mode.PASSTHROUGH and route.client_certificate != ClientCert.OFF:
        out.append(Finding(INFO, None, subject, "passthrough: client certificates go end to end; the backend, "
                           "not bridgehead, checks them (client_certificate is not enforced here)"))
    for code, detail in f.failures:
        out.append(Finding(ERROR, code, subject, detail))
    for note in f.notes:
        out.append(Finding(INFO, None, subject, note))
    return out


def exit_status(findings: list[Finding]) -> int:
    """1 when any finding is an error, else 0."""
    return 1 if any(x.severity == ERROR for x in findings) else 0
