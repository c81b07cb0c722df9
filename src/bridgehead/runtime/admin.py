"""The admin listener of ``bridgehead serve``: ``/healthz``, ``/metrics`` and the web console.

A Starlette app run by uvicorn inside the gateway's event loop (uvicorn's own signal
handling is switched off: the gateway owns SIGHUP/SIGTERM). Loopback by default.

* ``/healthz`` — 200 ``{"status": "ok", …}`` while serving, 503 while starting or draining
  (load balancers take the member out before connections are cut).
* ``/metrics`` — Prometheus text format (prometheus_client).
* The console: sign-in with the password whose scrypt hash is ``[admin] password_hash``
  (or, when none is configured, a generated one in ``<state_dir>/admin-password``, 0600).
  Sessions are random 256-bit ids kept in memory; the cookie is HttpOnly, SameSite=Strict
  and Secure when the request came over HTTPS. Every POST carries the session's CSRF token
  and must not come from another origin (``Origin``/``Sec-Fetch-Site``), else 403.
  Pages: overview, configuration (edit → apply, lint findings), array members and sync
  status, learned bypass list (remove), live access log with filters, explain.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import os
import secrets
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bridgehead.core.ops.password import hash_password, verify_password
from bridgehead.core.ops.sync import member_status
from bridgehead.runtime.forward.ca import write_private
from bridgehead.runtime.ops.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from bridgehead.runtime.ops.gateway_config import AdminSettings
    from bridgehead.runtime.serve import Gateway

log = logging.getLogger("bridgehead.admin")
COOKIE = "bh_session"


class AdminServer:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.settings: AdminSettings | None = None
        self.server: Any = None
        self.task: asyncio.Task[Any] | None = None
        self.port: int | None = None
        self.sessions: dict[str, tuple[float, str]] = {}  # id -> (expires, csrf token)
        self.generated_password_file: Path | None = None
        self._generated_hash: str | None = None
        self.app = self._app()

    # ---- lifecycle ------------------------------------------------------------------------
    async def ensure(self, settings: AdminSettings) -> None:
        old = self.settings
        self.settings = settings
        if old is not None and (old.host, old.port) == (settings.host, settings.port) and self.task is not None:
            return
        await self.stop()
        import uvicorn

        class _Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Any:  # the gateway handles signals
                yield

        sock = socket.create_server((settings.host, settings.port), backlog=128)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2)
        self.server = _Server(config)
        self.task = asyncio.create_task(self.server.serve(sockets=[sock]))
        self.gateway._own.add(self.task)
        while not self.server.started and not self.task.done():
            await asyncio.sleep(0.01)
        if self.task.done():
            self.task.result()

    async def stop(self) -> None:
        if self.server is not None and self.task is not None:
            self.server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.task, 5)
        self.server = None
        self.task = None

    @property
    def url(self) -> str:
        assert self.settings is not None
        host = self.settings.host
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}/"

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
        if self.settings.password_hash:
            return "sign in as admin with the password of [admin] password_hash"
        self.password_hash()
        return f"sign in as admin with the password in {self.generated_password_file}"

    def _session(self, request: Request) -> tuple[str, str] | None:
        sid = request.cookies.get(COOKIE, "")
        entry = self.sessions.get(sid)
        if entry is None or entry[0] < time.time():
            self.sessions.pop(sid, None)
            return None
        return sid, entry[1]

    def _cross_site(self, request: Request) -> bool:
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return True
        origin = request.headers.get("origin")
        if origin and origin != "null":
            return urlsplit(origin).netloc != request.headers.get("host", "")
        return origin == "null"

    async def _guard(self, request: Request) -> tuple[str, str] | Response:
        session = self._session(request)
        if session is None:
            return RedirectResponse("/login", status_code=303)
        if request.method == "POST":
            form = await _form(request)
            if self._cross_site(request) or not secrets.compare_digest(str(form.get("csrf", "")), session[1]):
                log.warning("console: refused a POST to %s (cross-site or bad CSRF token)", request.url.path)
                return HTMLResponse(_page("Refused", "<p>Cross-site or stale form: refused.</p>"), status_code=403)
        return session

    # ---- the app --------------------------------------------------------------------------
    def _app(self) -> Starlette:
        return Starlette(routes=[
            Route("/healthz", self.healthz),
            Route("/metrics", self.metrics),
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/", self.overview),
            Route("/config", self.config, methods=["GET", "POST"]),
            Route("/members", self.members),
            Route("/bypass", self.bypass, methods=["GET", "POST"]),
            Route("/log", self.access_log),
            Route("/explain", self.explain),
        ])

    async def healthz(self, request: Request) -> Response:
        health = self.gateway.health()
        return JSONResponse(health, status_code=200 if health["status"] == "ok" else 503)

    async def metrics(self, request: Request) -> Response:
        body = await asyncio.to_thread(self.gateway.metrics.render)
        return Response(body, media_type=CONTENT_TYPE)

    async def login(self, request: Request) -> Response:
        error = ""
        if request.method == "POST":
            form = await _form(request)
            if self._cross_site(request):
                return HTMLResponse(_page("Refused", "<p>Cross-site sign-in refused.</p>"), status_code=403)
            ok = await asyncio.to_thread(verify_password, str(form.get("password", "")), self.password_hash())
            if ok and str(form.get("user", "")) == "admin":
                sid = secrets.token_urlsafe(32)
                assert self.settings is not None
                self.sessions[sid] = (time.time() + self.settings.session_ttl, secrets.token_urlsafe(32))
                response = RedirectResponse("/", status_code=303)
                response.set_cookie(COOKIE, sid, httponly=True, samesite="strict",
                                    secure=request.url.scheme == "https", max_age=int(self.settings.session_ttl))
                log.warning("console: admin signed in from %s", request.client.host if request.client else "?")
                return response
            log.warning("console: failed sign-in from %s", request.client.host if request.client else "?")
            error = '<p class="err">Wrong user name or password.</p>'
        body = (f"{error}<form method=post action=/login><label>User <input name=user value=admin></label> "
                "<label>Password <input name=password type=password autofocus></label> "
                "<button>Sign in</button></form>")
        return HTMLResponse(_page("Sign in", body, nav=False))

    async def logout(self, request: Request) -> Response:
        session = await self._guard(request)
        if isinstance(session, Response):
            return session
        self.sessions.pop(session[0], None)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    async def overview(self, request: Request) -> Response:
        session = await self._guard(request)
        if isinstance(session, Response):
            return session
        g = self.gateway
        rows = []
        running = g.running
        if running is not None:
            cfg = running.config
            if cfg.forward is not None:
                rows.append(("forward", f"{cfg.forward.host}:{cfg.forward.port}"))
            for x in cfg.reverse.listeners if cfg.reverse else ():
                rows.append((f"reverse {x.name}", f"{x.host}:{x.port}"))
        counts: dict[tuple[str, str], int] = {}
        for record in list(g.metrics.recent):
            key = (str(record.get("action") or ""), str(record.get("code") or ""))
            counts[key] = counts.get(key, 0) + 1
        traffic = "".join(f"<tr><td>{_e(a)}</td><td>{_code(c)}</td><td>{n}</td></tr>"
                          for (a, c), n in sorted(counts.items(), key=lambda kv: -kv[1]))
        body = (f"<p>Member <b>{_e(g.member)}</b>: serving version <b>{g.applied}</b> "
                f"(newest {g.latest}); store {'reachable' if g.store_ok else '<b class=err>unreachable</b>'}"
                f"{'; <b class=err>' + _e(g.last_error) + '</b>' if g.last_error else ''}</p>"
                "<h2>Listeners</h2><table>" + "".join(f"<tr><td>{_e(n)}</td><td>{_e(a)}</td></tr>" for n, a in rows)
                + "</table><h2>Recent traffic by action and code</h2><table><tr><th>action</th><th>code</th>"
                f"<th>count</th></tr>{traffic}</table>")
        return HTMLResponse(_page("Overview", body, csrf=session[1]))

    async def config(self, request: Request) -> Response:
        session = await self._guard(request)
        if isinstance(session, Response):
            return session
        g = self.gateway
        message = ""
        latest = await asyncio.to_thread(g.cstore.latest)
        text = latest.source if latest else ""
        if request.method == "POST":
            form = await _form(request)
            text = str(form.get("source", "")).replace("\r\n", "\n")
            base = Path(latest.base_dir) if latest else Path.cwd()
            try:
                cfg = await asyncio.to_thread(g.validate, text, base / "gateway.toml")
            except Exception as exc:  # one line for the admin, the old version stays
                message = f'<p class="err">Refused: {_e(str(exc))}</p>'
            else:
                version = await asyncio.to_thread(g.cstore.add, text, str(base), "console")
                warn = "".join(f"<li>{_code(f.code or '')} {_e(f.subject)}: {_e(f.message)}</li>"
                               for f in cfg.findings)
                message = f'<p class="ok">Applied as version {version.number}.</p>' + \
                    (f"<ul>{warn}</ul>" if warn else "")
        history = await asyncio.to_thread(g.cstore.history, 20)
        rows = "".join(f"<tr><td>{v.number}</td><td>{_e(v.author)}</td><td>{_t(v.created_at)}</td>"
                       f"<td><pre>{_e(v.diff)}</pre></td></tr>" for v in history)
        body = (f"{message}<form method=post><input type=hidden name=csrf value={_e(session[1])}>"
                f"<textarea name=source rows=20 cols=100>{_e(text)}</textarea><br><button>Apply</button></form>"
                f"<h2>History</h2><table><tr><th>version</th><th>author</th><th>time</th><th>diff</th></tr>{rows}"
                "</table>")
        return HTMLResponse(_page("Configuration", body, csrf=session[1]))

    async def members(self, request: Request) -> Response:
        session = await self._guard(request)
        if isinstance(session, Response):
            return session
        cs = self.gateway.cstore
        latest = await asyncio.to_thread(cs.latest_number)
        reports = await asyncio.to_thread(cs.members)
        now = time.time()
        rows = "".join(
            f"<tr class={s.state}><td>{_e(s.name)}</td><td>{s.applied_version}</td><td>{_t(s.applied_at)}</td>"
            f"<td>{_e(s.message)}</td><td>{_t(s.last_seen)}</td></tr>"
            for s in (member_status(r, latest, now) for r in reports))
        body = (f"<p>Stored configuration: version {latest}</p><table><tr><th>member</th><th>applied</th>"
                f"<th>when</th><th>status</th><th>last seen</th></tr>{rows}</table>")
        return HTMLResponse(_page("Array members", body, csrf=session[1]))

    async def bypass(self, request: Request) -> Response:
        session = await self._guard(request)
        if isinstance(session, Response):
            return session
        running = self.gateway.running
        store = running.forward.store if running and running.forward else self.gateway.cstore.store
        if request.method == "POST":
            form = await _form(request)
            await asyncio.to_thread(store.delete, "bypass", str(form.get("destination", "")))
            return RedirectResponse("/bypass", status_code=303)
        entries = await asyncio.to_thread(store.list, "bypass")
        rows = "".join(
            f"<tr><td>{_e(r.key)}</td><td>{_e(str(r.value.get('reason', '')))}</td><td>{_t(r.expires_at)}</td>"
            f"<td><form method=post><input type=hidden name=csrf value={_e(session[1])}>"
            f"<input type=hidden name=destination value={_e(r.key)}><button>Remove</button></form></td></tr>"
            for r in entries)
        body = ("<table><tr><th>destination</th><th>reason</th><th>expires</th><th></th></tr>"
                f"{rows or '<tr><td colspan=4>no learned bypass entries</td></tr>'}</table>")
        return HTMLResponse(_page("Learned bypass list", body, csrf=session[1]))

    async def access_log(self, request: Request) -> Response:
        session = await self._guard(request)
        if isinstance(session, Response):
            return session
        q = {k: request.query_params.get(k, "") for k in ("code", "host", "user", "action")}
        records = [r for r in reversed(list(self.gateway.metrics.recent))
                   if all(not v or v.lower() in str(r.get(k) or "").lower() for k, v in q.items())][:200]
        rows = "".join(
            f"<tr><td>{_e(str(r.get('ts')))}</td><td>{_e(str(r.get('service')))}</td><td>{_e(str(r.get('action')))}"
            f"</td><td>{_e(str(r.get('host')))}</td><td>{_e(str(r.get('user') or ''))}</td>"
            f"<td>{_e(str(r.get('status')))}</td><td>{_code(str(r.get('code') or ''))}</td>"
            f"<td>{_e(str(r.get('url') or ''))}</td></tr>" for r in records)
        filters = "".join(f"<label>{k} <input name={k} value={_e(v)}></label> " for k, v in q.items())
        body = (f"<form>{filters}<button>Filter</button></form><table><tr><th>time</th><th>service</th>"
                f"<th>action</th><th>host</th><th>user</th><th>status</th><th>code</th><th>url</th></tr>{rows}"
                "</table><script>setTimeout(() => location.reload(), 5000)</script>")
        return HTMLResponse(_page("Live access log", body, csrf=session[1]))

    async def explain(self, request: Request) -> Response:
        session = await self._guard(request)
        if isinstance(session, Response):
            return session
        from bridgehead.core.explain import explain as run_explain

        text = request.query_params.get("q", "")
        out = ""
        if text:
            result = run_explain(text[:20000], limit=5)
            out = "".join(f"<div class=match><h3>{_e(m.failure.code)}: {_e(m.failure.title)}</h3>"
                          f"<p><b>Cause:</b> {_e(m.failure.cause)}</p><p><b>Fix:</b> {_e(m.failure.fix)}</p></div>"
                          for m in result.matches) or "<p>No registry entry matches this text.</p>"
        body = (f"<form><textarea name=q rows=4 cols=100>{_e(text)}</textarea><br><button>Explain</button></form>"
                f"{out}")
        return HTMLResponse(_page("Explain", body, csrf=session[1]))


async def _form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body (the console's only kind of form), first value per name."""
    cached = getattr(request.state, "form", None)
    if cached is None:
        body = await request.body()
        cached = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), max_num_fields=50).items()}
        request.state.form = cached
    return cached


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _code(code: str) -> str:
    return f'<a href="/explain?q={quote(code)}">{_e(code)}</a>' if code else ""


def _t(value: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value)) if value else "-"


_STYLE = ("body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}nav a{margin-right:1em}"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;"
          "vertical-align:top}.err,.error td{color:#a00}.ok,.synced td{color:#060}.pending td{color:#a60}"
          "pre{margin:0;font-size:85%}")


def _page(title: str, body: str, *, nav: bool = True, csrf: str = "") -> str:
    links = ""
    if nav:
        links = ("<nav><a href=/>Overview</a><a href=/config>Configuration</a><a href=/members>Members</a>"
                 "<a href=/bypass>Bypass list</a><a href=/log>Access log</a><a href=/explain>Explain</a>"
                 f"<form method=post action=/logout style=display:inline><input type=hidden name=csrf "
                 f"value={_e(csrf)}><button>Sign out</button></form></nav>")
    return (f"<!doctype html><html><head><meta charset=utf-8><title>bridgehead — {_e(title)}</title>"
            f"<style>{_STYLE}</style></head><body>{links}<h1>{_e(title)}</h1>{body}"
            f"<footer><small>bridgehead on {_e(os.uname().nodename)}</small></footer></body></html>")
