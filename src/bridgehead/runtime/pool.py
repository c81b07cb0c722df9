"""A bounded pool of idle upstream connections (httpcore's connection pool is the model).

``put`` parks a connection that finished an exchange cleanly (``Conn.park``: one read stays
outstanding, so unsolicited bytes or a close are noticed); ``take`` returns the newest idle
connection to that origin that holds no byte nobody asked for. At most ``per_origin`` idle
connections per origin and ``total`` overall are kept (the oldest go first), and none longer
than ``idle_timeout`` seconds: an origin's keep-alive timeout is usually shorter than ours,
and a connection it closed must not be the one a request is written to.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from bridgehead.runtime.streams import Conn

Key = tuple[str, int]


class UpstreamPool:
    def __init__(self, *, per_origin: int = 16, total: int = 512, idle_timeout: float = 30.0) -> None:
        self.per_origin = per_origin
        self.total = total
        self.idle_timeout = idle_timeout
        self._idle: OrderedDict[tuple[Key, int], tuple[Conn, float]] = OrderedDict()  # oldest first
        self._seq = 0

    def __len__(self) -> int:
        return len(self._idle)

    async def put(self, key: Key, conn: Conn) -> None:
        """Keep ``conn`` for reuse, or close it when it may not be reused or the pool is full."""
        if not conn.reusable():
            await conn.close()
            return
        await self._expire()
        mine = [k for k in self._idle if k[0] == key]
        while mine and len(mine) >= self.per_origin:
            await self._drop(mine.pop(0))
        while self._idle and len(self._idle) >= self.total:
            await self._drop(next(iter(self._idle)))
        conn.park()
        self._seq += 1
        self._idle[(key, self._seq)] = (conn, time.monotonic())

    async def take(self, key: Key) -> Conn | None:
        """The newest reusable idle connection to ``key`` (others on the way are closed), or ``None``."""
        await self._expire()
        for entry in reversed([k for k in self._idle if k[0] == key]):
            conn, _ = self._idle.pop(entry)
            if conn.reusable():
                return conn
            await conn.close()
        return None

    async def close(self) -> None:
        while self._idle:
            await self._drop(next(iter(self._idle)))

    async def _expire(self) -> None:
        limit = time.monotonic() - self.idle_timeout
        for entry in [k for k, (_, since) in self._idle.items() if since < limit]:
            await self._drop(entry)

    async def _drop(self, entry: tuple[Key, int]) -> None:
        conn, _ = self._idle.pop(entry)
        await conn.close()
