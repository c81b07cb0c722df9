"""``probe URL --oauth``: what Test-OAuthConnectivity does, step by step, with causes.

Steps (each one either passes or stops the probe with a registry code and its fix):

1. mailbox — the ``--mailbox`` must be a mailbox address (Exchange Online refuses before
   sending anything: ``oauth-mailbox-not-found``);
2. token certificate — present and not expired (``oauth-auth-cert-missing`` / ``-expired``);
3. DNS (``oauth-name-not-resolved``), 4. TCP (``upstream-unreachable`` / ``upstream-timeout``),
5. TLS (reset or handshake failure → ``oauth-connection-reset``; certificate problems → the
   ``upstream-cert-*`` codes);
6. an anonymous ``POST /EWS/Exchange.asmx`` to learn the Bearer challenge (``client_id``,
   ``trusted_issuers``); 404 → ``oauth-endpoint-not-ews``;
7. the authenticated EWS call with ``User-Agent: AMProbe/OAUTH/Exchange``; a 401 is mapped
   through its ``x-ms-diagnostics`` number to the registry (2000003 without Expected/Actual →
   ``oauth-host-header-missing``).

Every connection honours ``connect_to`` (TCP goes there, SNI and Host stay the URL's), ``proxy``
(``CONNECT`` through an HTTP proxy, RFC 9110 §9.3.6, refusals named as the forward proxy names a
parent's), ``tls_max`` and ``client_cert`` (presented when the server sends a CertificateRequest);
TLS failures are named by the one classify step (:mod:`bridgehead.runtime.classify`), except a
reset during the handshake, which is Test-OAuthConnectivity's ``oauth-connection-reset``.

Requests are written by hand on a TLS socket (HTTP/1.1, or HTTP/1.0 when the Host header is
deliberately left out, which HTTP/1.1 forbids — RFC 9112 §3.2) and read with
:class:`http.client.HTTPResponse`, so the probe controls Host exactly.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bridgehead.core.oauth.diagnostics import parse_challenge, parse_diagnostics
from bridgehead.failures import Code, by_number, get, platform_number
from bridgehead.runtime.classify import classify
from bridgehead.runtime.tls import client_context

USER_AGENT = "AMProbe/OAUTH/Exchange"
EWS_PATH = "/EWS/Exchange.asmx"
MAX_BODY = 256 * 1024

SOAP_GET_INBOX = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    b'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" '
    b'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">'
    b'<soap:Header><t:RequestServerVersion Version="Exchange2013"/></soap:Header><soap:Body>'
    b"<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
    b'<m:FolderIds><t:DistinguishedFolderId Id="inbox"/></m:FolderIds></m:GetFolder>'
    b"</soap:Body></soap:Envelope>"
)

# Make a token for (audience host part, realm); realm comes from the challenge or the caller.
TokenMaker = Callable[[str, str], str]

# x-ms-diagnostics 2000003 (invalid_resource): the audience checks the hints below tell apart
_AUDIENCE = platform_number(Code.OAUTH_AUDIENCE_HOST_MISMATCH, "ms_diagnostics")


@dataclass
class Step:
    name: str
    ok: bool
    detail: str
    failure: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.name, "ok": self.ok, "detail": self.detail}
        if self.failure:
            entry = get(self.failure)
            out.update(failure=self.failure, title=entry.title, cause=entry.cause, fix=entry.fix)
        return out


@dataclass
class ProbeOptions:
    url: str
    mailbox: str | None = None
    realm: str | None = None  # default: from the challenge's trusted_issuers
    audience_host: str | None = None  # default: the URL's host
    host_header: str | None = None  # default: the URL's host (with port if not default)
    send_host: bool = True
    connect_to: str | None = None  # IP (or name) to connect to instead of resolving the URL's host
    cafiles: tuple[Path, ...] = ()
    verify: bool = True
    timeout: float = 10.0
    tls_max: ssl.TLSVersion | None = None
    proxy: tuple[str, int] | None = None  # HTTP proxy to CONNECT through
    client_cert: tuple[str, str] | None = None  # (certificate, key) to present
    cert_failure: str | None = None  # set by the caller when the token certificate is missing/expired
    cert_detail: str = ""


@dataclass
class ProbeReport:
    url: str
    steps: list[Step] = field(default_factory=list)
    challenge: dict[str, str] | None = None
    diagnostics: str | None = None
    status: int | None = None

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    @property
    def failure(self) -> str | None:
        return next((s.failure for s in self.steps if not s.ok), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ok": self.ok,
            "failure": self.failure,
            "status": self.status,
            "challenge": self.challenge,
            "diagnostics": self.diagnostics,
            "steps": [s.as_dict() for s in self.steps],
        }


class _Stop(Exception):
    def __init__(self, step: Step) -> None:
        super().__init__(step.detail)
        self.step = step


def probe(opts: ProbeOptions, make_token: TokenMaker) -> ProbeReport:
    report = ProbeReport(opts.url)
    try:
        _run(opts, make_token, report)
    except _Stop as stop:
        report.steps.append(stop.step)
    return report


def _run(opts: ProbeOptions, make_token: TokenMaker, report: ProbeReport) -> None:
    parts = urlsplit(opts.url if "://" in opts.url else "https://" + opts.url)
    if parts.scheme != "https" or not parts.hostname:
        raise _Stop(Step("url", False, f"{opts.url!r} is not an https:// URL", "client-bad-request"))
    host, port = parts.hostname, parts.port or 443
    if opts.mailbox is not None:
        local, _, domain = opts.mailbox.partition("@")
        if not local or "." not in domain:
            raise _Stop(
                Step(
                    "mailbox",
                    False,
                    f"The operation couldn't be performed because object "
                    f"'{opts.mailbox}' couldn't be found (not a mailbox address).",
                    "oauth-mailbox-not-found",
                )
            )
        report.steps.append(Step("mailbox", True, opts.mailbox))
    if opts.cert_failure:
        raise _Stop(Step("token-certificate", False, opts.cert_detail, opts.cert_failure))
    report.steps.append(Step("token-certificate", True, opts.cert_detail or "usable"))

    target = opts.proxy[0] if opts.proxy else (opts.connect_to or host)
    try:
        infos = socket.getaddrinfo(target, opts.proxy[1] if opts.proxy else port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise _Stop(
            Step("dns", False, f"The remote name could not be resolved: '{target}'", "oauth-name-not-resolved")
        ) from None
    address = infos[0][4]
    report.steps.append(Step("dns", True, f"{target} → {address[0]}"))

    ctx = client_context(cafiles=opts.cafiles, verify=opts.verify, system_store=not opts.cafiles,
                         client_cert=opts.client_cert)
    if opts.tls_max is not None:
        ctx.maximum_version = opts.tls_max
    tls = _connect(address, host, port, ctx, opts, report)
    version = tls.version()
    tls.close()
    report.steps.append(Step("tls", True, f"{version} with {host}"))

    host_value = opts.host_header or (host if port == 443 else f"{host}:{port}")
    status, headers, _ = _request(address, host, port, ctx, opts, host_value, None)
    if status == 404:
        raise _Stop(
            Step(
                "anonymous",
                False,
                f"The remote server returned an error: (404) Not Found for {EWS_PATH}.",
                "oauth-endpoint-not-ews",
            )
        )
    challenge = None
    for value in headers.get("www-authenticate", []):
        challenge = challenge or parse_challenge(value)
    if status != 401 or challenge is None:
        raise _Stop(
            Step(
                "anonymous",
                False,
                f"expected 401 with a Bearer challenge, got {status} "
                f"({', '.join(headers.get('www-authenticate', [])) or 'no WWW-Authenticate'}): "
                "OAuth is not enabled on this EWS virtual directory or this is not Exchange",
                "oauth-endpoint-not-ews",
            )
        )
    report.challenge = challenge
    report.steps.append(
        Step(
            "anonymous",
            True,
            f"401 Bearer client_id={challenge.get('client_id')} trusted_issuers={challenge.get('trusted_issuers')}",
        )
    )

    realm = opts.realm or _realm_from(challenge.get("trusted_issuers", ""))
    token = make_token(opts.audience_host or host, realm)
    status, headers, body = _request(address, host, port, ctx, opts, host_value, token)
    report.status = status
    diagnostics = headers.get("x-ms-diagnostics") or []
    diag = diagnostics[0] if diagnostics else None
    report.diagnostics = diag
    if status == 200:
        report.steps.append(Step("ews", True, f"200 OK from {EWS_PATH} ({len(body)} bytes)"))
        return
    raise _Stop(_classify(status, diag))


def _classify(status: int, diag: str | None) -> Step:
    if status == 404:
        return Step("ews", False, "The remote server returned an error: (404) Not Found.", "oauth-endpoint-not-ews")
    if status == 401 and diag:
        parsed = parse_diagnostics(diag)
        if parsed is not None:
            number, reason, _category = parsed
            detail = f"The remote server returned an error: (401) Unauthorized. diagnostics: {diag}"
            if number == _AUDIENCE and "Expected" not in reason and "hostname component" in reason:
                return Step("ews", False, detail, "oauth-host-header-missing")
            if number == _AUDIENCE and "hostname component" not in reason:  # names aud: another resource's token
                return Step("ews", False, detail, "oauth-audience-wrong-resource")
            entries = [e for e in by_number(number) if e.area == "oauth"]
            if entries:
                return Step("ews", False, detail, entries[0].code)
    return Step(
        "ews",
        False,
        f"The remote server returned an error: ({status}) without x-ms-diagnostics",
        "oauth-internal-error" if status >= 500 else "oauth-invalid-token",
    )


def _realm_from(trusted: str) -> str:
    for item in trusted.split(","):
        _, _, realm = item.strip().rpartition("@")
        if realm and realm != "*":
            return realm
    return "*"


def _tunnel(raw: socket.socket, opts: ProbeOptions, host: str, port: int) -> None:
    """``CONNECT`` through ``opts.proxy`` (RFC 9110 §9.3.6); a refusal stops the probe with its code."""
    from bridgehead.core.chaining import Parent, connect_request, parent_refusal, parse_status_line

    assert opts.proxy is not None
    parent = Parent(*opts.proxy)
    dest = opts.connect_to or host
    head = b""
    try:
        raw.sendall(connect_request(dest, port, parent))
        while b"\r\n\r\n" not in head and len(head) < 16384:
            data = raw.recv(1)
            if not data:
                break
            head += data
        status = parse_status_line(head)
    except (OSError, ValueError) as exc:
        raw.close()
        raise _Stop(Step("tcp", False, f"proxy {parent}: no answer to CONNECT {dest}:{port} ({exc})",
                         "parent-proxy-unreachable")) from None
    refusal = parent_refusal(status, parent, f"{dest}:{port}")
    if refusal is not None:
        raw.close()
        raise _Stop(Step("tcp", False, refusal[1], refusal[0]))


def _connect(
    address: Any, host: str, port: int, ctx: ssl.SSLContext, opts: ProbeOptions, report: ProbeReport
) -> ssl.SSLSocket:
    timeout = opts.timeout
    if opts.proxy is not None:
        address = (address[0], opts.proxy[1])
    try:
        raw = socket.create_connection(address[:2], timeout=timeout)
    except TimeoutError:
        raise _Stop(
            Step("tcp", False, f"no answer from {address[0]}:{port} within {timeout}s", "upstream-timeout")
        ) from None
    except (ConnectionResetError, ConnectionAbortedError) as exc:
        raise _Stop(
            Step(
                "tcp",
                False,
                "An existing connection was forcibly closed by the remote host "
                f"({address[0]}:{port}: {exc.strerror or exc})",
                "oauth-connection-reset",
            )
        ) from None
    except OSError as exc:
        raise _Stop(
            Step(
                "tcp",
                False,
                f"cannot connect to {address[0]}:{port}: {exc.strerror or exc}",
                "upstream-unreachable",
            )
        ) from None
    if opts.proxy is not None:
        _tunnel(raw, opts, host, port)
    if not any(s.name == "tcp" for s in report.steps):
        via = f" through the proxy {address[0]}:{address[1]}" if opts.proxy else ""
        report.steps.append(Step("tcp", True, f"connected to {opts.connect_to or host if opts.proxy else address[0]}"
                                 f":{port}{via}"))
    try:
        return ctx.wrap_socket(raw, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        raw.close()
        raise _Stop(
            Step("tls", False, f"certificate of {host}: {exc.verify_message}", classify(exc)[0])
        ) from None
    except (
        ssl.SSLError,
        ConnectionResetError,
        ConnectionAbortedError,
        BrokenPipeError,
        TimeoutError,
        OSError,
    ) as exc:
        raw.close()
        code, _ = classify(exc)  # an explicit TLS alert keeps its own code; a bare reset is Exchange's wording
        raise _Stop(
            Step(
                "tls",
                False,
                "The underlying connection was closed: An unexpected error occurred on "
                f"a receive ({type(exc).__name__}: {exc})",
                code if code.startswith("tls-") else "oauth-connection-reset",
            )
        ) from None


def _request(
    address: Any,
    host: str,
    port: int,
    ctx: ssl.SSLContext,
    opts: ProbeOptions,
    host_value: str,
    token: str | None,
) -> tuple[int, dict[str, list[str]], bytes]:
    tls = _connect(address, host, port, ctx, opts, ProbeReport(""))
    version = "HTTP/1.1" if opts.send_host else "HTTP/1.0"
    lines = [f"POST {EWS_PATH} {version}"]
    if opts.send_host:
        lines.append(f"Host: {host_value}")
    lines += [
        f"User-Agent: {USER_AGENT}",
        "Content-Type: text/xml; charset=utf-8",
        f"Content-Length: {len(SOAP_GET_INBOX)}",
        "Connection: close",
    ]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    try:
        tls.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + SOAP_GET_INBOX)
        response = http.client.HTTPResponse(tls)
        response.begin()
        body = response.read(MAX_BODY)
    except (OSError, http.client.HTTPException) as exc:
        raise _Stop(
            Step(
                "ews" if token else "anonymous",
                False,
                "The underlying connection was closed: An "
                f"unexpected error occurred on a receive ({type(exc).__name__}: {exc})",
                "oauth-connection-reset",
            )
        ) from None
    finally:
        tls.close()
    headers: dict[str, list[str]] = {}
    for name, value in response.getheaders():
        headers.setdefault(name.lower(), []).append(value)
    return response.status, headers, body
