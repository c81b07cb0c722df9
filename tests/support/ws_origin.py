"""A wss:// echo origin (the ``websockets`` library, an independent implementation) for upgrade tests.

    async with ws_echo(ssl_context) as port: ...   # 127.0.0.1:port, echoes "echo:" + message
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator

from websockets.asyncio.server import ServerConnection, serve


async def _echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(f"echo:{message}")


@contextlib.asynccontextmanager
async def ws_echo(ctx: ssl.SSLContext | None) -> AsyncIterator[int]:
    async with serve(_echo, "127.0.0.1", 0, ssl=ctx) as server:
        yield next(iter(server.sockets)).getsockname()[1]
