"""Sending DATA within HTTP/2 flow control (RFC 9113 §5.2), for both h2 legs of inspection.

The client leg (:mod:`.h2relay`, bridgehead as the server) and the origin leg (:mod:`.h2upstream`,
bridgehead as the client) send a body the same way: every frame the stream's and the connection's
windows allow, then one write; when a window is closed, wait (bounded) for the peer's
WINDOW_UPDATE, which the connection's reader signals through ``window``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import h2.connection


async def send_data(h2conn: h2.connection.H2Connection, sid: int, data: bytes, *, end: bool, window: asyncio.Event,
                    timeout: float, flush: Callable[[], Awaitable[None]], broken: Callable[[], str | None]) -> None:
    """``broken()`` names why the connection can no longer carry data (then ConnectionResetError)."""
    view = memoryview(data)
    while view:
        reason = broken()
        if reason is not None:
            raise ConnectionResetError(reason)
        room = h2conn.local_flow_control_window(sid)
        if room <= 0:
            window.clear()
            async with asyncio.timeout(timeout):
                await window.wait()
            continue
        while view and room > 0:  # every frame the windows allow, then one write
            size = min(room, h2conn.max_outbound_frame_size, len(view))
            h2conn.send_data(sid, bytes(view[:size]))
            view = view[size:]
            room = h2conn.local_flow_control_window(sid)
        await flush()
    if end:
        h2conn.end_stream(sid)
        await flush()
