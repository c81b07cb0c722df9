"""The callback splice of two plain TCP connections (runtime/tcp_splice.py) over real sockets.

A "proxy" accepts a client on 127.0.0.1, connects to an echo-or-sink origin and splices the two
``Conn`` with :func:`bridgehead.runtime.streams.splice`, as the forward proxy's tunnels and the
reverse proxy's SNI passthrough do.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import struct
from collections.abc import Awaitable, Callable

import pytest

from bridgehead.runtime.streams import Conn, PlainStream, splice


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Awaitable[None]], None]:
    """Each scenario on both event loops bridgehead can run on (``--event-loop``)."""
    from bridgehead.runtime import eventloop

    return lambda main: eventloop.run(main, request.param)  # type: ignore[arg-type]


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def rig(origin: Handler, *, idle: float = 30.0, first: bytes = b""):  # type: ignore[no-untyped-def]
    """Start an origin and a splicing proxy; returns (client reader, writer, splice result future)."""
    origin_server = await asyncio.start_server(origin, "127.0.0.1", 0)
    origin_port = origin_server.sockets[0].getsockname()[1]
    result: asyncio.Future[tuple[int, int]] = asyncio.get_running_loop().create_future()

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = Conn(PlainStream(reader, writer), timeout=idle)
        if first:
            await client._more()  # bytes already read by the proxy before the splice starts
        up_r, up_w = await asyncio.open_connection("127.0.0.1", origin_port)
        upstream = Conn(PlainStream(up_r, up_w), timeout=idle, role="upstream")
        try:
            result.set_result(await splice(client, upstream))
        finally:
            await upstream.close()
            await client.close()

    proxy_server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy_server.sockets[0].getsockname()[1])
    if first:
        writer.write(first)
    return reader, writer, result, (origin_server, proxy_server)


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.write_eof()  # half-close answered by a FIN after everything was echoed
    await writer.drain()


def test_bytes_flow_both_ways_in_order_and_half_close_is_passed_on(run) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        reader, writer, result, servers = await rig(echo, first=b"early bytes ")
        payload = os.urandom(3 * 1024 * 1024)  # more than any socket buffer: flow control must hold
        writer.write(payload)
        writer.write_eof()  # FIN from the client: the origin must see it and still answer
        got = await asyncio.wait_for(reader.read(-1), 30)
        assert hashlib.sha256(got).digest() == hashlib.sha256(b"early bytes " + payload).digest()
        sent, received = await asyncio.wait_for(result, 10)
        assert sent == received == len(payload) + len(b"early bytes ")
        writer.close()
        for s in servers:
            s.close()

    run(main())


def test_idle_tunnel_is_closed_after_the_timeout(run) -> None:  # type: ignore[no-untyped-def]
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)

    async def main() -> None:
        reader, writer, result, servers = await rig(silent, idle=0.5)
        writer.write(b"x")
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert await asyncio.wait_for(reader.read(-1), 5) == b""  # closed by the proxy
        assert 0.4 < loop.time() - start < 3
        assert await asyncio.wait_for(result, 5) == (1, 0)
        writer.close()
        for s in servers:
            s.close()

    run(main())


def test_a_reset_origin_closes_the_client_side(run) -> None:  # type: ignore[no-untyped-def]
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        writer.write(b"partial")
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close → RST, not FIN
        writer.transport.abort()

    async def main() -> None:
        reader, writer, result, servers = await rig(reset)
        writer.write(b"go")
        try:  # the client side is closed (not left hanging) once the origin reset
            got = await asyncio.wait_for(reader.read(-1), 5)
        except ConnectionError:
            got = b""
        assert got in (b"partial", b"")
        sent, received = await asyncio.wait_for(result, 5)
        assert sent >= 1 and received in (0, len(b"partial"))
        writer.close()
        for s in servers:
            s.close()

    run(main())
