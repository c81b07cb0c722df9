"""``bridgehead lint --config FILE [--probe] [--json]`` — findings for a reverse-proxy configuration.

First :mod:`bridgehead.runtime.reverse.preflight` loads what start-up loads (certificate/key
pairs, CA files, the Kerberos keytab and python-gssapi): whatever would stop ``reverse`` from
starting is an error finding. Offline, the rules of :mod:`bridgehead.core.reverse.lint` judge
the file and what it declares (``backend_extended_protection``, ``backend_client_certificate``). With ``--probe`` each
terminated route's backend is contacted: its certificate is compared with the one the
listener presents, a TLS CertificateRequest is noticed, and with ``--user``/``--password``
the NTLM probe of ``bridgehead probe`` (three logons: correct, no and wrong channel binding)
measures the backend's Extended Protection setting.

Exit status: 0 no error findings, 1 error findings, 2 unusable input.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
from pathlib import Path
from typing import Any

import click

from bridgehead.cli.common import CliError, emit_json, json_option
from bridgehead.core.reverse.lint import RouteFacts, exit_status
from bridgehead.core.reverse.lint import lint as run_lint
from bridgehead.core.reverse.model import Mode, ReverseConfig, Route
from bridgehead.failures import get


def _edge_der(config: ReverseConfig, route: Route) -> bytes:
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


def fetch_backend_certificate(route: Route, timeout: float) -> tuple[bytes | None, bool, str | None]:
    """(DER, CertificateRequest seen, error) from a TLS handshake with the backend (pinned address honoured)."""
    from bridgehead.runtime import tls

    seen = {"cr": False}

    def watch(conn: Any, direction: str, version: Any, content_type: Any, msg_type: Any, data: bytes) -> None:
        if direction == "read" and int(content_type) == 22 and msg_type == 13:  # CertificateRequest
            seen["cr"] = True

    error = None
    for verify in (True, False):
        ctx = tls.client_context(cafiles=route.backend_ca, system_store=not route.backend_ca, verify=verify,
                                 alpn=["http/1.1"], on_message=watch)
        try:
            with socket.create_connection(route.backend.connect_to, timeout=timeout) as raw, \
                    ctx.wrap_socket(raw, server_hostname=route.backend.host) as sock:
                return sock.getpeercert(binary_form=True), seen["cr"], error
        except ssl.SSLCertVerificationError as exc:
            error = f"backend certificate not verified: {exc.verify_message}"
        except (OSError, ssl.SSLError) as exc:
            return None, seen["cr"], f"TLS to {route.backend.url}: {exc}"
    return None, seen["cr"], error


def probe_route(config: ReverseConfig, route: Route, user: str | None, password: str | None, path: str | None,
                timeout: float) -> RouteFacts:
    facts = RouteFacts()
    if route.mode == Mode.PASSTHROUGH:
        return facts
    if route.mode == Mode.REENCRYPT:
        der, requested, error = fetch_backend_certificate(route, timeout)
        if error:
            facts.notes.append(error)
        if der is not None:
            facts.same_certificate = der == _edge_der(config, route)
            facts.notes.append(f"backend certificate sha256 {hashlib.sha256(der).hexdigest()[:16]}…, "
                               f"{'same as' if facts.same_certificate else 'differs from'} the listener's")
        facts.requests_client_cert = requested
    else:
        facts.same_certificate = False
    if user and password is not None:
        facts.extended_protection = _probe_ep(route, user, password, path, timeout, facts)
    return facts


def _probe_ep(route: Route, user: str, password: str, path: str | None, timeout: float, facts: RouteFacts) -> str:
    """The backend's Extended Protection setting, from the NTLM probe of ``bridgehead probe``."""
    from bridgehead.cli.probe_cmd import Report, Target, probe_ntlm, probe_schemes

    host, port = route.backend.connect_to if route.backend.address else (route.backend.host, route.backend.port)
    probe_path = path or (route.paths[0] if route.paths else "/")
    target = Target(url=f"{route.backend.scheme}://{host}:{port}{probe_path}", scheme=route.backend.scheme,
                    host=host, port=port, path=probe_path, cafiles=tuple(str(p) for p in route.backend_ca),
                    timeout=timeout, method="GET")
    report = Report(target={"url": target.url})
    report.tls = {"verified": not route.backend.address and bool(route.backend_ca)}
    schemes = probe_schemes(target, report)
    probe_ntlm(target, report, user, password, schemes)
    ep = report.extended_protection or {}
    setting = str(ep.get("setting", "unknown"))
    facts.notes.append(f"NTLM probe of {target.url}: Extended Protection {setting} ({ep.get('reason', 'no logon')})")
    return setting


@click.command("lint")
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The reverse-proxy TOML file.")
@click.option("--probe", is_flag=True, help="Contact the backends: compare certificates, measure Extended "
              "Protection (with --user/--password), notice client-certificate requests.")
@click.option("--user", default=None, help="DOMAIN\\user for the NTLM probe (with --probe).")
@click.option("--password", default=None, envvar="BRIDGEHEAD_PROBE_PASSWORD",
              help="Password (or env BRIDGEHEAD_PROBE_PASSWORD).")
@click.option("--probe-path", default=None, help="Path for the NTLM probe (default: the route's first path).")
@click.option("--timeout", default=10.0, show_default=True, type=float)
@json_option
def lint_cmd(config_file: Path, probe: bool, user: str | None, password: str | None, probe_path: str | None,
             timeout: float, as_json: bool) -> None:
    """Check a reverse-proxy configuration; findings carry registry codes and fixes."""
    from bridgehead.runtime.reverse.config import ConfigError, load

    try:
        config = load(config_file)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if user and password is None:
        raise CliError("--user needs --password (or BRIDGEHEAD_PROBE_PASSWORD)")
    facts: dict[str, RouteFacts] = {}
    if probe:
        for route in config.routes:
            facts[route.name] = probe_route(config, route, user, password, probe_path, timeout)
    from bridgehead.runtime.reverse.preflight import preflight

    findings = preflight(config) + run_lint(config, facts)  # first what would stop the proxy from starting
    if as_json:
        out = []
        for f in findings:
            item = f.as_dict()
            if f.code:
                item["title"] = get(f.code).title
                item["fix"] = get(f.code).fix
            out.append(item)
        emit_json({"config": str(config.source), "probed": probe,
                   "routes": {name: {"same_certificate": x.same_certificate,
                                     "extended_protection": x.extended_protection,
                                     "backend_requests_client_cert": x.requests_client_cert}
                              for name, x in facts.items()},
                   "findings": out})
    else:
        _render(findings, config)
    raise SystemExit(exit_status(findings))


def _render(findings: list[Any], config: ReverseConfig) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not findings:
        console.print(f"{config.source}: no findings")
        return
    table = Table(title=f"lint {config.source.name}", show_lines=True)
    for col in ("severity", "code", "where", "finding / fix"):
        table.add_column(col, overflow="fold")
    style = {"error": "bold red", "warning": "yellow", "info": "dim"}
    for f in findings:
        text = f.message + (f"\n[dim]fix: {get(f.code).fix}[/dim]" if f.code else "")
        table.add_row(f"[{style.get(f.severity, '')}]{f.severity}[/]", f.code or "-", f.subject, text)
    console.print(table)


lint = lint_cmd
