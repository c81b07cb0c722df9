"""``bridgehead status [--store URL] [--json]`` — the array's members and their sync status.

TMG's Monitoring → Configuration: each member with the version it applied, when, and
"Synced — Server configuration matches the stored configuration", "Pending" or the error
that stopped it. ``--json``: ``{"version": N, "members": [{"name", "applied_version",
"state", "message", "last_seen", "applied_at"}]}``.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from bridgehead.cli.common import emit_json, json_option, state_dir_option
from bridgehead.cli.config_cmd import _when, open_store, store_option


@click.command()
@store_option
@state_dir_option
@click.option("--stale-after", default=10.0, show_default=True, type=float,
              help="Seconds without a report after which a member is shown as an error.")
@json_option
def status(store_url: str | None, state_dir: Path, stale_after: float, as_json: bool) -> None:
    """List the members with their applied configuration version and sync status."""
    from bridgehead.core.ops.sync import member_status

    cs = open_store(store_url, state_dir)
    latest = cs.latest_number()
    now = time.time()
    members = [member_status(r, latest, now, stale_after) for r in cs.members()]
    if as_json:
        emit_json({"version": latest, "members": [
            {"name": m.name, "applied_version": m.applied_version, "state": m.state, "message": m.message,
             "last_seen": m.last_seen, "applied_at": m.applied_at} for m in members]})
        return
    click.echo(f"stored configuration: version {latest if latest is not None else '-'}")
    if not members:
        click.echo("no member has reported yet (bridgehead serve)")
    for m in members:
        click.echo(f"  {m.name}: version {m.applied_version if m.applied_version is not None else '-'} "
                   f"applied {_when(m.applied_at)} — {m.message} (last seen {_when(m.last_seen)})")
