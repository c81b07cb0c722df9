"""The console's pages, each ``async (admin, request, session) -> Response``.

:class:`bridgehead.runtime.admin.AdminServer` signs the admin in and checks every request
(session, CSRF token, origin) before a page runs; a page only reads the gateway's state or,
for a POST, makes the one change it offers:

* overview — member, versions, listeners, recent traffic by action and code;
* configuration — the newest stored version's text, edit → apply (validated with ``lint``;
  an error refuses it, warnings are listed), history with diffs;
* members — every member's applied version and TMG's sync words;
* bypass list — learned bypass entries, remove;
* access log — the newest records (the gateway's ring of the last 1000), filtered by code,
  host, user (substring, case-insensitive) and action (exact); refreshed every 5 s;
* certificates — the expiry board (:mod:`bridgehead.runtime.ops.console_certs`);
* explain — ``bridgehead explain`` for a pasted text or a code.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bridgehead.core.ops.expiry import AMBER_DAYS, RED_DAYS, board
from bridgehead.core.ops.sync import member_status
from bridgehead.runtime.ops import console_certs
from bridgehead.runtime.ops.console_html import code_link, e, page, when

if TYPE_CHECKING:
    from bridgehead.runtime.admin import AdminServer, Session

ACTIONS = ("", "inspect", "tunnel", "publish", "deny", "error", "backend-check")
LOG_ROWS = 200


def _html(title: str, body: str, session: Session) -> HTMLResponse:
    return HTMLResponse(page(title, body, csrf=session.csrf, user=session.user))


async def overview(admin: AdminServer, request: Request, session: Session, form: dict[str, str]) -> Response:
    g = admin.gateway
    rows = []
    running = g.running
    if running is not None:
        cfg = running.config
        if cfg.forward is not None:
            rows.append(("forward", f"{cfg.forward.host}:{cfg.forward.port}"))
        for x in cfg.reverse.listeners if cfg.reverse else ():
            rows.append((f"reverse {x.name}", f"{x.host}:{x.port}"))
    rows.append(("admin (this console)", admin.url))
    counts: dict[tuple[str, str], int] = {}
    for record in list(g.metrics.recent):
        key = (str(record.get("action") or ""), str(record.get("code") or ""))
        counts[key] = counts.get(key, 0) + 1
    traffic = "".join(f"<tr><td>{e(a)}</td><td>{code_link(c)}</td><td>{n}</td></tr>"
                      for (a, c), n in sorted(counts.items(), key=lambda kv: -kv[1]))
    body = (f"<p>Member <b id=member>{e(g.member)}</b>: serving version <b id=applied>{g.applied}</b> "
            f"(newest {g.latest}); store {'reachable' if g.store_ok else '<b class=err>unreachable</b>'}"
            f"{'; <b class=err>' + e(g.last_error) + '</b>' if g.last_error else ''}</p>"
            "<h2>Listeners</h2><table>" + "".join(f"<tr><td>{e(n)}</td><td>{e(a)}</td></tr>" for n, a in rows)
            + "</table><h2>Recent traffic by action and code</h2><table><tr><th>action</th><th>code</th>"
            f"<th>count</th></tr>{traffic or '<tr><td colspan=3>no requests yet</td></tr>'}</table>")
    return _html("Overview", body, session)


async def config(admin: AdminServer, request: Request, session: Session, form: dict[str, str]) -> Response:
    g = admin.gateway
    message = ""
    latest = await asyncio.to_thread(g.cstore.latest)
    text = latest.source if latest else ""
    if request.method == "POST":
        text = str(form.get("source", "")).replace("\r\n", "\n")
        base = Path(latest.base_dir) if latest else Path.cwd()
        try:
            cfg = await asyncio.to_thread(g.validate, text, base / "gateway.toml")
        except Exception as exc:  # one line for the admin, the old version stays
            message = f'<p class="err" id=result>Refused: {e(str(exc))}</p>'
        else:
            version = await asyncio.to_thread(g.cstore.add, text, str(base), session.user[:200] or "console")
            warn = "".join(f"<li>{code_link(f.code or '')} {e(f.subject)}: {e(f.message)}</li>"
                           for f in cfg.findings)
            message = f'<p class="ok" id=result>Applied as version {version.number}.</p>' + \
                (f"<h2>Lint findings</h2><ul>{warn}</ul>" if warn else "")
    history = await asyncio.to_thread(g.cstore.history, 20)
    rows = "".join(f"<tr><td>{v.number}</td><td>{e(v.author)}</td><td>{when(v.created_at)}</td>"
                   f"<td><pre>{e(v.diff)}</pre></td></tr>" for v in history)
    body = (f"{message}<form method=post><input type=hidden name=csrf value={e(session.csrf)}>"
            f"<textarea name=source rows=20 cols=100>{e(text)}</textarea><br><button>Apply</button></form>"
            f"<h2>History</h2><table><tr><th>version</th><th>author</th><th>time</th><th>diff</th></tr>{rows}"
            "</table>")
    return _html("Configuration", body, session)


async def members(admin: AdminServer, request: Request, session: Session, form: dict[str, str]) -> Response:
    cs = admin.gateway.cstore
    latest = await asyncio.to_thread(cs.latest_number)
    reports = await asyncio.to_thread(cs.members)
    now = time.time()
    rows = "".join(
        f"<tr class={s.state} data-member={e(s.name)}><td>{e(s.name)}</td><td>{s.applied_version}</td>"
        f"<td>{when(s.applied_at)}</td><td>{e(s.message)}</td><td>{when(s.last_seen)}</td></tr>"
        for s in (member_status(r, latest, now) for r in reports))
    body = (f"<p>Stored configuration: version {latest}</p><table><tr><th>member</th><th>applied</th>"
            f"<th>when</th><th>status</th><th>last seen</th></tr>{rows}</table>")
    return _html("Array members", body, session)


async def bypass(admin: AdminServer, request: Request, session: Session, form: dict[str, str]) -> Response:
    running = admin.gateway.running
    store = running.forward.store if running and running.forward else admin.gateway.cstore.store
    if request.method == "POST":
        await asyncio.to_thread(store.delete, "bypass", str(form.get("destination", "")))
        return RedirectResponse("/bypass", status_code=303)
    entries = await asyncio.to_thread(store.list, "bypass")
    rows = "".join(
        f"<tr><td>{e(r.key)}</td><td>{e(str(r.value.get('reason', '')))}</td><td>{when(r.expires_at)}</td>"
        f"<td><form method=post><input type=hidden name=csrf value={e(session.csrf)}>"
        f"<input type=hidden name=destination value={e(r.key)}><button>Remove</button></form></td></tr>"
        for r in entries)
    body = ("<table><tr><th>destination</th><th>reason</th><th>expires</th><th></th></tr>"
            f"{rows or '<tr><td colspan=4>no learned bypass entries</td></tr>'}</table>")
    return _html("Learned bypass list", body, session)


def matches(record: dict[str, Any], q: dict[str, str]) -> bool:
    """The live log's filters: code, host and user are substrings (case-insensitive), action is exact."""
    for key, want in q.items():
        if not want:
            continue
        have = str(record.get(key) or "").lower()
        if (have != want.lower()) if key == "action" else (want.lower() not in have):
            return False
    return True


async def access_log(admin: AdminServer, request: Request, session: Session, form: dict[str, str]) -> Response:
    q = {k: request.query_params.get(k, "").strip() for k in ("code", "host", "user", "action")}
    records = [r for r in reversed(list(admin.gateway.metrics.recent)) if matches(r, q)][:LOG_ROWS]
    rows = "".join(
        f"<tr><td>{e(str(r.get('ts')))}</td><td>{e(str(r.get('service')))}</td><td>{e(str(r.get('action')))}"
        f"</td><td>{e(str(r.get('host')))}</td><td>{e(str(r.get('user') or ''))}</td>"
        f"<td>{e(str(r.get('status')))}</td><td>{code_link(str(r.get('code') or ''))}</td>"
        f"<td>{e(str(r.get('url') or ''))}</td></tr>" for r in records)
    inputs = "".join(f"<label>{k} <input name={k} value={e(v)}></label> " for k, v in q.items() if k != "action")
    options = "".join(f"<option{' selected' if a == q['action'] else ''} value={e(a)}>{e(a or 'any')}</option>"
                      for a in ACTIONS)
    body = (f"<form id=filters>{inputs}<label>action <select name=action>{options}</select></label> "
            f"<button>Filter</button></form><p>{len(records)} record(s), newest first</p>"
            "<table id=records><tr><th>time</th><th>service</th><th>action</th><th>host</th><th>user</th>"
            f"<th>status</th><th>code</th><th>url</th></tr>{rows}</table>"
            # live: every 5 s the same URL (same filters) is fetched and its table replaces this one
            "<script>setInterval(async () => { const r = await fetch(location.href, {credentials: 'same-origin'});"
            " if (!r.ok) return; const doc = new DOMParser().parseFromString(await r.text(), 'text/html');"
            " const fresh = doc.querySelector('#records'); if (fresh) document.querySelector('#records')"
            ".replaceWith(fresh) }, 5000)</script>")
    return _html("Live access log", body, session)


async def certs(admin: AdminServer, request: Request, session: Session, form: dict[str, str]) -> Response:
    running = admin.gateway.running
    if running is None:
        return _html("Certificate expiry", "<p>No configuration is running yet.</p>", session)
    forward_ca = getattr(running.forward, "ca", None) if running.forward is not None else None
    items = await asyncio.to_thread(console_certs.collect, running.config, admin.gateway.cstore.store, forward_ca)
    rows = board(items, console_certs.now())
    counts = {u: sum(1 for r in rows if r.urgency == u) for u in ("expired", "red", "amber", "ok", "unknown")}
    table = "".join(
        f"<tr class={r.urgency}><td class=badge>{e(r.urgency)}</td><td>{e(r.words)}</td><td>{e(r.item.kind)}</td>"
        f"<td>{e(r.item.owner)}</td><td>{e(r.item.subject)}</td>"
        f"<td>{e(r.item.field)} {e(r.item.ends.strftime('%Y-%m-%d %H:%M UTC') if r.item.ends else '-')}</td>"
        f"<td>{e(r.item.source)}</td></tr>" for r in rows)
    body = (f"<p>Version {running.version}: {counts['expired']} expired, {counts['red']} under {RED_DAYS} days, "
            f"{counts['amber']} under {AMBER_DAYS} days, {counts['ok']} fine, {counts['unknown']} unreadable.</p>"
            "<table id=board><tr><th>state</th><th>left</th><th>what</th><th>used by</th><th>subject / issuer</th>"
            f"<th>date</th><th>from</th></tr>{table or '<tr><td colspan=7>nothing dated is configured</td></tr>'}"
            "</table>")
    return _html("Certificate expiry", body, session)


async def explain(admin: AdminServer, request: Request, session: Session, form: dict[str, str]) -> Response:
    from bridgehead.core.explain import explain as run_explain

    text = request.query_params.get("q", "")
    out = ""
    if text:
        result = await asyncio.to_thread(run_explain, text[:20000], limit=5)
        out = "".join(f"<div class=match><h3>{e(m.failure.code)}: {e(m.failure.title)}</h3>"
                      f"<p><b>Cause:</b> {e(m.failure.cause)}</p><p><b>Fix:</b> {e(m.failure.fix)}</p></div>"
                      for m in result.matches) or "<p>No registry entry matches this text.</p>"
    body = (f"<form><textarea name=q rows=4 cols=100>{e(text)}</textarea><br><button>Explain</button></form>"
            f"{out}")
    return _html("Explain", body, session)
