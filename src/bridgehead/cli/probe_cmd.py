"""``bridgehead probe URL`` — argument handling for the probe of :mod:`bridgehead.runtime.probe`
(DNS, TCP, TLS, offered schemes and, with credentials, the server's Extended Protection setting
from three NTLM logons) and, with ``--oauth``, of :mod:`bridgehead.runtime.oauth_probe`
(Test-OAuthConnectivity).

Every flag either works in the mode given or is refused with one line and exit status 2
(:data:`OAUTH_ONLY`, :data:`NTLM_ONLY`, :data:`TLS_ONLY`): nothing is parsed and ignored.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from bridgehead.cli.common import CliError, emit_json, json_option
from bridgehead.cli.oauth_cmd import probe_cmd_options
from bridgehead.runtime.probe import Report, Target, check_client_cert, client_cert_pair, run_probe

TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
# flag → parameter name, for the one-line refusals
OAUTH_ONLY = {"--token-cert": "token_cert", "--token-key": "token_key", "--mailbox": "mailbox",
              "--realm": "oauth_realm", "--issuer": "oauth_issuer", "--actor-id": "actor_id",
              "--audience-host": "audience_host", "--state-dir": "oauth_state_dir"}
NTLM_ONLY = {"--user": "user", "--password": "password", "--method": "method"}
TLS_ONLY = {"--ca": "cafiles", "--insecure": "insecure", "--tls-max": "tls_max", "--cert": "client_cert",
            "--key": "client_key"}


def parse_target(url: str, proxy: str | None, ca: tuple[str, ...], timeout: float, method: str) -> Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f"URL must be http(s)://host[:port]/path, not {url!r}")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise CliError(f"URL has a bad port: {url!r}") from None
    return Target(url, parts.scheme, parts.hostname, port, parts.path or "/", parse_proxy(proxy), ca, timeout,
                  method)


def parse_proxy(proxy: str | None) -> tuple[str, int] | None:
    if proxy is None:
        return None
    p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    try:
        port = p.port
    except ValueError:
        port, p = None, urlsplit("")
    if p.scheme != "http" or not p.hostname:
        raise CliError(f"--proxy must be http://host:port, not {proxy!r}")
    return (p.hostname, port or 8080)


def _given(ctx: click.Context, names: dict[str, str], params: dict[str, Any]) -> list[str]:
    """The flags of ``names`` given on the command line (a default or an environment value is not given)."""
    out = []
    for flag, name in names.items():
        source = ctx.get_parameter_source(name)
        if source == click.core.ParameterSource.COMMANDLINE and params.get(name) not in (None, False, ()):
            out.append(flag)
    return out


def _refuse(flags: list[str], why: str) -> None:
    if flags:
        raise CliError(f"{', '.join(flags)} {'does' if len(flags) == 1 else 'do'} not apply {why}")


def _client_cert(cert: Path | None, key: Path | None) -> tuple[str, str] | None:
    if key is not None and cert is None:
        raise CliError("--key needs --cert")
    pair = client_cert_pair(cert, key)
    if pair is not None:
        why = check_client_cert(*pair)
        if why is not None:
            raise CliError(f"client-cert-load-failed: cannot load --cert {pair[0]} / --key {pair[1]}: {why} "
                           "(bridgehead explain client-cert-load-failed)")
    return pair


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
        console.print(f"- {code}{finding['message']}", highlight=False, markup=False)
        if finding.get("fix"):
            console.print(f"  fix: {finding['fix']}", highlight=False, markup=False)


@click.command("probe")
@click.argument("url")
@click.option("--proxy", default=None, help="HTTP proxy to go through (CONNECT), http://host:port; every mode.")
@click.option("--ca", "cafiles", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Extra CA file(s) to verify the server with (https).")
@click.option("--cert", "client_cert", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Client certificate (PEM) to present when the server asks for one (https; every mode).")
@click.option("--key", "client_key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Private key (PEM, unencrypted) of --cert (default: in the --cert file).")
@click.option("--user", default=None, help="DOMAIN\\user for the three NTLM logons (not with --oauth).")
@click.option("--password", default=None, help="Password (or env BRIDGEHEAD_PROBE_PASSWORD).",
              envvar="BRIDGEHEAD_PROBE_PASSWORD")
@click.option("--method", default="GET", type=click.Choice(["GET", "POST"]), show_default=True,
              help="Method of the scheme request and the NTLM logons (not with --oauth: it POSTs to EWS).")
@click.option("--timeout", default=10.0, show_default=True, type=float)
@click.option("--oauth", is_flag=True, help="Exchange OAuth probe (Test-OAuthConnectivity): see 'oauth probe'.")
@probe_cmd_options
@json_option
@click.pass_context
def probe(ctx: click.Context, /, url: str, proxy: str | None, cafiles: tuple[str, ...], client_cert: Path | None,
          client_key: Path | None, user: str | None, password: str | None, method: str, timeout: float,
          as_json: bool, oauth: bool = False, **oauth_params: Any) -> None:
    """Probe an endpoint: DNS, TCP, TLS, schemes and the Extended Protection setting.

    --proxy, --connect, --ca, --insecure, --tls-max, --cert/--key, --host-header,
    --no-host-header and --timeout hold for every connection of every mode; --user/--password
    /--method are for the NTLM probe, --token-*/--mailbox/--realm/--issuer/--actor-id/
    --audience-host/--state-dir for --oauth; a flag that does not apply is refused.

    Exit status: 0 the probe found no failure, 1 it found one (a finding with a registry code:
    DNS, TCP, TLS, a proxy refusal, a certificate, Extended Protection through a proxy, an
    OAuth step), 2 bad input (a flag that does not apply, a certificate or key that cannot
    be loaded)."""
    params = {**oauth_params, "user": user, "password": password, "method": method, "cafiles": cafiles,
              "client_cert": client_cert, "client_key": client_key}
    parse_proxy(proxy)
    scheme = urlsplit(url if "://" in url or not oauth else f"https://{url}").scheme
    if scheme == "http":
        _refuse(_given(ctx, TLS_ONLY, params), "to an http:// URL (no TLS)")
    if oauth_params.get("no_host_header") and oauth_params.get("host_header"):
        raise CliError("--host-header and --no-host-header exclude each other")
    pair = _client_cert(client_cert, client_key)
    if oauth:  # issue 4: the OAuth probe, same registry codes
        from bridgehead.cli.oauth_cmd import print_probe, run_oauth_probe

        _refuse(_given(ctx, NTLM_ONLY, params), "with --oauth (the OAuth probe POSTs to EWS with a token)")
        oauth_params.update(cafiles=tuple(Path(c) for c in cafiles), timeout=timeout, client_cert=pair,
                            proxy=parse_proxy(proxy))
        print_probe(run_oauth_probe(url, oauth_params.pop("oauth_state_dir"), None, oauth_params), as_json)
        return
    _refuse(_given(ctx, OAUTH_ONLY, params), "without --oauth")
    if user and password is None:
        raise CliError("--user needs --password (or BRIDGEHEAD_PROBE_PASSWORD)")
    if password is not None and not user and ctx.get_parameter_source("password") == \
            click.core.ParameterSource.COMMANDLINE:
        raise CliError("--password needs --user")
    target = parse_target(url, proxy, cafiles, timeout, method)
    target.connect_to = oauth_params.get("connect_to")
    target.tls_max = TLS_VERSIONS.get(oauth_params.get("tls_max") or "")
    target.verify = not oauth_params.get("insecure")
    target.client_cert = pair
    target.host_header = oauth_params.get("host_header")
    target.send_host = not oauth_params.get("no_host_header")
    report = run_probe(target, user, password)
    if as_json:
        emit_json(report.as_dict())
    else:
        _render(report)
    if report.failed:
        raise SystemExit(1)
