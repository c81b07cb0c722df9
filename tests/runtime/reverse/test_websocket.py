"""WebSocket (101 upgrade) through a reverse re-encrypt route to a wss:// echo origin (websockets)."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from websockets.asyncio.client import connect

from tests.runtime.reverse.conftest import Pki, listener
from tests.support.ws_origin import ws_echo

HOST = "mail.example.test"


def test_websocket_through_a_reencrypt_route(tmp_path: Path, pki: Pki, start_reverse) -> None:
    backend_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    backend_ctx.load_cert_chain(str(pki.backend.chain), str(pki.backend.key))
    client_ctx = ssl.create_default_context(cafile=str(pki.public.cert))

    async def run() -> list[str]:
        async with ws_echo(backend_ctx) as port:
            route = (f'\n[[route]]\nname = "ws"\nlistener = "edge"\nhosts = ["{HOST}"]\nmode = "reencrypt"\n'
                     f'backend = "https://ex01.internal.test:{port}"\nbackend_address = "127.0.0.1:{port}"\n'
                     f'backend_ca = "{pki.internal.cert}"\n')
            proxy = await asyncio.to_thread(start_reverse, listener(pki) + route)
            async with connect(f"wss://{HOST}:{proxy.port}/ws", ssl=client_ctx, host="127.0.0.1",
                               port=proxy.port, open_timeout=10) as ws:
                out = []
                for text in ("one", "two"):
                    await ws.send(text)
                    out.append(str(await asyncio.wait_for(ws.recv(), 10)))
            run.proxy = proxy  # type: ignore[attr-defined]
            return out

    assert asyncio.run(run()) == ["echo:one", "echo:two"]
    proxy = run.proxy  # type: ignore[attr-defined]
    (rec,) = proxy.records(action="publish")
    assert rec["status"] == 101 and rec["upgrade"] == "websocket" and rec["route"] == "ws"
