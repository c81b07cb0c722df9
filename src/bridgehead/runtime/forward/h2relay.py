"""HTTP/2 on the client leg of inspection (issue 13 item 5): an ``h2`` server over the client's TLS.

When the client picked h2 in ALPN (RFC 9113 §3.2), :class:`H2Server` runs the ``h2`` library's
connection state machine over the client's :class:`~bridgehead.runtime.streams.TLSStream`
(one reader task; every frame written under one lock). Each request stream becomes a task:

* its header list is mapped to an HTTP/1.1 head by :func:`bridgehead.wire.h2map.request_head`
  (Host from ``:authority``, connection-specific fields refused, RFC 9113 §8.2.2);
* the stream is presented to the handler as a :class:`~bridgehead.runtime.streams.Conn` over
  a :class:`StreamIO`: reads give the request body (chunked when it has no length), writes take
  the HTTP/1.1 response exactly as ``runtime.relay.exchange`` or an error page writes it, and
  turn it into HEADERS + DATA frames, waiting for the peer's flow-control window (RFC 9113
  §5.2); request DATA is acknowledged (WINDOW_UPDATE) only as the upstream consumes it, so a
  slow origin slows the client instead of filling memory.

So every header and framing rule of the HTTP/1.1 path (``prepare_request``: hop-by-hop, owned
and identity fields, framing) applies to h2 requests unchanged. :class:`UpstreamSet` gives each
concurrent stream its own upstream HTTP/1.1 connection, at most ``MAX_UPSTREAM`` per client
connection (more streams wait for one to be free).

When the origin picked h2 on the first upstream handshake (offered only because the client
offered h2), the streams go to it as h2 streams on that one connection instead
(:mod:`bridgehead.runtime.forward.h2upstream`); the handler then works on the stream's frames
(``StreamIO.incoming``, ``request_ended``, ``trailers``) rather than on an HTTP/1.1 byte stream.
After the origin's GOAWAY the connection drains (:meth:`H2Server.drain`): new client streams are
refused (REFUSED_STREAM, RFC 9113 §8.7), and once the open ones ended the client gets GOAWAY.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from bridgehead.core.forward_policy import CertRequestAction
from bridgehead.runtime.forward import epwatch, h2flow, h2upstream
from bridgehead.runtime.forward.upstream import (
    UpstreamFailure,
    cert_request_after,
    cert_request_in_handshake,
    renegotiation_requested,
    selected_alpn,
)
from bridgehead.runtime.relay import RelayError, classify, exchange
from bridgehead.runtime.streams import Conn, Deadlines, TLSStream
from bridgehead.wire.h2map import ChunkDecoder, H2MessageError, origin_request_fields, request_head, response_fields
from bridgehead.wire.http1 import (
    CHUNKED,
    LENGTH,
    NO_BODY,
    Framing,
    HttpError,
    RequestHead,
    find_head_end,
    parse_response_head,
    response_framing,
)

log = logging.getLogger("bridgehead.forward")

MAX_STREAMS = 100  # SETTINGS_MAX_CONCURRENT_STREAMS we announce (RFC 9113 §6.5.2)
MAX_UPSTREAM = 6  # upstream connections per client h2 connection (as browsers do per HTTP/1.1 origin)

if TYPE_CHECKING:
    from bridgehead.runtime.forward.server import Context, ForwardProxy

Handler = Callable[[Conn, RequestHead, "StreamIO"], Awaitable[None]]


class H2Server:
    """One client h2 connection; ``handler(conn, head, io)`` relays one request stream."""

    def __init__(self, tls: object, handler: Handler, *, timeout: float, deadlines: Deadlines,
                 head_limit: int) -> None:
        self.tls = tls
        self.handler = handler
        self.timeout = timeout
        self.deadlines = deadlines
        self.head_limit = head_limit
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config=config)
        self._lock = asyncio.Lock()
        self._window = asyncio.Event()  # set whenever the peer may have opened a flow-control window
        self.streams: dict[int, StreamIO] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = False
        self.draining = False  # no new stream: GOAWAY once the open ones ended (see drain)
        self.drainable = False  # drain() may be called (an h2 origin): reads also wait for it
        self._stop = asyncio.Event()

    async def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            async with self._lock:
                async with asyncio.timeout(self.timeout):
                    await self.tls.write(data)  # type: ignore[attr-defined]

    async def run(self) -> None:
        """Serve until the client closes, goes idle past the deadline or breaks the protocol."""
        self.h2.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: MAX_STREAMS,
            h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 0,
        })
        self.h2.initiate_connection()
        await self.flush()
        try:
            while not self.closed:
                idle = self.deadlines.idle if not self.streams else self.timeout
                try:
                    data = await self._read(idle)
                except TimeoutError:
                    if self.streams:  # not idle: each open stream has deadlines of its own
                        continue
                    self.h2.close_connection()
                    break
                except (ConnectionError, OSError, ssl.SSLError):
                    break  # the client went away: its streams are cancelled below
                if data is None:  # drained: the GOAWAY goes out below
                    break
                if not data:
                    break
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError:
                    await self.flush()  # the GOAWAY the library queued
                    break
                for event in events:
                    self._event(event)
                await self.flush()
        except (ConnectionError, OSError, ssl.SSLError, h2.exceptions.H2Error):
            pass  # the client went away or the connection already closed: nothing more to say to it
        finally:
            self.closed = True
            self._window.set()
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(BaseException):
                    await task
            with contextlib.suppress(Exception):
                await self.flush()

    async def _read(self, idle: float) -> bytes | None:
        """The client's next bytes, or None once :meth:`drain` finished the connection."""
        if self._stop.is_set():
            return None
        if not self.drainable:  # nothing can drain this connection: one plain read
            async with asyncio.timeout(idle):
                plain: bytes = await self.tls.read()  # type: ignore[attr-defined]
            return plain
        read = asyncio.ensure_future(self.tls.read())  # type: ignore[attr-defined]
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            done, _ = await asyncio.wait({read, stop}, timeout=idle, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not read.done():
                read.cancel()
        if self._stop.is_set():  # the GOAWAY is queued: the library takes no frame after it
            return None
        if read in done:
            data: bytes = read.result()
            return data
        raise TimeoutError

    def drain(self) -> None:
        """Take no new stream; GOAWAY (RFC 9113 §6.8) as soon as the open streams ended."""
        self.draining = True
        self._drained()

    def _drained(self) -> None:
        if self.draining and not self.streams and not self._stop.is_set():
            with contextlib.suppress(h2.exceptions.H2Error):
                self.h2.close_connection()
            self._stop.set()  # run() flushes the GOAWAY and returns

    def _event(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.RequestReceived):
            if self.draining:  # never processed: the client may retry it (RFC 9113 §8.7)
                self.h2.reset_stream(event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                return
            self._request(event)
        elif isinstance(event, h2.events.TrailersReceived):
            io = self.streams.get(event.stream_id)
            if io is not None:
                io.trailers = list(event.headers or [])
        elif isinstance(event, h2.events.DataReceived):
            io = self.streams.get(event.stream_id)
            if io is not None:
                io.incoming.put_nowait((event.data, event.flow_controlled_length))
            else:
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            io = self.streams.get(event.stream_id)
            if io is not None:
                io.incoming.put_nowait(None)
        elif isinstance(event, h2.events.StreamReset):
            io = self.streams.pop(event.stream_id, None)
            if io is not None:
                io.reset = True
                io.incoming.put_nowait(None)
                if io.task is not None:
                    io.task.cancel()
            self._window.set()
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            self._window.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.closed = True

    def _request(self, event: h2.events.RequestReceived) -> None:
        sid = event.stream_id
        ended = event.stream_ended is not None
        try:
            head = request_head(list(event.headers or []), end_stream=ended)
        except H2MessageError:
            self.h2.reset_stream(sid, h2.errors.ErrorCodes.PROTOCOL_ERROR)  # RFC 9113 §8.1.1
            return
        io = StreamIO(self, sid, head.method, chunked_body=head.headers.get(b"transfer-encoding") is not None)
        io.request_ended = ended
        if ended:
            io.incoming.put_nowait(None)
        conn = Conn(io, timeout=self.timeout, head_limit=self.head_limit, deadlines=self.deadlines)
        self.streams[sid] = io
        task = asyncio.ensure_future(self._serve_stream(conn, head, io))
        io.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve_stream(self, conn: Conn, head: RequestHead, io: StreamIO) -> None:
        try:
            await self.handler(conn, head, io)
            await io.finish()
            await self.flush()  # a reset the handler queued (io.abort, io.refuse) goes out now
        except asyncio.CancelledError:
            raise
        except Exception:  # the handler logged what it could; the stream must not stay open
            io.abort()
            await self.flush()
        finally:
            self.streams.pop(io.sid, None)
            self._drained()

    async def send_data(self, sid: int, data: bytes, *, end: bool = False) -> None:
        """DATA frames within the stream's and the connection's flow-control windows (RFC 9113 §5.2)."""
        await h2flow.send_data(self.h2, sid, data, end=end, window=self._window, timeout=self.timeout,
                               flush=self.flush, broken=self._broken)

    def _broken(self) -> str | None:
        return "the client closed the h2 connection" if self.closed else None


class StreamIO:
    """One h2 stream as a byte stream carrying an HTTP/1.1 message each way (see the module docstring)."""

    def __init__(self, server: H2Server, sid: int, method: bytes, *, chunked_body: bool) -> None:
        self.server = server
        self.sid = sid
        self.method = method
        self.chunked_body = chunked_body
        self.incoming: asyncio.Queue[tuple[bytes, int] | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.reset = False
        self._body_done = False
        self._out = bytearray()
        self._framing: Framing | None = None
        self._remaining = 0
        self._chunks: ChunkDecoder | None = None
        self.headers_sent = False
        self.ended = False
        self.status = 0
        self.request_ended = False  # the HEADERS frame ended the stream: no request body
        self.trailers: list[tuple[bytes, bytes]] | None = None  # the request's trailer section, if any

    async def acknowledge(self, flow: int) -> None:
        """Request DATA consumed: open the client's window again (RFC 9113 §6.9)."""
        if flow and not self.server.closed:
            self.server.h2.acknowledge_received_data(flow, self.sid)
            await self.server.flush()

    def refuse(self) -> None:
        """RST_STREAM REFUSED_STREAM: nothing was processed, the client may retry (RFC 9113 §8.7)."""
        self._reset(h2.errors.ErrorCodes.REFUSED_STREAM)

    def stop_sending(self) -> None:
        """The response is complete before the request body: ask the client to stop (RFC 9113 §8.1)."""
        if not self.server.closed:
            with contextlib.suppress(h2.exceptions.H2Error):
                self.server.h2.reset_stream(self.sid, h2.errors.ErrorCodes.NO_ERROR)

    # ---- the request body, as the HTTP/1.1 relay reads it --------------------------
    async def read(self) -> bytes:
        if self._body_done:
            return b""
        item = await self.incoming.get()
        if item is None:
            self._body_done = True
            return b"0\r\n\r\n" if self.chunked_body and not self.reset else b""
        data, flow = item
        self.server.h2.acknowledge_received_data(flow, self.sid)  # consumed: the client may send more
        await self.server.flush()
        if not data:
            return await self.read()
        return b"%x\r\n" % len(data) + data + b"\r\n" if self.chunked_body else data

    # ---- the HTTP/1.1 response, as the relay (or an error page) writes it ---------
    async def write(self, data: bytes) -> None:
        if self.reset:
            raise ConnectionResetError("the client reset the h2 stream")
        if self._framing is None:
            self._out += data
            while self._framing is None:
                end = find_head_end(self._out, 1 << 20)
                if end <= 0:
                    return
                head = parse_response_head(bytes(self._out[:end]))
                del self._out[:end]
                if head.status < 200:
                    continue  # interim (100 Continue is answered by the relay; 103 is informational)
                self._framing = response_framing(head, self.method)
                self._remaining = self._framing.length
                self._chunks = ChunkDecoder() if self._framing.kind == CHUNKED else None
                self.status = head.status
                self.server.h2.send_headers(self.sid, response_fields(head))
                self.headers_sent = True
                await self.server.flush()
            data, self._out = bytes(self._out), bytearray()
        body = self._body(data)
        if body:
            await self.server.send_data(self.sid, body)

    def _body(self, data: bytes) -> bytes:
        assert self._framing is not None
        if self._framing.kind == NO_BODY:
            return b""
        if self._framing.kind == LENGTH:
            data = data[:self._remaining]
            self._remaining -= len(data)
            return data
        if self._chunks is not None:
            return self._chunks.feed(data)
        return data  # until close: whatever comes until the relay returns

    async def finish(self) -> None:
        """End the stream after the handler returned; a stream left without a response is reset."""
        if self.reset or self.server.closed or self.ended:
            return
        if not self.headers_sent:
            raise HttpError("no response was written for the stream")
        self.ended = True
        await self.server.send_data(self.sid, b"", end=True)

    async def close(self) -> None:
        return None

    def abort(self) -> None:
        self._reset(h2.errors.ErrorCodes.INTERNAL_ERROR)

    def _reset(self, code: h2.errors.ErrorCodes) -> None:
        if not self.reset and not self.server.closed:
            with contextlib.suppress(h2.exceptions.H2Error):
                self.server.h2.reset_stream(self.sid, code)
            self.reset = True


class UpstreamSet:
    """The upstream connections of one client h2 connection: one per concurrent stream, at most ``limit``."""

    def __init__(self, first: Conn, opener: Callable[[], Awaitable[Conn]], limit: int = MAX_UPSTREAM) -> None:
        self.idle: list[Conn] = [first]
        self.count = 1
        self.opener = opener
        self.limit = limit
        self._free = asyncio.Condition()

    async def take(self) -> Conn:
        async with self._free:
            while True:
                while self.idle:
                    conn = self.idle.pop()
                    if conn.reusable():
                        return conn
                    self.count -= 1
                    await conn.close()
                if self.count < self.limit:
                    self.count += 1
                    break
                await self._free.wait()
        try:
            return await self.opener()
        except BaseException:
            async with self._free:
                self.count -= 1
                self._free.notify()
            raise

    async def give_back(self, conn: Conn, reusable: bool) -> None:
        async with self._free:
            if reusable:
                conn.park()
                self.idle.append(conn)
            else:
                self.count -= 1
                await conn.close()
            self._free.notify()

    async def close(self) -> None:
        for conn in self.idle:
            await conn.close()
        self.idle.clear()


def is_h2(conn: Conn) -> bool:
    """The client picked h2 in ALPN on this (client-side TLS) connection."""
    obj = getattr(conn.stream, "obj", None)
    return obj is not None and obj.selected_alpn_protocol() == "h2"


def _server(proxy: ForwardProxy, inner: Conn, handler: Handler) -> H2Server:
    return H2Server(inner.stream, handler, timeout=proxy.s.read_timeout, deadlines=proxy.s.client_deadlines(),
                    head_limit=proxy.s.head_limit)


async def inspect_h2(proxy: ForwardProxy, inner: Conn, upstream: Conn, up_stream: TLSStream, ctx: Context) -> None:
    """Relay every stream of an inspected h2 client connection to the origin: over h2 when the origin
    picked h2 on the first handshake, else over HTTP/1.1."""
    if selected_alpn(up_stream) == "h2":
        await _inspect_h2_to_h2(proxy, inner, up_stream, ctx)
        return
    ctx.upstream_protocol = "HTTP/1.1"
    await _inspect_h2_to_h1(proxy, inner, upstream, up_stream, ctx)


async def _inspect_h2_to_h2(proxy: ForwardProxy, inner: Conn, up_stream: TLSStream, ctx: Context) -> None:
    """Every client stream as a stream of the one h2 connection to the origin (module docstring)."""
    from bridgehead.runtime.forward.server import _https_url, _inner_target

    ctx.upstream_protocol = "h2"
    origin = h2upstream.H2Origin(up_stream, timeout=proxy.s.read_timeout)
    log.info("inspecting %s:%d for %s over HTTP/2 (client leg), HTTP/2 to the origin", ctx.host, ctx.port,
             ctx.client)

    async def handle(conn: Conn, head: RequestHead, io: StreamIO) -> None:
        start = time.monotonic()
        url = _https_url(ctx, head)
        method = head.method.decode("latin-1")
        try:
            target, own = _inner_target(head, ctx)  # another host inside the tunnel: refused as on HTTP/1.1
            ex = await h2upstream.relay(origin, io, method, origin_request_fields(head, target=target, own=own))
        except h2upstream.StreamRefused as exc:
            io.refuse()
            await server.flush()
            proxy._record(ctx, action="error", host=ctx.host, port=ctx.port, method=method, url=url,
                          code=exc.code, reason=exc.detail + "; REFUSED_STREAM to the client (it may retry)",
                          duration_ms=round((time.monotonic() - start) * 1000, 2))
            if origin.gone is not None:  # GOAWAY: new streams need a new tunnel
                server.drain()
            return
        except (RelayError, ssl.SSLError, ConnectionError, TimeoutError, OSError, HttpError) as exc:
            if io.headers_sent:  # the client has the response's HEADERS: no page can follow
                io.abort()  # a truncated response must not look complete (RFC 9113 §8.1)
                code, detail = classify(exc)
                proxy._record(ctx, action="error", host=ctx.host, port=ctx.port, method=method, url=url, code=code,
                              reason=detail, duration_ms=round((time.monotonic() - start) * 1000, 2))
            else:
                await proxy._exchange_failed(conn, up_stream, ctx, head, url, exc, start)
            if origin.gone is not None:
                server.drain()
            return
        bound = epwatch.observe(head, ex.status, inner.stream, up_stream)
        extra = proxy._binding_failure(ctx, bound) if bound is not None else {}
        proxy._log_exchange(ctx, "inspect", ex, url, start, conn, **extra)

    server = _server(proxy, inner, handle)
    server.drainable = True

    async def watch() -> None:  # the origin's connection ended (GOAWAY, closed): drain the client's
        await origin.wait_gone()
        server.drain()

    try:
        await origin.start()
        watcher = asyncio.ensure_future(watch())
        try:
            await server.run()
        finally:
            watcher.cancel()
    finally:
        await origin.close()


async def _inspect_h2_to_h1(proxy: ForwardProxy, inner: Conn, upstream: Conn, up_stream: TLSStream,
                            ctx: Context) -> None:
    """Every client stream relayed to the origin over HTTP/1.1 (:class:`UpstreamSet`)."""
    from bridgehead.runtime.forward.server import _https_url, _inner_target

    presented = cert_request_in_handshake(up_stream)

    async def opener() -> Conn:
        rule = proxy.s.policy.on_client_cert_request(ctx.host, ctx.port)
        cert = rule.client_cert if presented and rule is not None and rule.action == CertRequestAction.PRESENT \
            else None
        stream = await proxy.upstream.open_tls(ctx.host, ctx.port, ctx.sni or ctx.host, client_cert=cert)
        return Conn(stream, timeout=proxy.s.read_timeout, role="upstream")

    upstreams = UpstreamSet(upstream, opener)
    log.info("inspecting %s:%d for %s over HTTP/2 (client leg), HTTP/1.1 to the origin", ctx.host, ctx.port,
             ctx.client)

    async def handle(conn: Conn, head: RequestHead, io: StreamIO) -> None:
        start = time.monotonic()
        url = _https_url(ctx, head)
        method = head.method.decode("latin-1")
        try:
            up = await upstreams.take()
        except UpstreamFailure as exc:
            await proxy._refuse(conn, ctx, exc.code, exc.detail, start, method=method, url=url)
            return
        tls: Any = up.stream

        def too_late(_response: object) -> None:
            if cert_request_after(tls) or renegotiation_requested(tls):
                raise RelayError("client-cert-requested-after-request",
                                 "the server asked for a client certificate after the request")

        reusable = False
        try:
            target, own = _inner_target(head, ctx)
            ex = await exchange(conn, up, head, target=target, check=too_late, own=own)
            reusable = ex.upstream_reusable
        except (RelayError, ssl.SSLError, ConnectionError, TimeoutError, OSError, HttpError) as exc:
            await proxy._exchange_failed(conn, tls, ctx, head, url, exc, start)
            if isinstance(exc, RelayError) and exc.response_started:
                io.abort()  # a truncated response must not look complete (RFC 9113 §8.1)
            return
        finally:
            await upstreams.give_back(up, reusable)
        bound = epwatch.observe(head, ex.status, inner.stream, tls)
        extra = proxy._binding_failure(ctx, bound) if bound is not None else {}
        proxy._log_exchange(ctx, "inspect", ex, url, start, conn, **extra)

    try:
        await _server(proxy, inner, handle).run()
    finally:
        await upstreams.close()


async def answer_h2(proxy: ForwardProxy, inner: Conn, ctx: Context, code: str, detail: str, start: float, *,
                    action: str) -> None:
    """Answer the first request of an h2 client with the failure's page, then close (GOAWAY)."""
    from bridgehead.runtime.forward.server import _https_url

    server: H2Server

    async def handle(conn: Conn, head: RequestHead, io: StreamIO) -> None:
        await proxy._refuse(conn, ctx, code, detail, start, action=action, method=head.method.decode("latin-1"),
                            url=_https_url(ctx, head))
        await io.finish()
        server.h2.close_connection(last_stream_id=io.sid)
        await server.flush()
        server.closed = True

    server = _server(proxy, inner, handle)
    await server.run()
