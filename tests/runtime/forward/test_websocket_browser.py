"""Headless Chromium through the inspecting forward proxy to a wss:// origin (issue 11): the browser
trusts the bridgehead inspection CA through its NSS database (no certificate-error switches), loads
a page from the origin over https, and runs a WebSocket exchange from it (text and binary, one
message > 64 KiB, clean close). The proxy relays the 101 (RFC 6455 section 4.2.2), splices, and logs
the upgrade. The negative: the same browser without the CA refuses the page and the wss:// alike."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from tests.runtime.forward.conftest import ORIGIN_HOST, Pki
from tests.support.browser_nss import EXCHANGE, binary_pattern, coalescing_relay, launch, nss_home, poll, ws_page_origin

# Chromium's own background requests (component updates, sign-in, connectivity checks) go through the
# proxy too: they are refused there, so nothing leaves the machine.
RULES = f"""
[[rule]]
name = "the test origin"
action = "allow"
source = ["127.0.0.1"]
destination = ["{ORIGIN_HOST}"]

[[rule]]
name = "nothing else"
action = "deny"
"""


def _start(start_proxy: Any, tmp_path: Path) -> Any:
    config = tmp_path / "forward.toml"
    config.write_text(RULES)
    return start_proxy("--config", str(config))


def _origin_ctx(pki: Pki) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(pki.server.chain), str(pki.server.key))
    return ctx


def _expected() -> list[dict[str, object]]:
    def binary(n: int) -> dict[str, object]:
        data = b"echo:" + binary_pattern(n)
        return {"binary": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return [{"text": "echo:hello"}, binary(100000), {"text": "echo:" + "t" * 70000}, binary(10), {"text": "echo:bye"}]


def test_chromium_websocket_through_inspection(tmp_path: Path, pki: Pki, start_proxy: Any) -> None:
    proxy = _start(start_proxy, tmp_path)
    home = nss_home(tmp_path / "home", proxy.ca)  # the inspection CA only; the origin's CA is not trusted

    async def run() -> tuple[int, str, dict[str, Any]]:
        async with ws_page_origin(_origin_ctx(pki)) as port, async_playwright() as pw:
            browser = await launch(pw, home, proxy=proxy.url)
            try:
                page = await browser.new_page()
                response = await page.goto(f"https://{ORIGIN_HOST}:{port}/", timeout=20000)
                assert response is not None and response.status == 200
                result = await page.evaluate(EXCHANGE, f"wss://{ORIGIN_HOST}:{port}/chat")
                return port, await page.inner_text("#state"), result
            finally:
                await browser.close()

    port, state, result = asyncio.run(run())
    assert state == "loaded"
    assert result["opened"], result
    assert result["replies"] == _expected()
    assert result["close"] == {"code": 1000, "wasClean": True, "reason": "done"}
    upgrades = poll(lambda: [r for r in proxy.records(expect=0) if r.get("upgrade")])
    assert len(upgrades) == 1, proxy.records()
    (rec,) = upgrades
    assert rec["action"] == "inspect" and rec["status"] == 101 and rec["upgrade"] == "websocket", rec
    assert rec["url"] == f"https://{ORIGIN_HOST}:{port}/chat" and rec["protocol"] == "HTTP/1.1", rec
    # 170 000+ payload bytes went each way (no permessage-deflate: the origin declines it)
    assert int(str(rec["bytes_in"])) > 170000 and int(str(rec["bytes_out"])) > 170000, rec
    page = [r for r in proxy.records() if r.get("url") == f"https://{ORIGIN_HOST}:{port}/"]
    assert page and page[0]["action"] == "inspect" and page[0]["status"] == 200, proxy.records()


def test_chromium_websocket_close_is_prompt_when_close_notify_is_coalesced(
        tmp_path: Path, pki: Pki, start_proxy: Any) -> None:
    """RFC 6455 section 7.1.1: after the closing handshake the server closes TCP (here: TLS
    close_notify, then FIN); the proxy must pass that end on at once, whatever the segmenting."""
    proxy = _start(start_proxy, tmp_path)
    home = nss_home(tmp_path / "home", proxy.ca)

    async def run() -> dict[str, Any]:
        async with ws_page_origin(_origin_ctx(pki)) as origin, coalescing_relay(origin) as port, \
                async_playwright() as pw:
            browser = await launch(pw, home, proxy=proxy.url)
            try:
                page = await browser.new_page()
                await page.goto(f"https://{ORIGIN_HOST}:{port}/", timeout=20000)
                result: dict[str, Any] = await page.evaluate(EXCHANGE, f"wss://{ORIGIN_HOST}:{port}/chat")
                return result
            finally:
                await browser.close()

    result = asyncio.run(run())
    assert result["replies"] == _expected() and result["close"]["wasClean"], result
    assert result["closeMs"] < 1000, f"close took {result['closeMs']:.0f} ms (direct: a few ms)"


def test_chromium_refuses_without_the_inspection_ca(tmp_path: Path, pki: Pki, start_proxy: Any) -> None:
    proxy = _start(start_proxy, tmp_path)
    home = nss_home(tmp_path / "home")  # an empty NSS database: nothing extra trusted

    async def run() -> tuple[str, dict[str, Any]]:
        async with ws_page_origin(_origin_ctx(pki)) as port, async_playwright() as pw:
            browser = await launch(pw, home, proxy=proxy.url)
            try:
                page = await browser.new_page()
                with pytest.raises(PlaywrightError) as refused:
                    await page.goto(f"https://{ORIGIN_HOST}:{port}/", timeout=20000)
                # the WebSocket alone (from a blank page) is refused too: the handshake never opens
                blank = await browser.new_page()
                result = await blank.evaluate(EXCHANGE, f"wss://{ORIGIN_HOST}:{port}/chat")
                return str(refused.value), result
            finally:
                await browser.close()

    error, result = asyncio.run(run())
    assert "ERR_CERT_AUTHORITY_INVALID" in error, error
    assert result["opened"] is False and result["replies"] == [], result
    assert result["close"]["code"] == 1006 and result["close"]["wasClean"] is False, result
    refusals = poll(lambda: [r for r in proxy.records(expect=0) if r.get("host") == ORIGIN_HOST])
    assert refusals and all(r["action"] == "error" for r in refusals), refusals
    assert "certificate unknown" in str(refusals[0]["reason"]), refusals  # Chromium's alert, seen by the proxy
    assert not [r for r in proxy.records(expect=0) if r.get("upgrade")]
