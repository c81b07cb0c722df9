"""``bridgehead users add FILE USER [--group G]... [--no-password]``: the users file of Basic and NTLM
proxy authentication, and the group membership ``[[rule]] groups = [...]`` reads (for NTLM and
Negotiate users too, by user name).

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
@click.option("--group", "groups", multiple=True, metavar="GROUP",
              help="A group USER is in ([[rule]] groups = [...]); repeat for several. Replaces the groups "
                   "USER had; without --group an existing user keeps theirs.")
@click.option("--no-password", is_flag=True,
              help="Group membership only, no password (a user who authenticates with Negotiate/Kerberos, "
                   "e.g. alice@EXAMPLE.TEST); needs --group.")
def users_add(file: Path, user: str, groups: tuple[str, ...], no_password: bool) -> None:
    """Add USER (user or DOMAIN\\user) to FILE, or replace their password; the password comes from stdin."""
    from bridgehead.runtime.forward.auth import AuthConfigError, add_user

    password: str | None = None
    if no_password:
        if not groups:
            raise CliError("--no-password makes an entry for group membership only: give --group GROUP")
    elif sys.stdin.isatty():
        password = click.prompt(f"password for {user}", hide_input=True, confirmation_prompt=True, err=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if password is not None and not password:
        raise CliError("empty password: give it on standard input (echo ... | bridgehead users add FILE USER)")
    try:
        replaced = add_user(file, user, password, list(groups) if groups else None)
    except AuthConfigError as exc:
        raise CliError(str(exc)) from None
    in_groups = f" (groups: {', '.join(groups)})" if groups else ""
    click.echo(f"{'updated' if replaced else 'added'} {user} in {file}{in_groups}")
