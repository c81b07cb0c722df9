"""Headless Chromium (Debian's, driven by Playwright) that trusts a CA for real, and a wss:// origin
that also serves the page the browser runs the WebSocket exchange from.

    home = nss_home(tmp_path / "home", ca_pem)           # $HOME/.pki/nssdb with ca_pem trusted ("C,,")
    async with ws_page_origin(ssl_ctx) as port: ...       # https page at "/", echo over wss at any path
    browser = await launch(pw, home, proxy="http://127.0.0.1:8080")
    result = await page.evaluate(EXCHANGE, "wss://localhost:PORT/chat")
    async with coalescing_relay(port) as relay_port: ...  # TCP relay that batches what port sends
    records = poll(lambda: [r for r in proxy.records() if r.get("upgrade")])

How the trust works: Chromium on Linux reads the user's NSS database at ``$HOME/.pki/nssdb`` (no
``--ignore-certificate-errors``, no ``ignore_https_errors``); ``certutil -A -t "C,,"`` marks the CA
trusted for issuing server certificates. A ``home`` without the CA gives the same browser with
nothing extra trusted, which is what the negative tests use. The origin is the ``websockets``
library: a request without ``Upgrade: websocket`` (RFC 6455 section 4.1) is answered with the page
(``/``) or 404; an upgrade is echoed, text as ``"echo:" + text``, binary as ``b"echo:" + bytes``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

from playwright.async_api import Browser, Playwright
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

T = TypeVar("T")
CHROMIUM = "/usr/bin/chromium"
CERTUTIL = shutil.which("certutil") or "/usr/bin/certutil"
_PROXY_VARS = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy",
               "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR")

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>ws page</title></head>
<body><p id="state">loaded</p></body></html>
"""

# Runs in the page: opens the WebSocket, sends text and binary (one of each > 64 KiB) one at a time,
# waits for each echo, then closes with 1000 and reports what came back, how the close went and how
# long it took (``closeMs``: from close() until the close event, i.e. until the TCP connection ended).
# Binary echoes are reported as their length and SHA-256 (crypto.subtle: the page is a secure context).
EXCHANGE = """async (url) => {
  const hex = async (buf) => Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", buf)))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
  const pattern = (n) => {
    const a = new Uint8Array(n); for (let i = 0; i < n; i++) a[i] = (i * 7 + 3) & 255; return a; };
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const queue = [];
  let waiter = null;
  const push = (item) => { if (waiter) { const w = waiter; waiter = null; w(item); } else queue.push(item); };
  ws.onmessage = (e) => push({kind: "message", data: e.data});
  const closed = new Promise((resolve) => { ws.onclose = (e) => { push({kind: "close"});
      resolve({code: e.code, wasClean: e.wasClean, reason: e.reason}); }; });
  const next = () => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no echo within 10 s")), 10000);
    const done = (item) => { clearTimeout(timer); resolve(item); };
    if (queue.length) done(queue.shift()); else waiter = done;
  });
  const opened = await new Promise((resolve) => {
    ws.onopen = () => resolve(true); ws.onerror = () => resolve(false); });
  if (!opened) { const c = await closed; return {opened: false, close: c, replies: []}; }
  const replies = [];
  for (const m of ["hello", pattern(100000), "t".repeat(70000), pattern(10), "bye"]) {
    ws.send(m);
    const item = await next();
    if (item.kind !== "message") break;
    if (typeof item.data === "string") replies.push({text: item.data});
    else replies.push({binary: item.data.byteLength, sha256: await hex(item.data)});
  }
  const t0 = performance.now();
  ws.close(1000, "done");
  const close = await closed;
  return {opened: true, close: close, closeMs: performance.now() - t0, replies: replies, extensions: ws.extensions};
}"""


def poll(fetch: Callable[[], list[T]], timeout: float = 10.0) -> list[T]:
    """``fetch()`` again every 50 ms until it returns something or ``timeout`` s have passed."""
    deadline = time.monotonic() + timeout
    while not (found := fetch()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def binary_pattern(n: int) -> bytes:
    """The bytes EXCHANGE sends for ``pattern(n)``."""
    return bytes((i * 7 + 3) & 255 for i in range(n))


def nss_home(home: Path, *trusted: Path) -> Path:
    """A HOME whose NSS database (``.pki/nssdb``) trusts each PEM CA in ``trusted`` for TLS servers."""
    db = home / ".pki" / "nssdb"
    db.mkdir(parents=True, exist_ok=True)
    run = [CERTUTIL, "-d", f"sql:{db}"]
    subprocess.run([*run, "-N", "--empty-password"], check=True, capture_output=True, timeout=30)
    for i, ca in enumerate(trusted):
        subprocess.run([*run, "-A", "-t", "C,,", "-n", f"bh-test-{i}", "-i", str(ca)], check=True,
                       capture_output=True, timeout=30)
    return home


def browser_env(home: Path) -> dict[str, str | float | bool]:
    env: dict[str, str | float | bool] = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS}
    env["HOME"] = str(home)
    return env


async def launch(pw: Playwright, home: Path, *, proxy: str | None = None, args: tuple[str, ...] = ()) -> Browser:
    """Debian's Chromium, headless, with ``home``'s NSS database; through ``proxy`` if given
    (Playwright adds ``<-loopback>`` to the bypass list so 127.0.0.1/localhost go through it too)."""
    return await pw.chromium.launch(
        executable_path=CHROMIUM, headless=True, env=browser_env(home), timeout=30000,
        proxy={"server": proxy} if proxy else None,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--no-first-run", *args])


async def _echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(b"echo:" + message if isinstance(message, bytes) else f"echo:{message}")


def _page(connection: ServerConnection, request: Request) -> Response | None:
    if "websocket" in request.headers.get("Upgrade", "").lower():
        return None  # the WebSocket handshake proceeds
    path = request.path.split("?", 1)[0]
    status, reason, body, ctype = ((200, "OK", PAGE, "text/html; charset=utf-8") if path == "/" else
                                   (404, "Not Found", b"not found\n", "text/plain"))
    headers = Headers([("Content-Type", ctype), ("Content-Length", str(len(body))), ("Connection", "close")])
    return Response(status, reason, headers, body)


@contextlib.asynccontextmanager
async def ws_page_origin(ctx: ssl.SSLContext) -> AsyncIterator[int]:
    """127.0.0.1:port over TLS: the page at ``/``, the echo on any upgrade."""
    async with serve(_echo, "127.0.0.1", 0, ssl=ctx, process_request=_page, compression=None) as server:
        yield next(iter(server.sockets)).getsockname()[1]


async def _coalesce(src: asyncio.StreamReader, dst: asyncio.StreamWriter, window: float) -> None:
    loop = asyncio.get_running_loop()
    with contextlib.suppress(OSError):
        while data := await src.read(65536):
            batch, end = [data], loop.time() + window
            while (left := end - loop.time()) > 0:
                try:
                    more = await asyncio.wait_for(src.read(65536), left)
                except TimeoutError:
                    break
                if not more:
                    break
                batch.append(more)
            dst.write(b"".join(batch))
            await dst.drain()
    with contextlib.suppress(OSError, RuntimeError):
        dst.write_eof()


@contextlib.asynccontextmanager
async def coalescing_relay(port: int, window: float = 0.05) -> AsyncIterator[int]:
    """A TCP relay 127.0.0.1:relay → 127.0.0.1:``port`` that gathers what ``port`` sends for ``window``
    seconds and delivers it in one write, as a busy host or a middlebox that coalesces segments
    does: the last TLS record and the close_notify sent right behind it reach the reader in one
    read (on an idle loopback that happens only some of the time)."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_coalesce(reader, up_writer, 0.0), _coalesce(up_reader, writer, window))
        for w in (writer, up_writer):
            w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]
