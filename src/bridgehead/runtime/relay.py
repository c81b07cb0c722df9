"""Relay one HTTP/1.1 exchange between two buffered connections (shared by the proxies).

The request head is forwarded with hop-by-hop fields removed (RFC 9110 §7.6.1), the body
is relayed byte for byte under the framing of RFC 9112 §6.3, interim responses are
handled, and the response comes back the same way. ``Expect: 100-continue`` is answered
by the proxy itself (RFC 9110 §10.1.1) so a client never waits on a server that does not
know it. A ``check`` callback runs after the response head arrives and before any byte
reaches the client: it may raise :class:`RelayError` to answer with an error page instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bridgehead.runtime.streams import Conn
from bridgehead.wire.http1 import (
    CHUNKED,
    LENGTH,
    NO_BODY,
    UNTIL_CLOSE,
    ChunkedScanner,
    Framing,
    HttpError,
    RequestHead,
    ResponseHead,
    keep_alive,
    parse_response_head,
    request_framing,
    response_framing,
    strip_hop_by_hop,
)


class RelayError(Exception):
    def __init__(self, code: str, detail: str, *, response_started: bool = False) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.response_started = response_started


@dataclass
class Exchange:
    method: str
    target: str
    status: int
    bytes_in: int
    bytes_out: int
    keep_alive: bool


async def relay_body(src: Conn, dst: Conn, framing: Framing, prefix: bytes = b"") -> int:
    """Copy one body from ``src`` to ``dst``; returns the number of body bytes copied.

    ``prefix`` (a message head) goes out with the first body bytes already buffered, in one
    write: one TLS record and one system call fewer per small message.
    """
    if prefix and (framing.kind == NO_BODY or not src.buf):
        await dst.write(prefix)
        prefix = b""
    if framing.kind == NO_BODY:
        return 0
    total = 0
    if framing.kind == LENGTH:
        remaining = framing.length
        while remaining:
            data = await src.read_some()
            if not data:
                raise ConnectionResetError(f"connection closed with {remaining} body bytes outstanding")
            if len(data) > remaining:
                src.unread(data[remaining:])
                data = data[:remaining]
            remaining -= len(data)
            total += len(data)
            await dst.write(prefix + data if prefix else data)
            prefix = b""
        return total
    if framing.kind == CHUNKED:
        scanner = ChunkedScanner()
        while not scanner.done:
            data = await src.read_some()
            if not data:
                raise ConnectionResetError("connection closed inside a chunked body")
            used = scanner.feed(data)
            if used < len(data):
                src.unread(data[used:])
            total += used
            await dst.write(prefix + data[:used] if prefix else data[:used])
            prefix = b""
        return total
    assert framing.kind == UNTIL_CLOSE
    while data := await src.read_some():
        total += len(data)
        await dst.write(prefix + data if prefix else data)
        prefix = b""
    return total


async def exchange(
    client: Conn,
    upstream: Conn,
    head: RequestHead,
    *,
    target: bytes | None = None,
    check: Callable[[ResponseHead], None] | None = None,
) -> Exchange:
    """Forward ``head`` (already read from ``client``) and its body, and relay the response."""
    framing = request_framing(head)
    expect = head.headers.get(b"expect")
    if expect is not None and expect.lower() == b"100-continue":
        head.headers.remove(b"expect")
        await client.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    client_keep = keep_alive(head.version, head.headers)
    strip_hop_by_hop(head.headers)
    await upstream.write(head.serialize(target))
    bytes_in = await relay_body(client, upstream, framing)
    response = await _final_response(upstream)
    if check is not None:
        check(response)
    rframing = response_framing(response, head.method)
    keep = client_keep and keep_alive(response.version, response.headers) and rframing.kind != UNTIL_CLOSE
    strip_hop_by_hop(response.headers)
    if not keep:
        response.headers.set(b"Connection", b"close")
    try:
        bytes_out = await relay_body(upstream, client, rframing, prefix=response.serialize())
    except (HttpError, ConnectionError, OSError) as exc:
        raise RelayError("upstream-bad-response", str(exc), response_started=True) from None
    return Exchange(head.method.decode("latin-1"), (target or head.target).decode("latin-1"),
                    response.status, bytes_in, bytes_out, keep)


async def _final_response(upstream: Conn) -> ResponseHead:
    while True:
        raw = await upstream.read_head()
        if raw is None:
            raise RelayError("upstream-bad-response", "the server closed the connection without answering")
        try:
            response = parse_response_head(raw)
        except HttpError as exc:
            raise RelayError("upstream-bad-response", str(exc)) from None
        if response.status == 101:
            raise RelayError("upstream-bad-response", "protocol upgrade (101) is not relayed under inspection")
        if 100 <= response.status < 200:
            continue  # interim (100 was answered by us; 102/103 are informational only)
        return response
