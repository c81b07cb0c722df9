"""``bridgehead decode VALUE`` — show what is inside an Authorization / WWW-Authenticate value.

Accepts a raw base64 token, ``NTLM …``, ``Negotiate …``, ``Basic …``, ``Bearer …`` or a whole
header line; ``-`` reads the value from stdin. Decoding dispatches on the scheme through
:data:`DECODERS` (``scheme -> (module, function)``, each ``function(value: str, ctx) -> dict``):
the Bearer/JWT decoder lives in the OAuth module and plugs in there.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from bridgehead.cli.common import CliError, emit_json, json_option
from bridgehead.core.channel_binding import end_point_hash_name, ntlm_binding_for_cert, tls_server_end_point
from bridgehead.wire import kerberos_apreq, spnego
from bridgehead.wire import ntlm as wire_ntlm

HEADER_NAMES = ("authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate")

DECODERS: dict[str, tuple[str, str]] = {
    "ntlm": ("bridgehead.cli.decode_cmd", "decode_gss"),
    "negotiate": ("bridgehead.cli.decode_cmd", "decode_gss"),
    "basic": ("bridgehead.cli.decode_cmd", "decode_basic"),
    "bearer": ("bridgehead.cli.decode_jwt", "decode_bearer"),  # provided by the OAuth module
}


@dataclass
class DecodeContext:
    cert_der: bytes | None = None
    cert_label: str | None = None
    at_host: str | None = None  # Bearer: does the audience fit this Host?


def split_value(value: str) -> tuple[str | None, str]:
    """(scheme or None, credential) from a header line, a scheme + token, or a bare token."""
    text = value.strip()
    name, sep, rest = text.partition(":")
    if sep and name.strip().lower() in HEADER_NAMES:
        text = rest.strip()
    word, _, cred = text.partition(" ")
    if word.lower() in DECODERS and cred.strip():
        return word.lower(), cred.strip().split(",")[0].strip()
    if word.lower() in DECODERS:
        raise CliError(f"{word} has no token to decode (a bare challenge)")
    return None, text


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise CliError("not base64 (and not a known scheme): nothing to decode") from None


def decode_value(value: str, ctx: DecodeContext) -> dict[str, Any]:
    scheme, cred = split_value(value)
    if scheme is None:
        if cred.count(".") == 2 and not cred.startswith("TlRM"):
            scheme = "bearer"
        else:
            scheme = "negotiate"
    module_name, attr = DECODERS[scheme]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        raise CliError(f"decoding {scheme.title()} tokens is not available in this build") from None
    result: dict[str, Any] = getattr(module, attr)(cred, ctx)
    return result


def decode_gss(cred: str, ctx: DecodeContext) -> dict[str, Any]:
    raw = _b64(cred)
    try:
        gss = spnego.decode(raw)
    except ValueError as exc:
        raise CliError(f"not an NTLM, SPNEGO or Kerberos token: {exc}") from None
    out: dict[str, Any] = {"scheme": "NTLM" if gss.kind == "ntlm" else "Negotiate", "token_bytes": len(raw)}
    if gss.kind in ("spnego-init", "spnego-resp"):
        out["spnego"] = {
            "kind": "NegTokenInit" if gss.kind == "spnego-init" else "NegTokenResp",
            "mech_types": gss.mech_names,
            "neg_state": gss.neg_state_name,
            "supported_mech": spnego.MECH_NAMES.get(gss.supported_mech or "", gss.supported_mech),
            "mech_list_mic_present": gss.mech_list_mic is not None,
        }
    inner = gss.mech_token
    if inner is None:
        return out
    if inner.startswith(wire_ntlm.SIGNATURE):
        try:
            out["ntlm"] = ntlm_fields(wire_ntlm.decode(inner), ctx)
        except ValueError as exc:
            raise CliError(f"malformed NTLM message: {exc}") from None
    elif gss.kind == "kerberos" or (gss.inner_mech() in spnego.KERBEROS_OIDS):
        try:
            out["kerberos"] = kerberos_apreq.decode_gss_krb5(inner).as_dict()
        except ValueError as exc:
            out["kerberos"] = {"error": str(exc)}
    else:
        out["inner_token_bytes"] = len(inner)
    return out


def ntlm_fields(msg: wire_ntlm.NtlmMessage, ctx: DecodeContext) -> dict[str, Any]:
    ts = msg.timestamp
    fields: dict[str, Any] = {
        "message_type": msg.message_name,
        "flags": wire_ntlm.flag_names(msg.flags),
        "flags_hex": f"0x{msg.flags:08X}",
        "user": msg.user,
        "domain": msg.domain,
        "workstation": msg.workstation,
        "target_spn": msg.target_spn if msg.message_type == 3 else None,
        "target_name": msg.target_name,
        "timestamp": ts.isoformat() if ts else None,
        "mic_present": msg.mic_present,
        "ntlm_version": msg.ntlm_version,
        "version": msg.version,
    }
    if msg.server_challenge is not None:
        fields["server_challenge"] = msg.server_challenge.hex()
    pairs = msg.v2.av_pairs if msg.v2 is not None else msg.av_pairs
    fields["av_pairs"] = [{"id": p.name, "value": p.text() if p.text() is not None else p.value.hex()}
                          for p in pairs]
    if msg.message_type == 3:
        fields["channel_binding"] = binding_fields(msg, ctx)
    return fields


def binding_fields(msg: wire_ntlm.NtlmMessage, ctx: DecodeContext) -> dict[str, Any]:
    info = msg.binding if msg.ntlm_version == "v2" else wire_ntlm.BindingInfo("absent")
    out: dict[str, Any] = {"status": info.status, "value": info.hex}
    if msg.ntlm_version != "v2":
        out["note"] = "NTLMv1/anonymous responses cannot carry a channel binding"
    if ctx.cert_der is not None:
        expected = ntlm_binding_for_cert(ctx.cert_der)
        out["expected"] = expected.hex()
        out["certificate"] = ctx.cert_label
        out["tls_server_end_point"] = tls_server_end_point(ctx.cert_der).hex()
        out["matches"] = info.status == "value" and info.value == expected
    return out


def decode_basic(cred: str, ctx: DecodeContext) -> dict[str, Any]:
    try:
        text = _b64(cred).decode("utf-8")
    except UnicodeDecodeError:
        raise CliError("Basic credentials are not UTF-8 text") from None
    user, sep, password = text.partition(":")
    if not sep:
        raise CliError("Basic credentials have no ':' between user and password")
    domain, _, name = user.rpartition("\\")
    return {"scheme": "Basic", "user": name, "domain": domain or None, "password": "*" * 8,
            "password_length": len(password)}


# -- --cert ---------------------------------------------------------------------------------
def load_cert(spec: str) -> tuple[bytes, str]:
    path = Path(spec)
    if path.exists():
        data = path.read_bytes()
        if b"-----BEGIN CERTIFICATE-----" in data:
            text = data.decode("ascii", errors="replace")
            start = text.index("-----BEGIN CERTIFICATE-----")
            end = text.index("-----END CERTIFICATE-----", start) + len("-----END CERTIFICATE-----")
            der = ssl.PEM_cert_to_DER_cert(text[start:end])
            return der, _label(der, spec)
        return data, _label(data, spec)
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit():
        raise CliError(f"--cert {spec!r}: no such file, and not HOST:PORT")
    der = fetch_cert(host.strip("[]"), int(port))
    return der, _label(der, spec)


def fetch_cert(host: str, port: int, timeout: float = 10.0) -> bytes:
    """The server's leaf certificate, unverified (we only hash it)."""
    import socket

    from bridgehead.runtime import tls

    ctx = tls.client_context(verify=False)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock, \
                ctx.wrap_socket(sock, server_hostname=host) as tls_sock:
            der = tls_sock.getpeercert(binary_form=True)
    except OSError as exc:
        raise CliError(f"cannot fetch the certificate of {host}:{port}: {exc}") from None
    if not der:
        raise CliError(f"{host}:{port} presented no certificate")
    return der


def _label(der: bytes, source: str) -> str:
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        raise CliError(f"--cert {source}: not a certificate") from None
    return f"{cert.subject.rfc4514_string()} ({source}, {end_point_hash_name(cert)})"


# -- output ----------------------------------------------------------------------------------
def _render(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()

    def add(prefix: str, data: dict[str, Any]) -> None:
        for key, value in data.items():
            if isinstance(value, dict):
                add(f"{prefix}{key}.", value)
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for item in value:
                    table.add_row(f"{prefix}{key}", f"{item.get('id')}: {item.get('value')}")
            elif isinstance(value, list):
                table.add_row(f"{prefix}{key}", ", ".join(str(v) for v in value) or "-")
            else:
                table.add_row(f"{prefix}{key}", "-" if value is None else str(value))

    add("", result)
    console.print(table)
    cb = result.get("ntlm", {}).get("channel_binding")
    if cb and "matches" in cb:
        verdict = "binding matches" if cb["matches"] else f"binding does NOT match ({cb['status']})"
        console.print(f"{verdict} {cb['certificate']}")


@click.command("decode")
@click.argument("value")
@click.option("--cert", "cert_spec", default=None, help="Certificate FILE or HOST:PORT to check the binding.")
@click.option("--at", "at_host", default=None, help="Bearer: check whether the audience fits this Host.")
@json_option
def decode(value: str, cert_spec: str | None, at_host: str | None, as_json: bool) -> None:
    """Decode an NTLM, Negotiate (SPNEGO/Kerberos), Basic or Bearer value ('-' reads stdin)."""
    if value == "-":
        value = sys.stdin.read()
    if not value.strip():
        raise CliError("empty value")
    ctx = DecodeContext(at_host=at_host)
    if cert_spec:
        ctx.cert_der, ctx.cert_label = load_cert(cert_spec)
    result = decode_value(value, ctx)
    if as_json:
        emit_json(result)
    else:
        _render(result)
