"""``bridgehead config apply FILE | history | rollback N | show [N] | hash-password``.

The versioned configuration of ``bridgehead serve`` (see docs/operate.md). ``--store URL``
selects the array's database (``postgresql+psycopg://…``); without it the SQLite store under
``--state-dir`` is used (one node). ``apply`` validates the file as ``serve`` would,
including the reverse proxy's ``lint`` rules (an error refuses it), stores a new version
(number, author, time, diff against the previous) and prints its number; members pick it up
within two seconds.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import socket
import sys
from pathlib import Path
from typing import Any

import click

from bridgehead.cli.common import CliError, emit_json, json_option, state_dir_option


def store_option(func: Any) -> Any:
    return click.option("--store", "store_url", envvar="BRIDGEHEAD_STORE", metavar="URL",
                        help="Configuration store: postgresql+psycopg://… for an array, sqlite:///PATH; "
                             "default the SQLite store under --state-dir (env BRIDGEHEAD_STORE).")(func)


def open_store(store_url: str | None, state_dir: Path) -> Any:
    from bridgehead.runtime.ops.config_store import ConfigStore
    from bridgehead.runtime.store import Store, redact, shown_url

    try:
        return ConfigStore(Store.open(state_dir, store_url))
    except Exception as exc:  # a bad URL or an unreachable database: one line, never the password
        where = shown_url(store_url) if store_url else state_dir
        raise CliError(f"cannot open the store {where}: {redact(_first_line(exc), store_url)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def default_author() -> str:
    user = os.environ.get("SUDO_USER") or getpass.getuser()
    return f"{user}@{socket.gethostname()}"


def _when(value: float | None) -> str:
    if value is None:
        return "-"
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@click.group()
def config() -> None:
    """Versioned gateway configuration: apply, history, rollback (shared by an array's members)."""


def _validate(text: str, source: Path, store_url: str | None) -> Any:
    from bridgehead.runtime.forward.config import ConfigError
    from bridgehead.runtime.ops.gateway_config import parse_text

    try:
        return parse_text(text, source, store=store_url)
    except ConfigError as exc:
        raise CliError(f"{source.name}: {exc}") from None


def _finish(version: Any, changed: bool, findings: list[Any], as_json: bool) -> None:
    if as_json:
        emit_json({"version": version.number, "changed": changed, "author": version.author,
                   "created_at": version.created_at, "diff": version.diff,
                   "findings": [f.as_dict() for f in findings]})
        return
    for f in findings:
        click.echo(f"lint {f.severity}: {f.code} ({f.subject}): {f.message}", err=True)
    if not changed:
        click.echo(f"unchanged: version {version.number} already holds this configuration", err=True)
    click.echo(str(version.number))


@config.command("apply")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@store_option
@state_dir_option
@click.option("--author", default=None, help="Recorded with the version (default USER@HOST).")
@click.option("--comment", default="", help="A note kept with the version.")
@json_option
def apply(file: Path, store_url: str | None, state_dir: Path, author: str | None, comment: str,
          as_json: bool) -> None:
    """Validate FILE (with lint) and store it as the next version; prints the version number."""
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:  # toml.io: "A TOML file must be a valid UTF-8 encoded Unicode document"
        raise CliError(f"{file}: not a TOML file: not valid UTF-8 at byte {exc.start}") from None
    source = file.resolve()
    cfg = _validate(text, source, store_url)
    cs = open_store(store_url, state_dir)
    latest = cs.latest()
    if latest is not None and latest.source == text and latest.base_dir == str(source.parent):
        _finish(latest, False, cfg.findings, as_json)
        return
    version = cs.add(text, str(source.parent), author or default_author(), comment)
    _finish(version, True, cfg.findings, as_json)


@config.command("history")
@store_option
@state_dir_option
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@click.option("--diff", "show_diff", is_flag=True, help="Show each version's diff.")
@json_option
def history(store_url: str | None, state_dir: Path, limit: int, show_diff: bool, as_json: bool) -> None:
    """List configuration versions, newest first: number, author, time, lines changed."""
    from bridgehead.core.ops.diff import diff_summary

    versions = open_store(store_url, state_dir).history(limit)
    if as_json:
        emit_json({"versions": [v.as_dict() for v in versions]})
        return
    if not versions:
        click.echo("no configuration versions (bridgehead config apply FILE)")
        return
    for v in versions:
        note = f"  {v.comment}" if v.comment else ""
        click.echo(f"{v.number:>5}  {_when(v.created_at)}  {v.author}  {diff_summary(v.diff)}{note}")
        if show_diff and v.diff:
            click.echo("\n".join("       " + line for line in v.diff.splitlines()))


@config.command("rollback")
@click.argument("number", type=int)
@store_option
@state_dir_option
@click.option("--author", default=None, help="Recorded with the new version (default USER@HOST).")
@json_option
def rollback(number: int, store_url: str | None, state_dir: Path, author: str | None, as_json: bool) -> None:
    """Store version NUMBER's configuration again as the next version (validated first)."""
    cs = open_store(store_url, state_dir)
    old = cs.get(number)
    if old is None:
        raise CliError(f"no configuration version {number} (see 'bridgehead config history')")
    cfg = _validate(old.source, Path(old.base_dir) / "gateway.toml", store_url)
    version = cs.add(old.source, old.base_dir, author or default_author(), f"rollback to version {number}")
    _finish(version, True, cfg.findings, as_json)


@config.command("show")
@click.argument("number", type=int, required=False)
@store_option
@state_dir_option
def show(number: int | None, store_url: str | None, state_dir: Path) -> None:
    """Print the TOML of version NUMBER (default the newest)."""
    cs = open_store(store_url, state_dir)
    version = cs.get(number) if number is not None else cs.latest()
    if version is None:
        raise CliError("no such configuration version (see 'bridgehead config history')")
    sys.stdout.write(version.source)


@config.command("hash-password")
def hash_password_cmd() -> None:
    """Read a console password (prompt, or one line on stdin) and print [admin] password_hash."""
    from bridgehead.core.ops.password import hash_password

    if sys.stdin.isatty():
        password = click.prompt("console password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        raise CliError("use at least 8 characters")
    click.echo(hash_password(password))
