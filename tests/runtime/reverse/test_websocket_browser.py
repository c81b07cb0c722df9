"""Headless Chromium through a reverse re-encrypt route to a wss:// backend (issue 11): the browser
trusts the CA of the edge certificate through its NSS database (no certificate-error switches) and
reaches ``mail.example.test`` by a host-resolver rule; it loads the page over https through the
route and runs a WebSocket exchange from it (text and binary, one message > 64 KiB, clean close).
bridgehead relays the 101 (RFC 6455 section 4.2.2) from the backend, which it reaches over TLS
checked against the internal CA, and logs the upgrade. The negative: without the edge CA the same
browser refuses the page and the wss:// alike."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from tests.runtime.reverse.conftest import Pki, Reverse, listener
from tests.support.browser_nss import EXCHANGE, binary_pattern, launch, nss_home, poll, ws_page_origin

HOST = "mail.example.test"
# the published name on loopback; every other name (Chromium's background requests) resolves to nothing
RESOLVE = f"--host-resolver-rules=MAP {HOST} 127.0.0.1, MAP * ~NOTFOUND"


def _route(pki: Pki, port: int) -> str:
    return (f'\n[[route]]\nname = "ws"\nlistener = "edge"\nhosts = ["{HOST}"]\nmode = "reencrypt"\n'
            f'backend = "https://ex01.internal.test:{port}"\nbackend_address = "127.0.0.1:{port}"\n'
            f'backend_ca = "{pki.internal.cert}"\n')


def _backend_ctx(pki: Pki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(pki.backend.chain), str(pki.backend.key))
    return ctx


def _expected() -> list[dict[str, object]]:
    def binary(n: int) -> dict[str, object]:
        data = b"echo:" + binary_pattern(n)
        return {"binary": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return [{"text": "echo:hello"}, binary(100000), {"text": "echo:" + "t" * 70000}, binary(10), {"text": "echo:bye"}]


def test_chromium_websocket_through_a_reencrypt_route(tmp_path: Path, pki: Pki, start_reverse: Any) -> None:
    home = nss_home(tmp_path / "home", pki.public.cert)  # the edge certificate's CA only

    async def run() -> tuple[Reverse, dict[str, Any]]:
        async with ws_page_origin(_backend_ctx(pki)) as port, async_playwright() as pw:
            proxy: Reverse = await asyncio.to_thread(start_reverse, listener(pki) + _route(pki, port))
            browser = await launch(pw, home, args=(RESOLVE,))
            try:
                page = await browser.new_page()
                response = await page.goto(f"https://{HOST}:{proxy.port}/", timeout=20000)
                assert response is not None and response.status == 200
                assert await page.inner_text("#state") == "loaded"
                return proxy, await page.evaluate(EXCHANGE, f"wss://{HOST}:{proxy.port}/ws")
            finally:
                await browser.close()

    proxy, result = asyncio.run(run())
    assert result["opened"], result
    assert result["replies"] == _expected()
    assert result["close"] == {"code": 1000, "wasClean": True, "reason": "done"}
    upgrades = poll(lambda: [r for r in proxy.records(expect=0, action="publish") if r.get("upgrade")])
    assert len(upgrades) == 1, proxy.records(action="publish")
    (rec,) = upgrades
    assert rec["status"] == 101 and rec["upgrade"] == "websocket" and rec["route"] == "ws", rec
    assert int(str(rec["bytes_in"])) > 170000 and int(str(rec["bytes_out"])) > 170000, rec
    pages = [r for r in proxy.records(action="publish") if r.get("status") == 200]
    assert pages and pages[0]["route"] == "ws", proxy.records()


def test_chromium_refuses_the_route_without_the_edge_ca(tmp_path: Path, pki: Pki, start_reverse: Any) -> None:
    home = nss_home(tmp_path / "home", pki.internal.cert)  # a CA, but not the one that issued the edge cert

    async def run() -> tuple[Reverse, str, dict[str, Any]]:
        async with ws_page_origin(_backend_ctx(pki)) as port, async_playwright() as pw:
            proxy: Reverse = await asyncio.to_thread(start_reverse, listener(pki) + _route(pki, port))
            browser = await launch(pw, home, args=(RESOLVE,))
            try:
                page = await browser.new_page()
                with pytest.raises(PlaywrightError) as refused:
                    await page.goto(f"https://{HOST}:{proxy.port}/", timeout=20000)
                blank = await browser.new_page()
                result = await blank.evaluate(EXCHANGE, f"wss://{HOST}:{proxy.port}/ws")
                return proxy, str(refused.value), result
            finally:
                await browser.close()

    proxy, error, result = asyncio.run(run())
    assert "ERR_CERT_AUTHORITY_INVALID" in error, error
    assert result["opened"] is False and result["replies"] == [], result
    assert result["close"]["code"] == 1006 and result["close"]["wasClean"] is False, result
    refusals = poll(lambda: [r for r in proxy.records(expect=0) if r.get("action") == "error"])
    assert refusals and "certificate unknown" in str(refusals[0]["reason"]), refusals  # Chromium's alert
    assert not [r for r in proxy.records(expect=0) if r.get("upgrade")]
