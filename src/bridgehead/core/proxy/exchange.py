"""One HTTP/1.1 exchange through the proxy, sans-IO: events in, commands out (h11's shape).

Both proxies relay every request with this layer (forward plain HTTP, inside an inspected
tunnel, over h2 streams, reverse routes); the runner (:func:`bridgehead.runtime.relay.exchange`)
performs its commands on real connections and reports what happened. It starts once the
proxy has read and accepted a request head:

1. ``start()`` decides framing and the outgoing fields (``wire.http1.prepare_request``, the
   order no client field can change), answers ``Expect: 100-continue`` itself (RFC 9110
   §10.1.1), and sends the head with whatever body bytes are already buffered.
2. The request body follows its framing byte for byte (RFC 9112 §6.3), at the minimum rate
   (``body_rate`` after ``body_grace`` s): each :class:`ReadClient` carries the time left.
   Bytes past the body (a pipelined request) are held and handed back in :class:`Finished`.
3. The response head must complete within ``upstream_timeout``; interim 1xx are dropped (100
   was answered by the proxy); a 101 is relayed only to a request that asked for an upgrade
   and names a protocol it offered (RFC 9110 §7.8, §15.2.2) → :class:`Switch`.
4. :class:`ResponseStarted` lets the runner veto the response before any byte reaches the
   client (a certificate request after the request); then the head goes out with the first
   body bytes in one send, and the body follows its framing.
5. :class:`Finished` says whether the client keeps the connection and whether the upstream
   connection may be reused: only when the response was framed, the server keeps it and it
   holds no byte beyond the response.

Every failure is one :class:`Failed` with its registry code, the side at fault in the text,
and whether the response had started (then the runner can only log it): the runner reports
transport trouble as :class:`Broken` and the layer names it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bridgehead.wire.http1 import (
    CHUNKED,
    NO_BODY,
    UNTIL_CLOSE,
    ChunkedScanner,
    Framing,
    HttpError,
    RequestHead,
    ResponseHead,
    find_head_end,
    parse_response_head,
    prepare_request,
    prepare_response,
    prepare_switch,
)

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

# ---- events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientData:
    data: bytes


@dataclass(frozen=True)
class UpstreamData:
    data: bytes


@dataclass(frozen=True)
class Broken:
    """A read or send failed: ``kind`` is ``closed`` (EOF or reset), ``timeout`` or ``tls``."""

    role: str  # client | upstream
    kind: str
    detail: str = ""
    code: str | None = None  # a TLS failure the runner's classify step named (e.g. tls-alert-48)


Event = ClientData | UpstreamData | Broken

# ---- commands -------------------------------------------------------------------------


@dataclass(frozen=True)
class SendUpstream:
    data: bytes


@dataclass(frozen=True)
class SendClient:
    data: bytes


@dataclass(frozen=True)
class ReadClient:
    timeout: float | None  # None: the connection's own read timeout
    phase: str = "body"


@dataclass(frozen=True)
class ReadUpstream:
    timeout: float | None
    phase: str = "read"


@dataclass(frozen=True)
class ResponseStarted:
    head: ResponseHead


@dataclass(frozen=True)
class Switch:
    """The 101 went out (``head`` is in the command before); splice both sides from now on."""

    protocol: str
    head_bytes: int
    bytes_in: int
    client_leftover: bytes = b""  # bytes the client sent after its request head: the new protocol's first


@dataclass
class Exchange:
    """What happened in one exchange, for the access log and the connection's next step."""

    method: str
    target: str
    status: int
    bytes_in: int
    bytes_out: int
    keep_alive: bool
    upstream_reusable: bool = False
    upgrade: str | None = None  # the protocol switched to by a 101 (the bytes counts include the splice)


@dataclass(frozen=True)
class Finished:
    exchange: Exchange
    client_leftover: bytes  # bytes after the request (pipelining): the next request starts with them
    upstream_leftover: bytes


@dataclass(frozen=True)
class Failed:
    code: str
    detail: str
    response_started: bool = False


Command = SendUpstream | SendClient | ReadClient | ReadUpstream | ResponseStarted | Switch | Finished | Failed


class Http1Exchange:
    """The state of one exchange: ``request`` → ``response_head`` → ``response_body`` → done."""

    def __init__(self, head: RequestHead, *, target: bytes | None = None, owned: Iterable[bytes] = (),
                 own: Iterable[tuple[bytes, bytes]] = (), buffered: bytes = b"", upstream_buffered: bytes = b"",
                 body_rate: float = 0.0,
                 body_grace: float = 30.0, upstream_timeout: float = 60.0, head_limit: int = 64 * 1024,
                 clock: Callable[[], float], peer: str = "server") -> None:
        self.head = head
        self.target = target
        self._owned = owned
        self._own = own
        self._client = bytearray(buffered)
        self._upstream = bytearray(upstream_buffered)
        self._rate = body_rate
        self._grace = body_grace
        self._up_timeout = upstream_timeout
        self._limit = head_limit
        self._clock = clock
        self._peer = peer
        self.state = "request"
        self.bytes_in = 0
        self.bytes_out = 0
        self._started = 0.0
        self._head_deadline = 0.0
        self._req: Framing | None = None
        self._resp: Framing | None = None
        self._remaining = 0
        self._scanner: ChunkedScanner | None = None
        self._upgrade: bytes | None = None
        self._keep = False
        self._server_keep = False
        self._status = 0

    # ---- the request ------------------------------------------------------------------
    def start(self) -> list[Command]:
        try:
            out = prepare_request(self.head, owned=self._owned, own=self._own)
        except HttpError as exc:
            return [Failed(exc.code, str(exc))]
        self._req, self._keep, self._upgrade = out.framing, out.keep_alive, out.upgrade
        self._started = self._clock()
        commands: list[Command] = [SendClient(CONTINUE)] if out.expect_continue else []
        head = self.head.serialize(self.target)
        if out.framing.kind == NO_BODY:
            commands.append(SendUpstream(head))
            return commands + self._await_response()
        self._remaining = out.framing.length
        self._scanner = ChunkedScanner() if out.framing.kind == CHUNKED else None
        body, failed = self._take_body()
        if failed is not None:
            return [*commands, failed]
        commands.append(SendUpstream(head + body))
        return commands + self._after_body_bytes()

    def _take_body(self) -> tuple[bytes, Failed | None]:
        """The request-body bytes in the client buffer (the rest stays for the next request)."""
        buf = self._client
        if not buf:
            return b"", None
        if self._scanner is not None:
            try:
                used = self._scanner.feed(bytes(buf))
            except HttpError as exc:
                return b"", Failed(exc.code, str(exc))
        else:
            used = min(self._remaining, len(buf))
            self._remaining -= used
        data = bytes(buf[:used])
        del buf[:used]
        self.bytes_in += used
        return data, None

    def _body_done(self) -> bool:
        return self._scanner.done if self._scanner is not None else self._remaining == 0

    def _after_body_bytes(self) -> list[Command]:
        if self._body_done():
            return self._await_response()
        timeout = None
        if self._rate > 0:  # the body must average body_rate B/s after body_grace s
            timeout = self._started + self._grace + self.bytes_in / self._rate - self._clock()
        return [ReadClient(timeout, "body")]

    def _await_response(self) -> list[Command]:
        self.state = "response_head"
        self._head_deadline = self._clock() + self._up_timeout
        return self._response_head()

    # ---- events -----------------------------------------------------------------------
    def handle(self, event: Event) -> list[Command]:
        if isinstance(event, Broken):
            if event.role == "upstream" and event.kind == "closed" and self.state == "response_body" \
                    and self._resp is not None and self._resp.kind == UNTIL_CLOSE:
                return [self._finished()]  # RFC 9112 §6.3 rule 8: the connection's end ends the body
            return [self._broken(event)]
        if isinstance(event, ClientData):
            if self.state != "request":  # the runner reads the client only for a request body
                raise RuntimeError("client data outside the request body")
            self._client += event.data
            body, failed = self._take_body()
            if failed is not None:
                return [failed]
            return ([SendUpstream(body)] if body else []) + self._after_body_bytes()
        self._upstream += event.data
        if self.state == "response_head":
            return self._response_head()
        return self._response_body()

    def _broken(self, event: Broken) -> Failed:
        started = self.state == "response_body"
        if event.kind == "timeout":
            if event.role == "client":
                return Failed("client-timeout", f"the client did not send the request {_phase(self.state)} in time",
                              started)
            return Failed("upstream-timeout", f"no answer from the {self._peer} within the read timeout", started)
        if event.role == "client" and self.state == "request":
            outstanding = f"with {self._remaining} body bytes outstanding" if self._scanner is None \
                else "inside a chunked body"
            return Failed("client-bad-request", f"the client closed the connection {outstanding}")
        if event.role == "client":
            return Failed("upstream-bad-response", f"the client went away during the response: {event.detail}",
                          started)
        if event.kind == "tls":  # an explicit alert keeps its code (TLS 1.3 refuses a certificate late)
            return Failed(event.code or "upstream-bad-response", f"TLS error with the {self._peer}: {event.detail}",
                          started)
        if self.state == "response_head":
            return Failed("upstream-bad-response", f"the {self._peer} closed the connection without answering")
        if self.state == "response_body":
            return Failed("upstream-bad-response", f"the {self._peer} closed the connection in the middle of the "
                          "response body", True)
        return Failed("upstream-bad-response", f"the {self._peer} closed the connection: {event.detail}")

    # ---- the response -----------------------------------------------------------------
    def _response_head(self) -> list[Command]:
        buf = self._upstream
        while True:
            while buf.startswith(b"\r\n"):  # RFC 9112 §2.2: empty lines before a start line
                del buf[:2]
            try:
                end = find_head_end(buf, self._limit)
            except HttpError as exc:
                return [Failed("upstream-bad-response", str(exc))]
            if end < 0:
                left = self._head_deadline - self._clock()
                if left <= 0:
                    return [Failed("upstream-timeout", f"no answer from the {self._peer} within the read timeout")]
                return [ReadUpstream(left, "head")]
            raw = bytes(buf[:end])
            del buf[:end]
            try:
                response = parse_response_head(raw)
            except HttpError as exc:
                return [Failed("upstream-bad-response", str(exc))]
            if response.status == 101:
                return self._switch(response)
            if 100 <= response.status < 200:
                continue  # interim (100 was answered by us; 102/103 are informational only)
            return self._start_response(response)

    def _switch(self, response: ResponseHead) -> list[Command]:
        if self._upgrade is None:
            return [Failed("upstream-bad-response", "101 Switching Protocols to a request that asked for none "
                           "(RFC 9110 §15.2.2)")]
        try:
            chosen = prepare_switch(response, self._upgrade)
        except HttpError as exc:
            return [Failed("upstream-bad-response", str(exc))]
        head = response.serialize()
        self.state = "switched"
        return [ResponseStarted(response), SendClient(head + bytes(self._upstream)),
                Switch(chosen.decode("latin-1"), len(head), self.bytes_in, bytes(self._client))]

    def _start_response(self, response: ResponseHead) -> list[Command]:
        try:
            framing, self._server_keep = prepare_response(response, self.head.method)
        except HttpError as exc:
            return [Failed("upstream-bad-response", str(exc))]
        self._status = response.status
        self._resp = framing
        if framing.kind == UNTIL_CLOSE or not self._server_keep:
            self._keep = False
        if not self._keep:
            response.headers.set(b"Connection", b"close")
        self.state = "response_body"
        self._remaining = framing.length
        self._scanner = ChunkedScanner() if framing.kind == CHUNKED else None
        head = response.serialize()
        commands: list[Command] = [ResponseStarted(response)]
        if framing.kind == NO_BODY:
            return [*commands, SendClient(head), self._finished()]
        out = self._response_bytes()
        if isinstance(out, Failed):
            return [*commands, out]
        return [*commands, SendClient(head + out), *self._response_next()]

    def _response_bytes(self) -> bytes | Failed:
        buf = self._upstream
        if not buf:
            return b""
        assert self._resp is not None
        if self._resp.kind == UNTIL_CLOSE:
            used = len(buf)
        elif self._scanner is not None:
            try:
                used = self._scanner.feed(bytes(buf))
            except HttpError as exc:
                return Failed("upstream-bad-response", str(exc), True)
        else:
            used = min(self._remaining, len(buf))
            self._remaining -= used
        data = bytes(buf[:used])
        del buf[:used]
        self.bytes_out += used
        return data

    def _response_body(self) -> list[Command]:
        out = self._response_bytes()
        if isinstance(out, Failed):
            return [out]
        return ([SendClient(out)] if out else []) + self._response_next()

    def _response_next(self) -> list[Command]:
        assert self._resp is not None
        if self._resp.kind == UNTIL_CLOSE:
            return [ReadUpstream(None, "body")]
        if self._body_done():
            return [self._finished()]
        return [ReadUpstream(None, "body")]

    def _finished(self) -> Finished:
        self.state = "done"
        assert self._resp is not None
        framed = self._resp.kind != UNTIL_CLOSE
        reusable = self._server_keep and framed and not self._upstream
        done = Exchange(self.head.method.decode("latin-1"), (self.target or self.head.target).decode("latin-1"),
                        self._status, self.bytes_in, self.bytes_out, self._keep, reusable)
        return Finished(done, bytes(self._client), bytes(self._upstream))


def _phase(state: str) -> str:
    return "body" if state == "request" else state
