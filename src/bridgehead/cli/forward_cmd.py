"""``bridgehead forward``, ``bridgehead ca export`` and ``bridgehead bypass list|remove``."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bridgehead.cli.common import CliError, emit_json, json_option, state_dir_option
from bridgehead.cli.workers import WORKERS, chosen_loop, event_loop_option, run_workers
from bridgehead.runtime import eventloop
from bridgehead.runtime.forward.config import ConfigError, build, load_file


@click.command()
@click.option("--listen", help="HOST:PORT to listen on (default 127.0.0.1:8080).")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path),
              help="State directory: CA, store (default ./state).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML configuration; flags override it.")
@click.option("--access-log", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON access log file (default <state-dir>/access.log; '-' for stdout).")
@click.option("--upstream-ca", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Extra CA file trusted for servers (repeatable), besides the system store.")
@click.option("--upstream-crl", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CRL (PEM/DER) of an --upstream-ca, checked for server certificates (repeatable).")
@click.option("--exception-source", multiple=True, metavar="SPEC",
              help="Do not inspect connections from this IP, CIDR or host name (repeatable).")
@click.option("--exception-destination", multiple=True, metavar="SPEC",
              help="Do not inspect connections to this domain, *.domain, IP or CIDR[:port] (repeatable).")
@click.option("--on-client-cert-request", type=click.Choice(["tunnel", "block", "present"]),
              help="When a server asks for a client certificate: splice (default), refuse with 502, or "
                   "present a configured certificate.")
@click.option("--default", "default_action", type=click.Choice(["inspect", "tunnel"]),
              help="Action for connections no exception matches (default inspect).")
@click.option("--h2-only", "h2_only", type=click.Choice(["inspect", "tunnel", "block"]),
              help="A client that offers HTTP/2 (h2) but not http/1.1: inspect it over h2 (default), "
                   "tunnel it uninspected, or block it with a page (forward-h2-only-blocked).")
@click.option("--learn-ttl", help="How long a learned bypass lasts (default 12h).")
@click.option("--parent", metavar="http://[USER@]HOST:PORT",
              help="Parent proxy for every destination no [[chain]] rule sends direct (web chaining).")
@click.option("--parent-password-file", type=click.Path(dir_okay=False, path_type=Path),
              help="File whose first line is the parent proxy user's password (else BRIDGEHEAD_PARENT_PASSWORD).")
@click.option("--auth", metavar="SCHEMES",
              help="Proxy authentication for the rules that require it: basic,ntlm,negotiate (comma-separated, "
                   "offered in this order).")
@click.option("--users", "users_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Users file for Basic and NTLM ('bridgehead users add FILE USER').")
@click.option("--keytab", type=click.Path(dir_okay=False, path_type=Path),
              help="Keytab holding HTTP/proxy.fqdn, for Negotiate/Kerberos.")
@click.option("--check", is_flag=True,
              help="Validate everything (the open-proxy guard included), print what would listen, exit 0 or 2.")
@click.option("--workers", type=WORKERS, default="1", show_default=True,
              help="Processes accepting on the same socket (one event loop each; use up to the core count).")
@event_loop_option("plain tunnels")
@click.option("-v", "--verbose", is_flag=True, help="Log diagnostics to stderr.")
def forward(listen: str | None, state_dir: Path | None, config_file: Path | None, access_log: Path | None,
            upstream_ca: tuple[Path, ...], upstream_crl: tuple[Path, ...], exception_source: tuple[str, ...],
            exception_destination: tuple[str, ...], on_client_cert_request: str | None,
            default_action: str | None, h2_only: str | None, learn_ttl: str | None, parent: str | None,
            parent_password_file: Path | None, auth: str | None, users_file: Path | None,
            keytab: Path | None, check: bool, workers: int, event_loop: str, verbose: bool) -> None:
    """Run the inspecting forward proxy (HTTP + CONNECT) with upstream-first client-certificate detection."""
    try:
        data: dict[str, Any] = load_file(config_file) if config_file else {}
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    flags: dict[str, Any] = {
        "listen": listen, "state_dir": str(state_dir) if state_dir else None,
        "access_log": str(access_log) if access_log else None,
        "on_client_cert_request": on_client_cert_request, "default": default_action, "learn_ttl": learn_ttl,
        "h2_only": h2_only,
        "parent": parent, "parent_password_file": str(parent_password_file) if parent_password_file else None,
        "auth": [s.strip().lower() for s in auth.split(",") if s.strip()] if auth is not None else None,
        "users": str(users_file) if users_file else None, "keytab": str(keytab) if keytab else None,
    }
    file_keys = set(data) - {k for k, v in flags.items() if v is not None}
    data.update({k: v for k, v in flags.items() if v is not None})
    for key, values in (("upstream_ca", upstream_ca), ("upstream_crl", upstream_crl),
                        ("exception_source", exception_source),
                        ("exception_destination", exception_destination)):
        if values:
            data[key] = [*data.get(key, []), *(str(v) for v in values)]
    data.setdefault("state_dir", "state")
    if data.get("access_log") is None:
        data["access_log"] = str(Path(data["state_dir"]) / "access.log")
    to_stdout = data.get("access_log") == "-"
    if to_stdout:
        data.pop("access_log")
    try:
        settings = build(data, config_file, file_keys)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    if check:
        _print_check(settings)
        return
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    event_loop = chosen_loop(event_loop)
    if workers == 1:
        eventloop.run(_serve(settings, to_stdout), event_loop)
        return
    _serve_workers(settings, to_stdout, workers, event_loop)


def _serve_workers(settings: Any, to_stdout: bool, workers: int, event_loop: str = "asyncio") -> None:
    """Bind once, create the CA once, then fork: every worker accepts on the same socket."""
    import socket

    from bridgehead.runtime.forward.ca import InspectionCA
    from bridgehead.runtime.store import Store

    try:
        sock = socket.create_server((settings.host, settings.port), backlog=1024)
    except OSError as exc:
        raise CliError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None
    settings.port = sock.getsockname()[1]
    InspectionCA(Path(settings.state_dir) / "ca")
    Store.open(Path(settings.state_dir), settings.store_url).engine.dispose()  # tables made once, before the fork
    # a worker: its own event loop, store connection and leaf cache
    run_workers(workers, lambda quiet: eventloop.run(_serve(settings, to_stdout, sock, quiet=quiet), event_loop))


async def _serve(settings: Any, to_stdout: bool, sock: Any = None, quiet: bool = False) -> None:
    from bridgehead.runtime.accesslog import AccessLog
    from bridgehead.runtime.forward.server import ForwardProxy

    access = AccessLog(stream=sys.stdout) if to_stdout else None
    try:
        proxy = ForwardProxy(settings, access_log=access)
        await proxy.start(sock)
    except OSError as exc:
        raise CliError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None
    ca = proxy.ca.cert_path
    err = Console(stderr=True, quiet=quiet)
    err.print(f"bridgehead forward proxy listening on [bold]{proxy_url(settings.host, settings.port)[7:]}[/bold]")
    # paths and commands are printed as they are: no rich markup, never wrapped (copy-paste must work)
    err.print(f"  CA certificate ({'created' if proxy.ca.created else 'existing'}): {ca}", markup=False,
              soft_wrap=True)
    err.print(f"  access log: {settings.access_log or 'stdout'}", markup=False, soft_wrap=True)
    err.print(f"  try: curl --proxy {proxy_url(settings.host, settings.port)} --cacert {ca} https://example.com/",
              markup=False, soft_wrap=True, highlight=False)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serve = asyncio.create_task(proxy.serve_forever())
    await stop.wait()
    serve.cancel()


def _print_check(settings: Any) -> None:
    """What ``forward`` would do, without listening (``--check``)."""
    click.echo(f"ok: would listen on {proxy_url(settings.host, settings.port)[7:]}")
    click.echo(f"  state directory: {settings.state_dir}")
    click.echo(f"  access log: {settings.access_log or 'stdout'}")
    auth = settings.auth
    click.echo(f"  proxy authentication: {', '.join(auth.schemes) if auth else 'off'}"
               + (f" ({len(auth.users)} user(s) in the users file)" if auth else ""))
    if not settings.rules:
        click.echo("  access rules: none: sources on loopback only")
    for number, rule in enumerate(settings.rules, 1):
        parts = [f"source {', '.join(s.spec for s in rule.sources)}" if rule.sources else "any source",
                 f"destination {', '.join(d.spec for d in rule.destinations)}" if rule.destinations
                 else "any destination"]
        if rule.methods:
            parts.append(f"method {', '.join(rule.methods)}")
        if rule.needs_user:
            who = [f"users {', '.join(rule.users)}"] if rule.users else []
            who += [f"groups {', '.join(rule.groups)} ({len(rule.members)} member(s))"] if rule.groups else []
            parts.append(" or ".join(who) or "authenticated users")
        click.echo(f"  rule {number} {rule.name!r}: {rule.action.value}: {'; '.join(parts)}")
    policy = settings.policy
    for number, src in enumerate(policy.sources, 1):
        click.echo(f"  exception-source[{number}] {src.spec}: tunnelled, exempt from authentication")
    for number, dst in enumerate(policy.destinations, 1):
        click.echo(f"  exception-destination[{number}] {dst.spec}: tunnelled")
    ocsp = settings.ocsp
    if ocsp is not None:
        click.echo(f"  OCSP for origin certificates: {ocsp.default} by default (ocsp_timeout {ocsp.timeout:g} s)")
        for rule in ocsp.rules:
            click.echo(f"  {rule.name} {', '.join(d.spec for d in rule.destinations)}: fail = {rule.fail}")
    if settings.open_proxy:
        click.echo("  open_proxy = true: the open-proxy guard is off")


def proxy_url(host: str, port: int) -> str:
    """``http://HOST:PORT`` with an IPv6 literal in brackets (RFC 3986 §3.2.2)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@click.group()
def ca() -> None:
    """The inspection CA that clients must trust: export, import (your own subordinate CA), rotate, status."""


def _ca_dir(state_dir: Path) -> Path:
    return state_dir / "ca"


def _ca_or_fail(state_dir: Path) -> Any:
    from bridgehead.runtime.forward.ca import CAError, InspectionCA

    try:
        return InspectionCA(_ca_dir(state_dir), create=False)
    except CAError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot read the CA in {_ca_dir(state_dir)}: {exc.strerror or exc}") from None


def _material(cert: Path, key: Path, chain: Path | None) -> Any:
    from bridgehead.runtime.forward.ca import CAError, Material

    try:
        return Material.from_pem(cert.read_bytes(), key.read_bytes(), chain.read_bytes() if chain else b"",
                                 source=str(cert))
    except OSError as exc:
        raise CliError(f"cannot read {exc.filename}: {exc.strerror}") from None
    except CAError as exc:
        raise CliError(str(exc)) from None


@ca.command("export")
@state_dir_option
@click.option("--store", "store_url", metavar="URL", default=None,
              help="An array's store (postgresql+psycopg://…): print the array's CA kept there instead.")
@click.option("--der", is_flag=True, help="DER instead of PEM (for Windows certificate import); the signing CA only.")
@click.option("--next", "next_only", is_flag=True, help="Only the CA staged by 'ca rotate'.")
def ca_export(state_dir: Path, store_url: str | None, der: bool, next_only: bool) -> None:
    """Print the CA certificate(s) clients must trust; never creates a CA.

    During a rotation's overlap the PEM output holds the signing CA and the next one, so
    clients that import it trust both before the switch.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from bridgehead.runtime.forward.ca import rotation

    if store_url is not None:
        _export_array_ca(store_url, der, next_only)
        return
    authority = _ca_or_fail(state_dir)
    staged = rotation(_ca_dir(state_dir))
    certs = [authority.certificate]
    if staged is not None:
        nxt = x509.load_pem_x509_certificate((_ca_dir(state_dir) / "next" / "ca.pem").read_bytes())
        certs = [nxt] if next_only else [*certs, nxt]
    elif next_only:
        raise CliError(f"no rotation pending in {_ca_dir(state_dir)} (see 'bridgehead ca rotate')")
    if der:
        sys.stdout.buffer.write(certs[-1 if next_only else 0].public_bytes(serialization.Encoding.DER))
        return
    sys.stdout.write("".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs))


def _shown(store_url: str) -> str:
    """A store URL without its password."""
    from bridgehead.runtime.store import shown_url

    return shown_url(store_url)


def _array_certs(store_url: str) -> list[Any]:
    """The array CA's certificate (and chain) from the store; one line when there is none or no store."""
    from bridgehead.runtime.forward.array_ca import array_certificates
    from bridgehead.runtime.forward.ca import CAError
    from bridgehead.runtime.store import Store

    try:
        return array_certificates(Store(store_url))
    except CAError as exc:
        raise CliError(str(exc)) from None
    except Exception as exc:  # a bad URL or an unreachable database: one line
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CliError(f"cannot open the store {_shown(store_url)}: {first}") from None


def _export_array_ca(store_url: str, der: bool, next_only: bool) -> None:
    """``ca export --store URL``: the array's CA certificate from the store (the key stays there, encrypted)."""
    from cryptography.hazmat.primitives import serialization

    if next_only:
        raise CliError("--next: rotation of an array's CA is not supported (the store holds one CA)")
    certs = _array_certs(store_url)
    if der:
        sys.stdout.buffer.write(certs[0].public_bytes(serialization.Encoding.DER))
        return
    sys.stdout.write(certs[0].public_bytes(serialization.Encoding.PEM).decode())


@ca.command("import")
@state_dir_option
@click.option("--cert", "cert", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The subordinate CA certificate (PEM) issued by your PKI; may be followed by its chain.")
@click.option("--key", "key", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Its private key (PEM, unencrypted; RSA or ECDSA). Stored 0600 under the state directory.")
@click.option("--chain", type=click.Path(dir_okay=False, path_type=Path),
              help="The CA certificates above it (issuing CA ... root), sent to clients after each leaf.")
@click.option("--force", is_flag=True, help="Replace an existing CA now (without an overlap period).")
def ca_import(state_dir: Path, cert: Path, key: Path, chain: Path | None, force: bool) -> None:
    """Use your own CA (a subordinate CA from the enterprise PKI) to sign inspection leaves."""
    from bridgehead.runtime.forward.ca import CAError, fingerprint, install

    material = _material(cert, key, chain)
    try:
        install(_ca_dir(state_dir), material, replace=force)
    except CAError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"installed {material.certificate.subject.rfc4514_string()} "
               f"(SHA-256 {fingerprint(material.certificate)}, chain of {len(material.chain)}) "
               f"in {_ca_dir(state_dir)}")


@ca.command("rotate")
@state_dir_option
@click.option("--overlap", default="30d", show_default=True,
              help="How long clients get to trust the new CA before the proxy signs with it (e.g. 14d, 12h, 0).")
@click.option("--cert", type=click.Path(dir_okay=False, path_type=Path),
              help="Rotate to this CA (PEM, e.g. a renewed subordinate CA) instead of generating one.")
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path), help="The key of --cert.")
@click.option("--chain", type=click.Path(dir_okay=False, path_type=Path), help="The CAs above --cert.")
@click.option("--force", is_flag=True, help="Replace a rotation that is already pending.")
@json_option
def ca_rotate(state_dir: Path, overlap: str, cert: Path | None, key: Path | None, chain: Path | None, force: bool,
              as_json: bool) -> None:
    """Stage a new CA: exported next to the current one now, signing from the end of the overlap."""
    import time

    from bridgehead.runtime.forward.ca import CAError, Material, new_ca_material, stage_rotation
    from bridgehead.runtime.forward.config import parse_duration

    try:
        seconds = parse_duration(overlap)
    except ConfigError as exc:
        raise CliError(f"--overlap: {exc}") from None
    if seconds < 0:
        raise CliError("--overlap must not be negative")
    if (cert is None) != (key is None):
        raise CliError("give both --cert and --key, or neither (a new CA is generated)")
    current = _ca_or_fail(state_dir)
    material = _material(cert, key, chain) if cert and key else Material(*new_ca_material(), [])
    if material.certificate == current.certificate:
        raise CliError("--cert is the CA already in use")
    switch_at = time.time() + seconds
    try:
        stage_rotation(_ca_dir(state_dir), material, switch_at, replace=force)
    except CAError as exc:
        raise CliError(str(exc)) from None
    _ca_status(state_dir, as_json)


@ca.command("status")
@state_dir_option
@click.option("--store", "store_url", metavar="URL", default=None,
              help="An array's store (postgresql+psycopg://…): the array's CA kept there instead.")
@json_option
def ca_status(state_dir: Path, store_url: str | None, as_json: bool) -> None:
    """The signing CA, its chain, and a pending rotation."""
    _ca_status(state_dir, as_json, store_url)


def _describe(cert: Any, chain: int) -> dict[str, Any]:
    from bridgehead.runtime.forward.ca import fingerprint

    return {"subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
            "sha256": fingerprint(cert), "not_after": cert.not_valid_after_utc.isoformat(),
            "key": type(cert.public_key()).__name__.lstrip("_").replace("PublicKey", ""),
            "chain": chain}


def _ca_status(state_dir: Path, as_json: bool, store_url: str | None = None) -> None:
    from cryptography import x509

    from bridgehead.runtime.forward.ca import rotation

    describe = _describe
    if store_url is not None:
        certs = _array_certs(store_url)
        out: dict[str, Any] = {"store": _shown(store_url), "current": describe(certs[0], len(certs) - 1),
                               "next": None}
    else:
        authority = _ca_or_fail(state_dir)
        out = {"directory": str(_ca_dir(state_dir)),
               "current": describe(authority.certificate, len(authority.chain)), "next": None}
    staged = rotation(_ca_dir(state_dir)) if store_url is None else None
    if staged is not None:
        nxt_dir = _ca_dir(state_dir) / "next"
        nxt = x509.load_pem_x509_certificate((nxt_dir / "ca.pem").read_bytes())
        chain = nxt_dir / "chain.pem"
        n = len(x509.load_pem_x509_certificates(chain.read_bytes())) if chain.exists() else 0
        out["next"] = {**describe(nxt, n), "switch_at": _time(float(staged["switch_at"]))}
    if as_json:
        emit_json(out)
        return
    cur = out["current"]
    click.echo(f"signing CA: {cur['subject']} ({cur['key']}, chain of {cur['chain']}, until {cur['not_after']})")
    click.echo(f"  SHA-256 {cur['sha256']}")
    if out["next"]:
        nxt_info = out["next"]
        click.echo(f"next CA:    {nxt_info['subject']} signs from {nxt_info['switch_at']}; "
                   "'bridgehead ca export' prints both for clients until then")
        click.echo(f"  SHA-256 {nxt_info['sha256']}")


@click.group()
def bypass() -> None:
    """Destinations learned at run time that tunnel instead of being inspected."""


@bypass.command("list")
@state_dir_option
@json_option
def bypass_list(state_dir: Path, as_json: bool) -> None:
    """List learned bypass entries with reason and expiry."""
    from bridgehead.runtime.store import Store

    rows = Store.open(state_dir).list("bypass")
    if as_json:
        emit_json([{"destination": r.key, **r.value, "expires_at": r.expires_at} for r in rows])
        return
    if not rows:
        click.echo("no learned bypass entries")
        return
    table = Table(title="learned bypass (tunnelled, not inspected)")
    for col in ("destination", "reason", "learned", "expires"):
        table.add_column(col)
    for r in rows:
        table.add_row(r.key, str(r.value.get("reason", "")), _time(r.value.get("learned_at")), _time(r.expires_at))
    Console().print(table)


@bypass.command("remove")
@state_dir_option
@click.argument("destination")
def bypass_remove(state_dir: Path, destination: str) -> None:
    """Remove a learned entry (HOST:PORT, as listed); the next connection is inspected again."""
    from bridgehead.runtime.store import Store

    if ":" not in destination:
        destination += ":443"
    if not Store.open(state_dir).delete("bypass", destination):
        raise CliError(f"no learned bypass entry for {destination} (see 'bridgehead bypass list')")
    click.echo(f"removed {destination}")


def _time(value: float | None) -> str:
    if value is None:
        return "-"
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
