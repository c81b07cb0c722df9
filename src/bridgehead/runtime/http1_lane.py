"""Keep-alive HTTP/1.1 through the proxy in the event loop's callbacks: no task, no future per read.

The second runner of the sans-IO exchange layer (:class:`bridgehead.core.proxy.exchange.Http1Exchange`
decides everything, as under :func:`bridgehead.runtime.relay.exchange`); it serves the common path
of a kept-alive connection, the requests after the TLS handshakes, where a coroutine runner spent
a future, a task wake-up and a chain of frames on every read.

* :func:`run` takes both transports over (``BaseTransport.set_protocol``, as :mod:`.tcp_splice`
  does for tunnels). Each TLS stream lends its record engine (``open_records``/``seal``: the
  :class:`~bridgehead.runtime.streams.TLSStream`'s ``SSLObject`` and memory BIOs, or the edge's
  pyOpenSSL connection), so the handshake's observations (a certificate request, channel
  binding, the client certificate) stay where they are; ``data_received`` decrypts every
  complete record at once.
* A request head is gathered (``find_head_end``, its size limit), parsed, and offered to the
  proxy's synchronous per-request policy, ``hooks.begin``: it returns the exchange's parameters,
  or ``None`` (or raises) to have the coroutine handle that request the full way.
* The layer's commands are performed: sends are transport writes, reads arm the deadline and
  wait for ``data_received``; ``Finished`` → ``hooks.done`` (the access log) → the next head,
  pipelined bytes first.
* Anything else stops the lane with a :class:`Stop` for the coroutine: ``closed`` (EOF, idle
  timeout), ``error`` (a bad or late head, for the caller to answer), ``failed`` (the layer's
  failure, as :class:`~bridgehead.runtime.relay.RelayError`), ``switch`` (a 101: the caller
  splices), ``slow`` (the policy declined, or the upstream sent bytes or closed while idle).
* At the stop each transport goes back to its protocol (with the EOF or ``connection_lost`` it
  saw), and plaintext nobody consumed goes back into the :class:`~bridgehead.runtime.streams.Conn`'s
  buffer: the coroutine continues exactly where the lane left off.
* One timer handle holds the current deadline (first head, idle, head, the layer's read timeouts,
  a stalled write), re-armed only when it fires early; a full send buffer on one side pauses
  reading on the other (asyncio's flow control).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bridgehead.core.proxy.exchange import (
    Broken,
    ClientData,
    Command,
    Exchange,
    Failed,
    Finished,
    Http1Exchange,
    ReadClient,
    ReadUpstream,
    ResponseStarted,
    SendClient,
    SendUpstream,
    Switch,
    UpstreamData,
)
from bridgehead.runtime.classify import relay_tls_failure
from bridgehead.runtime.relay import RelayError
from bridgehead.runtime.streams import (
    Conn,
    DeadlineExceeded,
    PeerClosed,
    PlainStream,
    reader_state,
)
from bridgehead.wire.http1 import HttpError, RequestHead, ResponseHead, find_head_end, parse_request_head

__all__ = ["LaneRequest", "Stop", "eligible", "run"]

_NONE, _HEAD, _BODY, _UP = 0, 1, 2, 3  # what the lane waits for: nothing, a request head, body, the upstream


@dataclass
class LaneRequest:
    """What :class:`~bridgehead.core.proxy.exchange.Http1Exchange` needs besides the head."""

    target: bytes | None = None
    owned: Iterable[bytes] = ()
    own: Iterable[tuple[bytes, bytes]] = ()
    check: Callable[[ResponseHead], None] | None = None
    peer: str = "server"


class Hooks(Protocol):
    def begin(self, head: RequestHead) -> LaneRequest | None: ...
    def done(self, head: RequestHead, ex: Exchange, start: float) -> bool: ...


@dataclass
class Stop:
    kind: str  # closed | error | failed | switch | slow
    head: RequestHead | None = None
    start: float = field(default_factory=time.monotonic)
    error: BaseException | None = None
    switch: Switch | None = None


class RecordEngine(Protocol):
    """A TLS stream the lane can drive from callbacks (``TLSStream``, the edge's pyOpenSSL stream)."""

    def open_records(self, data: bytes) -> tuple[bytes, bool, Exception | None, bytes]: ...
    def seal(self, data: bytes) -> bytes: ...
    def mark_closed(self) -> None: ...


def eligible(*conns: Conn) -> bool:
    """Connections the lane can drive: plain streams, or TLS streams with a record engine, over
    asyncio stream readers, not closed."""
    for conn in conns:
        stream = conn.stream
        if not (type(stream) is PlainStream or hasattr(stream, "open_records")) or conn.eof \
                or getattr(stream, "closed", False):
            return False
        if reader_state(stream.reader)[0] is None:  # type: ignore[attr-defined]
            return False
    return True


class _End(asyncio.Protocol):
    """One leg's protocol while the lane runs: decrypts what arrives and hands it to the lane."""

    def __init__(self, lane: _Lane, conn: Conn) -> None:
        self.lane = lane
        self.conn = conn
        stream: Any = conn.stream
        self.stream = stream
        self.transport: Any = stream.writer.transport
        self.original = self.transport.get_protocol()
        self.engine: RecordEngine | None = None if type(stream) is PlainStream else stream
        self.active = True
        self.eof = False  # TCP FIN seen
        self.closed = False  # FIN, close_notify or connection lost: nothing more will come
        self.lost = False
        self.lost_exc: BaseException | None = None
        self.write_paused = False
        self.read_paused = False

    def start(self) -> None:
        waiting, eof, _ = reader_state(self.stream.reader)
        held = bytes(waiting) if waiting else b""
        if waiting:
            waiting.clear()
        self.transport.set_protocol(self)
        if self.transport.is_closing():
            self.connection_lost(None)
            return
        if held or self.engine is not None:
            self.data_received(held)  # the TLS engine may hold decrypted bytes already
        if eof and self.active:
            self.eof_received()
        elif self.active:
            self.transport.resume_reading()  # the stream reader may have paused it

    # ---- the transport's callbacks --------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        engine = self.engine
        if engine is None:
            if data:
                self.lane.received(self, data)
            return
        plain, ended, failure, reply = engine.open_records(data)
        if reply:  # key update / renegotiation answers, an alert
            self.transport.write(reply)
        if plain:
            self.lane.received(self, plain)
        if failure is not None:
            self.closed = True
            if self.active:
                self.lane.tls_failed(self, failure)
        elif ended:
            self.closed = True
            engine.mark_closed()
            if self.active:
                self.lane.ended(self, "close_notify")

    def eof_received(self) -> bool:
        self.eof = self.closed = True
        if self.active:
            self.lane.ended(self, "end of stream")
        return True  # the lane (or the stream after it) closes the transport

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = self.closed = True
        self.lost_exc = exc
        if self.active:
            self.lane.ended(self, str(exc) if exc else "connection lost")

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.active:
            self.lane.stalled(self)

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.active:
            self.lane.unstalled(self)

    # ---- the lane's side ------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.engine is None:
            self.transport.write(data)
            return
        try:
            sealed = self.engine.seal(data)
        except Exception as exc:  # the engine refuses (e.g. after the peer's close_notify): a TLS failure,
            self.closed = True  # reported on the next turn, never raised into the transport's callback
            self.lane.loop.call_soon(self.lane.tls_failed, self, exc)
            return
        self.transport.write(sealed)

    def pause(self, on: bool) -> None:
        if on != self.read_paused and not self.closed:
            self.read_paused = on
            (self.transport.pause_reading if on else self.transport.resume_reading)()

    def hand_back(self) -> None:
        """The transport back to its stream protocol, with what it saw meanwhile."""
        self.active = False
        original = self.original
        if self.lost:
            original.connection_lost(self.lost_exc)
            return
        self.transport.set_protocol(original)
        if self.write_paused:
            original.pause_writing()  # its drain() waits for the resume_writing still to come
        if self.read_paused:
            self.pause(False)
        if self.eof:
            original.eof_received()


class _Lane:
    def __init__(self, client: Conn, upstream: Conn, hooks: Hooks) -> None:
        self.loop = asyncio.get_running_loop()
        self.hooks = hooks
        self.client = client
        self.upstream = upstream
        self.c = _End(self, client)
        self.u = _End(self, upstream)
        self.future: asyncio.Future[Stop] = self.loop.create_future()
        self.buf = bytearray(client.buf)  # client bytes no exchange took yet
        client.buf.clear()
        self.early = bytearray(upstream.buf)  # upstream bytes before the layer asked for them
        upstream.buf.clear()
        self.dirty = bool(self.early)  # the upstream sent bytes, or closed, while no request was out
        self.layer: Http1Exchange | None = None
        self.head: RequestHead | None = None
        self.start = 0.0
        self.want = _NONE
        self.at = 0.0  # the deadline of the current wait
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.head_started = False
        self.check: Callable[[ResponseHead], None] | None = None
        self.stop_: Stop | None = None

    # ---- deadlines ------------------------------------------------------------------------
    def arm(self, seconds: float) -> None:
        at = self.at = self.loop.time() + seconds
        if self.timer is None or self.timer_at > at:  # only an earlier deadline needs a new handle
            if self.timer is not None:
                self.timer.cancel()
            self.timer_at = at
            self.timer = self.loop.call_at(at, self.fire)

    def fire(self) -> None:
        self.timer = None
        if self.stop_ is not None:
            return
        if self.at - self.loop.time() > 0.001:  # the deadline moved on since this handle was armed
            self.timer_at = self.at
            self.timer = self.loop.call_at(self.at, self.fire)
            return
        want = self.want
        if want == _HEAD:
            quiet = not self.buf and (not self.head_started or not (self.client.requests or self.client.bytes_read))
            # an idle keep-alive connection, or one that never sent a byte, is closed quietly (read_request)
            self.finish(Stop("closed") if quiet else Stop("error", error=DeadlineExceeded("client", "head")))
        elif want == _BODY:
            stalled = self.u.write_paused
            self.feed(Broken("upstream" if stalled else "client", "timeout", "deadline passed"))
        elif want == _UP:
            stalled = self.c.write_paused
            self.feed(Broken("client" if stalled else "upstream", "timeout", "deadline passed"))

    # ---- requests -------------------------------------------------------------------------
    def next_request(self) -> None:
        if self.stop_ is not None:
            return
        buf = self.buf
        while buf.startswith(b"\r\n"):  # RFC 9112 §2.2: empty lines before a request line
            del buf[:2]
        try:
            end = find_head_end(buf, self.client.head_limit)
        except HttpError as exc:
            self.finish(Stop("error", error=exc))
            return
        deadlines = self.client.deadlines
        if end < 0:
            if self.c.closed:  # the client is gone: what it left is no request
                gone = PeerClosed("client", "connection closed in the middle of a message head")
                self.finish(Stop("error", error=gone) if buf.strip() else Stop("closed"))
                return
            self.c.pause(False)
            if self.want != _HEAD:  # the wait for this head starts now
                self.want = _HEAD
                self.head_started = bool(buf) or not self.client.requests
                self.arm(deadlines.head if self.head_started else deadlines.idle)
            elif buf and not self.head_started:
                self.head_started = True
                self.arm(deadlines.head)
            return
        raw = bytes(buf[:end])
        del buf[:end]
        self.client.requests += 1
        self.start = time.monotonic()
        self.want = _NONE
        try:
            head = parse_request_head(raw)
        except HttpError as exc:
            self.finish(Stop("error", error=exc))
            return
        self.head = head
        if self.dirty:
            self.finish(Stop("slow", head, self.start))  # the coroutine opens a new upstream
            return
        try:
            request = self.hooks.begin(head)
        except (HttpError, RelayError):
            request = None  # the coroutine answers it the full way
        if request is None:
            self.finish(Stop("slow", head, self.start))
            return
        self.layer = Http1Exchange(head, target=request.target, owned=request.owned, own=request.own,
                                   buffered=bytes(buf), body_rate=deadlines.body_rate,
                                   body_grace=deadlines.body_grace, upstream_timeout=self.upstream.timeout,
                                   head_limit=self.upstream.head_limit, clock=self.loop.time, peer=request.peer)
        buf.clear()
        self.check = request.check
        self.perform(self.layer.start())

    def perform(self, commands: list[Command]) -> None:
        for command in commands:
            kind = type(command)
            if kind is SendUpstream:
                self.u.write(command.data)  # type: ignore[union-attr]
            elif kind is SendClient:
                self.c.write(command.data)  # type: ignore[union-attr]
            elif kind is ReadUpstream:
                self.want = _UP
                self.arm(_limit(command.timeout, self.upstream.timeout))  # type: ignore[union-attr]
                if self.early or self.u.closed:
                    self.loop.call_soon(self.deliver_early)  # not recursively: one event at a time
                return
            elif kind is ReadClient:
                self.want = _BODY
                self.arm(_limit(command.timeout, self.client.timeout))  # type: ignore[union-attr]
                if self.c.closed:  # the client's EOF came before its body did (even before the lane began)
                    self.loop.call_soon(self.deliver_early)
                return
            elif kind is ResponseStarted:
                if self.check is not None:
                    try:
                        self.check(command.head)  # type: ignore[union-attr]
                    except RelayError as exc:
                        self.finish(Stop("failed", self.head, self.start, error=exc))
                        return
            elif kind is Finished:
                self.finished(command)  # type: ignore[arg-type]
                return
            elif kind is Failed:
                failed: Any = command
                error = RelayError(failed.code, failed.detail, response_started=failed.response_started)
                self.finish(Stop("failed", self.head, self.start, error=error))
                return
            elif kind is Switch:
                self.finish(Stop("switch", self.head, self.start, switch=command))  # type: ignore[arg-type]
                return
        raise RuntimeError("the exchange layer asked for nothing")  # a bug in the layer, never a hang

    def finished(self, done: Finished) -> None:
        ex = done.exchange
        ex.upstream_reusable = ex.upstream_reusable and not self.u.closed and not self.early
        if done.client_leftover:
            self.buf[:0] = done.client_leftover  # a pipelined request: next
        if done.upstream_leftover:
            self.early[:0] = done.upstream_leftover
            self.dirty = True
        self.layer = None
        assert self.head is not None
        go_on = self.hooks.done(self.head, ex, self.start) and ex.keep_alive
        if not go_on or not ex.upstream_reusable:
            self.finish(Stop("closed") if not go_on else Stop("slow"))  # slow: the coroutine reads the next
            return
        if self.buf:
            self.loop.call_soon(self.next_request)  # pipelined: one request per turn, no recursion
        else:
            self.next_request()

    # ---- events from the two ends -----------------------------------------------------------
    def feed(self, event: Any) -> None:
        assert self.layer is not None
        self.perform(self.layer.handle(event))

    def received(self, end: _End, data: bytes) -> None:
        if self.stop_ is not None:
            end.conn.buf += data  # arrived in the same read as the stop: the coroutine reads it
            return
        if end is self.c:
            end.conn.bytes_read += len(data)
            if self.want == _BODY:
                self.feed(ClientData(data))
                return
            self.buf += data
            if self.want == _HEAD:
                self.next_request()
            elif len(self.buf) > self.client.head_limit:
                self.c.pause(True)  # pipelined bytes during an exchange: no more than one head's worth
            return
        if self.want == _UP:
            self.feed(UpstreamData(data))
            return
        self.early += data  # before the layer asks (an early answer), or while idle: never reused
        if self.layer is None:
            self.dirty = True

    def deliver_early(self) -> None:
        """An EOF or bytes that arrived before the layer asked: given to it now, one event per turn."""
        if self.stop_ is not None:
            return
        if self.want == _BODY and self.c.closed:
            self.feed(Broken("client", "closed", "end of stream"))
            return
        if self.want != _UP:
            return
        if self.early:
            data = bytes(self.early)
            self.early.clear()
            self.feed(UpstreamData(data))
        elif self.u.closed:
            self.feed(Broken("upstream", "closed", "end of stream"))

    def ended(self, end: _End, detail: str) -> None:
        if self.stop_ is not None:
            return
        if end is self.c:
            if self.want == _HEAD:
                if self.buf.strip():
                    self.finish(Stop("error", error=PeerClosed("client", "connection closed in the middle of "
                                                                         "a message head")))
                else:
                    self.finish(Stop("closed"))
            elif self.layer is not None and (self.want == _BODY or end.lost):
                self.feed(Broken("client", "closed", detail))
            return  # a half-close after the request: the response still goes out, then the end;
            # before any exchange, next_request sees ``closed``
        if self.want == _UP:
            self.feed(Broken("upstream", "closed", detail))
        elif self.layer is None:
            self.dirty = True

    def tls_failed(self, end: _End, exc: Exception) -> None:
        if self.stop_ is not None:
            return
        if self.layer is None:
            if end is self.c:
                self.finish(Stop("error", error=exc))
            else:
                self.dirty = True
            return
        code = relay_tls_failure(exc)[0] if isinstance(exc, ssl.SSLError) else None
        reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        self.feed(Broken("client" if end is self.c else "upstream", "tls", reason, code))

    def stalled(self, end: _End) -> None:
        other = self.u if end is self.c else self.c
        other.pause(True)  # a full send buffer: stop reading the side that feeds it
        self.arm(end.conn.timeout)

    def unstalled(self, end: _End) -> None:
        other = self.u if end is self.c else self.c
        other.pause(False)
        self.arm(other.conn.timeout)

    # ---- the end --------------------------------------------------------------------------
    def finish(self, stop: Stop) -> None:
        if self.stop_ is not None:
            return
        self.stop_ = stop
        self.want = _NONE
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.c.hand_back()
        self.u.hand_back()
        if self.buf:
            self.client.buf[:0] = self.buf  # unread: the coroutine continues with these bytes
        if self.early:
            self.upstream.buf[:0] = self.early  # bytes nobody asked for: the connection is not reused
        if self.u.eof:
            self.upstream.eof = True
        if self.layer is None:
            self.upstream.park()
        if not self.future.done():  # cancelled: the caller is gone, the streams still got their transports
            self.future.set_result(stop)


def _limit(timeout: float | None, conn_timeout: float) -> float:
    return conn_timeout if timeout is None else max(0.0, min(timeout, conn_timeout))


async def run(client: Conn, upstream: Conn, hooks: Hooks) -> Stop:
    """Relay requests from ``client`` to ``upstream`` until something needs the coroutine (see :class:`Stop`)."""
    lane = _Lane(client, upstream, hooks)
    lane.u.start()
    lane.c.start()
    if lane.stop_ is None:
        if lane.u.closed or lane.early:
            lane.dirty = True
        lane.next_request()
    try:
        return await lane.future
    finally:
        if lane.stop_ is None:  # cancelled (shutdown): the streams get their transports back
            lane.finish(Stop("closed"))
