"""What the reverse proxy learns about a route's backend, and what it says about it.

The start-up check (``ReverseProxy.check_backends``) opens one TLS connection per ``reencrypt``
route and records ``same_certificate`` (the backend presents the listener's own certificate) and
``backend_requests_client_cert`` (the backend sent a TLS CertificateRequest, RFC 8446 §4.3.2 /
RFC 5246 §7.4.4). This module turns that record into

* the start-up banner's line for the route (the Extended Protection wording follows the route's
  declared ``backend_extended_protection``: a different certificate only breaks channel bindings
  when the backend checks them),
* :class:`~bridgehead.core.reverse.lint.RouteFacts`, so start-up warnings are ``lint`` findings
  with the same codes and texts, and
* the code of a request the backend refused because the route shows it no client certificate.
"""

from __future__ import annotations

from typing import Any

from bridgehead.core.reverse.lint import ERROR, WARNING, Finding, RouteFacts, lint
from bridgehead.core.reverse.model import Mode, ReverseConfig, Route

# Statuses a backend answers when a required client certificate is missing: nginx 400 ("No
# required SSL certificate was sent", its internal 496), IIS 403.7, nginx's 495 (certificate error).
_MISSING_CERT_STATUSES = (400, 403, 495, 496)


def route_line(route: Route) -> str:
    """``route ews: mail.example.test [/EWS/] → reencrypt https://ex01:443 via 10.0.0.5:443``."""
    paths = ", ".join(route.paths) or "all paths"
    pinned = f" via {_host_port(*route.backend.address)}" if route.backend.address else ""
    return f"route {route.name}: {', '.join(route.hosts)} [{paths}] → {route.mode.value} {route.backend.url}{pinned}"


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_line(route: Route, result: dict[str, Any]) -> str:
    """The banner's judgement of one start-up backend check."""
    same = result.get("same_certificate")
    ep = route.backend_extended_protection
    if same is None:
        return f"backend of {route.name}: not checked: {result.get('code')}: {result.get('reason')}"
    if same:
        return f"backend of {route.name}: same certificate as the listener (channel bindings survive)"
    if ep in ("allow", "require"):
        return (f"backend of {route.name}: DIFFERENT certificate from the listener: Extended Protection "
                f"({ep}) fails for NTLM/Negotiate logons (route-ep-cert-mismatch)")
    if ep == "none":
        return (f"backend of {route.name}: different certificate from the listener (fine: its Extended "
                "Protection is none, as declared)")
    return (f"backend of {route.name}: different certificate from the listener: if the backend uses Extended "
            "Protection (Allow/Require), NTLM/Negotiate logons fail; declare backend_extended_protection or "
            "measure it with lint --probe")


def facts_from_check(result: dict[str, Any]) -> RouteFacts:
    requested = result.get("backend_requests_client_cert")
    return RouteFacts(same_certificate=result.get("same_certificate"),
                      requests_client_cert=requested if isinstance(requested, bool) else None)


def startup_findings(config: ReverseConfig, checks: dict[str, dict[str, Any]]) -> list[Finding]:
    """The errors and warnings ``lint --probe`` would report from what the start-up check measured
    (only the findings that depend on the measurement; the offline rules are ``lint``'s)."""
    measured = {"route-backend-requires-client-cert"}
    facts = {name: facts_from_check(result) for name, result in checks.items()}
    return [f for f in lint(config, facts) if f.code in measured and f.severity in (ERROR, WARNING)
            and f.subject.removeprefix("route ") in checks]


def refused_for_missing_cert(route: Route, status: int, cert_requested: bool) -> dict[str, str] | None:
    """Log fields for a response the backend gave because the route presented no client certificate:
    it asked for one in the handshake, the route has no bridging certificate and it answered an error."""
    if route.mode != Mode.REENCRYPT or route.bridging_certificate is not None or not cert_requested:
        return None
    if status not in _MISSING_CERT_STATUSES:
        return None
    return {"code": "route-backend-requires-client-cert",
            "reason": f"the backend asked for a TLS client certificate and answered {status}; the route has no "
                      "bridging_certificate"}
