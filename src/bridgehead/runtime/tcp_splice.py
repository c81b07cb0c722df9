"""Splice two plain TCP connections in the event loop's callbacks: no task, no future per chunk.

Tunnels (CONNECT tunnels, a replayed ClientHello, SNI passthrough) spend their life copying bytes.
Done with two coroutines, every chunk costs a future, a task wake-up and a drain check on each
side; here each transport's protocol is swapped (``BaseTransport.set_protocol``) for a small
:class:`_Half` whose ``data_received`` writes straight to the other transport, with asyncio's
flow control between them (a full send buffer pauses reading on the side that feeds it).

* Bytes the stream reader had already received are sent first, in order.
* A FIN is passed on as a FIN (``write_eof``): tunnels keep half-close; when both directions
  ended, the splice is over. A reset or error on either side closes the other.
* ``idle``: when no byte moved either way for that long, both are closed (one timer handle,
  re-armed only when it fires and something moved since).
* At the end each original protocol gets its transport back (or its ``connection_lost``), so the
  streams above close as usual.
"""

from __future__ import annotations

import asyncio
from typing import Any


class _Half(asyncio.Protocol):
    """The protocol of one side: what it receives goes to ``peer``."""

    def __init__(self, splice: _Splice, index: int) -> None:
        self.splice = splice
        self.index = index
        self.moved = 0
        self.eof = False
        self.lost = False
        self.lost_exc: BaseException | None = None

    def data_received(self, data: bytes) -> None:
        self.moved += len(data)
        self.splice.transports[1 - self.index].write(data)

    def eof_received(self) -> bool:
        self.eof = True
        self.splice.pass_eof(self.index)
        return True  # keep the other direction open (half-close)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = True
        self.lost_exc = exc
        self.splice.lost(self.index)

    def pause_writing(self) -> None:  # this side's send buffer is full: stop reading the side that feeds it
        self.splice.transports[1 - self.index].pause_reading()

    def resume_writing(self) -> None:
        peer = self.splice.transports[1 - self.index]
        if not peer.is_closing():
            peer.resume_reading()


class _Splice:
    def __init__(self, transports: tuple[Any, Any], idle: float) -> None:
        self.transports = transports
        self.halves = (_Half(self, 0), _Half(self, 1))
        self.loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = self.loop.create_future()
        self.idle = idle
        self._seen = -1
        self._timer = self.loop.call_later(idle, self._check_idle)

    def pass_eof(self, index: int) -> None:
        other = self.transports[1 - index]
        if not other.is_closing() and other.can_write_eof():
            other.write_eof()
        if self.halves[0].eof and self.halves[1].eof:
            self.finish()

    def lost(self, index: int) -> None:
        other = self.transports[1 - index]
        if not self.halves[1 - index].lost:
            other.close()  # a reset on one side ends the tunnel: the other side is closed, not left open
        self.finish()

    def _check_idle(self) -> None:
        moved = self.halves[0].moved + self.halves[1].moved
        if moved != self._seen:
            self._seen = moved
            self._timer = self.loop.call_later(self.idle, self._check_idle)
            return
        for transport in self.transports:
            transport.close()
        self.finish()

    def finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def splice_transports(transports: tuple[Any, Any], originals: tuple[Any, Any], first: tuple[bytes, bytes],
                            eof: tuple[bool, bool], idle: float) -> tuple[int, int]:
    """Copy both ways until both ended, one failed or ``idle`` passed; returns (bytes 0→1, bytes 1→0).

    ``first``: bytes already received from each side (sent to the other first); ``eof``: a side
    that already sent its FIN; ``originals``: the protocols to give the transports back to.
    """
    splice = _Splice(transports, idle)
    for index in (0, 1):
        if first[index]:
            transports[1 - index].write(first[index])
    for index in (0, 1):
        transports[index].set_protocol(splice.halves[index])
        if transports[index].is_closing():
            splice.halves[index].lost = True
            splice.lost(index)
    for index in (0, 1):
        if eof[index]:
            splice.halves[index].eof_received()
        elif not transports[index].is_closing():
            transports[index].resume_reading()  # the stream reader may have paused it (its buffer limit)
    try:
        await splice.done
    finally:
        splice._timer.cancel()
        for index in (0, 1):
            half, original = splice.halves[index], originals[index]
            if half.lost:
                original.connection_lost(half.lost_exc)  # the stream above sees the close as usual
            else:
                transports[index].set_protocol(original)
    return (splice.halves[0].moved + len(first[0]), splice.halves[1].moved + len(first[1]))
