"""WebSocket (101 upgrade) through the inspecting forward proxy: the websockets client (CONNECT via
``proxy=``) talks to a wss:// echo origin; the proxy relays the 101, splices, and logs the upgrade."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from tests.runtime.forward.conftest import ORIGIN_HOST, Pki
from tests.support.ws_origin import ws_echo


def test_websocket_through_inspection(tmp_path: Path, pki: Pki, start_proxy: Any) -> None:
    proxy = start_proxy()
    origin_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    origin_ctx.load_cert_chain(str(pki.server.chain), str(pki.server.key))
    client_ctx = ssl.create_default_context(cafile=str(proxy.ca))  # trusts the inspection CA only

    async def run() -> list[str]:
        async with ws_echo(origin_ctx) as port:
            async with connect(f"wss://{ORIGIN_HOST}:{port}/chat", ssl=client_ctx, proxy=proxy.url, compression=None,
                               open_timeout=10) as ws:
                replies = []
                for text in ("hello", "x" * 70000, "bye"):
                    await ws.send(text)
                    replies.append(str(await asyncio.wait_for(ws.recv(), 10)))
                return replies

    replies = asyncio.run(run())
    assert replies == ["echo:hello", "echo:" + "x" * 70000, "echo:bye"]
    records = [r for r in proxy.records(expect=2) if r.get("upgrade")]
    assert len(records) == 1, proxy.records()
    (rec,) = records
    assert rec["status"] == 101 and rec["upgrade"] == "websocket" and rec["action"] == "inspect"
    assert int(rec["bytes_in"]) > 70000 and int(rec["bytes_out"]) > 70000
