"""The admin listener of ``bridgehead serve``: ``/healthz``, ``/metrics`` and the web console.

A Starlette app run by uvicorn inside the gateway's event loop (uvicorn's own signal
handling is switched off: the gateway owns SIGHUP/SIGTERM). Loopback by default.

* ``/healthz`` — 200 ``{"status": "ok", …}`` while serving, 503 while starting or draining
  (load balancers take the member out before connections are cut).
* ``/metrics`` — Prometheus text format (prometheus_client).
* HTTPS with ``[admin] tls_cert``/``tls_key``: :mod:`bridgehead.runtime.ops.console_tls`
  terminates TLS on the public socket and relays to uvicorn on a private loopback socket;
  a request that did not come through it is refused.
* Sign-in: the password whose scrypt hash is ``[admin] password_hash`` (or, when none is
  configured, a generated one in ``<state_dir>/admin-password``, 0600) as user ``admin``; or,
  with ``[admin] client_ca``, a client certificate that CA issued: the first page signs its
  subject in without a password, and that session is good only on connections presenting a
  certificate with the same subject. A certificate presented and refused (other CA, expired,
  no clientAuth, revoked) gets a page naming its registry code, and no sign-in at all.
* Sessions are random 256-bit ids kept in memory; the cookie is HttpOnly, SameSite=Strict
  and Secure over HTTPS. Every POST must not come from another origin (``Origin``,
  ``Sec-Fetch-Site``; checked first, so a cross-site form gets 403 whether or not the
  browser sent the cookie) and must carry the session's CSRF token, else 403.
* The pages: :mod:`bridgehead.runtime.ops.console_pages`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from bridgehead.core.errorpage import CODE_HEADER
from bridgehead.core.ops.password import hash_password, verify_password
from bridgehead.runtime.forward.ca import write_private
from bridgehead.runtime.ops import console_pages
from bridgehead.runtime.ops.console_html import code_page, page
from bridgehead.runtime.ops.console_tls import Peer, TLSFront
from bridgehead.runtime.ops.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from bridgehead.runtime.ops.gateway_config import AdminSettings
    from bridgehead.runtime.serve import Gateway

log = logging.getLogger("bridgehead.admin")
COOKIE = "bh_session"
PEER = "bridgehead.peer"  # ASGI scope key: the TLS front's Peer for this request

Page = Callable[[Any, Request, "Session", dict[str, str]], Awaitable[Response]]


@dataclass
class Session:
    sid: str
    expires: float
    csrf: str
    user: str  # "admin" (password) or the certificate subject
    via: str  # "password" | "certificate"


class AdminServer:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.settings: AdminSettings | None = None
        self.server: Any = None
        self.task: asyncio.Task[Any] | None = None
        self.front: TLSFront | None = None
        self.port: int | None = None
        self.sessions: dict[str, Session] = {}
        self.generated_password_file: Path | None = None
        self._generated_hash: str | None = None
        self.starlette = self._app()

    # ---- lifecycle ------------------------------------------------------------------------
    @staticmethod
    def _listener_key(s: AdminSettings) -> tuple[Any, ...]:
        return (s.host, s.port, s.tls_cert, s.tls_key, s.client_ca, s.client_crl)

    async def ensure(self, settings: AdminSettings) -> None:
        old = self.settings
        self.settings = settings
        if old is not None and self._listener_key(old) == self._listener_key(settings) and self.task is not None:
            return
        await self.stop()
        import uvicorn

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Any:  # the gateway handles signals
                yield

        public = socket.create_server((settings.host, settings.port), backlog=128)
        self.port = public.getsockname()[1]
        if settings.tls_cert is not None and settings.tls_key is not None:
            private = socket.create_server(("127.0.0.1", 0), backlog=128)
            try:
                self.front = TLSFront(settings.tls_cert, settings.tls_key, settings.client_ca,
                                      private.getsockname()[1], settings.client_crl)
                await self.front.start(public)
            except BaseException:
                public.close()
                private.close()
                self.front = None
                raise
            serve_on = private
        else:
            serve_on = public
        # proxy_headers off: X-Forwarded-For must not replace the client address (the TLS front's key)
        config = uvicorn.Config(self._asgi, interface="asgi3", log_level="warning", access_log=False,
                                lifespan="off", proxy_headers=False, timeout_graceful_shutdown=2)
        self.server = _Server(config)
        self.task = asyncio.create_task(self.server.serve(sockets=[serve_on]))
        self.gateway._own.add(self.task)
        while not self.server.started and not self.task.done():
            await asyncio.sleep(0.01)
        if self.task.done():
            self.task.result()

    async def stop(self) -> None:
        if self.front is not None:
            await self.front.stop()
            self.front = None
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.task, 5)
        self.server = None
        self.task = None

    @property
    def tls(self) -> bool:
        return self.settings is not None and self.settings.tls

    @property
    def url(self) -> str:
        assert self.settings is not None
        host = self.settings.host
        return f"{'https' if self.tls else 'http'}://{'[' + host + ']' if ':' in host else host}:{self.port}/"

    async def _asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """With TLS: only requests relayed by the front (their Peer goes into the scope)."""
        if self.front is not None and scope["type"] == "http":
            client = scope.get("client")
            peer = self.front.peer((str(client[0]), int(client[1])) if client else None)
            if peer is None:
                await PlainTextResponse("use the admin listener's HTTPS address (admin-https-only)\n",
                                        status_code=403, headers={CODE_HEADER: "admin-https-only"})(
                    scope, receive, send)
                return
            scope[PEER] = peer
        await self.starlette(scope, receive, send)

    # ---- sign-in --------------------------------------------------------------------------
    def password_hash(self) -> str:
        assert self.settings is not None
        if self.settings.password_hash:
            return self.settings.password_hash
        if self._generated_hash is None:
            running = self.gateway.running
            state = running.config.state_dir if running else Path("state")
            state.mkdir(parents=True, exist_ok=True)
            path = state / "admin-password"
            if not path.exists():
                write_private(path, (secrets.token_urlsafe(18) + "\n").encode())
            self._generated_hash = hash_password(path.read_text().strip())
            self.generated_password_file = path
        return self._generated_hash

    def sign_in_hint(self) -> str:
        assert self.settings is not None
        # the TOML keys dotted, not "[admin] …": serve prints this with rich, where "[admin]" is markup
        cert = " or with a client certificate issued by admin.client_ca" if self.settings.client_ca else ""
        if self.settings.password_hash:
            return f"sign in as admin with the password whose hash is admin.password_hash{cert}"
        self.password_hash()
        return f"sign in as admin with the password in {self.generated_password_file}{cert}"

    @staticmethod
    def peer(request: Request) -> Peer | None:
        value = request.scope.get(PEER)
        return value if isinstance(value, Peer) else None

    def _client(self, request: Request) -> str:
        peer = self.peer(request)
        return peer.address if peer else (request.client.host if request.client else "?")

    def _session(self, request: Request) -> Session | None:
        sid = request.cookies.get(COOKIE, "")
        entry = self.sessions.get(sid)
        if entry is None or entry.expires < time.time():
            self.sessions.pop(sid, None)
            return None
        return entry

    def _new_session(self, user: str, via: str, request: Request, response: Response) -> Session:
        assert self.settings is not None
        sid = secrets.token_urlsafe(32)
        session = Session(sid, time.time() + self.settings.session_ttl, secrets.token_urlsafe(32), user, via)
        self.sessions[sid] = session
        response.set_cookie(COOKIE, sid, httponly=True, samesite="strict", secure=self.tls,
                            max_age=int(self.settings.session_ttl))
        log.warning("console: %s signed in (%s) from %s", user, via, self._client(request))
        return session

    @staticmethod
    def _cross_site(request: Request) -> bool:
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return True
        origin = request.headers.get("origin")
        if origin and origin != "null":
            return urlsplit(origin).netloc != request.headers.get("host", "")
        return origin == "null"

    def _refused_cert(self, request: Request) -> Response | None:
        peer = self.peer(request)
        if peer is not None and peer.code:
            return code_page(peer.code, f"Admin client certificate: {peer.detail}. Sign-in refused.")
        return None

    def _refused_post(self, request: Request, why: str) -> Response:
        log.warning("console: refused a POST to %s from %s (%s)", request.url.path, self._client(request), why)
        return code_page("admin-cross-site-refused", f"Cross-site or stale form: refused ({why}).")

    # ---- the app --------------------------------------------------------------------------
    def _app(self) -> Starlette:
        routes = [Route("/healthz", self.healthz), Route("/metrics", self.metrics),
                  Route("/login", self.login, methods=["GET", "POST"]),
                  Route("/logout", self.logout, methods=["POST"])]
        for path, handler, methods in (
                ("/", console_pages.overview, ["GET"]), ("/config", console_pages.config, ["GET", "POST"]),
                ("/members", console_pages.members, ["GET"]), ("/bypass", console_pages.bypass, ["GET", "POST"]),
                ("/log", console_pages.access_log, ["GET"]), ("/certs", console_pages.certs, ["GET"]),
                ("/explain", console_pages.explain, ["GET"])):
            routes.append(Route(path, self._guarded(handler), methods=methods))
        return Starlette(routes=routes)

    def _guarded(self, handler: Page) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            refused = self._refused_cert(request)
            if refused is not None:
                return refused
            form: dict[str, str] = {}
            if request.method == "POST":
                if self._cross_site(request):  # before the session: a cross-site form is refused either way
                    return self._refused_post(request, "cross-site")
                form = await _form(request)
            session = self._session(request)
            if session is not None and session.via == "certificate":
                peer = self.peer(request)  # a certificate's session is good only with that certificate
                if peer is None or peer.subject != session.user:
                    self.sessions.pop(session.sid, None)
                    session = None
            if session is None:
                return RedirectResponse("/login", status_code=303)
            if request.method == "POST" and not secrets.compare_digest(str(form.get("csrf", "")), session.csrf):
                return self._refused_post(request, "bad CSRF token")
            return await handler(self, request, session, form)

        return endpoint

    async def healthz(self, request: Request) -> Response:
        health = self.gateway.health()
        return JSONResponse(health, status_code=200 if health["status"] == "ok" else 503)

    async def metrics(self, request: Request) -> Response:
        body = await asyncio.to_thread(self.gateway.metrics.render)
        return Response(body, media_type=CONTENT_TYPE)

    async def login(self, request: Request) -> Response:
        refused = self._refused_cert(request)
        if refused is not None:
            return refused
        peer = self.peer(request)
        if peer is not None and peer.subject:  # a certificate from client_ca: no password
            response = RedirectResponse("/", status_code=303)
            self._new_session(peer.subject, "certificate", request, response)
            return response
        error = ""
        if request.method == "POST":
            if self._cross_site(request):
                return self._refused_post(request, "cross-site sign-in")
            form = await _form(request)
            ok = await asyncio.to_thread(verify_password, str(form.get("password", "")), self.password_hash())
            if ok and str(form.get("user", "")) == "admin":
                response = RedirectResponse("/", status_code=303)
                self._new_session("admin", "password", request, response)
                return response
            log.warning("console: failed sign-in from %s", self._client(request))
            error = '<p class="err">Wrong user name or password.</p>'
        body = (f"{error}<form method=post action=/login><label>User <input name=user value=admin></label> "
                "<label>Password <input name=password type=password autofocus></label> "
                "<button>Sign in</button></form>")
        if self.settings is not None and self.settings.client_ca is not None:
            body += "<p>Or sign in with a client certificate issued by the admins' CA.</p>"
        return HTMLResponse(page("Sign in", body, nav=False))

    async def logout(self, request: Request) -> Response:
        if self._cross_site(request):
            return self._refused_post(request, "cross-site")
        form = await _form(request)
        session = self._session(request)
        if session is None:
            return RedirectResponse("/login", status_code=303)
        if not secrets.compare_digest(str(form.get("csrf", "")), session.csrf):
            return self._refused_post(request, "bad CSRF token")
        self.sessions.pop(session.sid, None)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response


async def _form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (the console's only kind of form), first value per name."""
    cached = getattr(request.state, "form", None)
    if cached is None:
        body = await request.body()
        cached = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), max_num_fields=50).items()}
        request.state.form = cached
    return cached
