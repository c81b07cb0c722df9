"""``bridgehead oauth …``: trust store, test tokens, token decoding/validation and the OAuth probe.

* ``oauth trust add-issuer|add-partner|list|remove`` — AuthServer and partner application entries;
* ``oauth token`` — mint an Exchange-style token (and every wrong variant) from a stored Auth
  Certificate or a certificate + key file;
* ``oauth decode`` — explain a ``Bearer …``/JWT (also reachable as ``bridgehead decode``);
* ``oauth validate`` — run the validator offline against the store, print what Exchange would answer;
* ``oauth probe URL`` — Test-OAuthConnectivity (also ``bridgehead probe URL --oauth``).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
from pathlib import Path
from typing import Any

import click
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from rich.console import Console
from rich.table import Table

from bridgehead.cli.authcert_cmd import now_option, open_store
from bridgehead.cli.common import CliError, emit_json, json_option, state_dir_option
from bridgehead.core.oauth.describe import DescribeError, describe
from bridgehead.core.oauth.metadata import MetadataError, load_key_document
from bridgehead.core.oauth.mint import ALGS, MintError, MintOptions, mint
from bridgehead.core.oauth.model import EXCHANGE_APP_ID, ModelError, thumbprint_of
from bridgehead.core.oauth.validator import validate
from bridgehead.failures import get
from bridgehead.runtime.oauth_store import OAuthStore, OAuthStoreError


def _guard(func: Any) -> Any:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (OAuthStoreError, ModelError, MetadataError, MintError, DescribeError) as exc:
            raise CliError(str(exc)) from None

    return wrapper


@click.group("oauth")
def oauth() -> None:
    """Exchange server-to-server OAuth: trust store, test tokens, decode, validate, probe."""


# ---- trust store ------------------------------------------------------------------------------
@oauth.group("trust")
def trust() -> None:
    """Token issuers (AuthServer) and partner applications the validator trusts."""


def _read_keys(cert: Path | None, metadata: Path | None) -> tuple[tuple[x509.Certificate, ...], str | None]:
    if (cert is None) == (metadata is None):
        raise CliError("give exactly one of --cert FILE or --metadata FILE")
    path = cert or metadata
    assert path is not None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    doc = load_key_document(data)
    return doc.certificates, doc.issuer


@trust.command("add-issuer")
@click.option("--name", required=True, help="A name for this AuthServer entry.")
@click.option("--issuer", help="Issuer identifier ID@REALM or ID@* (default: from --metadata).")
@click.option("--cert", type=click.Path(dir_okay=False, path_type=Path), help="Signing certificate (PEM/DER).")
@click.option("--metadata", type=click.Path(dir_okay=False, path_type=Path), help="JWKS or metadata JSON.")
@click.option("--authorization-uri", help="Authorization endpoint announced in the Bearer challenge.")
@state_dir_option
@json_option
@_guard
def add_issuer(
    name: str,
    issuer: str | None,
    cert: Path | None,
    metadata: Path | None,
    authorization_uri: str | None,
    state_dir: Path,
    as_json: bool,
) -> None:
    """New-AuthServer: trust tokens whose actor is signed by ISSUER's certificate."""
    certs, doc_issuer = _read_keys(cert, metadata)
    issuer = issuer or doc_issuer
    if not issuer:
        raise CliError("--issuer ID@REALM is required (the document names no issuer)")
    entry = OAuthStore(state_dir).add_issuer(name, issuer, certs, authorization_uri=authorization_uri)
    _report_entry(entry, certs, as_json)


@trust.command("add-partner")
@click.option("--name", required=True, help="A name for this partner application.")
@click.option("--app-id", required=True, help="Application id (e.g. 00000004-0000-0ff1-ce00-000000000000).")
@click.option("--realm", required=True, help="Realm of the partner (tenant id / domain).")
@click.option("--cert", type=click.Path(dir_okay=False, path_type=Path), help="Signing certificate (PEM/DER).")
@click.option("--metadata", type=click.Path(dir_okay=False, path_type=Path), help="JWKS or metadata JSON.")
@state_dir_option
@json_option
@_guard
def add_partner(
    name: str,
    app_id: str,
    realm: str,
    cert: Path | None,
    metadata: Path | None,
    state_dir: Path,
    as_json: bool,
) -> None:
    """New-PartnerApplication: trust self-issued tokens of APP_ID@REALM signed by its certificate."""
    certs, _ = _read_keys(cert, metadata)
    entry = OAuthStore(state_dir).add_partner(name, app_id, realm, certs)
    _report_entry(entry, certs, as_json)


def _report_entry(entry: dict[str, Any], certs: tuple[x509.Certificate, ...], as_json: bool) -> None:
    thumbs = [thumbprint_of(c) for c in certs]
    if as_json:
        emit_json({k: v for k, v in entry.items() if k != "certificates"} | {"thumbprints": thumbs})
    else:
        click.echo(f"trusted {entry['kind']} {entry['name']}: {entry['issuer']} ({', '.join(thumbs)})")


@trust.command("list")
@state_dir_option
@json_option
@now_option
@_guard
def trust_list(state_dir: Path, as_json: bool, now_text: str | None) -> None:
    """List AuthServer and partner application entries with their certificates."""
    entries = open_store(state_dir, now_text).trust_entries()
    if as_json:
        emit_json(entries)
        return
    table = Table(title="OAuth trust")
    for col in ("name", "kind", "issuer", "certificates"):
        table.add_column(col)
    for e in entries:
        certs = "\n".join(f"{c['thumbprint']} ({c['days_left']} days)" for c in e["certificates"])
        table.add_row(e["name"], e["kind"], e["issuer"], certs)
    Console().print(table)


@trust.command("remove")
@click.argument("name")
@state_dir_option
@_guard
def trust_remove(name: str, state_dir: Path) -> None:
    """Remove an AuthServer or partner application entry by name."""
    if not OAuthStore(state_dir).remove_trust(name):
        raise CliError(f"no trust entry named {name!r}")
    click.echo(f"removed {name}")


# ---- tokens ------------------------------------------------------------------------------------
def _signing_material(
    store: OAuthStore, thumbprint: str | None, cert: Path | None, key: Path | None
) -> tuple[RSAPrivateKey, x509.Certificate]:
    if cert is not None or key is not None:
        if cert is None or key is None:
            raise CliError("--cert and --key go together")
        try:
            certificate = x509.load_pem_x509_certificate(cert.read_bytes())
            private = serialization.load_pem_private_key(key.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot load --cert/--key: {exc}") from None
        if not isinstance(private, RSAPrivateKey):
            raise CliError("--key must be an RSA private key (RS256)")
        return private, certificate
    thumb = thumbprint or store.config().current
    if thumb is None:
        raise CliError("no Current Auth Certificate in the store; run 'bridgehead authcert new' or give --cert/--key")
    return store.private_key(thumb), store.certificate(thumb)


@oauth.command("token")
@click.option("--host", required=True, help="Audience host part: owa.example.test or https://owa.example.test.")
@click.option("--realm", required=True, help="Realm (tenant id / domain) for aud, iss and nameid.")
@click.option("--thumbprint", help="Sign with this stored Auth Certificate (default: Current).")
@click.option("--cert", type=click.Path(dir_okay=False, path_type=Path), help="Sign with this certificate…")
@click.option("--key", type=click.Path(dir_okay=False, path_type=Path), help="…and this RSA key (PEM).")
@click.option("--actor-id", default=EXCHANGE_APP_ID, show_default=True, help="Calling application id.")
@click.option("--issuer", help="Actor token iss (default: ACTOR_ID@REALM, self-issued).")
@click.option("--service-id", default=EXCHANGE_APP_ID, show_default=True, help="Audience application id.")
@click.option("--user", default="user1@example.test", show_default=True, help="User (smtp/upn) asserted.")
@click.option("--app-only", is_flag=True, help="No user: a service_asserted_app_v1 token.")
@click.option("--lifetime", type=int, default=3600, show_default=True, help="Seconds.")
@click.option("--expired", is_flag=True, help="Wrong: expired an hour ago.")
@click.option("--not-yet-valid", is_flag=True, help="Wrong: valid from in an hour.")
@click.option(
    "--alg",
    type=click.Choice(ALGS),
    default="RS256",
    show_default=True,
    help="Wrong: none (unsigned actor) or HS256 with the public key as HMAC secret.",
)
@click.option("--bad-signature", is_flag=True, help="Wrong: flip a bit of the signature.")
@click.option("--unknown-x5t", is_flag=True, help="Wrong: an x5t no trusted certificate has.")
@click.option("--outer-issuer", help="Wrong: outer iss different from the actor's nameid.")
@click.option("--no-delegation", is_flag=True, help="Wrong: trustedfordelegation=false.")
@click.option("--header", "as_header", is_flag=True, help="Print 'Authorization: Bearer …'.")
@state_dir_option
@now_option
@_guard
def token(
    host: str,
    realm: str,
    thumbprint: str | None,
    cert: Path | None,
    key: Path | None,
    actor_id: str,
    issuer: str | None,
    service_id: str,
    user: str,
    app_only: bool,
    lifetime: int,
    expired: bool,
    not_yet_valid: bool,
    alg: str,
    bad_signature: bool,
    unknown_x5t: bool,
    outer_issuer: str | None,
    no_delegation: bool,
    as_header: bool,
    state_dir: Path,
    now_text: str | None,
) -> None:
    """Mint an Exchange-style S2S test token (outer + actor) — or a deliberately wrong one."""
    store = open_store(state_dir, now_text)
    private, certificate = _signing_material(store, thumbprint, cert, key)
    opts = MintOptions(
        host=host,
        realm=realm,
        actor_id=actor_id,
        issuer=issuer,
        audience_app=service_id,
        user=None if app_only else user,
        lifetime=lifetime,
        expired=expired,
        not_yet_valid=not_yet_valid,
        alg=alg,
        bad_signature=bad_signature,
        x5t="AAAAAAAAAAAAAAAAAAAAAAAAAAA" if unknown_x5t else None,
        outer_issuer=outer_issuer,
        trusted_for_delegation=not no_delegation,
    )
    value = mint(opts, private, certificate, store.clock())
    click.echo(f"Authorization: Bearer {value}" if as_header else value)


def _read_text(text: str) -> str:
    """TEXT, or standard input for ``-``; nothing (or only white space) is an input error, not a token."""
    value = sys.stdin.read(1024 * 1024) if text == "-" else text
    if not value.strip():
        where = "standard input is empty" if text == "-" else "TEXT is empty"
        raise CliError(f"no token given: {where} (pass a 'Bearer …' value or a JWT, or pipe one into '-')")
    return value


@oauth.command("decode")
@click.argument("text")
@click.option("--at", "at_host", help="Check whether the audience fits this Host.")
@click.option("--scheme", type=click.Choice(["https", "http"]), default="https", show_default=True)
@json_option
@_guard
def decode_cmd(text: str, at_host: str | None, scheme: str, as_json: bool) -> None:
    """Explain a 'Bearer …' value or a JWT (TEXT, or - for stdin). Never prints a signature."""
    result = describe(_read_text(text), at_host=at_host, scheme=scheme, now=dt.datetime.now(dt.UTC))
    if as_json:
        emit_json(result)
    else:
        render_description(result, Console())


def render_description(result: dict[str, Any], console: Console) -> None:
    """Rich rendering of :func:`bridgehead.core.oauth.describe.describe` (used by ``bridgehead decode``)."""
    console.print(f"[bold]JWT[/bold] {result.get('token_type', '')}")
    _render_one(result, console, "token")
    actor = result.get("actortoken")
    if isinstance(actor, dict):
        if "error" in actor:
            console.print(f"actortoken: {actor['error']}")
        else:
            _render_one(actor, console, "actortoken")
    check = result.get("audience_check")
    if check:
        mark = "[green]fits[/green]" if check["fits"] else "[red]does not fit[/red]"
        console.print(f"audience at Host {check['host']}: {mark} — {check['reason']}")


def _render_one(part: dict[str, Any], console: Console, title: str) -> None:
    table = Table(title=title, show_lines=False)
    table.add_column("")
    table.add_column("name")
    table.add_column("value", overflow="fold")
    table.add_column("meaning")
    for h in part["header"]:
        table.add_row("header", h["name"], json.dumps(h["value"]), h["meaning"])
    for c in part["claims"]:
        value = c.get("date") or (c["value"] if isinstance(c["value"], str) else json.dumps(c["value"]))
        table.add_row("claim", c["name"], str(value), c["meaning"])
    table.add_row("", "signature", part["signature"], "")
    console.print(table)


@oauth.command("validate")
@click.argument("text")
@click.option("--host", help="The request's Host header (omit to simulate a request without Host).")
@click.option("--scheme", type=click.Choice(["https", "http"]), default="https", show_default=True)
@click.option("--realm", default="*", show_default=True, help="Realm this server serves.")
@click.option("--service-id", default=EXCHANGE_APP_ID, show_default=True)
@state_dir_option
@json_option
@now_option
@_guard
def validate_cmd(
    text: str,
    host: str | None,
    scheme: str,
    realm: str,
    service_id: str,
    state_dir: Path,
    as_json: bool,
    now_text: str | None,
) -> None:
    """Validate a token against the trust store and print Exchange's answer. Exit 0 accepted, 1 refused."""
    store = open_store(state_dir, now_text)
    raw = _read_text(text).strip()
    authorization = raw if raw.lower().startswith("bearer ") else f"Bearer {raw}"
    outcome = validate(
        authorization,
        host=host,
        scheme=scheme,
        policy=store.policy(service_id=service_id, realm=realm),
        now=store.clock(),
    )
    data: dict[str, Any] = {"status": outcome.status, "ok": outcome.ok, "headers": dict(outcome.headers)}
    if outcome.principal:
        data["principal"] = outcome.principal.__dict__
    if outcome.diagnostic:
        entry = get(outcome.diagnostic.code)
        data["failure"] = {"code": entry.code, "title": entry.title, "cause": entry.cause, "fix": entry.fix}
    if as_json:
        emit_json(data)
    else:
        if outcome.ok:
            p = outcome.principal
            assert p is not None
            click.echo(f"accepted: {p.token_type} actor={p.actor} user={p.user or '-'} issuer={p.issuer_name}")
        else:
            click.echo(f"{outcome.status} Unauthorized")
            for name, value in outcome.headers:
                click.echo(f"{name}: {value}")
            if outcome.diagnostic:
                click.echo(f"cause ({data['failure']['code']}): {data['failure']['cause']}")
                click.echo(f"fix: {data['failure']['fix']}")
    if not outcome.ok:
        raise SystemExit(1)


# ---- probe -------------------------------------------------------------------------------------
def probe_options(func: Any) -> Any:
    """The OAuth options of the probe, shared with ``bridgehead probe URL --oauth``."""
    options = [
        click.option(
            "--token-cert",
            "token_cert",
            help="Sign the probe token with this stored Auth Certificate "
            "thumbprint or a PEM certificate file (then --token-key).",
            default=None,
        ),
        click.option(
            "--token-key",
            type=click.Path(dir_okay=False, path_type=Path),
            help="RSA key for --token-cert FILE.",
        ),
        click.option("--mailbox", help="Mailbox (smtp) the probe asserts, like Test-OAuthConnectivity -Mailbox."),
        click.option("--realm", "oauth_realm", help="Realm (default: from the challenge's trusted_issuers)."),
        click.option("--issuer", "oauth_issuer", help="Actor iss (default: self-issued ACTOR@REALM)."),
        click.option("--actor-id", default=EXCHANGE_APP_ID, show_default=True),
        click.option("--audience-host", help="Audience host part (default: the URL's host)."),
        click.option("--host-header", help="Send this Host instead of the URL's host."),
        click.option("--no-host-header", is_flag=True, help="Send no Host header (HTTP/1.0)."),
        click.option("--connect", "connect_to", help="Connect to this address instead of resolving the URL host."),
        click.option("--insecure", is_flag=True, help="Do not verify the server certificate."),
        click.option("--tls-max", type=click.Choice(["1.2", "1.3"]), help="Highest TLS version to offer."),
    ]
    if not getattr(func, "_for_probe_cmd", False):  # `probe` has its own --ca and --timeout
        options += [
            click.option("--cafile", "cafiles", multiple=True, type=click.Path(dir_okay=False, path_type=Path)),
            click.option("--timeout", type=float, default=10.0, show_default=True),
        ]
    for option in reversed(options):
        func = option(func)
    return func


def probe_cmd_options(func: Any) -> Any:
    """The OAuth options as ``bridgehead probe URL --oauth`` takes them (plus ``--state-dir``)."""
    func._for_probe_cmd = True
    func = probe_options(func)
    return click.option(
        "--state-dir",
        "oauth_state_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default="state",
        show_default=True,
        envvar="BRIDGEHEAD_STATE_DIR",
        help="--oauth: state directory (Auth Certificates).",
    )(func)


def run_oauth_probe(url: str, state_dir: Path, now_text: str | None, params: dict[str, Any]) -> dict[str, Any]:
    """Run the OAuth probe with CLI parameters; returns the report dict (used by both commands)."""
    import ssl

    from bridgehead.runtime.oauth_probe import ProbeOptions, probe

    store = open_store(state_dir, now_text)
    cert_failure, cert_detail, material = _probe_material(store, params.get("token_cert"), params.get("token_key"))
    opts = ProbeOptions(
        url=url,
        mailbox=params.get("mailbox"),
        realm=params.get("oauth_realm"),
        audience_host=params.get("audience_host"),
        host_header=params.get("host_header"),
        send_host=not params.get("no_host_header"),
        connect_to=params.get("connect_to"),
        cafiles=tuple(params.get("cafiles") or ()),
        verify=not params.get("insecure"),
        timeout=float(params.get("timeout") or 10.0),
        tls_max={"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}.get(params.get("tls_max") or ""),
        proxy=params.get("proxy"),
        client_cert=params.get("client_cert"),
        cert_failure=cert_failure,
        cert_detail=cert_detail,
    )

    def make_token(audience_host: str, realm: str) -> str:
        assert material is not None
        private, certificate = material
        mint_opts = MintOptions(
            host=audience_host,
            realm=realm,
            actor_id=params.get("actor_id") or EXCHANGE_APP_ID,
            issuer=params.get("oauth_issuer"),
            user=params.get("mailbox") or "user1@example.test",
        )
        return mint(mint_opts, private, certificate, store.clock())

    return probe(opts, make_token).as_dict()


def _probe_material(
    store: OAuthStore, token_cert: str | None, token_key: Path | None
) -> tuple[str | None, str, tuple[RSAPrivateKey, x509.Certificate] | None]:
    now = store.clock()
    try:
        if token_cert and Path(token_cert).is_file():
            material = _signing_material(store, None, Path(token_cert), token_key)
        else:
            material = _signing_material(store, token_cert, None, None)
    except (CliError, OAuthStoreError) as exc:
        message = exc.format_message() if isinstance(exc, CliError) else str(exc)
        return "oauth-auth-cert-missing", message, None
    cert = material[1]
    thumb = thumbprint_of(cert)
    if cert.not_valid_after_utc <= now:
        return "oauth-auth-cert-expired", f"{thumb} expired on {cert.not_valid_after_utc:%Y-%m-%d}", None
    return None, f"{thumb} valid until {cert.not_valid_after_utc:%Y-%m-%d}", material


def print_probe(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(report)
    else:
        console = Console()
        for step in report["steps"]:
            mark = "[green]ok[/green]  " if step["ok"] else "[red]FAIL[/red]"
            console.print(f"{mark} {step['step']:<18} {step['detail']}", highlight=False)
            if not step["ok"] and step.get("failure"):
                console.print(f"     [bold]{step['failure']}[/bold]: {step['title']}", highlight=False)
                console.print(f"     cause: {step['cause']}", highlight=False)
                console.print(f"     fix:   {step['fix']}", highlight=False)
    if not report["ok"]:
        raise SystemExit(1)


@oauth.command("probe")
@click.argument("url")
@probe_options
@state_dir_option
@json_option
@now_option
def probe_cmd(url: str, state_dir: Path, as_json: bool, now_text: str | None, **params: Any) -> None:
    """Test-OAuthConnectivity: DNS, TCP, TLS, anonymous challenge, authenticated EWS call.

    Exit status: 0 all steps passed, 1 a step failed (its registry code, cause and fix printed),
    2 bad input."""
    print_probe(run_oauth_probe(url, state_dir, now_text, params), as_json)
