"""``bridgehead kcd test`` — check a route's Kerberos constrained delegation step by step.

    bridgehead kcd test --config reverse.toml --route ews --user alice@EXAMPLE.TEST [--probe] [--json]

Exit status 0 when every check passed (warnings allowed), 1 when one failed, 2 for bad input.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import click

from bridgehead.cli.common import CliError, emit_json, json_option


@click.group("kcd")
def kcd() -> None:
    """Kerberos constrained delegation (S4U2Self + S4U2Proxy) of reverse routes."""


def load_route(config: Path, name: str) -> Any:
    """The named route from the reverse proxy's configuration (its loader; listener files are not needed)."""
    try:
        from bridgehead.runtime.reverse.config import ConfigError, load
    except ImportError:  # the reverse proxy's loader is not installed: read the two tables we need
        return _minimal_route(config, name)
    try:
        cfg = load(config, check_files=False)
    except (ConfigError, OSError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"{config}: {exc}") from None
    for route in cfg.routes:
        if route.name == name:
            return route
    raise CliError(f"{config}: no route named {name!r} (routes: {', '.join(r.name for r in cfg.routes) or '-'})")


def _minimal_route(config: Path, name: str) -> Any:
    from urllib.parse import urlsplit

    from bridgehead.core.reverse.model import Backend, Mode, Route

    try:
        data = tomllib.loads(config.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CliError(f"{config}: {exc}") from None
    for item in data.get("route", []):
        if isinstance(item, dict) and item.get("name") == name:
            url = urlsplit(str(item.get("backend", "")))
            if url.scheme not in ("http", "https") or not url.hostname:
                raise CliError(f"route {name!r}: backend must be an http(s) URL")
            return Route(name=name, listener=str(item.get("listener", "")), hosts=(), paths=(), mode=Mode.REENCRYPT,
                         backend=Backend(url.scheme, url.hostname, url.port or 443), identity=str(item.get("identity")),
                         kerberos=dict(item.get("kerberos", {})))
    raise CliError(f"{config}: no route named {name!r}")


@kcd.command("test")
@click.option("--config", "config", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The reverse proxy's TOML configuration.")
@click.option("--route", "route_name", required=True, help="Name of the delegating route.")
@click.option("--user", required=True, help="User principal to impersonate, e.g. alice@EXAMPLE.TEST.")
@click.option("--probe", is_flag=True, help="Also send the ticket to the backend and check it is accepted.")
@click.option("--path", "probe_path", default=None, help="Path for --probe (default: the route's first path).")
@click.option("--timeout", default=5.0, show_default=True, type=click.FloatRange(0.1, 120), help="Network timeout.")
@json_option
def test(config: Path, route_name: str, user: str, probe: bool, probe_path: str | None, timeout: float,
         as_json: bool) -> None:
    """Keytab, KDC, clock, protocol transition, SPN, delegation list and (--probe) the backend's answer."""
    from bridgehead.runtime.kcd.selftest import SelfTest

    route = load_route(config, route_name)
    report = SelfTest(route, user, base=config.resolve().parent, probe=probe, probe_path=probe_path,
                      timeout=timeout).run()
    if as_json:
        emit_json(report.as_dict())
    else:
        _render(report)
    raise SystemExit(0 if report.ok else 1)


_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


def _render(report: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    table = Table(title=f"kcd test: route {report.route}, user {report.user}, SPN {report.spn or '?'}")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for check in report.checks:
        style = _STYLE.get(check.status, "")
        table.add_row(check.name, f"[{style}]{check.status}[/]",
                      escape(check.detail + (f"  [{check.code}]" if check.code else "")))
    console.print(table)
    for check in report.checks:
        if check.status == "fail":
            console.print(f"[bold red]{escape(check.code or check.name)}[/]: {escape(check.cause or check.detail)}")
            if check.fix:
                console.print(f"  fix: {escape(check.fix)}")
    console.print("[green]delegation works[/]" if report.ok else "[bold red]delegation fails[/]")
