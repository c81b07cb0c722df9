"""``bridgehead probe URL`` — DNS, TCP, TLS, offered schemes and (with credentials) the
server's Extended Protection setting, measured with three NTLM logons.

The three logons (each on a fresh TLS connection, raw NTLMv2 via pyspnego as the client):
the binding computed over the certificate this probe sees, no binding, and a wrong one.

    correct  none  wrong   →  setting   path changes certificate
    ok       ok    ok         none      no
    ok       ok    fail       allow     no
    ok       fail  fail       require   no
    fail     ok    fail       allow     yes  (the server checks another certificate)
    fail     fail  fail       require+yes if the server names bad bindings, else unknown

Authentication probes are functions in :data:`AUTH_PROBES`; ``--oauth`` (issue 4) adds one.
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
from urllib.parse import urlsplit

import click

from bridgehead.cli.common import CliError, emit_json, json_option
from bridgehead.cli.oauth_cmd import probe_cmd_options
from bridgehead.core.channel_binding import application_data, end_point_hash_name, tls_server_end_point
from bridgehead.core.errorpage import CODE_HEADER
from bridgehead.failures import get as failure
from bridgehead.runtime import tls
from bridgehead.runtime.classify import classify

CERTIFICATE_REQUEST = 13  # TLS HandshakeType certificate_request (RFC 8446 §4.3.2, RFC 5246 §7.4.4)


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


@dataclass
class Finding:
    code: str | None
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

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"target": self.target, "dns": self.dns, "tcp": self.tcp, "tls": self.tls,
                               "http": self.http}
        if self.extended_protection is not None:
            out["extended_protection"] = self.extended_protection
        out["findings"] = [f.as_dict() for f in self.findings]
        return out


def parse_target(url: str, proxy: str | None, ca: tuple[str, ...], timeout: float, method: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f"URL must be http(s)://host[:port]/path, not {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    proxy_addr = None
    if proxy:
        p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if not p.hostname:
            raise CliError(f"--proxy must be http://host:port, not {proxy!r}")
        proxy_addr = (p.hostname, p.port or 8080)
    return Target(url, parts.scheme, parts.hostname, port, parts.path or "/", proxy_addr, ca, timeout, method)


# -- transport -------------------------------------------------------------------------------
class Observed:
    def __init__(self) -> None:
        self.cert_request = False

    def callback(self, conn: Any, direction: str, version: Any, content_type: Any, msg_type: Any,
                 data: bytes) -> None:
        if direction == "read" and int(content_type) == 22 and msg_type == CERTIFICATE_REQUEST:
            self.cert_request = True


def connect(t: Target, *, verify: bool = True) -> tuple[http.client.HTTPConnection, Observed]:
    seen = Observed()
    conn: http.client.HTTPConnection
    host, port = t.proxy or (t.host, t.port)
    if t.scheme == "https":
        ctx = tls.client_context(cafiles=t.cafiles, verify=verify, on_message=seen.callback,
                                 alpn=["http/1.1"])
        conn = http.client.HTTPSConnection(host, port, timeout=t.timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=t.timeout)
    if t.proxy:
        conn.set_tunnel(t.host, t.port)
    conn.connect()
    return conn, seen


def peer_der(conn: http.client.HTTPConnection) -> bytes | None:
    sock = conn.sock
    if isinstance(sock, ssl.SSLSocket):
        return sock.getpeercert(binary_form=True)
    return None


# -- the network facts -------------------------------------------------------------------------
def probe_network(t: Target, report: Report) -> bytes | None:
    name = t.proxy[0] if t.proxy else t.host
    port = t.proxy[1] if t.proxy else t.port
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        report.dns = {"name": name, "addresses": sorted({i[4][0] for i in infos})}
    except OSError as exc:
        report.dns = {"name": name, "error": str(exc)}
        report.findings.append(Finding("upstream-dns-failed", f"{name} does not resolve: {exc}"))
        return None
    start = time.monotonic()
    try:
        with socket.create_connection((name, port), timeout=t.timeout):
            report.tcp = {"connected": True, "ms": round((time.monotonic() - start) * 1000, 1)}
    except OSError as exc:
        report.tcp = {"connected": False, "error": str(exc)}
        report.findings.append(Finding(None, f"TCP connection to {name}:{port} failed: {exc}"))
        return None
    if t.scheme != "https":
        return None
    return probe_tls(t, report)


def probe_tls(t: Target, report: Report) -> bytes | None:
    verified, error, verify_code = True, None, None
    try:
        conn, seen = connect(t)
    except ssl.SSLCertVerificationError as exc:
        verified, error = False, exc.verify_message or str(exc)
        verify_code = classify(exc)[0]
        conn, seen = connect(t, verify=False)
    except (OSError, ssl.SSLError) as exc:
        report.tls = {"error": str(exc)}
        code, detail = classify(exc)
        report.findings.append(Finding(code, f"TLS handshake failed: {detail}"))
        return None
    try:
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        der = sock.getpeercert(binary_form=True)
        # A TLS 1.3 CertificateRequest is read with the Finished flight; one request round-trip makes sure.
        if not seen.cert_request:
            conn.request("HEAD", t.path, headers={"Host": t.host, "User-Agent": "bridgehead-probe"})
            try:
                conn.getresponse().read()
            except (OSError, http.client.HTTPException, ssl.SSLError):
                pass
        report.tls = {"protocol": sock.version(), "cipher": (sock.cipher() or ("",))[0], "verified": verified,
                      "verify_error": error, "client_certificate_requested": seen.cert_request}
    finally:
        conn.close()
    if der:
        report.tls["certificate"] = cert_facts(der)
    if seen.cert_request:
        report.findings.append(Finding("route-backend-requires-client-cert",
                                       "the server requests a TLS client certificate"))
    if not verified:
        report.findings.append(Finding(verify_code or "tls-cert-validation-failed",
                                       f"certificate not verified: {error}"))
    return der


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
        conn, _ = connect(t, verify=report.tls.get("verified", True))
        conn.request(t.method, t.path, body=b"" if t.method == "POST" else None,
                     headers={"Host": t.host, "User-Agent": "bridgehead-probe"})
        resp = conn.getresponse()
        resp.read()
        conn.close()
    except (OSError, http.client.HTTPException) as exc:
        report.http = {"error": str(exc)}
        return []
    challenges = resp.headers.get_all("WWW-Authenticate") or []
    schemes = [c.strip().split(" ")[0] for v in challenges for c in v.split(",") if c.strip()
               and "=" not in c.strip().split(" ")[0]]
    report.http = {"status": resp.status, "www_authenticate": challenges, "schemes": schemes,
                   "x_forwarded_for_seen": False}
    return schemes


# -- NTLM logons -------------------------------------------------------------------------------
def ntlm_logon(
    t: Target, user: str, password: str, binding: str, scheme: str, verify: bool
) -> dict[str, Any]:
    """One NTLM logon on a fresh connection. ``binding``: correct | none | wrong."""
    import spnego
    from spnego.channel_bindings import GssChannelBindings

    conn, _ = connect(t, verify=verify)
    try:
        der = peer_der(conn)
        cb = None
        if binding == "correct" and der is not None:
            cb = GssChannelBindings(application_data=application_data(tls_server_end_point(der)))
        elif binding == "wrong":
            cb = GssChannelBindings(application_data=application_data(os.urandom(32)))
        client = spnego.client(user, password, hostname=t.host, service="HTTP", protocol="ntlm",
                               channel_bindings=cb)
        token = client.step()
        body = b"" if t.method == "POST" else None
        headers = {"Host": t.host, "User-Agent": "bridgehead-probe", "Connection": "keep-alive"}
        for _ in range(3):
            assert token is not None
            conn.request(t.method, t.path, body=body,
                         headers={**headers, "Authorization": f"{scheme} {base64.b64encode(token).decode()}"})
            resp = conn.getresponse()
            resp.read()
            answer = _server_token(resp.headers.get_all("WWW-Authenticate") or [], scheme)
            if resp.status != 401 or answer is None or client.complete:
                break
            token = client.step(answer)
        ok = resp.status != 401
        return {"binding": binding, "status": resp.status, "ok": ok,
                "server_failure": resp.headers.get(CODE_HEADER)}
    except Exception as exc:  # a peer that breaks the handshake: report, do not crash
        return {"binding": binding, "status": None, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        conn.close()


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
    verify = bool(report.tls.get("verified", True))
    results = {b: ntlm_logon(t, user, password, b, scheme, verify) for b in ("correct", "none", "wrong")}
    setting, changed, why = infer(results)
    report.extended_protection = {"setting": setting, "path_changes_certificate": changed, "reason": why,
                                  "scheme": scheme, "logons": results}
    if changed:
        report.findings.append(Finding("ntlm-ep-terminating-proxy", why))
    elif setting == "unknown":
        report.findings.append(Finding("ntlm-logon-failure", why))
    else:
        report.findings.append(Finding(None, f"Extended Protection: {setting} — {why}"))


AUTH_PROBES = {"ntlm": probe_ntlm}


def run_probe(t: Target, user: str | None, password: str | None) -> Report:
    report = Report(target={"url": t.url, "host": t.host, "port": t.port,
                            "proxy": f"{t.proxy[0]}:{t.proxy[1]}" if t.proxy else None,
                            "time": dt.datetime.now(dt.UTC).isoformat()})
    probe_network(t, report)
    if report.tcp.get("connected") and ("error" not in report.tls):
        schemes = probe_schemes(t, report)
        if user and password is not None:
            AUTH_PROBES["ntlm"](t, report, user, password, schemes)
    return report


def _render(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    data = report.as_dict()
    console = Console()
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for section in ("dns", "tcp", "tls", "http"):
        for key, value in data[section].items():
            if isinstance(value, dict):
                for k2, v2 in value.items():
                    table.add_row(f"{section}.{key}.{k2}", str(v2))
            else:
                table.add_row(f"{section}.{key}", str(value))
    ep = data.get("extended_protection")
    if ep:
        table.add_row("extended_protection.setting", ep["setting"])
        table.add_row("extended_protection.path_changes_certificate", str(ep["path_changes_certificate"]))
        for name, res in ep["logons"].items():
            table.add_row(f"logon ({name} binding)", f"{res.get('status')} {'ok' if res['ok'] else 'refused'}")
    console.print(table)
    for finding in data["findings"]:
        code = f"[{finding['code']}] " if finding["code"] else ""
        console.print(f"- {code}{finding['message']}")
        if finding.get("fix"):
            console.print(f"  fix: {finding['fix']}")


@click.command("probe")
@click.argument("url")
@click.option("--proxy", default=None, help="HTTP proxy (CONNECT) to go through, http://host:port.")
@click.option("--ca", "cafiles", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Extra CA file(s) to verify the server with.")
@click.option("--user", default=None, help="DOMAIN\\user for the three NTLM logons.")
@click.option("--password", default=None, help="Password (or env BRIDGEHEAD_PROBE_PASSWORD).",
              envvar="BRIDGEHEAD_PROBE_PASSWORD")
@click.option("--method", default="GET", type=click.Choice(["GET", "POST"]), show_default=True)
@click.option("--timeout", default=10.0, show_default=True, type=float)
@click.option("--oauth", is_flag=True, help="Exchange OAuth probe (Test-OAuthConnectivity): see 'oauth probe'.")
@probe_cmd_options
@json_option
def probe(url: str, proxy: str | None, cafiles: tuple[str, ...], user: str | None, password: str | None,
          method: str, timeout: float, as_json: bool, oauth: bool = False, **oauth_params: Any) -> None:
    """Probe an endpoint: DNS, TCP, TLS, schemes and the Extended Protection setting."""
    if oauth:  # issue 4: the OAuth probe, same registry codes
        from bridgehead.cli.oauth_cmd import print_probe, run_oauth_probe

        oauth_params.update(cafiles=tuple(Path(c) for c in cafiles), timeout=timeout)
        print_probe(run_oauth_probe(url, oauth_params.pop("oauth_state_dir"), None, oauth_params), as_json)
        return
    if user and password is None:
        raise CliError("--user needs --password (or BRIDGEHEAD_PROBE_PASSWORD)")
    report = run_probe(parse_target(url, proxy, cafiles, timeout, method), user, password)
    if as_json:
        emit_json(report.as_dict())
    else:
        _render(report)
