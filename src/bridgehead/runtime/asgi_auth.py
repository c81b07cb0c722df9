"""ASGI middleware: HTTP authentication schemes (NTLM/Negotiate first) in front of any app.

    app = AuthMiddleware(starlette_app, [NegotiateScheme("Negotiate", users, policy, cert_der=...)])

How it works:

* Every scheme implements :class:`AuthScheme` (``name``, ``challenge()``, ``authenticate()``).
  The middleware answers a request without ``Authorization`` with 401 and one
  ``WWW-Authenticate`` per scheme (IIS logs that as 401.2), hands a credential to the scheme
  whose name matches, and turns the :class:`SchemeResult` into a 401 (``continue`` carries the
  scheme's token, ``fail`` carries fresh challenges) or into a call of the wrapped app.
* NTLM and Negotiate are connection-bound (MS-NTHT §2, RFC 4559 §6): handshake state lives in a
  :class:`ConnState` per TCP connection, and a connection that has authenticated stays
  authenticated for later requests without ``Authorization`` (IIS' default). The server creates
  one :class:`ConnState` per accepted connection and hands it to every request on that
  connection as ``scope["extensions"]["bridgehead.connection"]`` (bridgehead's backend does, in
  its uvicorn protocol subclass); it dies with the connection. The state is NEVER looked up by
  ``scope["client"]``: (ip, port) is reused by later connections (TIME_WAIT reuse on loopback),
  which then inherited an earlier logon. A server that does not provide the extension gets a
  fresh state per request — connection-bound handshakes then fail closed.
* The result of every attempt — success, challenge step or failure with its registry code —
  is left in ``scope["bridgehead.auth"]`` for loggers (W3C, FREB) outside this middleware; the
  wrapped app finds the authenticated user there too.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bridgehead.core import errorpage
from bridgehead.core.channel_binding import ntlm_binding_for_cert
from bridgehead.core.ntlm.acceptor import (
    DEFAULT_MAX_SKEW,
    KerberosAccepting,
    NegotiateAcceptor,
    NtlmAcceptor,
    ServerIdentity,
)
from bridgehead.core.ntlm.policy import EpPolicy
from bridgehead.core.ntlm.users import UserStore
from bridgehead.failures import REGISTRY, Code, platform_number
from bridgehead.wire import ntlm as wire_ntlm
from bridgehead.wire import spnego as wire_spnego

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SCOPE_KEY = "bridgehead.auth"

# sc-win32-status values IIS writes (MS-ERREF): 5 ERROR_ACCESS_DENIED for the anonymous first
# request (401.2); SEC_E_LOGON_DENIED while a handshake continues; the failure's own number
# (the registry entry's ``iis_win32``) else.
WIN32_ACCESS_DENIED = 5
SEC_E_LOGON_DENIED = platform_number(Code.NTLM_LOGON_FAILURE, "hresult")
CODE_HEADER = errorpage.CODE_HEADER.lower()


def w3c_status(code: str | None) -> int:
    """The sc-win32-status IIS writes for a failed logon with registry ``code``."""
    entry = REGISTRY.get(code or "")
    return entry.iis_win32 if entry is not None and entry.iis_win32 is not None else SEC_E_LOGON_DENIED


@dataclass
class RequestInfo:
    method: str
    path: str
    host: str | None
    headers: dict[str, str]
    client: tuple[str, int] | None
    scheme: str


@dataclass
class SchemeResult:
    """``state``: ``ok``, ``continue`` (send ``www_authenticate``) or ``fail`` (with ``code``)."""

    state: str
    scheme: str
    user: str | None = None
    www_authenticate: list[str] = field(default_factory=list)
    extra_headers: list[tuple[str, str]] = field(default_factory=list)
    code: str | None = None
    win32: int = 0
    substatus: int = 0
    detail: str = ""
    outcome: dict[str, Any] = field(default_factory=dict)
    summary: str = ""  # a redacted description of the credential, for logs

    @property
    def ok(self) -> bool:
        return self.state == "ok"


class ConnState:
    """Per-connection scratch space for connection-bound schemes; ``id`` is unique per process."""

    _ids = itertools.count(1)

    def __init__(self) -> None:
        self.id = next(ConnState._ids)
        self.data: dict[str, Any] = {}
        self.authenticated: SchemeResult | None = None
        self.open = True

    def close(self) -> None:
        """The connection is gone: forget everything (a late request task cannot revive it)."""
        self.open = False
        self.data.clear()
        self.authenticated = None


CONNECTION_EXTENSION = "bridgehead.connection"


def attach_connection(scope: Scope, conn: ConnState) -> None:
    """Called by the server for every request on ``conn`` (ASGI ``extensions`` are per server)."""
    extensions = scope.get("extensions")
    if extensions is None:
        extensions = scope["extensions"] = {}
    extensions[CONNECTION_EXTENSION] = conn


def connection_state(scope: Scope) -> ConnState:
    """The request's connection state; a throwaway one when the server names no connection."""
    conn = (scope.get("extensions") or {}).get(CONNECTION_EXTENSION)
    if isinstance(conn, ConnState) and conn.open:
        return conn
    return ConnState()


class AuthScheme(Protocol):
    name: str
    connection_bound: bool

    def challenge(self) -> str: ...

    def authenticate(self, credentials: str, request: RequestInfo, conn: ConnState) -> SchemeResult: ...


def request_info(scope: Scope) -> RequestInfo:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    client = scope.get("client")
    return RequestInfo(
        method=scope.get("method", "GET"), path=scope.get("path", "/"), host=headers.get("host"),
        headers=headers, client=tuple(client) if client else None,
        scheme=scope.get("scheme", "http"),
    )


class AuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        schemes: Sequence[AuthScheme],
        *,
        protect: Callable[[str], bool] = lambda path: True,
    ) -> None:
        if not schemes:
            raise ValueError("at least one authentication scheme is needed")
        self.app = app
        self.schemes = list(schemes)
        self.protect = protect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or not self.protect(scope.get("path", "/")):
            await self.app(scope, receive, send)
            return
        info = request_info(scope)
        conn = connection_state(scope)
        header = info.headers.get("authorization", "").strip()
        if not header:
            if conn.authenticated is not None:
                scope[SCOPE_KEY] = conn.authenticated
                await self.app(scope, receive, send)
                return
            result = SchemeResult("fail", "", win32=WIN32_ACCESS_DENIED, substatus=2,
                                  detail="no credentials (anonymous request)")
            scope[SCOPE_KEY] = result
            await self._deny(send, result)
            return
        word, _, credentials = header.partition(" ")
        scheme = next((s for s in self.schemes if s.name.lower() == word.lower()), None)
        if scheme is None:
            result = SchemeResult("fail", word, win32=WIN32_ACCESS_DENIED, substatus=2,
                                  detail=f"scheme {word!r} is not offered here")
            scope[SCOPE_KEY] = result
            await self._deny(send, result)
            return
        result = scheme.authenticate(credentials.strip(), info, conn)
        if not result.win32 and not result.ok:
            result.win32 = w3c_status(result.code)
            result.substatus = result.substatus or 1
        scope[SCOPE_KEY] = result
        if result.state == "continue":
            await _respond(send, 401, [("www-authenticate", v) for v in result.www_authenticate]
                           + result.extra_headers, b"")
            return
        if not result.ok:
            await self._deny(send, result)
            return
        if scheme.connection_bound and conn.open:
            conn.authenticated = result
        await self.app(scope, receive, _adding_headers(send, [("www-authenticate", v)
                                                              for v in result.www_authenticate]))

    async def _deny(self, send: Send, result: SchemeResult) -> None:
        # a failing scheme may answer with its own challenge (Bearer: error="invalid_token")
        headers = [("www-authenticate", result.www_authenticate[0] if result.www_authenticate
                    and s.name == result.scheme else s.challenge()) for s in self.schemes] + result.extra_headers
        if result.code:
            headers.append((CODE_HEADER, result.code))
        body = b"401 - Unauthorized: Access is denied due to invalid credentials.\r\n"
        await _respond(send, 401, [*headers, ("content-type", "text/plain")], body)


def _adding_headers(send: Send, extra: list[tuple[str, str]]) -> Send:
    if not extra:
        return send

    async def wrapped(message: MutableMapping[str, Any]) -> None:
        if message.get("type") == "http.response.start":
            message = dict(message)
            message["headers"] = [*message.get("headers", []),
                                  *((k.encode("latin-1"), v.encode("latin-1")) for k, v in extra)]
        await send(message)

    return wrapped


async def _respond(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


# -- the NTLM / Negotiate scheme ---------------------------------------------------------------
def token_summary(token: bytes) -> str:
    """A one-line description of an NTLM/SPNEGO token without secrets (for logs and FREB)."""
    try:
        gss = wire_spnego.decode(token)
    except ValueError:
        return f"[{len(token)} bytes, undecodable]"
    inner = gss.mech_token if gss.kind != "kerberos" else None
    prefix = "" if gss.kind == "ntlm" else f"SPNEGO {gss.kind} ({', '.join(gss.mech_names) or '-'}) "
    if gss.kind == "kerberos":
        return f"[{len(token)} bytes: Kerberos AP-REQ]"
    if not inner or not inner.startswith(wire_ntlm.SIGNATURE):
        return f"[{len(token)} bytes: {prefix.strip() or 'token'}]"
    try:
        msg = wire_ntlm.decode(inner)
    except ValueError:
        return f"[{len(token)} bytes: {prefix}malformed NTLM]"
    parts = [f"{prefix}NTLM {msg.message_name}"]
    if msg.message_type == 3:
        parts.append(f"user={msg.domain}\\{msg.user}" if msg.domain else f"user={msg.user}")
        parts += [f"workstation={msg.workstation}", f"spn={msg.target_spn}", f"ntlm={msg.ntlm_version}",
                  f"binding={msg.binding.status}"]
    return f"[{len(token)} bytes: {' '.join(parts)}]"


class NegotiateScheme:
    """``Negotiate`` or ``NTLM`` (same acceptor; the name decides the header word)."""

    connection_bound = True

    def __init__(
        self,
        name: str,
        users: UserStore,
        policy: EpPolicy,
        *,
        cert_der: bytes | None = None,
        identity: ServerIdentity | None = None,
        kerberos: Callable[[], KerberosAccepting] | None = None,
        max_skew: float = DEFAULT_MAX_SKEW,
    ) -> None:
        if name.lower() not in ("negotiate", "ntlm"):
            raise ValueError(f"NegotiateScheme is for Negotiate or NTLM, not {name!r}")
        self.name = "Negotiate" if name.lower() == "negotiate" else "NTLM"
        self.users = users
        self.policy = policy
        self.expected_binding = ntlm_binding_for_cert(cert_der) if cert_der else None
        self.identity = identity
        self.kerberos = kerberos if self.name == "Negotiate" else None
        self.max_skew = max_skew  # NTLMv2 TimeStamp vs the server's clock (seconds; 0 = not checked)

    def challenge(self) -> str:
        return self.name

    def authenticate(self, credentials: str, request: RequestInfo, conn: ConnState) -> SchemeResult:
        try:
            token = base64.b64decode(credentials, validate=True)
        except (binascii.Error, ValueError):
            return SchemeResult("fail", self.name, code="ntlm-invalid-token", detail="token is not base64",
                                summary="[not base64]")
        summary = token_summary(token)
        acceptor = conn.data.get("negotiate")
        if acceptor is None or _starts_handshake(token):
            ntlm = NtlmAcceptor(self.users, self.policy, expected_binding=self.expected_binding,
                                identity=self.identity, max_skew=self.max_skew)
            acceptor = conn.data["negotiate"] = NegotiateAcceptor(ntlm, self.kerberos)
        step = acceptor.step(token)
        header = [f"{self.name} {base64.b64encode(step.token).decode()}"] if step.token else []
        if step.outcome is None:
            return SchemeResult("continue", self.name, www_authenticate=header, summary=summary)
        conn.data.pop("negotiate", None)
        outcome = step.outcome
        result = SchemeResult(
            "ok" if outcome.ok else "fail", self.name, user=outcome.principal,
            www_authenticate=header if outcome.ok else [], code=outcome.code, detail=outcome.detail,
            outcome=outcome.as_dict(), summary=summary,
        )
        if outcome.ok:
            result.outcome["scheme"] = self.name
        return result


def _starts_handshake(token: bytes) -> bool:
    if token.startswith(wire_ntlm.SIGNATURE):
        return len(token) >= 12 and token[8] == 1
    return token[:1] == b"\x60"  # [APPLICATION 0] InitialContextToken: a new SPNEGO/Kerberos exchange
