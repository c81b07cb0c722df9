"""``bridgehead serve`` — forward + reverse + admin listeners from the versioned configuration.

    bridgehead serve                                   # embedded defaults, SQLite under ./state
    bridgehead serve --config gateway.toml             # one node: the file is applied, then served
    bridgehead serve --store URL --member NAME [--bind 127.0.0.2]   # an array member

Signals: SIGHUP reload (validated; refused files leave the old configuration serving),
SIGUSR1 reopen logs, SIGTERM drain for ``drain_timeout`` and exit. See docs/operate.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import sys
import tempfile
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from bridgehead.cli.common import CliError
from bridgehead.cli.config_cmd import default_author, open_store, store_option
from bridgehead.cli.workers import WORKERS


def _state_dir_of(text: str, base: Path) -> Path:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return base / "state"
    return base / str(data.get("state_dir", "state"))


@click.command()
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Gateway TOML ([forward], [[listener]]/[[route]], [admin]); applied to the store, then served.")
@store_option
@click.option("--member", default=None, help="This member's name in the array (default the host name).")
@click.option("--bind", default=None, metavar="ADDR",
              help="Address replacing the host part of every listen address (members side by side).")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="State directory (CA, SQLite store, default logs); default the file's state_dir.")
@click.option("--workers", type=WORKERS, default=None,
              help="Worker processes for the forward and reverse listeners (auto = one per CPU core; default "
                   "the file's `workers`, else 1); the admin listener, the store watcher and the apply run once, "
                   "in the parent.")
@click.option("-v", "--verbose", is_flag=True, help="Log diagnostics to stderr.")
def serve(config_file: Path | None, store_url: str | None, member: str | None, bind: str | None,
          state_dir: Path | None, workers: int | None, verbose: bool) -> None:
    """Run the forward and reverse listeners and the admin listener (console, /metrics, /healthz)."""
    from_file = workers is None
    if workers is None:
        workers = _workers_in_file(config_file, store_url, state_dir)
    metrics_dir = _multiprocess_metrics() if workers > 1 else None
    try:
        _serve(config_file, store_url, member, bind, state_dir, workers, from_file, verbose)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _multiprocess_metrics() -> str:
    """Counters of several workers are summed through prometheus_client's multiprocess files: the
    directory must be known before anything imports prometheus_client (its value class is chosen then)."""
    if "prometheus_client" in sys.modules:  # pragma: no cover - a programming error, not bad input
        raise RuntimeError("prometheus_client was imported before serve --workers set PROMETHEUS_MULTIPROC_DIR")
    path = tempfile.mkdtemp(prefix="bridgehead-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def _workers_in_file(config_file: Path | None, store_url: str | None, state_dir: Path | None) -> int:
    """The top-level ``workers`` of the file (one node) or of the store's newest version (a member); 1 without.
    Read before anything else starts: the processes are forked once."""
    from bridgehead.runtime.forward.config import ConfigError
    from bridgehead.runtime.ops.gateway_config import workers_of

    text: str | None = None
    if config_file is not None:
        try:
            text = config_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return 1  # _serve reports an unreadable file in one line
    elif store_url is not None:
        latest = open_store(store_url, state_dir or Path("state")).latest()
        text = latest.source if latest is not None else None
    if text is None:
        return 1
    try:
        value = tomllib.loads(text).get("workers", 1)
    except tomllib.TOMLDecodeError:
        return 1  # reported by the validation in _serve
    try:
        return workers_of(value)
    except ConfigError as exc:
        raise CliError(f"{config_file or 'the stored configuration'}: {exc}") from None


def _serve(config_file: Path | None, store_url: str | None, member: str | None, bind: str | None,
           state_dir: Path | None, workers: int, from_file: bool, verbose: bool) -> None:
    from bridgehead.runtime.forward.config import ConfigError
    from bridgehead.runtime.serve import Gateway

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    embedded = config_file is None and store_url is None
    if embedded:
        config_file = Path.cwd() / "gateway.toml"
        text = resources.files("bridgehead.runtime.ops").joinpath("default-gateway.toml").read_text()
    elif config_file is not None:
        try:
            text = config_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise CliError(f"cannot read {config_file}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:  # toml.io: "A TOML file must be valid UTF-8"
            raise CliError(f"{config_file}: not a TOML file: not valid UTF-8 at byte {exc.start}") from None
    store_dir = state_dir
    if store_dir is None:
        store_dir = _state_dir_of(text, config_file.resolve().parent) if config_file is not None else Path("state")
    cs = open_store(store_url, store_dir)
    gateway = Gateway(cs, member or socket.gethostname(), config_file=None if embedded else config_file,
                      state_dir=state_dir, bind=bind, author=default_author(), array=store_url is not None)
    try:
        if embedded:
            assert config_file is not None
            gateway.validate(text, config_file)
            latest = cs.latest()
            if latest is None or latest.source != text:
                cs.add(text, str(config_file.parent), default_author(), "serve: embedded defaults")
        elif config_file is not None:
            gateway.apply_file(default_author())
    except ConfigError as exc:
        raise CliError(f"{config_file}: {exc}") from None
    if cs.latest_number() is None:
        click.echo(f"bridgehead serve: no configuration in {gateway.store_label} yet; waiting for "
                   "'bridgehead config apply FILE --store URL'", err=True)
    gateway.workers_from_file = from_file
    if workers > 1:
        gateway.start_workers(workers)
    asyncio.run(gateway.run(on_ready=_ready))
    if gateway.exit_code:
        raise SystemExit(gateway.exit_code)


def _ready(gateway: Any) -> None:
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    running = gateway.running
    cfg = running.config
    err.print(f"bridgehead serve: member [bold]{gateway.member}[/bold], configuration version {running.version}"
              + (f", {len(gateway.pool.workers)} workers" if gateway.pool is not None else ""))
    if cfg.forward is not None:
        err.print(f"  forward proxy on {cfg.forward.host}:{cfg.forward.port} (access log {cfg.forward.access_log})")
        if gateway.array:
            err.print(f"  CA certificate: in the store (bridgehead ca export --store {gateway.store_label})")
        else:
            err.print(f"  CA certificate: {cfg.state_dir / 'ca' / 'ca.pem'}")
    for x in cfg.reverse.listeners if cfg.reverse else ():
        err.print(f"  reverse listener {x.name} on {x.host}:{x.port}")
    admin = gateway.admin
    err.print(f"  console: {admin.url}  ({admin.sign_in_hint()})")
    err.print(f"  metrics: {admin.url}metrics   health: {admin.url}healthz")
