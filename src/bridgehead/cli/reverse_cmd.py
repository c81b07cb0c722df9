"""``bridgehead reverse --config FILE`` — run the reverse publishing proxy (scenarios S2, S4)."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from bridgehead.cli.common import CliError
from bridgehead.cli.workers import WORKERS, chosen_loop, event_loop_option, run_workers
from bridgehead.core.reverse.backend_facts import check_line, route_line, startup_findings
from bridgehead.runtime import eventloop


@click.command()
@click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="TOML configuration (listeners and routes); see docs/reverse.md.")
@click.option("--access-log", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON access log (default from the file, else <state_dir>/reverse-access.log; '-' = stdout).")
@click.option("--no-backend-check", is_flag=True,
              help="Skip fetching reencrypt backends' certificates at start.")
@click.option("--workers", type=WORKERS, default="1", show_default=True,
              help="Processes accepting on the same listeners (one event loop each); 'auto' = the core count.")
@event_loop_option("SNI passthrough")
@click.option("-v", "--verbose", is_flag=True, help="Log diagnostics to stderr.")
def reverse(config_file: Path, access_log: Path | None, no_backend_check: bool, workers: int, event_loop: str,
            verbose: bool) -> None:
    """Run the reverse proxy: client-certificate listeners, SNI passthrough, re-encryption, offload."""
    from bridgehead.runtime.reverse.config import ConfigError, load
    from bridgehead.runtime.reverse.preflight import preflight

    try:
        config = load(config_file)
    except ConfigError as exc:
        raise CliError(str(exc)) from None
    blocking = preflight(config)  # what lint reports as start-up errors, one line for the first
    if blocking:
        first = blocking[0]
        more = f" (and {len(blocking) - 1} more: bridgehead lint --config {config_file})" if len(blocking) > 1 else ""
        raise CliError(f"{first.subject}: {first.message} ({first.code}){more}")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    event_loop = chosen_loop(event_loop)
    if workers == 1:
        eventloop.run(_serve(config, access_log, not no_backend_check), event_loop)
        return
    socks = _bind(config)
    run_workers(workers, lambda quiet: eventloop.run(_serve(config, access_log, not no_backend_check and not quiet,
                                                            socks=socks, quiet=quiet), event_loop))


def _bind(config: Any) -> dict[str, socket.socket]:
    """Every listener's socket, bound once in the parent before the workers fork."""
    socks = {}
    for item in config.listeners:
        try:
            socks[item.name] = socket.create_server((item.host, item.port), backlog=1024)
        except OSError as exc:
            raise CliError(f"listener {item.name!r}: cannot listen on {item.host}:{item.port}: "
                           f"{exc.strerror or exc}") from None
    return socks


async def _serve(config: Any, access_log: Path | None, check: bool, *, socks: dict[str, socket.socket] | None = None,
                 quiet: bool = False) -> None:
    from bridgehead.runtime.accesslog import AccessLog
    from bridgehead.runtime.reverse.server import ReverseProxy

    if access_log is not None and str(access_log) == "-":
        log = AccessLog(stream=sys.stdout)
    else:
        log = AccessLog(access_log or config.access_log)
    try:
        proxy = ReverseProxy(config, access_log=log)
    except (OSError, ValueError, LookupError) as exc:
        raise CliError(f"cannot load the configuration's files: {exc}") from None
    try:
        if socks is not None:
            await proxy.start_on(socks)
        else:
            await proxy.start(check_backends=False)
    except OSError as exc:
        raise CliError(f"cannot listen: {exc.strerror or exc}") from None
    # never wrapped: lines are copied into tickets and searches; workers other than the first are quiet
    err = Console(stderr=True, soft_wrap=True, quiet=quiet)
    for name, port in proxy.ports.items():
        rt = proxy.listeners[name]
        host = f"[{rt.listener.host}]" if ":" in rt.listener.host else rt.listener.host
        err.print(f"bridgehead reverse proxy: listener [bold]{name}[/bold] on {host}:{port}"
                  + (" (asks for client certificates)" if rt.wants_client_cert else ""))
    for route in config.routes:
        err.print(f"  {route_line(route)}", markup=False)
    if check:
        checks = await proxy.check_backends()
        routes = {r.name: r for r in config.routes}
        for name, result in checks.items():
            err.print(f"  {check_line(routes[name], result)}", markup=False)
        for finding in startup_findings(config, checks):
            err.print(f"  {finding.severity}: {finding.subject}: {finding.message} ({finding.code}; "
                      f"bridgehead explain {finding.code})", markup=False)
    err.print(f"  access log: {log.path or 'stdout'}")
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serve = asyncio.create_task(proxy.serve_forever())
    await stop.wait()
    serve.cancel()
    await proxy.close()
