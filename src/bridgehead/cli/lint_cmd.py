"""``bridgehead lint --config FILE [--probe] [--json]`` — findings for a reverse-proxy configuration.

First :mod:`bridgehead.runtime.reverse.preflight` loads what start-up loads (certificate/key
pairs, CA files, the Kerberos keytab and python-gssapi): whatever would stop ``reverse`` from
starting is an error finding. Offline, the rules of :mod:`bridgehead.core.reverse.lint` judge
the file and what it declares (``backend_extended_protection``, ``backend_client_certificate``). With ``--probe`` each
terminated route's backend is contacted as the route would (:mod:`bridgehead.runtime.reverse.lint_probe`:
the route's bridging certificate is presented when the backend asks for one): its certificate is
compared with the one the listener presents, a TLS CertificateRequest is noticed, a refused
handshake is named by its registry code, and with ``--user``/``--password`` the NTLM probe of
``bridgehead probe`` (three logons: correct, no and wrong channel binding) measures the backend's
Extended Protection setting.

Exit status: 0 no error findings, 1 error findings, 2 unusable input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from bridgehead.cli.common import CliError, emit_json, json_option
from bridgehead.core.reverse.lint import RouteFacts, exit_status
from bridgehead.core.reverse.lint import lint as run_lint
from bridgehead.core.reverse.model import ReverseConfig
from bridgehead.failures import get


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
        from bridgehead.runtime.reverse.lint_probe import probe_route

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
