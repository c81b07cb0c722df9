"""``lint --probe``: contact each terminated route's backend as the route would, and record facts.

How it works: one :class:`~bridgehead.runtime.probe.Target` per route (the backend's host for SNI
and verification, its pinned address for TCP, ``backend_ca``, and the route's
``bridging_certificate`` presented when the backend sends a CertificateRequest, RFC 8446 §4.3.2 /
RFC 5246 §7.4.4), then the same handshake-plus-GET as ``bridgehead probe``
(:func:`bridgehead.runtime.probe.tls_facts`). Its failures carry the code of the one classify step
(:mod:`bridgehead.runtime.classify`), so a backend that refuses the bridging certificate is named
as the probe and the proxies name it. The backend certificate is compared with the listener's;
with ``--user``/``--password`` the NTLM probe (three logons) measures Extended Protection.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from bridgehead.core.reverse.lint import RouteFacts
from bridgehead.core.reverse.model import Mode, ReverseConfig, Route
from bridgehead.runtime.probe import Report, Target, TlsFacts, probe_ntlm, probe_schemes, tls_facts


def edge_der(config: ReverseConfig, route: Route) -> bytes:
    """DER of the listener certificate the route's first host gets (SAN match, else the first pair)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    listener = config.listener(route.listener)
    host = route.hosts[0].lstrip("*.")
    best = listener.certificates[0]
    for pair in listener.certificates:
        leaf = x509.load_pem_x509_certificates(Path(pair.cert).read_bytes())[0]
        try:
            san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names = [n.lower() for n in san.get_values_for_type(x509.DNSName)]
        except x509.ExtensionNotFound:
            names = []
        if host in names or any(n.startswith("*.") and host.endswith(n[1:]) for n in names):
            best = pair
            break
    leaf = x509.load_pem_x509_certificates(Path(best.cert).read_bytes())[0]
    return leaf.public_bytes(Encoding.DER)


def backend_target(route: Route, path: str | None, timeout: float) -> Target:
    b = route.backend
    probe_path = path or (route.paths[0] if route.paths else "/")
    bridging = route.bridging_certificate
    return Target(url=f"{b.url}{probe_path}", scheme=b.scheme, host=b.host, port=b.port, path=probe_path,
                  cafiles=tuple(str(p) for p in route.backend_ca), timeout=timeout,
                  connect_to=b.address[0] if b.address else None, connect_port=b.address[1] if b.address else None,
                  client_cert=(str(bridging.cert), str(bridging.key)) if bridging else None,
                  system_store=not route.backend_ca)


def probe_route(config: ReverseConfig, route: Route, user: str | None, password: str | None, path: str | None,
                timeout: float) -> RouteFacts:
    facts = RouteFacts()
    if route.mode == Mode.PASSTHROUGH:
        return facts
    target = backend_target(route, path, timeout)
    tlsf: TlsFacts | None = None
    if route.mode == Mode.REENCRYPT:
        tlsf = tls_facts(target)
        _record_tls(config, route, tlsf, facts)
    else:
        facts.same_certificate = False
    if user and password is not None and (tlsf is None or tlsf.failure is None):
        facts.extended_protection = _probe_ep(target, user, password, facts, tlsf)
    return facts


def _record_tls(config: ReverseConfig, route: Route, tlsf: TlsFacts, facts: RouteFacts) -> None:
    facts.requests_client_cert = tlsf.cert_request
    if tlsf.verify_error:
        facts.notes.append(f"backend certificate not verified ({tlsf.verify_error[0]}): {tlsf.verify_error[1]}")
    if tlsf.failure:
        code, detail = tlsf.failure
        if tlsf.cert_request and route.bridging_certificate is None:
            facts.notes.append(f"TLS to {route.backend.url} without a client certificate: {detail} ({code})")
        elif tlsf.cert_request:
            facts.failures.append((code, f"the backend refused the route's bridging certificate "
                                         f"{route.bridging_certificate.cert if route.bridging_certificate else ''}:"
                                         f" {detail}"))
        else:
            facts.failures.append((code, f"TLS to {route.backend.url}: {detail}"))
    elif tlsf.cert_request and route.bridging_certificate is not None:
        facts.notes.append("the backend asked for a client certificate and accepted the route's bridging "
                           "certificate")
    if tlsf.der is not None:
        facts.same_certificate = tlsf.der == edge_der(config, route)
        facts.notes.append(f"backend certificate sha256 {hashlib.sha256(tlsf.der).hexdigest()[:16]}…, "
                           f"{'same as' if facts.same_certificate else 'differs from'} the listener's")


def _probe_ep(target: Target, user: str, password: str, facts: RouteFacts, tlsf: TlsFacts | None) -> str:
    """The backend's Extended Protection setting, from the NTLM probe of ``bridgehead probe``."""
    report = Report(target={"url": target.url})
    report.tls = {"verified": bool(tlsf and tlsf.verified)}
    schemes = probe_schemes(target, report)
    probe_ntlm(target, report, user, password, schemes)
    ep = report.extended_protection or {}
    setting = str(ep.get("setting", "unknown"))
    facts.notes.append(f"NTLM probe of {target.url}: Extended Protection {setting} ({ep.get('reason', 'no logon')})")
    return setting
