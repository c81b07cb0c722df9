"""``bridgehead backend`` — an IIS/Exchange stand-in with NTLM/Negotiate + Extended Protection.

    bridgehead backend --listen 127.0.0.1:8443 --cert srv.pem --key srv.key --users users.txt \\
        --ep require --auth negotiate,ntlm,basic --w3c-log u_ex.log --freb-dir freb/
"""

from __future__ import annotations

from pathlib import Path

import click

from bridgehead.cli.common import CliError
from bridgehead.core.ntlm.policy import EpFlags, TokenChecking
from bridgehead.core.ntlm.users import UsersFileError

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError(f"--listen must be HOST:PORT, not {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


@click.command("backend")
@click.option("--listen", default="127.0.0.1:8443", show_default=True, help="HOST:PORT to listen on.")
@click.option("--cert", type=FILE, help="Server certificate (PEM).")
@click.option("--key", type=FILE, help="Server key (PEM).")
@click.option("--users", type=FILE,
              help="Users file, DOMAIN:user:password per line.")
@click.option("--ep", default="none", show_default=True, help="Extended Protection: none, allow or require.")
@click.option("--ep-flags", default="", help="proxy,no-service-name-check,allow-dotless-spn,proxy-cohosting")
@click.option("--spn", "spns", multiple=True, help="Allowed SPN for the proxy flag (repeatable): HTTP/mail.x")
@click.option("--auth", default="negotiate,ntlm", show_default=True,
              help="Schemes to offer, in order: negotiate, ntlm, basic (bearer when installed).")
@click.option("--client-cert", type=click.Choice(["ignore", "accept", "require"]), default="ignore",
              show_default=True, help="TLS client certificates, as IIS SSL settings.")
@click.option("--client-ca", type=FILE,
              help="CA file for client certificates.")
@click.option("--w3c-log", type=click.Path(dir_okay=False, path_type=Path), help="Write IIS W3C log here.")
@click.option("--freb-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write FREB XML traces of failed requests here.")
@click.option("--keytab", type=FILE,
              help="Keytab for Kerberos through Negotiate (python-gssapi).")
@click.option("--realm", default=None, help="Basic realm (default: the listen host).")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="State directory for schemes that keep state.")
@click.option("--ntlm-max-skew", default="36h", show_default=True, metavar="DURATION",
              help="Refuse NTLMv2 responses whose timestamp is further than this from our clock (MS-NLMP "
                   "MaxLifetime; Windows uses 36h); 0 turns the check off.")
@click.option("--log-level", default="warning", show_default=True, help="uvicorn log level.")
def backend(listen: str, cert: Path | None, key: Path | None, users: Path | None, ep: str, ep_flags: str,
            spns: tuple[str, ...], auth: str, client_cert: str, client_ca: Path | None, w3c_log: Path | None,
            freb_dir: Path | None, keytab: Path | None, realm: str | None, state_dir: Path | None,
            ntlm_max_skew: str, log_level: str) -> None:
    """Serve Exchange-like endpoints (/EWS/mrsproxy.svc, /EWS/Exchange.asmx, /owa/,
    /Microsoft-Server-ActiveSync) behind NTLM/Negotiate with Extended Protection."""
    from bridgehead.runtime.backend.config import BackendConfig
    from bridgehead.runtime.backend.schemes import SCHEMES, UnknownScheme, build_all
    from bridgehead.runtime.backend.server import build_server

    host, port = parse_listen(listen)
    if (cert is None) != (key is None):
        raise CliError("--cert and --key go together")
    if client_cert != "ignore" and cert is None:
        raise CliError("--client-cert needs TLS (--cert/--key)")
    if client_cert != "ignore" and client_ca is None:
        raise CliError("--client-cert accept|require needs --client-ca")
    from bridgehead.runtime.forward.config import ConfigError, parse_duration
    from bridgehead.runtime.users_file import load_users

    try:
        max_skew = parse_duration(ntlm_max_skew)
    except ConfigError as exc:
        raise CliError(f"--ntlm-max-skew: {exc}") from None
    try:
        checking = TokenChecking.parse(ep)
        flags = EpFlags.parse(ep_flags)
        if users is not None:
            load_users(users)  # a bad users file is one line here, not a failure at the first logon
    except (ValueError, UsersFileError) as exc:
        raise CliError(str(exc)) from None
    if checking is not TokenChecking.NONE and cert is None:
        raise CliError("Extended Protection needs TLS: give --cert and --key")
    names = tuple(a.strip().lower() for a in auth.split(",") if a.strip())
    unknown = [n for n in names if n not in SCHEMES]
    if not names or unknown:
        raise CliError(f"--auth: unknown scheme(s) {', '.join(unknown) or '(none given)'}")
    config = BackendConfig(
        host=host, port=port, cert=cert, key=key, users=users, ep=checking, ep_flags=flags, spns=spns,
        auth=names, client_cert=client_cert, client_ca=client_ca, w3c_log=w3c_log, freb_dir=freb_dir,
        keytab=keytab, realm=realm, state_dir=state_dir, ntlm_max_skew=max_skew,
    )
    try:
        build_all(config)  # fail early on a scheme that cannot be built
    except (UnknownScheme, ValueError, OSError) as exc:
        raise CliError(str(exc)) from None
    scheme = "https" if cert else "http"
    click.echo(f"bridgehead backend on {scheme}://{host}:{port}/ ep={checking.value} "
               f"flags={','.join(flags.words()) or '-'} auth={','.join(names)}", err=True)
    build_server(config, log_level=log_level).run()
