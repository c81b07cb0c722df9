"""The ``bridgehead`` command: a click group whose sub-commands load lazily.

Each area keeps its commands in its own module under ``bridgehead.cli``; :data:`COMMANDS`
maps a command name to ``module:attribute``. Loading lazily keeps ``bridgehead --help``
fast and lets one area's optional dependency (gssapi, psycopg) stay optional.

Errors: every command raises :class:`bridgehead.cli.common.CliError` (or a
``click.ClickException``) for bad input; :func:`main` turns anything else into one line
on stderr and exit status 1 instead of a traceback (``BRIDGEHEAD_DEBUG=1`` shows it).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from bridgehead import __version__

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, attribute)
    "backend": ("bridgehead.cli.backend_cmd", "backend"),
    "decode": ("bridgehead.cli.decode_cmd", "decode"),
    "probe": ("bridgehead.cli.probe_cmd", "probe"),
    "explain": ("bridgehead.cli.explain_cmd", "explain"),
    "logs": ("bridgehead.cli.logs_cmd", "logs"),
    "forward": ("bridgehead.cli.forward_cmd", "forward"),
    "ca": ("bridgehead.cli.forward_cmd", "ca"),
    "bypass": ("bridgehead.cli.forward_cmd", "bypass"),
    "authcert": ("bridgehead.cli.authcert_cmd", "authcert"),
    "oauth": ("bridgehead.cli.oauth_cmd", "oauth"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        try:
            module = importlib.import_module(target[0])
        except ModuleNotFoundError as exc:
            if exc.name != target[0]:
                raise
            return None  # registered but not yet built: not listed
        command: click.Command = getattr(module, target[1])
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bridgehead")
def cli() -> None:
    """bridgehead — keep client certificates, NTLM/Negotiate with Extended Protection,
    Kerberos delegation and OAuth working through proxies, and name the cause when
    they cannot."""


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, prog_name="bridgehead", standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the boundary: one line, never a traceback
        if os.environ.get("BRIDGEHEAD_DEBUG"):
            raise
        click.echo(f"bridgehead: error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
