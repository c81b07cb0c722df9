"""Helpers shared by the command modules: errors, JSON output, the state directory."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

DEFAULT_STATE_DIR = "state"


class CliError(click.ClickException):
    """Bad input or an unusable environment: printed as one line, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"bridgehead: error: {self.format_message()}", err=True)


def state_dir_option(func: Any) -> Any:
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_STATE_DIR,
        show_default=True,
        envvar="BRIDGEHEAD_STATE_DIR",
        help="Directory holding the CA, keys and the SQLite store.",
    )(func)


def json_option(func: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(func)


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
