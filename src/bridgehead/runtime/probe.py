"""The network side of ``bridgehead probe URL`` (and of ``lint --probe``): DNS, TCP, TLS, schemes, NTLM logons.

How it works: one :class:`Target` carries every setting a flag can give (``--proxy``,
``--connect``, ``--tls-max``, ``--insecure``, ``--cert/--key``, ``--host-header``,
``--no-host-header``, ``--ca``, ``--timeout``, ``--method``), and every connection of the probe
goes through :func:`open_socket`, so a flag holds for each step alike:

* TCP goes to ``--connect`` (or the URL's host); with ``--proxy`` to the proxy, which is asked
  ``CONNECT host:port`` (RFC 9110 §9.3.6; the target is the ``--connect`` address when given)
  and whose refusal is named (:func:`bridgehead.core.chaining.parent_refusal`).
* TLS uses SNI and verification for the URL's host (RFC 6066 §3, RFC 6125 §6), offers at most
  ``--tls-max``, presents ``--cert/--key`` when the server sends a CertificateRequest
  (RFC 8446 §4.3.2 / RFC 5246 §7.4.4, noticed with the message callback).
* Requests are written by hand and read with :class:`http.client.HTTPResponse`, so Host is
  exactly ``--host-header`` or the URL's authority (RFC 9112 §3.2), or absent with
  ``--no-host-header`` (then HTTP/1.0, since HTTP/1.1 requires Host).

Every exception met on the way is named by the one classify step
(:func:`bridgehead.runtime.classify.classify`): the probe, the forward proxy, ``lint`` and ``kcd
test`` give one failure one code. The NTLM logons and the inference of the Extended Protection
setting from them are described in :func:`infer`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import http.client
import os
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridgehead.core.chaining import Parent, connect_request, parent_refusal, parse_status_line
from bridgehead.core.channel_binding import application_data, end_point_hash_name, tls_server_end_point
from bridgehead.core.errorpage import CODE_HEADER
from bridgehead.core.proxy.handshake import ServerFacts
from bridgehead.failures import get as failure
from bridgehead.runtime import tls
from bridgehead.runtime.classify import classify

MAX_HEAD = 16 * 1024  # bytes of a proxy's CONNECT answer the probe reads
MAX_BODY = 256 * 1024  # bytes of a response body the probe reads
USER_AGENT = "bridgehead-probe"


@dataclass
class Target:
    url: str
    scheme: str
    host: str
    port: int
    path: str
    proxy: tuple[str, int] | None = None
    cafiles: tuple[str, ...] = ()
    timeout: float = 10.0
    method: str = "GET"
    connect_to: str | None = None  # --connect: TCP (or the CONNECT target) goes here; SNI and Host stay
    connect_port: int | None = None  # a pinned backend address's port (lint); default: the URL's
    system_store: bool = True  # trust the system CAs besides cafiles
    tls_max: ssl.TLSVersion | None = None
    verify: bool = True  # False: --insecure (nothing is verified, nothing is reported about it)
    client_cert: tuple[str, str] | None = None  # --cert/--key
    host_header: str | None = None
    send_host: bool = True

    @property
    def destination(self) -> tuple[str, int]:
        return (self.connect_to or self.host, self.connect_port or self.port)

    @property
    def host_value(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host_header or (self.host if self.port == default else f"{self.host}:{self.port}")


@dataclass
class Finding:
    code: str | None  # a registry code: a failure; None: a fact worth saying
    message: str

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.code:
            entry = failure(self.code)
            out["title"] = entry.title
            out["fix"] = entry.fix
        return out


@dataclass
class Report:
    target: dict[str, Any]
    dns: dict[str, Any] = field(default_factory=dict)
    tcp: dict[str, Any] = field(default_factory=dict)
    tls: dict[str, Any] = field(default_factory=dict)
    http: dict[str, Any] = field(default_factory=dict)
    extended_protection: dict[str, Any] | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """A finding names a registry failure (the probe's exit status 1)."""
        return any(f.code for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target, "dns": self.dns, "tcp": self.tcp, "tls": self.tls,
                               "http": self.http}
        if self.extended_protection is not None:
            out["extended_protection"] = self.extended_protection
        out["ok"] = not self.failed
        out["findings"] = [f.as_dict() for f in self.findings]
        return out


class ProbeFailure(Exception):
    """A step failed with a registry code (a proxy's refusal, a classified exception)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def check_client_cert(cert: str, key: str) -> str | None:
    """Why ``--cert/--key`` cannot be used (``client-cert-load-failed``), or ``None``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        why = {"KEY_VALUES_MISMATCH": "the key does not belong to the certificate"}.get(str(exc.reason or ""))
        return why or f"{exc.reason or exc}: not a PEM certificate and its unencrypted private key"
    except OSError as exc:
        return f"{exc.filename or cert}: {exc.strerror or exc}"
    return None


# -- transport -------------------------------------------------------------------------------
class Observed:
    """Handshake messages seen on one connection (``SSLContext._msg_callback``), read by the core's
    :class:`~bridgehead.core.proxy.handshake.ServerFacts` as the proxies' upstream connections are."""

    def __init__(self) -> None:
        self.facts = ServerFacts()

    @property
    def cert_request(self) -> bool:
        return self.facts.cert_request_in_handshake or self.facts.cert_request_after

    def callback(self, conn: Any, direction: str, version: Any, content_type: Any, msg_type: Any,
                 data: bytes) -> None:
        if direction == "read":
            self.facts.message(int(version), int(content_type), int(msg_type), data)


def client_context(t: Target, *, verify: bool, seen: Observed | None = None) -> ssl.SSLContext:
    ctx = tls.client_context(cafiles=t.cafiles, system_store=t.system_store, verify=verify and t.verify,
                             client_cert=t.client_cert,
                             on_message=seen.callback if seen else None, alpn=["http/1.1"])
    if t.tls_max is not None:
        ctx.maximum_version = t.tls_max
    return ctx


def _tunnel(raw: socket.socket, t: Target) -> None:
    """CONNECT through ``--proxy`` (RFC 9110 §9.3.6); its refusal is a :class:`ProbeFailure`."""
    assert t.proxy is not None
    host, port = t.destination
    parent = Parent(*t.proxy)
    raw.sendall(connect_request(host, port, parent))
    head = b""
    while b"\r\n\r\n" not in head:
        data = raw.recv(1)
        if not data or len(head) >= MAX_HEAD:
            raise ProbeFailure("parent-proxy-unreachable", f"proxy {t.proxy[0]}:{t.proxy[1]} gave no complete "
                               f"answer to CONNECT {host}:{port}")
        head += data
    try:
        status = parse_status_line(head)
    except ValueError as exc:
        raise ProbeFailure("parent-proxy-unreachable", f"proxy {t.proxy[0]}:{t.proxy[1]}: {exc}") from None
    refusal = parent_refusal(status, parent, f"{host}:{port}")
    if refusal is not None:
        raise ProbeFailure(*refusal)


def open_socket(t: Target, *, verify: bool, seen: Observed | None = None) -> socket.socket:
    """A connection to the target as the flags say (module docstring): TCP, CONNECT, TLS."""
    raw = socket.create_connection(t.proxy or t.destination, timeout=t.timeout)
    try:
        if t.proxy:
            _tunnel(raw, t)
        if t.scheme != "https":
            return raw
        return client_context(t, verify=verify, seen=seen).wrap_socket(raw, server_hostname=t.host)
    except BaseException:
        raw.close()
        raise


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    reusable: bool

    def get_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def get(self, name: str) -> str | None:
        values = self.get_all(name)
        return values[0] if values else None


def request(sock: socket.socket, t: Target, method: str, headers: dict[str, str] | None = None,
            body: bytes | None = None) -> Response:
    """One request on ``sock`` with the Host the flags decide (module docstring); the body read to MAX_BODY."""
    lines = [f"{method} {t.path} {'HTTP/1.1' if t.send_host else 'HTTP/1.0'}"]
    if t.send_host:
        lines.append(f"Host: {t.host_value}")
    lines.append(f"User-Agent: {USER_AGENT}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))
    resp = http.client.HTTPResponse(sock, method=method)
    resp.begin()
    data = resp.read(MAX_BODY) if method != "HEAD" else b""
    complete = method == "HEAD" or resp.isclosed() or not resp.read(1)
    reusable = complete and not resp.will_close
    resp.close()
    return Response(resp.status, list(resp.getheaders()), data, reusable)


def peer_der(sock: socket.socket) -> bytes | None:
    return sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None


# -- the network facts -------------------------------------------------------------------------
def probe_network(t: Target, report: Report) -> bytes | None:
    name, port = t.proxy or t.destination
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        report.dns = {"name": name, "addresses": sorted({i[4][0] for i in infos})}
    except (OSError, UnicodeError) as exc:
        report.dns = {"name": name, "error": str(exc)}
        report.findings.append(Finding("upstream-dns-failed", f"{name} does not resolve: {exc}"))
        return None
    start = time.monotonic()
    try:
        with socket.create_connection((name, port), timeout=t.timeout):
            report.tcp = {"connected": True, "ms": round((time.monotonic() - start) * 1000, 1)}
    except OSError as exc:
        report.tcp = {"connected": False, "error": str(exc)}
        code, detail = classify(exc, connecting=True)
        report.findings.append(Finding(code, f"TCP connection to {name}:{port} failed: {detail}"))
        return None
    if t.scheme != "https":
        if t.proxy:  # the CONNECT alone, so a refusal is named before any request
            try:
                open_socket(t, verify=False).close()
            except ProbeFailure as exc:
                report.tcp["error"] = exc.detail
                report.findings.append(Finding(exc.code, exc.detail))
            except OSError as exc:
                code, detail = classify(exc)
                report.tcp["error"] = detail
                report.findings.append(Finding(code, f"through {name}:{port}: {detail}"))
        return None
    return probe_tls(t, report)


@dataclass
class TlsFacts:
    """What one TLS connection (and one GET on it) showed; ``failure`` is (code, detail)."""

    der: bytes | None = None
    protocol: str | None = None
    cipher: str | None = None
    verified: bool | None = None  # None: --insecure
    verify_error: tuple[str, str] | None = None
    cert_request: bool = False
    failure: tuple[str, str] | None = None
    after_handshake: bool = False  # the failure came after the handshake (TLS 1.3 client-certificate check)


def tls_facts(t: Target) -> TlsFacts:
    """Handshake (verified unless ``--insecure``; again unverified to go on when verification fails), then
    one GET: a TLS 1.3 CertificateRequest, and the server's verdict on the client certificate, come with
    or after the first application data (RFC 8446 §4.6.2)."""
    facts = TlsFacts(verified=True if t.verify else None)
    seen = Observed()
    try:
        try:
            sock = open_socket(t, verify=True, seen=seen)
        except ssl.SSLCertVerificationError as exc:
            facts.verified, facts.verify_error = False, classify(exc)
            seen = Observed()
            sock = open_socket(t, verify=False, seen=seen)
    except ProbeFailure as exc:
        facts.failure = (exc.code, exc.detail)
        return facts
    except (OSError, ssl.SSLError) as exc:
        facts.cert_request, facts.failure = seen.cert_request, classify(exc)
        return facts
    assert isinstance(sock, ssl.SSLSocket)
    with sock:
        facts.der = sock.getpeercert(binary_form=True)
        facts.protocol, facts.cipher = sock.version(), (sock.cipher() or ("",))[0]
        try:
            request(sock, t, "GET", {"Connection": "close"})
        except (OSError, ssl.SSLError) as exc:
            if isinstance(exc, ssl.SSLError) or seen.cert_request:
                facts.failure, facts.after_handshake = classify(exc), True
        except http.client.HTTPException:
            pass  # not HTTP: the request step says so
    facts.cert_request = seen.cert_request
    return facts


def probe_tls(t: Target, report: Report) -> bytes | None:
    facts = tls_facts(t)
    report.tls = {"protocol": facts.protocol, "cipher": facts.cipher, "verified": facts.verified,
                  "verify_error": facts.verify_error[1] if facts.verify_error else None,
                  "client_certificate_requested": facts.cert_request,
                  "client_certificate_presented": bool(t.client_cert and facts.cert_request)}
    if facts.der:
        report.tls["certificate"] = cert_facts(facts.der)
    if facts.verify_error:
        report.findings.append(Finding(facts.verify_error[0], f"certificate not verified: {facts.verify_error[1]}"))
    if facts.failure:
        code, detail = facts.failure
        report.tls["error"] = detail
        when = "the server ended the connection after the handshake" if facts.after_handshake else \
            "TLS handshake failed"
        hint = ""
        if facts.cert_request:
            hint = (f" — it asked for a client certificate and refused "
                    f"{'the one presented (--cert)' if t.client_cert else 'the connection without one (--cert/--key)'}")
        report.findings.append(Finding(code, f"{when}: {detail}{hint}"))
        return None
    if facts.cert_request:
        report.findings.append(Finding(None, "the server requests a TLS client certificate; " + (
            f"{t.client_cert[0] if t.client_cert else ''} was presented and accepted" if t.client_cert else
            "it answered without one (optional), a server that requires one needs --cert/--key")))
    return facts.der


def cert_facts(der: bytes) -> dict[str, Any]:
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n.value) for n in san]
    except x509.ExtensionNotFound:
        names = []
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "san": names,
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256": hashlib.sha256(der).hexdigest(),
        "tls_server_end_point": tls_server_end_point(der).hex(),
        "tls_server_end_point_hash": end_point_hash_name(cert),
    }


def probe_schemes(t: Target, report: Report) -> list[str]:
    try:
        with open_socket(t, verify=report.tls.get("verified") is not False) as sock:
            resp = request(sock, t, t.method, {"Connection": "close"}, b"" if t.method == "POST" else None)
    except ProbeFailure as exc:
        report.http = {"error": exc.detail}
        report.findings.append(Finding(exc.code, exc.detail))
        return []
    except (OSError, ssl.SSLError) as exc:
        code, detail = classify(exc)
        report.http = {"error": detail}
        report.findings.append(Finding(code, f"{t.method} {t.path}: {detail}"))
        return []
    except http.client.HTTPException as exc:
        report.http = {"error": f"{type(exc).__name__}: {exc}"}
        report.findings.append(Finding("upstream-bad-response", f"{t.method} {t.path}: not an HTTP answer "
                                       f"({type(exc).__name__})"))
        return []
    challenges = resp.get_all("WWW-Authenticate")
    schemes = [c.strip().split(" ")[0] for v in challenges for c in v.split(",") if c.strip()
               and "=" not in c.strip().split(" ")[0]]
    report.http = {"status": resp.status, "www_authenticate": challenges, "schemes": schemes,
                   "host_sent": t.host_value if t.send_host else None}
    named = resp.get(CODE_HEADER)  # a bridgehead (or lab) page naming its failure; 401 is authentication's start
    if named and named in _registry() and resp.status >= 400 and resp.status != 401:
        report.findings.append(Finding(named, f"{t.method} {t.path} answered {resp.status} with "
                                       f"{CODE_HEADER}: {named}"))
    elif resp.status in (400, 403) and report.tls.get("client_certificate_requested") and not t.client_cert:
        # nginx "400 No required SSL certificate was sent", IIS 403.7: the refusal comes over HTTP, not as an alert
        report.findings.append(Finding("edge-client-cert-missing", f"the server asked for a client certificate and "
                                       f"answered {resp.status} without one: present one with --cert/--key"))
        for finding in report.findings:
            if finding.code is None and finding.message.startswith("the server requests a TLS client certificate"):
                report.findings.remove(finding)
                break
    return schemes


def _registry() -> dict[str, Any]:
    from bridgehead.failures import REGISTRY

    return REGISTRY


# -- NTLM logons -------------------------------------------------------------------------------
def ntlm_logon(t: Target, user: str, password: str, binding: str, scheme: str, verify: bool) -> dict[str, Any]:
    """One NTLM logon on a fresh connection. ``binding``: correct | none | wrong."""
    import spnego
    from spnego.channel_bindings import GssChannelBindings

    try:
        sock = open_socket(t, verify=verify)
    except ProbeFailure as exc:
        return {"binding": binding, "status": None, "ok": False, "error": exc.detail, "code": exc.code}
    except (OSError, ssl.SSLError) as exc:
        code, detail = classify(exc)
        return {"binding": binding, "status": None, "ok": False, "error": detail, "code": code}
    try:
        der = peer_der(sock)
        cb = None
        if binding == "correct" and der is not None:
            cb = GssChannelBindings(application_data=application_data(tls_server_end_point(der)))
        elif binding == "wrong":
            cb = GssChannelBindings(application_data=application_data(os.urandom(32)))
        client = spnego.client(user, password, hostname=t.host, service="HTTP", protocol="ntlm",
                               channel_bindings=cb)
        token = client.step()
        body = b"" if t.method == "POST" else None
        for _ in range(3):
            assert token is not None
            resp = request(sock, t, t.method, {"Connection": "keep-alive",
                                               "Authorization": f"{scheme} {base64.b64encode(token).decode()}"}, body)
            answer = _server_token(resp.get_all("WWW-Authenticate"), scheme)
            if resp.status != 401 or answer is None or client.complete or not resp.reusable:
                break
            token = client.step(answer)
        return {"binding": binding, "status": resp.status, "ok": resp.status != 401,
                "server_failure": resp.get(CODE_HEADER)}
    except Exception as exc:  # a peer that breaks the handshake: report, do not crash
        return {"binding": binding, "status": None, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        sock.close()


def _server_token(values: list[str], scheme: str) -> bytes | None:
    for value in values:
        for part in value.split(","):
            word, _, token = part.strip().partition(" ")
            if word.lower() == scheme.lower() and token:
                try:
                    return base64.b64decode(token)
                except ValueError:
                    return None
    return None


def infer(results: dict[str, dict[str, Any]]) -> tuple[str, bool, str]:
    """The Extended Protection setting from three logons (correct, no and wrong channel binding):

    correct  none  wrong   →  setting   path changes certificate
    ok       ok    ok         none      no
    ok       ok    fail       allow     no
    ok       fail  fail       require   no
    fail     ok    fail       allow     yes  (the server checks another certificate)
    fail     fail  fail       require+yes if the server names bad bindings, else unknown
    """
    c, n, w = (results[k]["ok"] for k in ("correct", "none", "wrong"))
    if c and n and w:
        return "none", False, "all three logons succeeded: the server does not check channel bindings"
    if c and n and not w:
        return "allow", False, "no binding passes, a wrong one fails: Extended Protection is Allow"
    if c and not n and not w:
        return "require", False, "only the correct binding passes: Extended Protection is Require"
    if not c and n and not w:
        return "allow", True, ("no binding passes but the binding over the certificate this probe saw "
                               "fails: the server checks a different certificate (a TLS-terminating proxy sits "
                               "in front of a server with Extended Protection)")
    if not c and not n and not w:
        if results["correct"].get("server_failure") in ("ntlm-bad-bindings", "ntlm-zero-binding"):
            return "require", True, ("every logon fails and the server names bad bindings for the correct one: "
                                     "Extended Protection Require behind a certificate-changing proxy")
        return "unknown", False, ("every logon failed: wrong credentials, or Require behind a proxy with "
                                  "another certificate")
    return "unknown", False, f"unexpected combination correct={c} none={n} wrong={w}"


def probe_ntlm(t: Target, report: Report, user: str, password: str, schemes: list[str]) -> None:
    lower = [s.lower() for s in schemes]
    scheme = "NTLM" if "ntlm" in lower else ("Negotiate" if "negotiate" in lower else None)
    if scheme is None:
        report.findings.append(Finding(None, "the server offers neither NTLM nor Negotiate; no logon tried"))
        return
    verify = report.tls.get("verified") is not False
    results = {b: ntlm_logon(t, user, password, b, scheme, verify) for b in ("correct", "none", "wrong")}
    setting, changed, why = infer(results)
    report.extended_protection = {"setting": setting, "path_changes_certificate": changed, "reason": why,
                                  "scheme": scheme, "logons": results}
    if changed:
        report.findings.append(Finding("ntlm-ep-terminating-proxy", why))
    elif setting == "unknown":
        failed = next((r["code"] for r in results.values() if r.get("code")), None)
        report.findings.append(Finding(failed or "ntlm-logon-failure", why))
    else:
        report.findings.append(Finding(None, f"Extended Protection: {setting} — {why}"))


AUTH_PROBES = {"ntlm": probe_ntlm}


def run_probe(t: Target, user: str | None, password: str | None) -> Report:
    report = Report(target={"url": t.url, "host": t.host, "port": t.port,
                            "connect": f"{t.destination[0]}:{t.destination[1]}",
                            "proxy": f"{t.proxy[0]}:{t.proxy[1]}" if t.proxy else None,
                            "client_certificate": t.client_cert[0] if t.client_cert else None,
                            "time": dt.datetime.now(dt.UTC).isoformat()})
    probe_network(t, report)
    if report.tcp.get("connected") and "error" not in report.tls and "error" not in report.tcp:
        schemes = probe_schemes(t, report)
        if user and password is not None and "error" not in report.http:
            AUTH_PROBES["ntlm"](t, report, user, password, schemes)
    return report


def client_cert_pair(cert: Path | str | None, key: Path | str | None) -> tuple[str, str] | None:
    if cert is None:
        return None
    return (str(cert), str(key or cert))
