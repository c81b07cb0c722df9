"""The bearer check at the HTTP edge, and an Exchange EWS stand-in that uses it.

:class:`BearerGate` is the one call a server makes per request::

    outcome = gate.check(authorization, host=host_header, scheme="https")

It builds the validator's :class:`TrustPolicy` from the state directory's trust store
(re-read every ``reload_seconds`` so ``bridgehead oauth trust …`` / ``authcert …`` changes
apply without a restart, as IISReset would) and returns the validator's outcome (status,
headers, principal). :meth:`BearerGate.log_summary` gives the ``Request-Authorization``
log field as a decoded summary — never the token.

:func:`ews_app` is a Starlette app answering ``/EWS/Exchange.asmx`` like Exchange: 401 with
the Bearer challenge for anonymous requests, 401 + ``x-ms-diagnostics`` for refused tokens,
a SOAP ``GetFolderResponse`` for accepted ones, 404 elsewhere. ``bridgehead backend --auth
bearer`` mounts the same gate; the app also serves the OAuth tests on its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridgehead.core.oauth.describe import summarize
from bridgehead.core.oauth.model import EXCHANGE_APP_ID, TrustPolicy
from bridgehead.core.oauth.validator import Outcome, validate
from bridgehead.runtime.oauth_store import Clock, OAuthStore, utcnow

log = logging.getLogger("bridgehead.oauth")

EWS_PATH = "/EWS/Exchange.asmx"


class BearerGate:
    def __init__(
        self,
        state_dir: Path,
        *,
        realm: str = "*",
        service_id: str = EXCHANGE_APP_ID,
        clock: Clock = utcnow,
        reload_seconds: float = 2.0,
        known_users: frozenset[str] | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.realm = realm
        self.service_id = service_id
        self.clock = clock
        self.reload_seconds = reload_seconds
        self.known_users = known_users
        self._lock = threading.Lock()
        self._policy: TrustPolicy | None = None
        self._loaded = 0.0

    def policy(self) -> TrustPolicy:
        with self._lock:
            if self._policy is None or time.monotonic() - self._loaded > self.reload_seconds:
                store = OAuthStore(self.state_dir, clock=self.clock)
                self._policy = store.policy(
                    service_id=self.service_id, realm=self.realm, known_users=self.known_users
                )
                self._loaded = time.monotonic()
            return self._policy

    def check(self, authorization: str | None, *, host: str | None, scheme: str) -> Outcome:
        return validate(authorization, host=host, scheme=scheme, policy=self.policy(), now=self.clock())

    def challenge_headers(self) -> list[tuple[str, str]]:
        return list(validate(None, host=None, scheme="https", policy=self.policy(), now=self.clock()).headers)

    @staticmethod
    def log_summary(authorization: str | None) -> str:
        """``Request-Authorization`` for a log line: decoded summary, never the token."""
        if not authorization:
            return "-"
        scheme = authorization.strip().split(" ", 1)[0]
        if scheme.lower() != "bearer":
            return f"{scheme} <{len(authorization)} chars>"
        return summarize(authorization)


def soap_get_folder_response(user: str | None) -> bytes:
    """A minimal EWS GetFolder answer (MS-OXWSCORE) naming the mailbox the token asserted."""
    who = escape(user or "(app-only)")
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header>'
        '<h:ServerVersionInfo xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types" '
        'MajorVersion="15" MinorVersion="2" Version="V2017_07_11"/></s:Header><s:Body>'
        '<m:GetFolderResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages>'
        '<m:GetFolderResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
        f"<m:Folders><t:Folder><t:DisplayName>Inbox</t:DisplayName><t:Owner>{who}</t:Owner></t:Folder>"
        "</m:Folders></m:GetFolderResponseMessage></m:ResponseMessages></m:GetFolderResponse>"
        "</s:Body></s:Envelope>"
    ).encode()


def ews_app(gate: BearerGate, *, on_request: Callable[[dict[str, Any]], None] | None = None) -> Starlette:
    """A Starlette app: ``/EWS/Exchange.asmx`` behind ``gate``; everything else 404."""

    async def ews(request: Request) -> Response:
        authorization = request.headers.get("authorization")
        host = request.headers.get("host")
        outcome = gate.check(authorization, host=host, scheme=request.url.scheme)
        if outcome.ok:
            assert outcome.principal is not None
            response = Response(
                soap_get_folder_response(outcome.principal.user), 200, media_type="text/xml; charset=utf-8"
            )
        else:
            body = b"" if outcome.diagnostic is None else (outcome.diagnostic.header + "\n").encode()
            response = Response(body, 401, media_type="text/plain")
            for name, value in outcome.headers:
                response.headers.append(name, value)
        _log(request, host, response.status_code, outcome, authorization, on_request)
        return response

    async def not_found(request: Request) -> Response:
        return Response(b"404 Not Found\n", 404, media_type="text/plain")

    routes = [
        Route(EWS_PATH, ews, methods=["GET", "POST"]),
        Route("/ews/exchange.asmx", ews, methods=["GET", "POST"]),
        Route("/{path:path}", not_found, methods=["GET", "POST", "HEAD"]),
    ]
    return Starlette(routes=routes)


def _log(
    request: Request,
    host: str | None,
    status: int,
    outcome: Outcome,
    authorization: str | None,
    sink: Callable[[dict[str, Any]], None] | None,
) -> None:
    record = {
        "cs-method": request.method,
        "cs-uri-stem": request.url.path,
        "cs-host": host or "-",
        "cs(User-Agent)": request.headers.get("user-agent", "-"),
        "sc-status": status,
        "x-ms-diagnostics": outcome.diagnostic.header if outcome.diagnostic else "-",
        "Request-Authorization": BearerGate.log_summary(authorization),
    }
    log.info(" ".join(f"{k}={v}" for k, v in record.items()))
    if sink is not None:
        sink(record)


def app_from_env() -> Starlette:
    """Factory for ``uvicorn --factory``: state dir and realm from the environment."""
    import os

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    gate = BearerGate(
        Path(os.environ.get("BRIDGEHEAD_STATE_DIR", "state")),
        realm=os.environ.get("BRIDGEHEAD_REALM", "*"),
        service_id=os.environ.get("BRIDGEHEAD_SERVICE_ID", EXCHANGE_APP_ID),
    )
    return ews_app(gate)
