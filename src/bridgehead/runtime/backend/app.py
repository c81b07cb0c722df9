"""The backend's ASGI app: Exchange-like endpoints behind the auth middleware, with IIS logs.

Endpoints (all authenticated): ``/EWS/mrsproxy.svc``, ``/EWS/Exchange.asmx``,
``/Microsoft-Server-ActiveSync``, ``/owa/``, ``/``. A successful request gets JSON naming the
user, the scheme and the channel-binding outcome. A POST to ``mrsproxy.svc`` that is
authenticated but is not a SOAP envelope gets 400, as Exchange answers the seed's
``Invoke-WebRequest -Method POST`` (``mrs-authenticated-bad-request``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridgehead.core.errorpage import CODE_HEADER
from bridgehead.core.logscan import NTLM_CHALLENGE_STEP
from bridgehead.runtime.asgi_auth import (
    CONNECTION_EXTENSION,
    SCOPE_KEY,
    AuthMiddleware,
    Receive,
    SchemeResult,
    Scope,
    Send,
    token_summary,
)
from bridgehead.runtime.backend.config import BackendConfig
from bridgehead.runtime.backend.freb import FrebRequest, FrebWriter
from bridgehead.runtime.backend.schemes import build_all
from bridgehead.runtime.backend.w3c import W3CRecord, W3CWriter

ENDPOINTS = ("/EWS/mrsproxy.svc", "/EWS/Exchange.asmx", "/Microsoft-Server-ActiveSync", "/owa/", "/")


def _answer(request: Request, extra: dict[str, Any] | None = None, status: int = 200) -> JSONResponse:
    result: SchemeResult | None = request.scope.get(SCOPE_KEY)
    outcome = dict(result.outcome) if result is not None else {}
    peer = request.scope.get("bridgehead.peer_cert_subject")
    body = {
        "user": result.user if result else None,
        "scheme": result.scheme if result else None,
        "mech": outcome.get("mech"),
        "binding": outcome.get("binding"),
        "binding_outcome": outcome.get("binding_outcome"),
        "target_spn": outcome.get("target_spn"),
        "workstation": outcome.get("workstation"),
        "path": request.url.path,
        "method": request.method,
        "client_certificate": peer,
    }
    body.update(extra or {})
    code = body.get("code")  # a refusal names its registry code in the one header every page uses
    return JSONResponse(body, status_code=status, headers={CODE_HEADER: str(code)} if code else None)


async def generic(request: Request) -> Response:
    return _answer(request)


async def mrsproxy(request: Request) -> Response:
    if request.method != "POST":
        return _answer(request, {"service": "MRSProxy"})
    body = await request.body()
    ctype = request.headers.get("content-type", "")
    if "soap" in ctype or b"Envelope" in body[:512]:
        return _answer(request, {"service": "MRSProxy", "soap": True})
    return _answer(request, {"service": "MRSProxy", "code": "mrs-authenticated-bad-request",
                             "error": "authenticated, but the body is not a valid MRS (WCF/SOAP) request"},
                   status=400)


def build_app(config: BackendConfig) -> Any:
    routes = [
        Route("/EWS/mrsproxy.svc", mrsproxy, methods=["GET", "POST"]),
        Route("/EWS/Exchange.asmx", generic, methods=["GET", "POST"]),
        Route("/Microsoft-Server-ActiveSync", generic, methods=["GET", "POST", "OPTIONS"]),
        Route("/owa/", generic, methods=["GET", "POST"]),
        Route("/", generic, methods=["GET", "POST"]),
    ]
    inner = Starlette(routes=routes)
    auth = AuthMiddleware(inner, build_all(config))
    return IisLogMiddleware(auth, config)


class IisLogMiddleware:
    """Writes one W3C line per request and a FREB trace per failed (>= 400) request."""

    def __init__(self, app: Any, config: BackendConfig) -> None:
        self.app = app
        self.config = config
        self.w3c = W3CWriter(config.w3c_log) if config.w3c_log else None
        self.freb = FrebWriter(config.freb_dir) if config.freb_dir else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or (self.w3c is None and self.freb is None):
            await self.app(scope, receive, send)
            return
        start = time.monotonic()
        seen: dict[str, Any] = {"status": 500, "headers": []}

        async def capture(message: MutableMapping[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                seen["status"] = message["status"]
                raw = message.get("headers", [])
                seen["headers"] = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            self._log(scope, seen, int((time.monotonic() - start) * 1000))

    def _log(self, scope: Scope, seen: dict[str, Any], took: int) -> None:
        result: SchemeResult | None = scope.get(SCOPE_KEY)
        status = int(seen["status"])
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])]
        hmap = {k.lower(): v for k, v in headers}
        substatus, win32 = 0, 0
        if result is not None and not result.ok:
            substatus, win32 = result.substatus, result.win32
            if result.state == "continue":
                # IIS writes the NTLM CHALLENGE round trip as 401 1 2148074254 (SEC_E_NO_CREDENTIALS), not a
                # logon failure (401 1 2148074252 is ntlm-logon-failure's iis_win32, for a refused logon)
                substatus, win32 = 1, NTLM_CHALLENGE_STEP
        client = scope.get("client") or ("-", 0)
        server = scope.get("server") or ("-", 0)
        if self.w3c is not None:
            self.w3c.write(W3CRecord(
                when=dt.datetime.now(dt.UTC), server_ip=str(server[0]), method=scope.get("method", "-"),
                path=scope.get("path", "/"), query=scope.get("query_string", b"").decode("latin-1"),
                port=int(server[1] or 0), username=result.user if result is not None and result.ok else None,
                client_ip=str(client[0]), user_agent=hmap.get("user-agent"), referer=hmap.get("referer"),
                status=status, substatus=substatus, win32=win32, time_taken_ms=took,
                forwarded_for=hmap.get("x-forwarded-for"),
            ))
        if self.freb is not None and status >= 400:
            safe = [(k, _redact(k, v)) for k, v in headers]
            host = hmap.get("host", f"{server[0]}:{server[1]}")
            self.freb.write(FrebRequest(
                url=f"{scope.get('scheme', 'https')}://{host}{scope.get('path', '/')}",
                verb=scope.get("method", "-"),
                status=status, substatus=substatus, time_taken_ms=took, headers=safe,
                response_headers=[(k, _redact_challenge(k, v)) for k, v in seen["headers"]],
                auth_scheme=(result.scheme or None) if result else None, auth_ok=bool(result and result.ok),
                user=result.user if result else None, code=(result.code if result else None) or
                ("mrs-authenticated-bad-request" if status == 400 else None),
                detail=result.detail if result else "", conn_id=_conn_id(scope, client),
            ))


def _conn_id(scope: Scope, client: Any) -> int:
    """IIS' ConnId: the server's connection number (the client port only without one)."""
    conn = (scope.get("extensions") or {}).get(CONNECTION_EXTENSION)
    return int(getattr(conn, "id", 0) or client[1] or 0)


def _redact_challenge(name: str, value: str) -> str:
    """A WWW-Authenticate carrying an NTLM/SPNEGO token keeps its scheme word only."""
    word, _, rest = value.partition(" ")
    if name.lower() == "www-authenticate" and word.lower() in ("ntlm", "negotiate") and rest:
        return f"{word} [token]"
    return value


def _redact(name: str, value: str) -> str:
    """Authorization headers as a decoded summary (DESIGN §3: secrets never reach logs)."""
    if name.lower() not in ("authorization", "proxy-authorization"):
        return value
    word, _, cred = value.partition(" ")
    if word.lower() in ("ntlm", "negotiate"):
        import base64
        import binascii

        try:
            return f"{word} {token_summary(base64.b64decode(cred, validate=True))}"
        except (binascii.Error, ValueError):
            return f"{word} [not base64]"
    if word.lower() == "basic":
        return "Basic [user:*** redacted]"
    if word.lower() == "bearer":
        from bridgehead.core.oauth.describe import summarize

        return summarize(value)
    return f"{word} [{len(cred)} chars redacted]"
