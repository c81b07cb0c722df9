"""``bridgehead forward``, ``bridgehead ca export`` and ``bridgehead bypass list|remove``."""

from __future__ import annotations

import asyncio
import contextlib
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
@click.option("--learn-ttl", help="How long a learned bypass lasts (default 12h).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processes accepting on the same socket (one event loop each; use up to the core count).")
@click.option("-v", "--verbose", is_flag=True, help="Log diagnostics to stderr.")
def forward(listen: str | None, state_dir: Path | None, config_file: Path | None, access_log: Path | None,
            upstream_ca: tuple[Path, ...], upstream_crl: tuple[Path, ...], exception_source: tuple[str, ...],
            exception_destination: tuple[str, ...], on_client_cert_request: str | None,
            default_action: str | None, learn_ttl: str | None, workers: int, verbose: bool) -> None:
    """Run the inspecting forward proxy (HTTP + CONNECT) with upstream-first client-certificate detection."""
    try:
        data: dict[str, Any] = load_file(config_file) if config_file else {}
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    flags: dict[str, Any] = {
        "listen": listen, "state_dir": str(state_dir) if state_dir else None,
        "access_log": str(access_log) if access_log else None,
        "on_client_cert_request": on_client_cert_request, "default": default_action, "learn_ttl": learn_ttl,
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
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if workers == 1:
        asyncio.run(_serve(settings, to_stdout))
        return
    _serve_workers(settings, to_stdout, workers)


def _serve_workers(settings: Any, to_stdout: bool, workers: int) -> None:
    """Bind once, create the CA once, then fork: every worker accepts on the same socket."""
    import os
    import socket

    from bridgehead.runtime.forward.ca import InspectionCA

    try:
        sock = socket.create_server((settings.host, settings.port), backlog=1024)
    except OSError as exc:
        raise CliError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}") from None
    settings.port = sock.getsockname()[1]
    InspectionCA(Path(settings.state_dir) / "ca")
    children = []
    for _ in range(workers - 1):
        pid = os.fork()
        if pid == 0:  # a worker: its own event loop, store connection and leaf cache
            try:
                asyncio.run(_serve(settings, to_stdout, sock, quiet=True))
            finally:
                os._exit(0)
        children.append(pid)
    try:
        asyncio.run(_serve(settings, to_stdout, sock))
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


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


def proxy_url(host: str, port: int) -> str:
    """``http://HOST:PORT`` with an IPv6 literal in brackets (RFC 3986 §3.2.2)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@click.group()
def ca() -> None:
    """The inspection CA that clients must trust."""


@ca.command("export")
@state_dir_option
@click.option("--der", is_flag=True, help="DER instead of PEM (for Windows certificate import).")
def ca_export(state_dir: Path, der: bool) -> None:
    """Print the CA certificate (created on first use) that clients must trust."""
    from cryptography.hazmat.primitives import serialization

    from bridgehead.runtime.forward.ca import InspectionCA

    authority = InspectionCA(state_dir / "ca")
    if der:
        sys.stdout.buffer.write(authority.certificate.public_bytes(serialization.Encoding.DER))
    else:
        sys.stdout.write(authority.pem.decode())


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
