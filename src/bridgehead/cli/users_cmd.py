"""``bridgehead users add FILE USER``: the users file of Basic and NTLM proxy authentication.

The password is read from standard input (a prompt with confirmation on a terminal, else the
first line), never from the command line, where it would show in ``ps`` and shell history.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bridgehead.cli.common import CliError


@click.group()
def users() -> None:
    """Users of the forward proxy's Basic and NTLM authentication (scrypt and NT hashes, file 0600)."""


@users.command("add")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("user")
def users_add(file: Path, user: str) -> None:
    """Add USER (user or DOMAIN\\user) to FILE, or replace their password; the password comes from stdin."""
    from bridgehead.runtime.forward.auth import AuthConfigError, add_user

    if sys.stdin.isatty():
        password = click.prompt(f"password for {user}", hide_input=True, confirmation_prompt=True, err=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CliError("empty password: give it on standard input (echo ... | bridgehead users add FILE USER)")
    try:
        replaced = add_user(file, user, password)
    except AuthConfigError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"{'updated' if replaced else 'added'} {user} in {file}")
