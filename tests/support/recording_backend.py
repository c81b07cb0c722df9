"""A backend that records the exact bytes it receives, for request-smuggling tests.

    with RecordingBackend() as backend:             # plain HTTP on 127.0.0.1:backend.port
    with RecordingBackend(tls=server_context):      # the same over TLS (re-encrypting proxies)
        mark = backend.mark()
        ...                                         # drive a proxy in front of it
        for conn_id, data in backend.received_since(mark): ...

One thread per connection. Every byte received is appended to that connection's record
before anything else happens, then fed to h11 (an HTTP/1.1 implementation independent of
bridgehead's ``wire.http1``). Each request h11 parses is answered with a response that
names it: ``X-Backend-Seq`` (a sequence number over the whole backend), ``X-Backend-Conn``
and a body ``seq=N conn=C method=M target=T body=LEN``. A head h11 refuses is answered
``400`` with ``X-Backend-Error`` and the connection is closed. ``seen`` lists the requests
in arrival order, so a test can tell how many requests the backend saw and which one each
response a client got belongs to.

:func:`parse_stream` re-parses recorded bytes offline (h11 fed one byte at a time), giving
each request's head and raw body boundaries, any bytes left over and the first parse error.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

import h11

IDLE_POLL = 0.25  # seconds between checks whether a connection was closed under its thread
IDLE_LIMIT = 30.0  # an idle connection is closed after this long


@dataclass
class Seen:
    """A request the live backend answered."""

    seq: int
    conn: int
    method: str
    target: str
    body: int


@dataclass
class ConnRecord:
    id: int
    data: bytearray = field(default_factory=bytearray)
    last: float = 0.0
    closed: bool = False
    error: str | None = None
    sock: socket.socket | None = None
    waiting_since: float | None = None  # the serving thread is blocked in recv() since then
    dropped: bool = False  # closed by close_connections()


@dataclass
class ParsedRequest:
    method: bytes
    target: bytes
    version: bytes
    headers: list[tuple[bytes, bytes]]  # as h11 normalised them (lower-case names)
    raw_head: bytes  # the head exactly as received
    raw_body: bytes  # the body bytes exactly as received (chunk lines included)
    body: bytes  # the decoded body
    complete: bool  # EndOfMessage seen


@dataclass
class ParseResult:
    requests: list[ParsedRequest]
    error: str | None  # h11's refusal, if any
    leftover: bytes  # bytes after the last complete message that h11 did not turn into one


class RecordingBackend:
    def __init__(self, *, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.tls = tls
        self.host = host
        self._listen = socket.create_server((host, 0))
        self.port: int = self._listen.getsockname()[1]
        self.conns: list[ConnRecord] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._seq = 0
        self._stop = False
        self._accept = threading.Thread(target=self._accept_loop, daemon=True, name=f"recording-{self.port}")

    # ---- lifecycle ----------------------------------------------------------------
    def start(self) -> RecordingBackend:
        self._accept.start()
        return self

    def close(self) -> None:
        self._stop = True
        with contextlib.suppress(OSError):
            self._listen.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        with contextlib.suppress(OSError):
            self._listen.close()
        self.close_connections()
        self._accept.join(2)

    def __enter__(self) -> RecordingBackend:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # ---- what a test reads ------------------------------------------------------------
    def mark(self) -> tuple[dict[int, int], int]:
        """A position: bytes received so far per connection, and requests answered so far."""
        with self._lock:
            return {c.id: len(c.data) for c in self.conns}, len(self.seen)

    def received_since(self, mark: tuple[dict[int, int], int]) -> list[tuple[int, bytes]]:
        """(connection id, new bytes) for every connection that received bytes after ``mark``."""
        sizes, _ = mark
        with self._lock:
            out = [(c.id, bytes(c.data[sizes.get(c.id, 0):])) for c in self.conns]
        return [(cid, data) for cid, data in out if data]

    def seen_since(self, mark: tuple[dict[int, int], int]) -> list[Seen]:
        with self._lock:
            return list(self.seen[mark[1]:])

    def new_connections_since(self, mark: tuple[dict[int, int], int]) -> list[int]:
        with self._lock:
            return [c.id for c in self.conns if c.id not in mark[0]]

    def by_seq(self, seq: int) -> Seen | None:
        with self._lock:
            for s in self.seen:
                if s.seq == seq:
                    return s
        return None

    def wait_idle(self, quiet: float = 0.03, timeout: float = 1.0) -> None:
        """Wait until no byte arrived for ``quiet`` seconds (bounded by ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                last = max((c.last for c in self.conns), default=0.0)
            if time.monotonic() - last >= quiet:
                return
            time.sleep(quiet / 3)

    def settle(self, timeout: float = 1.0) -> bool:
        """Wait until every byte the kernel holds for this backend has been read and recorded:
        no connection waiting to be accepted, no open connection with unread bytes (or an
        unread EOF), every serving thread waiting for more. True if it settled within ``timeout``.

        Accepting and reading happen under the same lock as this check (see ``_accept_loop`` and
        ``_recv``), so bytes are never between the kernel and the record while it looks."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:  # a connection closed by close_connections() holds nothing any more
                live = [c for c in self.conns if not c.closed and not c.dropped]
                # (during a TLS handshake the raw socket is detached: fileno -1, nothing to select on)
                socks = [c.sock for c in live if c.sock is not None and c.sock.fileno() >= 0]
                busy = any(c.waiting_since is None for c in live) or any(
                    isinstance(x, ssl.SSLSocket) and x.pending() for x in socks)
                try:
                    busy = busy or bool(select.select([self._listen, *socks], [], [], 0)[0])
                except (OSError, ValueError):  # a socket closed meanwhile: look again
                    busy = True
            if not busy:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)

    def close_connections(self) -> int:
        """Close every open connection (isolates one test case from the next); returns how many."""
        with self._lock:
            recs = [c for c in self.conns if c.sock is not None and not c.closed and not c.dropped]
            for c in recs:
                c.dropped = True
            socks = [c.sock for c in recs if c.sock is not None]
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()
        return len(socks)

    # ---- serving ----------------------------------------------------------------------
    def _accept_loop(self) -> None:
        self._listen.setblocking(False)
        while not self._stop:
            try:
                ready = select.select([self._listen], [], [], IDLE_POLL)[0]
            except (OSError, ValueError):
                return
            if not ready:
                continue
            with self._lock:  # accepted and registered in one step, as settle() sees it
                try:
                    sock, _ = self._listen.accept()
                except BlockingIOError:
                    continue
                except OSError:
                    return
                rec = ConnRecord(len(self.conns) + 1, last=time.monotonic(), sock=sock)
                self.conns.append(rec)
            threading.Thread(target=self._serve, args=(rec, sock), daemon=True).start()

    def _serve(self, rec: ConnRecord, raw: socket.socket) -> None:
        sock: socket.socket = raw
        try:
            sock.settimeout(10)  # the TLS handshake
            if self.tls is not None:
                sock = self.tls.wrap_socket(raw, server_side=True)
                rec.sock = sock
            sock.settimeout(10)
            self._http(rec, sock)
        except (OSError, ssl.SSLError) as exc:
            rec.error = rec.error or f"{type(exc).__name__}: {exc}"
        finally:
            rec.closed = True
            with contextlib.suppress(OSError):
                sock.close()

    def _recv(self, rec: ConnRecord, sock: socket.socket) -> bytes:
        """The next bytes, recorded in the same locked step that takes them from the socket.

        Polls (select, then a non-blocking read) so that settle() never looks while bytes are in
        flight inside this thread, and so a socket closed by close_connections() (whose close may
        not wake a blocked read on Linux) or by close() ends the thread within IDLE_POLL."""
        idle_since = time.monotonic()
        with self._lock:
            rec.waiting_since = idle_since
        while True:
            if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                try:
                    ready = select.select([sock], [], [], IDLE_POLL)[0]
                except (OSError, ValueError):
                    return b""
                if not ready:
                    if self._stop or sock.fileno() < 0 or time.monotonic() - idle_since > IDLE_LIMIT:
                        return b""
                    continue
            with self._lock:
                sock.setblocking(False)
                try:
                    data = sock.recv(65536)
                except (ssl.SSLWantReadError, BlockingIOError):  # a TLS record only partly arrived
                    continue
                except OSError:
                    data = b""
                finally:
                    with contextlib.suppress(OSError):
                        sock.settimeout(10)
                rec.waiting_since = None
                rec.data += data
                rec.last = time.monotonic()
            return data

    def _http(self, rec: ConnRecord, sock: socket.socket) -> None:
        conn = h11.Connection(h11.SERVER)
        request: h11.Request | None = None
        body = 0
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                rec.error = f"h11: {exc}"
                page = f"backend refused: {exc}\n".encode()
                with contextlib.suppress(OSError):
                    sock.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nX-Backend-Error: h11\r\n"
                                 b"Content-Type: text/plain\r\nContent-Length: " + str(len(page)).encode()
                                 + b"\r\n\r\n" + page)
                return
            if event is h11.NEED_DATA:
                data = self._recv(rec, sock)  # recorded before anything else happens
                conn.receive_data(data)  # b"" means EOF
                continue
            if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                request, body = event, 0
            elif isinstance(event, h11.Data):
                body += len(event.data)
            elif isinstance(event, h11.EndOfMessage):
                assert request is not None
                with self._lock:
                    self._seq += 1
                    seen = Seen(self._seq, rec.id, request.method.decode("latin-1"),
                                request.target.decode("latin-1"), body)
                    self.seen.append(seen)
                text = (f"seq={seen.seq} conn={seen.conn} method={seen.method} target={seen.target} "
                        f"body={body}\n").encode("latin-1")
                headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(text))),
                           ("X-Backend-Seq", str(seen.seq)), ("X-Backend-Conn", str(rec.id))]
                # a 2xx to CONNECT would switch protocols (RFC 9110 §9.3.6): the backend is no tunnel
                status = 405 if request.method == b"CONNECT" else 200
                out = conn.send(h11.Response(status_code=status, headers=headers))
                if request.method != b"HEAD":
                    out += conn.send(h11.Data(data=text))
                out += conn.send(h11.EndOfMessage())
                sock.sendall(out)
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
                request = None


_BLANK_LINE = re.compile(rb"\n\r?\n")


def parse_stream(data: bytes) -> ParseResult:
    """Parse bytes a backend received as a sequence of requests, with raw boundaries.

    h11 is fed so that each event marks an exact offset: a head up to the blank line that
    ends it for h11, a Content-Length body in one piece, a chunked body one byte at a time;
    a ``Request`` event marks the end of its head, ``EndOfMessage`` the end of its body.
    """
    conn = h11.Connection(h11.SERVER)
    requests: list[ParsedRequest] = []
    start = 0  # where the current message began
    head_end = 0
    current: ParsedRequest | None = None
    pos = 0
    length: int | None = None  # bytes of a Content-Length body still to feed
    current_method = b""
    closed_after = -1
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            if current is not None:
                current.raw_body = data[head_end:pos]
                requests.append(current)
            return ParseResult(requests, f"h11: {exc}", data[start:])
        if event is h11.NEED_DATA:
            if pos >= len(data):
                if current is not None:
                    current.raw_body = data[head_end:pos]
                    requests.append(current)
                    return ParseResult(requests, None, b"")
                return ParseResult(requests, None, data[start:])
            step = 1
            if length is not None:  # a Content-Length body: its end is known, feed it in one go
                step, length = max(1, length), None
            elif current is None:  # a head ends at h11's blank line (\n\r?\n): feed up to it in one go
                blank = _BLANK_LINE.search(data, pos)
                step = (blank.end() - pos) if blank else len(data) - pos
            conn.receive_data(data[pos:pos + step])
            pos += step
            continue
        if isinstance(event, h11.Request):
            head_end = pos
            fields = {k: v for k, v in event.headers}
            if b"transfer-encoding" not in fields and fields.get(b"content-length", b"0").isdigit():
                length = int(fields.get(b"content-length", b"0")) or None
            current = ParsedRequest(event.method, event.target, b"HTTP/" + event.http_version,
                                    list(event.headers), data[start:pos], b"", b"", False)
        elif isinstance(event, h11.Data):
            assert current is not None
            current.body += bytes(event.data)
        elif isinstance(event, h11.EndOfMessage):
            assert current is not None
            current.raw_body = data[head_end:pos]
            current.complete = True
            current_method = current.method
            requests.append(current)
            current = None
            conn.send(h11.Response(status_code=405 if current_method == b"CONNECT" else 200,
                                   headers=[("Content-Length", "0")]))
            conn.send(h11.EndOfMessage())
            if conn.our_state is h11.MUST_CLOSE:
                closed_after = pos
                break
            conn.start_next_cycle()
            start = pos
        else:  # PAUSED / ConnectionClosed cannot happen before the data ends
            break
    rest = data[closed_after:] if closed_after >= 0 else data[start:]
    return ParseResult(requests, "bytes after a request that closes the connection" if rest else None, rest)
