"""Byte streams for the proxies: plain TCP and TLS over memory BIOs, with a read buffer.

TLS runs through ``ssl.SSLObject`` + ``MemoryBIO`` instead of asyncio's ``start_tls`` so
that bytes already read from a socket (a held ClientHello) can be fed to the TLS engine,
and so that renegotiation and post-handshake messages stay observable.

Every read has a timeout (:class:`Conn` ``timeout``); reads past ``limit`` bytes for a
head raise. Errors surface as ``ConnectionError``/``ssl.SSLError``/``TimeoutError``
and are mapped to failure codes by the caller.

Cost per read is kept low on purpose (the proxies do one or two reads and writes per small
message): a connection's deadline is one timer handle per direction (:class:`_Clock`), re-armed
lazily when it fires early, instead of one ``asyncio.timeout`` (a heap push and cancel) per
read; the TLS pump feeds the engine only when it has nothing to decrypt (no
``SSLWantReadError`` raised per read), drains every record already received in one read, and
awaits ``drain()`` only when the transport actually holds unsent bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from bridgehead.core.proxy.handshake import ServerFacts
from bridgehead.runtime.tcp_splice import splice_transports
from bridgehead.wire.http1 import RequestHead, find_head_end, parse_request_head
from bridgehead.wire.tls_hello import ClientHello, TlsParseError, read_client_hello

READ_SIZE = 256 * 1024
T = TypeVar("T")


class Stream(Protocol):
    async def read(self) -> bytes: ...
    async def write(self, data: bytes) -> None: ...
    async def close(self) -> None: ...
    def abort(self) -> None: ...


class PlainStream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def read(self) -> bytes:
        return await self.reader.read(READ_SIZE)

    async def write(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 2)

    def abort(self) -> None:
        self.writer.transport.abort()


class TLSStream:
    """TLS over an asyncio stream pair; ``initial`` bytes were already read from the peer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ctx: ssl.SSLContext, *,
                 server_side: bool, server_hostname: str | None = None, initial: bytes = b"") -> None:
        self.reader = reader
        self.writer = writer
        self._transport = writer.transport
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self._in, self._out, server_side=server_side, server_hostname=server_hostname)
        self._done = False  # close_notify or EOF seen: every later read is b""
        self.facts = ServerFacts()  # what the peer's handshake messages showed (upstream connections)
        if initial:
            self._in.write(initial)

    def _flush(self) -> None:
        if self._out.pending:
            self.writer.write(self._out.read())

    async def _drain(self) -> None:
        # drain() is a no-op unless the transport holds unsent bytes or is closing (where it raises)
        if self._transport.get_write_buffer_size() or self._transport.is_closing():
            await self.writer.drain()

    async def _fill(self) -> None:
        self._flush()
        await self._drain()
        data = await self.reader.read(READ_SIZE)
        if not data:
            self._in.write_eof()
        else:
            self._in.write(data)

    async def handshake(self) -> None:
        while True:
            try:
                self.obj.do_handshake()
                self._flush()
                await self._drain()
                return
            except ssl.SSLWantReadError:
                if self._in.eof:
                    raise ConnectionResetError("peer closed the connection during the TLS handshake") from None
                await self._fill()

    async def read(self) -> bytes:
        obj, bio = self.obj, self._in
        while True:
            if self._done:
                return b""
            if not bio.pending and not obj.pending() and not bio.eof:
                await self._fill()  # nothing to decrypt: read first instead of raising SSLWantReadError
                continue
            try:
                data = obj.read(min(READ_SIZE, max(16384, bio.pending + obj.pending())))
            except ssl.SSLWantReadError:
                if bio.eof:
                    self._done = True
                    return b""
                await self._fill()
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                self._done = True
                return b""
            if bio.pending and data:  # more records already here: one larger read, one write downstream
                parts = [data]
                total = len(data)
                while bio.pending and total < READ_SIZE:
                    try:
                        more = obj.read(min(READ_SIZE - total, max(16384, bio.pending)))
                    except ssl.SSLWantReadError:
                        break  # a partial record: the next read() completes it
                    except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                        self._done = True  # close_notify in the same read as the last record: the
                        break  # data goes out now and the next read() is the end, not a wait
                    if not more:
                        self._done = True  # SSLObject.read gives b"" for a close_notify too
                        break
                    parts.append(more)
                    total += len(more)
                data = b"".join(parts) if len(parts) > 1 else data
            self._flush()  # renegotiation / key update answers
            return data

    async def write(self, data: bytes) -> None:
        try:
            n = self.obj.write(data)
        except ssl.SSLWantReadError:
            n = 0
        if n < len(data):
            view = memoryview(data)[n:]
            while view:
                try:
                    n = self.obj.write(view)
                    view = view[n:]
                except ssl.SSLWantReadError:
                    await self._fill()
        self._flush()
        await self._drain()

    # ---- the record engine, for a callback runner that took the transport over (http1_lane) ----
    def open_records(self, data: bytes) -> tuple[bytes, bool, Exception | None, bytes]:
        """Feed received bytes; ``(plaintext of every complete record, close_notify seen, a TLS failure,
        bytes to send back)``. A partial record waits in the BIO for the next call."""
        obj, bio_in = self.obj, self._in
        if data:
            bio_in.write(data)
        parts: list[bytes] = []
        ended = False
        failure: Exception | None = None
        try:
            while bio_in.pending or obj.pending():
                chunk = obj.read(READ_SIZE)
                if not chunk:
                    ended = True  # a close_notify
                    break
                parts.append(chunk)
        except ssl.SSLWantReadError:
            pass
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            ended = True
        except ssl.SSLError as exc:
            failure = exc
        reply = self._out.read() if self._out.pending else b""
        return (parts[0] if len(parts) == 1 else b"".join(parts)), ended, failure, reply

    def seal(self, data: bytes) -> bytes:
        """``data`` as TLS records (a memory BIO takes everything: ``SSLObject.write`` writes all)."""
        view = memoryview(data)
        while view:
            view = view[self.obj.write(view):]
        return self._out.read()

    @property
    def closed(self) -> bool:
        """A close_notify or an EOF was read: every later read is ``b""``."""
        return self._done

    def mark_closed(self) -> None:
        self._done = True

    def peer_certificate_der(self) -> bytes | None:
        return self.obj.getpeercert(binary_form=True)

    def idle_input(self) -> bool:
        """True when application data, a close_notify, an EOF or an error arrived while idle.

        Whatever the reader holds goes into the engine; a record without data (a TLS 1.3 session
        ticket, a key update) leaves the connection reusable. Data read here is dropped: a
        connection that holds bytes nobody asked for is closed, never reused.
        """
        waiting, eof, failed = reader_state(self.reader)
        if self._done or failed:
            return True
        if waiting:
            self._in.write(bytes(waiting))
            waiting.clear()
        if eof:
            return True
        if not self._in.pending and not self.obj.pending():
            return False
        try:
            return bool(self.obj.read(1))
        except ssl.SSLWantReadError:
            return False
        except (ssl.SSLError, OSError):
            return True

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.obj.unwrap()
        with contextlib.suppress(Exception):
            self._flush()
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 2)

    def abort(self) -> None:
        self.writer.transport.abort()


class DeadlineExceeded(TimeoutError):
    """A read deadline passed; ``role`` says whose (``client`` or ``upstream``), ``phase`` what for."""

    def __init__(self, role: str, phase: str) -> None:
        super().__init__(f"{role} {phase} deadline passed")
        self.role = role
        self.phase = phase


class PeerClosed(ConnectionResetError):
    """The peer closed in the middle of a message; ``role`` says which peer."""

    def __init__(self, role: str, detail: str) -> None:
        super().__init__(detail)
        self.role = role


@dataclass
class Deadlines:
    """Every wait of a connection has a deadline (slow-client defence, nginx/HAProxy defaults in mind).

    ``head``: the whole request head, from the connection's start or the next request's first
    byte; ``idle``: a kept-alive connection waiting for the next request's first byte;
    ``read``: any single read; ``body_rate``: bytes/s a request body must average after
    ``body_grace`` seconds (the head deadline, by configuration): a body dripping one byte per
    read timeout is cut.
    """

    head: float = 30.0
    idle: float = 60.0
    read: float = 60.0
    body_rate: float = 1024.0
    body_grace: float = 30.0


class _Clock:
    """The deadline of one kind of wait (reads or writes) of a connection: one timer handle.

    ``wait`` sets the deadline and arms the handle only when none is armed or the armed one is
    later; a handle that fires before the current deadline (it moved on since) re-arms itself,
    and one that fires while nothing waits just goes. Past the deadline the waiting task is
    cancelled and the cancellation turned into :class:`DeadlineExceeded` (what
    ``asyncio.timeout`` does, without a heap push and a cancel per read).
    """

    __slots__ = ("_at", "_expired", "_handle", "_loop", "_task")

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._at = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[object] | None = None
        self._expired = False

    async def wait(self, aw: Awaitable[T], limit: float, role: str, phase: str) -> T:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        at = self._at = loop.time() + limit
        handle = self._handle
        if handle is None or handle.when() > at:
            if handle is not None:
                handle.cancel()
            self._handle = loop.call_at(at, self._fire)
        task = self._task = asyncio.current_task(loop)
        try:
            return await aw
        except asyncio.CancelledError:
            if self._expired:
                self._expired = False
                if task is not None and task.uncancel() == 0:
                    raise DeadlineExceeded(role, phase) from None
            raise
        finally:
            self._task = None
            if self._expired:  # the cancellation was swallowed below us: take it back
                self._expired = False
                if task is not None:
                    task.uncancel()

    def _fire(self) -> None:
        self._handle = None
        task = self._task
        if task is None or self._loop is None:
            return
        if self._at - self._loop.time() > 0.001:  # the deadline moved on since this handle was armed
            self._handle = self._loop.call_at(self._at, self._fire)
            return
        self._expired = True
        task.cancel()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class Conn:
    """A stream with a read buffer, head reading and deadlines (one per direction of a proxy)."""

    def __init__(self, stream: Stream, *, timeout: float = 60.0, head_limit: int = 64 * 1024,
                 role: str = "client", deadlines: Deadlines | None = None) -> None:
        self.stream = stream
        self.buf = bytearray()
        self.timeout = timeout
        self.head_limit = head_limit
        self.role = role
        if deadlines is None:  # an upstream's answer may take the read timeout; a client's head may not
            deadlines = Deadlines(head=timeout, idle=timeout, read=timeout, body_rate=0) if role == "upstream" \
                else Deadlines(read=timeout)
        self.deadlines = deadlines
        self.eof = False
        self.bytes_read = 0
        self.requests = 0
        self._parked = False  # idle between exchanges (see park)
        self._rclock = _Clock()
        self._wclock = _Clock()

    async def _read(self, timeout: float | None, phase: str) -> bytes:
        """One read within the deadline; ``b""`` at EOF (then ``eof`` is set)."""
        if self.eof:
            return b""
        limit = self.timeout if timeout is None else min(timeout, self.timeout)
        if limit <= 0:
            raise DeadlineExceeded(self.role, phase)
        self._parked = False
        data = await self._rclock.wait(self.stream.read(), limit, self.role, phase)
        if not data:
            self.eof = True
            return b""
        self.bytes_read += len(data)
        return data

    async def _more(self, timeout: float | None = None, phase: str = "read") -> bool:
        data = await self._read(timeout, phase)
        if not data:
            return False
        self.buf += data
        return True

    async def read_head(self) -> bytes | None:
        """The next message head, or ``None`` on a clean EOF before any byte of it.

        The first head of a connection must be complete within ``deadlines.head`` of the
        connection's start; later ones within ``deadlines.head`` of their first byte, which must
        come within ``deadlines.idle``. Empty lines before a request line are skipped (RFC 9112 §2.2).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadlines.head if self.requests == 0 else None
        while True:
            while self.buf.startswith(b"\r\n"):
                del self.buf[:2]
            end = find_head_end(self.buf, self.head_limit)
            if end > 0:
                head = bytes(self.buf[:end])
                del self.buf[:end]
                self.requests += 1
                return head
            if deadline is None and self.buf:
                deadline = loop.time() + self.deadlines.head
            if deadline is None:
                more = await self._more(self.deadlines.idle, "idle")
            else:
                more = await self._more(deadline - loop.time(), "head")
            if not more:
                if self.buf.strip():
                    raise PeerClosed(self.role, "connection closed in the middle of a message head")
                return None

    async def read_request(self) -> RequestHead | None:
        """The next request head; ``None`` on a clean EOF or when a kept-alive connection idles out.

        ``HttpError`` (malformed, ambiguous or oversized head) and :class:`DeadlineExceeded`
        (a head that did not complete in time) propagate for the caller to answer.
        """
        try:
            raw = await self.read_head()
        except DeadlineExceeded as exc:
            if exc.phase == "idle" or (not self.buf and self.requests == 0 and self.bytes_read == 0):
                return None
            raise
        return parse_request_head(raw) if raw is not None else None

    async def read_some(self, timeout: float | None = None, phase: str = "read") -> bytes:
        """Buffered bytes if any, else one read; ``b""`` at EOF."""
        if self.buf:
            data = bytes(self.buf)
            self.buf.clear()
            return data
        return await self._read(timeout, phase)  # straight through: no copy into and out of buf

    def unread(self, data: bytes) -> None:
        self.buf[:0] = data

    # ---- idle in a pool: never reuse a connection that holds bytes nobody asked for ----
    def park(self) -> None:
        """Idle between exchanges: from now on, any byte or close that arrives makes it not reusable."""
        self._parked = True

    def reusable(self) -> bool:
        """True when nothing is buffered, nothing arrived while idle and the peer has not closed.

        Checked when the connection is about to be used again (no read is kept outstanding while
        idle: that cost a task per request and its memory per idle connection).
        """
        if self.buf or self.eof:
            return False
        return not (self._parked and idle_input(self.stream))

    async def write(self, data: bytes) -> None:
        await self._wclock.wait(self.stream.write(data), self.timeout, self.role, "write")

    async def linger_close(self, timeout: float = 1.0) -> None:
        """Close after a refusal without resetting the answer away: stop sending, discard what the
        peer still sends for up to ``timeout`` s (closing with unread bytes makes the kernel send
        an RST, which can destroy the page before the client reads it; nginx's lingering close)."""
        writer = getattr(self.stream, "writer", None)
        if writer is not None and writer.can_write_eof():
            with contextlib.suppress(OSError, RuntimeError):
                writer.write_eof()
        self.buf.clear()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(timeout):
                while await self.stream.read():
                    pass
        await self.close()

    async def close(self) -> None:
        self._rclock.stop()
        self._wclock.stop()
        await self.stream.close()


async def splice(a: Conn, b: Conn, *, close_on_eof: bool = False) -> tuple[int, int]:
    """Copy both ways until both sides are done; returns (bytes a→b, bytes b→a).

    Two plain TCP connections are spliced in the event loop's callbacks (:mod:`.tcp_splice`:
    no task or future per chunk; idle for the longer of the two timeouts either way → closed);
    otherwise one coroutine per direction, each read within the connection's timeout.
    A side that ends is half-closed on the other (TCP FIN), as tunnels need; ``close_on_eof``
    (an upgraded connection inside TLS, where half-close does not exist) closes the other side
    instead, TLS close_notify included.
    """

    async def pipe(src: Conn, dst: Conn) -> int:
        total = 0
        try:
            while data := await src.read_some():
                await dst.write(data)
                total += len(data)
        except (ConnectionError, TimeoutError, OSError, ssl.SSLError):
            pass
        finally:
            if close_on_eof:
                with contextlib.suppress(Exception):
                    await dst.stream.close()
            else:
                writer = getattr(dst.stream, "writer", None)
                if writer is not None and writer.can_write_eof():
                    with contextlib.suppress(OSError, RuntimeError):
                        writer.write_eof()
        return total

    if not close_on_eof and _plain(a) and _plain(b):  # TCP both sides: in the loop's callbacks
        ta, oa, first_a, eof_a = _hand_off(a)
        tb, ob, first_b, eof_b = _hand_off(b)
        return await splice_transports((ta, tb), (oa, ob), (first_a, first_b), (eof_a, eof_b),
                                       max(a.timeout, b.timeout))
    up, down = await asyncio.gather(pipe(a, b), pipe(b, a))
    return up, down


def reader_state(reader: Any) -> tuple[bytearray | None, bool, bool]:
    """What a stream reader holds that nobody read yet: (its buffer, EOF seen, an error seen).

    The one place that reads asyncio ``StreamReader``'s private state (``_buffer``, ``_eof``,
    ``_exception``; CPython 3.11 to 3.13): asyncio has no public way to ask without awaiting. The
    buffer is ``None`` for a reader that is not asyncio's.
    """
    return (getattr(reader, "_buffer", None), bool(getattr(reader, "_eof", False)),
            getattr(reader, "_exception", None) is not None)


def idle_input(stream: Stream) -> bool:
    """Did bytes, an EOF or an error arrive on ``stream`` since its last read? (Not consumed.)

    A TLS stream also looks at what its engine holds, and TLS records that carry no data (a
    session ticket) do not count.
    """
    if isinstance(stream, TLSStream):
        return stream.idle_input()
    waiting, eof, failed = reader_state(getattr(stream, "reader", None))
    return bool(waiting) or eof or failed


def _plain(conn: Conn) -> bool:
    stream = conn.stream
    return type(stream) is PlainStream and reader_state(stream.reader)[0] is not None


def _hand_off(conn: Conn) -> tuple[Any, Any, bytes, bool]:
    """The transport, its protocol, the bytes received but not consumed, and whether EOF came."""
    stream = conn.stream
    assert isinstance(stream, PlainStream)
    waiting, eof, _ = reader_state(stream.reader)
    assert waiting is not None  # checked by _plain
    buffered = bytes(conn.buf) + bytes(waiting)
    conn.buf.clear()
    waiting.clear()
    transport = stream.writer.transport
    return transport, transport.get_protocol(), buffered, conn.eof or eof


async def read_hello(conn: Conn, timeout: float) -> ClientHello | None:
    """The peer's ClientHello (RFC 8446 §4.1.2), held unanswered; ``None`` on EOF.

    The whole ClientHello must arrive within ``timeout`` (a slow client gets no longer).
    Raises ``TlsParseError`` for bytes that are not a ClientHello.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        hello = read_client_hello(bytes(conn.buf))
        if hello is not None:
            del conn.buf[: len(hello.raw)]
            return hello
        if len(conn.buf) > 70000:
            raise TlsParseError("ClientHello too large")
        if not await conn._more(deadline - asyncio.get_running_loop().time(), "hello"):
            return None
