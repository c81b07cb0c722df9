"""``bridgehead authcert …``: the Exchange Auth Certificate lifecycle (New-ExchangeCertificate,
Set-AuthConfig -NewCertificateThumbprint/-PublishCertificate/-ClearPreviousCertificate,
Get-AuthConfig, MonitorExchangeAuthCertificate) over the state directory's store.

Exit status of ``monitor`` (for cron / systemd timers): 0 nothing to do or the action was
applied, 1 action needed but not applied (run with ``--apply``), 2 bad input.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from cryptography.hazmat.primitives import serialization
from rich.console import Console
from rich.table import Table

from bridgehead.cli.common import CliError, emit_json, json_option, state_dir_option
from bridgehead.core.oauth.metadata import jwks, metadata
from bridgehead.core.oauth.model import EXCHANGE_APP_ID, ModelError
from bridgehead.runtime.oauth_store import DEFAULT_SUBJECT, OAuthStore, OAuthStoreError


def now_option(func: Any) -> Any:
    """Hidden ``--now``: run against a simulated clock (tests, what-if)."""
    return click.option(
        "--now",
        "now_text",
        envvar="BRIDGEHEAD_NOW",
        hidden=True,
        help="Pretend the current time is this (ISO date/time).",
    )(func)


def parse_when(text: str, now: dt.datetime) -> dt.datetime:
    """``now``, ``+30d``/``+12h``/``-1d``, an ISO date or date-time (UTC unless an offset is given)."""
    value = text.strip()
    if value.lower() == "now":
        return now
    rel = re.fullmatch(r"([+-]\d{1,5})([dhm])", value)
    if rel:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[rel.group(2)]
        return now + dt.timedelta(**{unit: int(rel.group(1))})
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CliError(
            f"{text!r} is not a date (use now, +30d, 2026-01-31 or 2026-01-31T12:00:00Z)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def open_store(state_dir: Path, now_text: str | None) -> OAuthStore:
    if now_text:
        fixed = parse_when(now_text, dt.datetime.now(dt.UTC))
        return OAuthStore(state_dir, clock=lambda: fixed)
    return OAuthStore(state_dir)


def _guard(func: Any) -> Any:
    """Turn store/model errors into one-line CLI errors."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (OAuthStoreError, ModelError) as exc:
            raise CliError(str(exc)) from None

    return wrapper


@click.group("authcert")
def authcert() -> None:
    """Exchange Auth Certificate lifecycle: new, set-next, publish, clear-previous, status, export,
    monitor."""


@authcert.command("new")
@click.option("--subject", default=DEFAULT_SUBJECT, show_default=True, help="Subject distinguished name.")
@click.option(
    "--days", type=click.IntRange(1, 50 * 365), default=5 * 365, show_default=True, help="Validity."
)
@click.option("--key-size", type=click.Choice(["2048", "3072", "4096"]), default="2048", show_default=True)
@click.option("--domain", "domains", multiple=True, help="DNS name for the SAN (repeatable).")
@state_dir_option
@json_option
@now_option
@_guard
def new(
    subject: str,
    days: int,
    key_size: str,
    domains: tuple[str, ...],
    state_dir: Path,
    as_json: bool,
    now_text: str | None,
) -> None:
    """Create a self-signed Auth Certificate (RSA, exportable key kept 0600 in STATE/authcert/).

    The first certificate becomes Current; later ones wait for set-next / publish."""
    store = open_store(state_dir, now_text)
    info = store.new_certificate(subject, days=days, key_size=int(key_size), domains=domains)
    cfg = store.config()
    became_current = False
    if cfg.current is None:
        store.save_config(replace(cfg, current=info.thumbprint))
        became_current = True
    if as_json:
        emit_json(
            {
                "thumbprint": info.thumbprint,
                "subject": info.subject,
                "not_before": info.not_before,
                "not_after": info.not_after,
                "current": became_current,
            }
        )
        return
    click.echo(f"{info.thumbprint}  {info.subject}  valid until {info.not_after:%Y-%m-%d}")
    if became_current:
        click.echo("No Current Auth Certificate was configured: this one is Current now.")
    else:
        click.echo(f"Stage it with: bridgehead authcert set-next {info.thumbprint} --effective +30d")


@authcert.command("set-next")
@click.argument("thumbprint")
@click.option(
    "--effective", default="now", show_default=True, help="When it becomes Current (now, +30d, ISO)."
)
@state_dir_option
@json_option
@now_option
@_guard
def set_next(thumbprint: str, effective: str, state_dir: Path, as_json: bool, now_text: str | None) -> None:
    """Set-AuthConfig -NewCertificateThumbprint T -NewCertificateEffectiveDate DATE."""
    store = open_store(state_dir, now_text)
    when = parse_when(effective, store.clock())
    store.set_next(thumbprint, when)
    _print_status(store, as_json)


@authcert.command("publish")
@state_dir_option
@json_option
@now_option
@_guard
def publish(state_dir: Path, as_json: bool, now_text: str | None) -> None:
    """Set-AuthConfig -PublishCertificate: Next becomes Current now, Current becomes Previous."""
    store = open_store(state_dir, now_text)
    store.publish()
    _print_status(store, as_json)


@authcert.command("clear-previous")
@state_dir_option
@json_option
@now_option
@_guard
def clear_previous(state_dir: Path, as_json: bool, now_text: str | None) -> None:
    """Set-AuthConfig -ClearPreviousCertificate."""
    store = open_store(state_dir, now_text)
    store.clear_previous()
    _print_status(store, as_json)


@authcert.command("status")
@state_dir_option
@json_option
@now_option
@_guard
def status(state_dir: Path, as_json: bool, now_text: str | None) -> None:
    """Get-AuthConfig: Current, Next (+ effective date), Previous with days left (rollover applied)."""
    _print_status(open_store(state_dir, now_text), as_json)


def _print_status(store: OAuthStore, as_json: bool) -> None:
    data = store.status()
    if as_json:
        emit_json(data)
        return
    table = Table(title="AuthConfig")
    for col in ("slot", "thumbprint", "not after", "days left", "note"):
        table.add_column(col, overflow="fold")
    for slot, field in (("Current", "current"), ("Next", "next"), ("Previous", "previous")):
        entry = data[field]
        if entry is None:
            table.add_row(slot, "-", "-", "-", "")
            continue
        note = "MISSING from store" if entry.get("missing") else ("EXPIRED" if entry.get("expired") else "")
        if field == "next" and entry.get("effective"):
            note = (note + " " if note else "") + f"effective {entry['effective'][:16]}"
        table.add_row(
            slot, entry["thumbprint"], (entry["not_after"] or "-")[:10], str(entry["days_left"]), note
        )
    Console().print(table)


@authcert.command("export")
@click.argument("thumbprint", required=False)
@click.option(
    "--format", "fmt", type=click.Choice(["pem", "jwks", "metadata"]), default="pem", show_default=True
)
@click.option("--realm", default="*", show_default=True, help="Realm for the metadata document.")
@click.option("--service-id", default=EXCHANGE_APP_ID, show_default=True)
@click.option(
    "--private-key-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the private key (PKCS#8 PEM, file 0600) here.",
)
@state_dir_option
@now_option
@_guard
def export(
    thumbprint: str | None,
    fmt: str,
    realm: str,
    service_id: str,
    private_key_out: Path | None,
    state_dir: Path,
    now_text: str | None,
) -> None:
    """Print the public part (PEM, or JWKS / metadata for partners). Default: Current (+ Next)."""
    store = open_store(state_dir, now_text)
    cfg = store.config()
    thumbs = [thumbprint] if thumbprint else [t for t in (cfg.current, cfg.next) if t]
    if not thumbs:
        raise CliError("no Auth Certificate configured; give a thumbprint or run 'bridgehead authcert new'")
    certs = [store.certificate(t) for t in thumbs]
    if fmt == "pem":
        click.echo("".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs), nl=False)
    elif fmt == "jwks":
        click.echo(json.dumps(jwks(certs), indent=2))
    else:
        click.echo(json.dumps(metadata(certs, service_id=service_id, realm=realm), indent=2))
    if private_key_out is not None:
        key = store.private_key(thumbs[0])
        fd = os.open(private_key_out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        os.chmod(private_key_out, 0o600)
        click.echo(f"private key of {thumbs[0]} written to {private_key_out} (0600)", err=True)


@authcert.command("monitor")
@click.option(
    "--apply", is_flag=True, help="Act on the decision (create and stage/publish a new certificate)."
)
@click.option("--subject", default=DEFAULT_SUBJECT, show_default=True, help="Subject for a new certificate.")
@state_dir_option
@json_option
@now_option
@_guard
def monitor(apply: bool, subject: str, state_dir: Path, as_json: bool, now_text: str | None) -> None:
    """MonitorExchangeAuthCertificate: Current ≤ 60 days and Next missing or ≤ 120 days → stage a new
    Next effective in 30 days; Current missing/expired → replace now.

    Exit status: 0 nothing to do / applied, 1 action needed (not applied), 2 bad input."""
    store = open_store(state_dir, now_text)
    result = store.monitor(apply=apply, subject=subject)
    if as_json:
        emit_json(result)
    else:
        verdict = {"none": "OK", "stage-next": "RENEW", "replace-now": "REPLACE NOW"}[result["action"]]
        click.echo(f"{verdict}: {result['reason']}")
        if result["applied"]:
            click.echo(
                f"applied: new Auth Certificate {result['new_thumbprint']} "
                + (
                    "is Current now"
                    if result["action"] == "replace-now"
                    else f"staged as Next, effective {result['effective'][:16]}"
                )
            )
        elif result["needed"]:
            click.echo("not applied: run again with --apply")
    if result["needed"] and not result["applied"]:
        raise SystemExit(1)
