"""The console's HTML: one page frame, escaping, code links and the registry code page.

Plain server-rendered HTML, one inline style sheet, no script but the live log's refresh and
no resource from elsewhere (the console works on a management network without internet).
Every value is escaped with :func:`html.escape`; every registry code links to its
explanation (``/explain?q=CODE``).
"""

from __future__ import annotations

import html
import os
import time
from typing import Any
from urllib.parse import quote

from starlette.responses import HTMLResponse

from bridgehead.core.errorpage import CODE_HEADER
from bridgehead.failures import get

NAV = (("/", "Overview"), ("/config", "Configuration"), ("/members", "Members"), ("/bypass", "Bypass list"),
       ("/log", "Access log"), ("/certs", "Certificates"), ("/explain", "Explain"))

STYLE = ("body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}nav a{margin-right:1em}"
         "nav .who{margin-left:1em;color:#555}"
         "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;"
         "vertical-align:top}th{background:#eee}.err,.error td{color:#a00}.ok,.synced td{color:#060}"
         ".pending td{color:#a60}pre{margin:0;font-size:85%}"
         "tr.expired td,tr.red td{background:#f8d0d0}tr.amber td{background:#fbe7b5}tr.ok td{background:#dcefdc}"
         "tr.unknown td{background:#e4e4e4}.badge{font-weight:bold}")


def e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def code_link(code: str) -> str:
    return f'<a class=code href="/explain?q={quote(code)}">{e(code)}</a>' if code else ""


def when(value: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value)) if value else "-"


def page(title: str, body: str, *, nav: bool = True, csrf: str = "", user: str = "") -> str:
    links = ""
    if nav:
        links = ("<nav>" + "".join(f"<a href={href}>{e(name)}</a>" for href, name in NAV)
                 + "<form method=post action=/logout style=display:inline><input type=hidden name=csrf "
                 f"value={e(csrf)}><button>Sign out</button></form>"
                 + (f"<span class=who>signed in as <b id=user>{e(user)}</b></span>" if user else "") + "</nav>")
    return (f"<!doctype html><html><head><meta charset=utf-8><title>bridgehead — {e(title)}</title>"
            f"<style>{STYLE}</style></head><body>{links}<h1>{e(title)}</h1>{body}"
            f"<footer><small>bridgehead on {e(os.uname().nodename)}</small></footer></body></html>")


def code_page(code: str, detail: str = "", status: int | None = None) -> HTMLResponse:
    """A refusal that names its registry entry (code, title, cause, fix), as every error page does."""
    failure = get(code)
    body = (f"<p class=err><b>{e(failure.title)}</b></p><p>Code: <code id=code>{e(code)}</code></p>"
            + (f"<p>{e(detail)}</p>" if detail else "")
            + f"<p><b>Cause:</b> {e(failure.cause)}</p><p><b>Fix:</b> {e(failure.fix)}</p>")
    return HTMLResponse(page("Refused", body, nav=False), status_code=status or failure.status or 403,
                        headers={CODE_HEADER: code})
