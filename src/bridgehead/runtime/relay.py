"""Relay one HTTP/1.1 exchange between two buffered connections (shared by the proxies).

The order of every decision is fixed here, so no client field can change it
(``wire.http1.prepare_request``): framing is decided from the parsed head; hop-by-hop fields
go (a ``Connection`` token never removes framing fields or Host); client fields that
normalise to the proxy's own or to an identity field go; the proxy writes the framing
field itself; the proxy's own fields (``own``: Host, X-Forwarded-*, identity) are set
last. The body is then relayed byte for byte under the framing the proxy decided
(RFC 9112 §6.3), interim responses are handled, and the response comes back the same
way. ``Expect: 100-continue`` is answered by the proxy itself (RFC 9110 §10.1.1) so a
client never waits on a server that does not know it. A ``check`` callback runs after the
response head arrives and before any byte reaches the client: it may raise
:class:`RelayError` to answer with an error page instead.

An upstream connection is reusable only when the response was framed, the server keeps
it, and it holds no byte beyond the response (bytes nobody asked for: an unsolicited
second response would reach the next client). :func:`classify` is the one place that
maps a relay exception to a registry code (httpcore's ``map_exceptions`` is the model).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bridgehead.runtime.streams import Conn, DeadlineExceeded, PeerClosed, splice
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
    parse_response_head,
    prepare_request,
    prepare_response,
    prepare_switch,
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
    upstream_reusable: bool = False
    upgrade: str | None = None  # the protocol switched to by a 101 (the bytes counts include the splice)


class _BodyClock:
    """Per-read timeouts for a request body: the body must average ``rate`` B/s after ``grace`` s."""

    def __init__(self, conn: Conn) -> None:
        self.loop = asyncio.get_running_loop()
        self.start = self.loop.time()
        self.rate = conn.deadlines.body_rate
        self.grace = conn.deadlines.body_grace

    def remaining(self, received: int) -> float | None:
        if self.rate <= 0:
            return None
        return self.start + self.grace + received / self.rate - self.loop.time()


async def relay_body(src: Conn, dst: Conn, framing: Framing, prefix: bytes = b"", *, paced: bool = False) -> int:
    """Copy one body from ``src`` to ``dst``; returns the number of body bytes copied.

    ``prefix`` (a message head) goes out with the first body bytes already buffered, in one
    write: one TLS record and one system call fewer per small message. ``paced``: hold the
    body to the minimum rate of ``src``'s deadlines (request bodies from clients).
    """
    if prefix and (framing.kind == NO_BODY or not src.buf):
        await dst.write(prefix)
        prefix = b""
    if framing.kind == NO_BODY:
        return 0
    clock = _BodyClock(src) if paced else None
    total = 0

    async def more() -> bytes:
        return await src.read_some(clock.remaining(total) if clock else None, "body")

    if framing.kind == LENGTH:
        remaining = framing.length
        while remaining:
            data = await more()
            if not data:
                raise PeerClosed(src.role, f"connection closed with {remaining} body bytes outstanding")
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
            data = await more()
            if not data:
                raise PeerClosed(src.role, "connection closed inside a chunked body")
            used = scanner.feed(data)
            if used < len(data):
                src.unread(data[used:])
            total += used
            await dst.write(prefix + data[:used] if prefix else data[:used])
            prefix = b""
        return total
    assert framing.kind == UNTIL_CLOSE
    while data := await more():
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
    owned: Iterable[bytes] = (),
    own: Iterable[tuple[bytes, bytes]] = (),
    upgrade_idle: float = 300.0,
) -> Exchange:
    """Forward ``head`` (already read from ``client``) and its body, and relay the response.

    ``owned``: field names a client may not send on (besides identity fields and
    ``X-Bridgehead-*``); ``own``: the proxy's fields, set after every removal. A ``101`` to a
    request that asked for an upgrade (WebSocket) is relayed and the two connections are then
    spliced until one side closes (each read waits at most ``upgrade_idle``).
    """
    out = prepare_request(head, owned=owned, own=own)
    if out.expect_continue:
        await client.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    await upstream.write(head.serialize(target))
    bytes_in = await relay_body(client, upstream, out.framing, paced=True)
    response = await _final_response(upstream, upgrade=out.upgrade is not None)
    if check is not None:
        check(response)
    if response.status == 101:
        assert out.upgrade is not None
        return await _switch(client, upstream, head, response, out.upgrade, bytes_in, upgrade_idle)
    try:
        rframing, server_keep = prepare_response(response, head.method)
    except HttpError as exc:
        raise RelayError("upstream-bad-response", str(exc)) from None
    framed = rframing.kind != UNTIL_CLOSE
    keep = out.keep_alive and server_keep and framed
    if not keep:
        response.headers.set(b"Connection", b"close")
    try:
        bytes_out = await relay_body(upstream, client, rframing, prefix=response.serialize())
    except (HttpError, ConnectionError, OSError) as exc:
        raise RelayError("upstream-bad-response", str(exc), response_started=True) from None
    except DeadlineExceeded as exc:
        raise RelayError("upstream-timeout" if exc.role == "upstream" else "client-timeout", str(exc),
                         response_started=True) from None
    reusable = server_keep and framed and not upstream.buf and not upstream.eof
    return Exchange(head.method.decode("latin-1"), (target or head.target).decode("latin-1"),
                    response.status, bytes_in, bytes_out, keep, reusable)


async def _switch(client: Conn, upstream: Conn, head: RequestHead, response: ResponseHead, asked: bytes,
                  bytes_in: int, idle: float) -> Exchange:
    """Relay the 101 and splice: the connection now speaks the upgraded protocol (RFC 9110 §7.8)."""
    try:
        chosen = prepare_switch(response, asked)
    except HttpError as exc:
        raise RelayError("upstream-bad-response", str(exc)) from None
    head_bytes = response.serialize()
    await client.write(head_bytes)
    client.timeout = upstream.timeout = idle
    sent, received = await splice(client, upstream, close_on_eof=True)
    return Exchange(head.method.decode("latin-1"), head.target.decode("latin-1"), 101, bytes_in + sent,
                    len(head_bytes) + received, False, False, chosen.decode("latin-1"))


async def _final_response(upstream: Conn, *, upgrade: bool = False) -> ResponseHead:
    while True:
        try:
            raw = await upstream.read_head()
        except HttpError as exc:
            raise RelayError("upstream-bad-response", str(exc)) from None
        if raw is None:
            raise RelayError("upstream-bad-response", "the server closed the connection without answering")
        try:
            response = parse_response_head(raw)
        except HttpError as exc:
            raise RelayError("upstream-bad-response", str(exc)) from None
        if response.status == 101:
            if upgrade:
                return response
            raise RelayError("upstream-bad-response", "101 Switching Protocols to a request that asked for none "
                             "(RFC 9110 §15.2.2)")
        if 100 <= response.status < 200:
            continue  # interim (100 was answered by us; 102/103 are informational only)
        return response


def classify(exc: BaseException, *, peer: str = "server") -> tuple[str, str]:
    """The registry code and a description for an exception out of :func:`exchange`."""
    if isinstance(exc, RelayError):
        return exc.code, exc.detail
    if isinstance(exc, DeadlineExceeded):
        if exc.role == "client":
            return "client-timeout", f"the client did not send the request {exc.phase} in time"
        return "upstream-timeout", f"no answer from the {peer} within the read timeout"
    if isinstance(exc, HttpError):
        return exc.code, str(exc)
    if isinstance(exc, TimeoutError):
        return "upstream-timeout", f"no answer from the {peer} within the read timeout"
    if isinstance(exc, PeerClosed) and exc.role == "client":
        return "client-bad-request", f"the client closed the connection: {exc}"
    if isinstance(exc, ssl.SSLError):
        return "upstream-bad-response", f"TLS error with the {peer}: {exc.reason or type(exc).__name__}"
    return "upstream-bad-response", str(exc) or type(exc).__name__
