"""The ``bridgehead`` command: a click group whose sub-commands load lazily.

Each area keeps its commands in its own module under ``bridgehead.cli``; :data:`COMMANDS`
maps a command name to ``module:attribute``. A command's module is imported when the command
runs; ``bridgehead --help`` imports them all (about 0.7 s) so that a module that cannot be
imported is listed with its error rather than left out. Optional dependencies (gssapi,
psycopg) are imported inside the commands that need them.

Errors: every command raises :class:`bridgehead.cli.common.CliError` (or a
``click.ClickException``) for bad input (exit 2); :func:`main` turns an ``OSError`` into one
line and exit 2, anything else into one line and exit status 3 (an internal error) instead of
a traceback (``BRIDGEHEAD_DEBUG=1`` shows it). The table of exit statuses is in README.md.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from bridgehead import __version__
from bridgehead.cli.common import CliError

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
    "users": ("bridgehead.cli.users_cmd", "users"),
    "authcert": ("bridgehead.cli.authcert_cmd", "authcert"),
    "oauth": ("bridgehead.cli.oauth_cmd", "oauth"),
    "kcd": ("bridgehead.cli.kcd_cmd", "kcd"),
    "reverse": ("bridgehead.cli.reverse_cmd", "reverse"),
    "lint": ("bridgehead.cli.lint_cmd", "lint"),
    "serve": ("bridgehead.cli.serve_cmd", "serve"),
    "config": ("bridgehead.cli.config_cmd", "config"),
    "status": ("bridgehead.cli.status_cmd", "status"),
    "lab": ("bridgehead.cli.lab_cmd", "lab"),
    "pki": ("bridgehead.cli.pki_cmd", "pki"),
}


# One line each for `bridgehead --help`, so listing does not import every area (and its
# dependencies: starlette, gssapi, ...). A command missing here is imported for its own help.
SUMMARIES: dict[str, str] = {
    "forward": "Run the inspecting forward proxy (HTTP + CONNECT).",
    "ca": "The inspection CA that clients must trust.",
    "bypass": "Destinations learned at run time that tunnel instead of being inspected.",
    "users": "Users of the forward proxy's Basic and NTLM authentication: users add FILE USER.",
    "reverse": "Run the reverse publishing proxy from a TOML configuration.",
    "lint": "Check a reverse-proxy configuration for what breaks authentication.",
    "backend": "Run an IIS/Exchange stand-in (NTLM/Negotiate with Extended Protection, Basic, Bearer).",
    "decode": "Decode an NTLM, SPNEGO, Kerberos, Basic or Bearer token without printing secrets.",
    "probe": "Probe an endpoint: DNS, TCP, TLS, schemes, Extended Protection, OAuth.",
    "explain": "Explain an error text, log line, header or event: cause, evidence and fix.",
    "logs": "Scan IIS W3C, FREB, Windows Event XML, TMG and bridgehead logs for findings.",
    "authcert": "Exchange-style Auth Certificate lifecycle: new, set-next, publish, status, monitor.",
    "oauth": "OAuth server-to-server: trust store and test tokens.",
    "kcd": "Kerberos constrained delegation: test a route's configuration end to end.",
    "serve": "Run forward + reverse + admin listeners (console, /metrics) from the versioned configuration.",
    "config": "Versioned gateway configuration: apply FILE, history, rollback N.",
    "status": "Array members, their applied configuration version and sync status.",
    "lab": "Reproduce the seed scenarios with real components; measured vs expected tables.",
    "pki": "A test CA, server and client certificates and a CRL (quick starts and labs only).",
}


def _broken(name: str, error: BaseException) -> click.Command:
    """What a command whose module cannot be imported becomes: listed in ``--help`` with the import
    error, and one line (exit 2) when run, so a broken install is visible instead of hidden."""
    message = f"command {name!r} cannot be loaded (broken install?): {type(error).__name__}: {error}"

    def fail() -> None:
        raise CliError(message)

    return _BrokenCommand(name, callback=fail, help=message, add_help_option=False,
                          short_help=f"cannot be loaded (broken install?): {type(error).__name__}: {error}",
                          context_settings={"ignore_unknown_options": True, "allow_extra_args": True})


class _BrokenCommand(click.Command):
    pass


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)  # imports the module: a broken one shows its error
            summary = SUMMARIES.get(name)
            if command is None:
                continue
            if summary is None or isinstance(command, _BrokenCommand):
                summary = command.get_short_help_str(limit=200)
            rows.append((name, summary))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        try:
            module = importlib.import_module(target[0])
            command: click.Command = getattr(module, target[1])
        except Exception as exc:  # ImportError, a missing shared library, an error at import time
            return _broken(cmd_name, exc)
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
    except OSError as exc:  # the environment (a file, a directory, a port): exit 2 as bad input
        if os.environ.get("BRIDGEHEAD_DEBUG"):
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        click.echo(f"bridgehead: error: {where}{exc.strerror or exc}", err=True)
        sys.exit(2)
    except Exception as exc:  # the boundary: a bug, one line (exit 3), never a traceback
        if os.environ.get("BRIDGEHEAD_DEBUG"):
            raise
        click.echo(f"bridgehead: internal error: {type(exc).__name__}: {exc} "
                   "(BRIDGEHEAD_DEBUG=1 shows the traceback)", err=True)
        sys.exit(3)
