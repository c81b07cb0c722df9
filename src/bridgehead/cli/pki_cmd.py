"""``bridgehead pki`` — a test PKI in one directory for quick starts and labs (testing only).

    bridgehead pki init DIR                               # ca.pem, ca.key (0600), crl.pem
    bridgehead pki server DIR NAME... [--file F]          # NAME.pem, NAME.key, NAME-chain.pem
    bridgehead pki client DIR NAME [--upn U] [--email E]  # a device/user certificate
    bridgehead pki revoke DIR NAME                        # adds it to crl.pem
"""

from __future__ import annotations

from pathlib import Path

import click

from bridgehead.cli.common import CliError, emit_json, json_option

DIRECTORY = click.Path(file_okay=False, path_type=Path)


def _warn() -> None:
    from bridgehead.runtime.lab.pki import WARNING

    click.echo(f"bridgehead: warning: {WARNING}", err=True)


def _open(directory: Path):  # type: ignore[no-untyped-def]
    from bridgehead.runtime.lab.pki import LabPki, PkiError

    try:
        return LabPki.open(directory)
    except PkiError as exc:
        raise CliError(str(exc)) from None


def _issued(issued: object, as_json: bool) -> None:
    files = {"cert": str(issued.cert), "key": str(issued.key), "chain": str(issued.chain)}  # type: ignore[attr-defined]
    if as_json:
        emit_json({"name": issued.name, "serial": str(issued.serial), **files})  # type: ignore[attr-defined]
    else:
        for kind, path in files.items():
            click.echo(f"{kind}: {path}")


@click.group("pki")
def pki() -> None:
    """A test CA with server and client certificates and a CRL (for quick starts and labs only)."""


@pki.command("init")
@click.argument("directory", type=DIRECTORY)
@click.option("--name", default="bridgehead Test CA", show_default=True, help="The CA's common name.")
@click.option("--rsa", "use_rsa", is_flag=True, help="RSA 2048 instead of EC P-256.")
@json_option
def init_cmd(directory: Path, name: str, use_rsa: bool, as_json: bool) -> None:
    """Create a test CA in DIRECTORY (ca.pem, ca.key with mode 0600, an empty crl.pem)."""
    from bridgehead.runtime.lab.pki import LabPki, PkiError

    _warn()
    try:
        ca = LabPki.init(directory, name, use_rsa=use_rsa)
    except (PkiError, OSError) as exc:
        raise CliError(str(exc)) from None
    files = {"ca": str(ca.ca_cert), "key": str(directory / "ca.key"), "crl": str(ca.crl)}
    if as_json:
        emit_json(files)
    else:
        for kind, path in files.items():
            click.echo(f"{kind}: {path}")


@pki.command("server")
@click.argument("directory", type=DIRECTORY)
@click.argument("names", nargs=-1, required=True)
@click.option("--file", "file_name", help="Base file name (default: the first NAME).")
@click.option("--days", type=int, default=365, show_default=True, help="Validity; negative = already expired.")
@click.option("--rsa", "use_rsa", is_flag=True, help="RSA 2048 instead of EC P-256.")
@json_option
def server_cmd(directory: Path, names: tuple[str, ...], file_name: str | None, days: int, use_rsa: bool,
               as_json: bool) -> None:
    """Issue a TLS server certificate for DNS NAMES and IP addresses (first one is the CN)."""
    from bridgehead.runtime.lab.pki import PkiError

    ca = _open(directory)
    _warn()
    try:
        _issued(ca.server(list(names), file=file_name, days=days, use_rsa=use_rsa), as_json)
    except PkiError as exc:
        raise CliError(str(exc)) from None


@pki.command("client")
@click.argument("directory", type=DIRECTORY)
@click.argument("name")
@click.option("--upn", help="User principal name for the SAN (Microsoft otherName), e.g. alice@EXAMPLE.TEST.")
@click.option("--email", help="E-mail address for the SAN (rfc822Name).")
@click.option("--cn", help="Subject common name (default: NAME).")
@click.option("--days", type=int, default=365, show_default=True, help="Validity; negative = already expired.")
@json_option
def client_cmd(directory: Path, name: str, upn: str | None, email: str | None, cn: str | None, days: int,
               as_json: bool) -> None:
    """Issue a client certificate (clientAuth) named NAME."""
    from bridgehead.runtime.lab.pki import PkiError

    ca = _open(directory)
    _warn()
    try:
        _issued(ca.client(name, upn=upn, email=email, cn=cn, days=days), as_json)
    except PkiError as exc:
        raise CliError(str(exc)) from None


@pki.command("revoke")
@click.argument("directory", type=DIRECTORY)
@click.argument("name")
def revoke_cmd(directory: Path, name: str) -> None:
    """Revoke certificate NAME and rewrite DIRECTORY/crl.pem."""
    from bridgehead.runtime.lab.pki import PkiError

    ca = _open(directory)
    try:
        crl = ca.revoke(name)
    except PkiError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"crl: {crl}")
