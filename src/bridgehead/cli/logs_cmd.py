"""``bridgehead logs scan`` and ``bridgehead logs freb``: findings from IIS/TMG/Exchange/FREB/Event/JSON logs.

``scan`` detects each file's format, walks directories, reads ``.gz``, and prints a findings
table (or ``--json``: ``{"files": [...], "findings": [...]}``). ``freb`` is the seed's
Copy-FREBEvents script as one command: filter FREB traces by URL glob, request-header glob
and status, optionally copy them (with ``freb.xsl``), and list what each one says.
Exit status: 0 when the scan ran, 1 when no input file could be read, 2 for bad options.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bridgehead.cli.common import CliError, emit_json, json_option
from bridgehead.core.logscan import Filters, normalise_time
from bridgehead.runtime import logfiles

PROGRESS_MIN_BYTES = 64 * 1024 * 1024


@click.group("logs")
def logs() -> None:
    """Analyse IIS W3C, TMG/ISA, Exchange HttpProxy, MRS move reports, FREB, Windows events and bridgehead logs."""


def _time(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        return normalise_time(value)
    except ValueError as exc:
        raise CliError(f"{name}: {exc}") from None


def _total_size(paths: list[Path]) -> int:
    total = 0
    for p in logfiles.walk(paths):
        try:
            total += p.stat().st_size
        except OSError:
            pass
    return total


@logs.command("scan")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--since", help="Only records at or after this UTC time (YYYY-MM-DD[ HH:MM[:SS]]).")
@click.option("--until", help="Only records at or before this UTC time.")
@click.option("--url", "url_glob", help="Only records whose URL path matches this glob (e.g. '*/EWS/*').")
@json_option
def scan(paths: tuple[Path, ...], since: str | None, until: str | None, url_glob: str | None,
         as_json: bool) -> None:
    """Scan log files or directories (IIS/TMG W3C, TMG Log Viewer text, Exchange HttpProxy CSV, MRS move
    reports, FREB, Event XML, .evtx, bridgehead JSON; .gz too)."""
    filters = Filters(since=_time(since, "--since"), until=_time(until, "--until"), url=url_glob)
    path_list = list(paths)
    if not as_json and sys.stderr.isatty() and _total_size(path_list) >= PROGRESS_MIN_BYTES:
        from rich.console import Console  # rich is imported only for human output (--json starts faster)
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        err = Console(stderr=True)
        columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn())
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task("scan", total=_total_size(path_list))
            report = logfiles.scan(path_list, filters, progress=lambda n: bar.advance(task, n))
    else:
        report = logfiles.scan(path_list, filters)
    if as_json:
        emit_json(report.as_dict())
    else:
        _print_scan(report)
    if not report.files or all(f.errors and f.records == 0 for f in report.files):
        raise CliError(_nothing_to_read(report, path_list))  # a missing file and an empty directory alike: 2


def _nothing_to_read(report: logfiles.ScanReport, paths: list[Path]) -> str:
    names = ", ".join(str(p) for p in paths)
    if not report.files:
        return f"nothing to read: no files in {names}"
    return f"nothing to read: no log record in {names} ({len(report.files)} file(s), each with an error)"


def _print_scan(report: logfiles.ScanReport) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out = Console(highlight=False)
    files = Table(title="files", show_lines=False)
    for col in ("path", "format", "records", "errors"):
        files.add_column(col, overflow="fold")
    for f in report.files:
        files.add_row(f.path, f.format, str(f.records), str(len(f.errors)))
    out.print(files)
    findings = report.findings.as_list()
    if not findings:
        out.print("No findings: nothing in these logs matches a known failure.")
    else:
        table = Table(title="findings")
        for col in ("code", "count", "first", "last", "endpoint", "client", "example"):
            table.add_column(col, overflow="fold", no_wrap=col == "code")
        for item in findings:
            table.add_row(
                item["code"], str(item["count"]), item["first"] or "", item["last"] or "",
                next(iter(item["endpoints"]), ""), next(iter(item["clients"]), ""),
                item["examples"][0] if item["examples"] else "",
            )
        out.print(table)
        for item in findings:
            out.print(f"[bold]{escape(item['code'])}[/bold]: {escape(item['title'])}")
            for detail, n in item["details"].items():
                out.print(f"  seen: {escape(detail)} ({n}x)")
            out.print(f"  fix: {escape(item['fix'])}")
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for f in report.files:
        for e in f.errors:
            err.print(f"[yellow]{escape(f.path)}: {escape(e)}[/yellow]")


@logs.command("freb")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--url", "url_glob", required=True,
              help="URL glob, e.g. '*/EWS/mrsproxy.svc' (case-insensitive).")
@click.option("--header", "header_glob", help="Glob over the request headers, e.g. '*X-Forwarded-For*'.")
@click.option("--status", type=click.IntRange(100, 999),
              help="Only traces with this HTTP status (401 includes 401.1).")
@click.option("--copy-to", type=click.Path(file_okay=False, path_type=Path),
              help="Copy the matching files (and freb.xsl) into this directory.")
@json_option
def freb(directory: Path, url_glob: str, header_glob: str | None, status: int | None, copy_to: Path | None,
         as_json: bool) -> None:
    """Filter FREB traces (fr*.xml) by URL, header content and status; list and optionally copy them."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    try:
        report = logfiles.freb_filter(directory, url_glob, header_glob, status, copy_to)
    except OSError as exc:
        raise CliError(f"{exc}") from None
    if as_json:
        emit_json({"scanned": report.scanned, "matches": [m.as_dict() for m in report.matches],
                   "errors": report.errors})
        return
    out = Console(highlight=False)
    table = Table(title=f"{len(report.matches)} of {report.scanned} FREB traces match")
    for col in ("time", "url", "status", "auth", "error", "code", "X-Forwarded-For", "authorization"):
        table.add_column(col, overflow="fold")
    for m in report.matches:
        err = m.errors[-1] if m.errors else {}
        table.add_row(m.time, m.url, m.status, m.auth_type, str(err.get("error") or ""),
                      ", ".join(err.get("codes") or []), m.x_forwarded_for or "", m.authorization or "")
    out.print(table)
    stderr = Console(stderr=True, highlight=False, soft_wrap=True)
    for e in report.errors:
        stderr.print(f"[yellow]{escape(e)}[/yellow]")
