"""The bounded upstream pool over real loopback connections: bounds, idle expiry, unsolicited bytes."""

from __future__ import annotations

import asyncio

from bridgehead.runtime.pool import UpstreamPool
from bridgehead.runtime.streams import Conn, PlainStream


async def _pairs(n: int) -> tuple[list[Conn], list[asyncio.StreamWriter], asyncio.base_events.Server]:
    server_side: list[asyncio.StreamWriter] = []

    async def accept(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        server_side.append(w)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conns = []
    for _ in range(n):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        conns.append(Conn(PlainStream(r, w), role="upstream"))
    while len(server_side) < n:
        await asyncio.sleep(0.01)
    return conns, server_side, server


def test_bounds_per_origin_and_total() -> None:
    async def run() -> tuple[int, int, int]:
        conns, _, server = await _pairs(6)
        pool = UpstreamPool(per_origin=2, total=3)
        for conn in conns[:4]:
            await pool.put(("a", 80), conn)
        after_a = len(pool)
        for conn in conns[4:]:
            await pool.put(("b", 80), conn)
        total = len(pool)
        first = await pool.take(("a", 80))
        await pool.close()
        server.close()
        return after_a, total, conns.index(first) if first else -1

    after_a, total, newest = asyncio.run(run())
    assert after_a == 2 and total == 3
    assert newest == 3  # the newest idle connection is reused first


def test_idle_expiry_and_unsolicited_bytes_are_never_reused() -> None:
    async def run() -> tuple[bool, bool, bool]:
        conns, servers, server = await _pairs(3)
        pool = UpstreamPool(idle_timeout=0.2)
        await pool.put(("o", 80), conns[0])
        await asyncio.sleep(0.3)
        expired = await pool.take(("o", 80)) is None
        await pool.put(("o", 80), conns[1])
        servers[1].write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")  # nobody asked for it
        await asyncio.sleep(0.1)
        unsolicited = await pool.take(("o", 80)) is None
        await pool.put(("o", 80), conns[2])
        servers[2].close()  # the origin closes the idle connection
        await asyncio.sleep(0.1)
        closed = await pool.take(("o", 80)) is None
        server.close()
        return expired, unsolicited, closed

    assert asyncio.run(run()) == (True, True, True)
