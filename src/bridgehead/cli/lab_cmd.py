"""``bridgehead lab run S1|S2|S3|S4|all`` — reproduce the seed scenarios with real components on
loopback and print the measured table beside the expected truth table.

    bridgehead lab run all [--quick] [--json] [--report lab.html] [--workdir DIR]

Exit status 0 when every row matches its truth table, 1 when a row differs or a scenario could
not be built (the missing program is named with its Debian package), 2 for bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bridgehead.cli.common import CliError, emit_json, json_option

SCENARIOS = ("S1", "S2", "S3", "S4")


@click.group("lab")
def lab() -> None:
    """The seed scenarios reproduced with real components, their outcome tables measured."""


@lab.command("run")
@click.argument("scenario", metavar="S1|S2|S3|S4|all")
@click.option("--quick", is_flag=True, help="Only a representative subset of the rows (under a minute).")
@json_option
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write an HTML report here (expected vs measured, codes linked to their explanation).")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep configurations and program logs here (default: a temporary directory, removed).")
def run_cmd(scenario: str, quick: bool, as_json: bool, report_path: Path | None, workdir: Path | None) -> None:
    """Build each scenario's topology on 127.0.0.1, drive real clients and compare with the truth table."""
    wanted = scenario.upper()
    if wanted == "ALL":
        ids = list(SCENARIOS)
    elif wanted in SCENARIOS:
        ids = [wanted]
    else:
        raise CliError(f"unknown scenario {scenario!r}: choose {', '.join(SCENARIOS)} or all")
    if report_path is not None and not report_path.parent.is_dir():
        raise CliError(f"--report: directory {report_path.parent} does not exist")
    from bridgehead.runtime.lab import report, runner

    def progress(msg: str) -> None:
        if not as_json:
            click.echo(msg, err=True)

    scenarios = runner.run(ids, quick=quick, workdir=workdir, keep=workdir is not None, progress=progress)
    if report_path is not None:
        report_path.write_text(report.html_report(scenarios, quick=quick))
    if as_json:
        emit_json(report.as_json(scenarios))
    else:
        for sc in scenarios:
            click.echo(report.text_table(sc))
            for r in sc.rows:
                if not r.match:
                    click.echo(f"  mismatch {r.case}: {'; '.join(r.mismatches())}")
            click.echo("")
        if report_path is not None:
            click.echo(f"report: {report_path}")
    if not all(sc.ok for sc in scenarios):
        if not as_json:
            click.echo("bridgehead: lab: measured table differs from the truth table (see above)", err=True)
        sys.exit(1)
