"""HTTP/2 to the origin (issue 13 item 5): the inspected h2 client's streams on one h2 connection.

When the client negotiated h2 with bridgehead, the first upstream handshake offered ALPN
``h2, http/1.1`` (``upstream.alpn_offer``, decided from the ClientHello before that handshake,
so the CertificateRequest detection is unchanged). If the origin picked h2 (RFC 7301 §3.2),
:class:`H2Origin` runs the ``h2`` library's client state machine over that TLS connection
(one reader task; every frame written under one lock) and :func:`relay` carries one client
stream onto one origin stream:

* fields from ``wire.h2map.origin_request_fields`` (RFC 9113 §8.2.2, §8.3.1), the body as DATA
  frames, a client trailer section as trailers (RFC 9113 §8.1); the response's HEADERS (1xx
  too), DATA and trailers back to the client stream.
* Flow control both ways (RFC 9113 §5.2): client DATA is acknowledged (WINDOW_UPDATE) only
  once it was sent to the origin, origin DATA only once it was sent to the client, so a slow
  side slows the other instead of filling memory (at most :data:`STREAM_WINDOW` per stream,
  :data:`CONNECTION_WINDOW` per connection are held). The origin's
  SETTINGS_MAX_CONCURRENT_STREAMS is honoured: more client streams wait for a free slot.
* RST_STREAM from the origin (RFC 9113 §6.4): REFUSED_STREAM before a response is passed on
  as REFUSED_STREAM (nothing was processed: the client may retry, §8.7); another code before a
  response is a 502 page ``upstream-h2-stream-reset``; after the response started, the client
  stream is reset (a truncated response must not look complete, §8.1). A client's RST_STREAM
  cancels the origin stream (CANCEL).
* GOAWAY from the origin (RFC 9113 §6.8): the ``h2`` library closes its connection state on
  GOAWAY, so no stream can continue on it. Client streams the origin never saw (stream id above
  the GOAWAY's last-stream-id, or not yet sent) get REFUSED_STREAM — safe to retry; those it
  may have processed get the ``upstream-h2-goaway`` page (or a reset once their response had
  started); then bridgehead sends GOAWAY to the client, whose next requests open a new tunnel
  (upstream-first again). Each such stream has an access record with the code.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from bridgehead.runtime.forward import h2flow
from bridgehead.runtime.relay import RelayError
from bridgehead.runtime.streams import TLSStream
from bridgehead.wire.h2map import H2MessageError, relay_response_fields, trailer_fields

STREAM_WINDOW = 2 << 20  # SETTINGS_INITIAL_WINDOW_SIZE we announce to the origin (RFC 9113 §6.5.2)
CONNECTION_WINDOW = 4 << 20  # the connection's receive window (raised by WINDOW_UPDATE on stream 0, §6.9)
GOAWAY_CODE = "upstream-h2-goaway"
RESET_CODE = "upstream-h2-stream-reset"


class StreamRefused(Exception):
    """The origin never processed the stream: the client gets REFUSED_STREAM and may retry it."""

    def __init__(self, detail: str, code: str = GOAWAY_CODE) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass
class H2Exchange:
    """What one relayed stream did, in the shape the access log reads (``ForwardProxy._log_exchange``)."""

    method: str
    status: int
    bytes_in: int = 0
    bytes_out: int = 0
    upgrade: str | None = None
    uploading: bool = False  # the request body is still coming from the client (it has its own deadline)


class OriginStream:
    """One stream towards the origin: the reader task queues what arrives for it."""

    def __init__(self, sid: int) -> None:
        self.sid = sid
        self.events: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()


class H2Origin:
    """One h2 client connection to the origin over an upstream :class:`TLSStream`."""

    def __init__(self, tls: TLSStream, *, timeout: float) -> None:
        self.tls = tls
        self.timeout = timeout
        self.h2 = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.streams: dict[int, OriginStream] = {}
        self._lock = asyncio.Lock()
        self._window = asyncio.Event()  # set whenever the origin may have opened a flow-control window
        self._slots = asyncio.Event()  # set whenever a stream closed (a concurrency slot may be free)
        self._reader: asyncio.Task[None] | None = None
        self.goaway: tuple[int, int] | None = None  # (error code, last stream id) of the origin's GOAWAY
        self.gone: str | None = None  # why no new stream can be opened (GOAWAY, closed, protocol error)
        self._gone = asyncio.Event()

    async def start(self) -> None:
        self.h2.local_settings = h2.settings.Settings(client=True, initial_values={
            h2.settings.SettingCodes.ENABLE_PUSH: 0,  # RFC 9113 §8.4: no server push through the proxy
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
        })
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(CONNECTION_WINDOW - 65535)
        await self.flush()
        self._reader = asyncio.ensure_future(self._read_loop())

    async def wait_gone(self) -> None:
        """Return once the connection can take no new stream."""
        await self._gone.wait()

    async def flush(self) -> None:
        data = self.h2.data_to_send()
        if data:
            async with self._lock:
                async with asyncio.timeout(self.timeout):
                    await self.tls.write(data)

    async def close(self) -> None:
        """GOAWAY (when the connection is still open) and stop reading; the caller closes the socket."""
        if self.gone is None:
            self.gone = "closed by bridgehead"
            self._gone.set()
            with contextlib.suppress(Exception):
                self.h2.close_connection()
                await self.flush()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader

    # ---- reading --------------------------------------------------------------------
    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self.tls.read()
                if not data:
                    self._lost("the server closed the HTTP/2 connection")
                    return
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError as exc:
                    self._lost(f"HTTP/2 protocol error from the server: {exc}")
                    with contextlib.suppress(Exception):
                        await self.flush()  # the GOAWAY the library queued
                    return
                for event in events:
                    self._event(event)
                await self.flush()
        except (ConnectionError, OSError, ssl.SSLError, TimeoutError) as exc:
            self._lost(f"the HTTP/2 connection to the server failed: {type(exc).__name__}")

    def _event(self, event: h2.events.Event) -> None:
        sid = getattr(event, "stream_id", None)
        st = self.streams.get(sid) if sid else None
        if isinstance(event, h2.events.ResponseReceived) and st is not None:
            st.events.put_nowait(("response", list(event.headers or [])))
        elif isinstance(event, h2.events.InformationalResponseReceived) and st is not None:
            st.events.put_nowait(("interim", list(event.headers or [])))
        elif isinstance(event, h2.events.DataReceived):
            if st is not None:
                st.events.put_nowait(("data", event.data or b"", event.flow_controlled_length or 0))
            elif sid:
                self.h2.acknowledge_received_data(event.flow_controlled_length or 0, sid)
        elif isinstance(event, h2.events.TrailersReceived) and st is not None:
            st.events.put_nowait(("trailers", list(event.headers or [])))
        elif isinstance(event, h2.events.StreamEnded) and st is not None:
            st.events.put_nowait(("end",))
            self._slots.set()
        elif isinstance(event, h2.events.StreamReset):
            if st is not None:
                st.events.put_nowait(("reset", int(event.error_code or 0)))
            self._slots.set()
            self._window.set()
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            self._window.set()
            self._slots.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            code, last = int(event.error_code or 0), int(event.last_stream_id or 0)
            self.goaway = (code, last)
            name = _code_name(code)
            for osid, ost in list(self.streams.items()):
                if osid > last:
                    ost.events.put_nowait(("refused", f"the server sent GOAWAY ({name}, last stream {last}) "
                                                      "before processing the stream"))
                else:
                    ost.events.put_nowait(("lost", f"the server sent GOAWAY ({name}, last stream {last}) "
                                                   "while the stream was open"))
            self.gone = f"the server sent GOAWAY ({name})"
            self._wake()

    def _lost(self, reason: str) -> None:
        if self.gone is None:
            self.gone = reason
        for ost in self.streams.values():
            ost.events.put_nowait(("lost", reason))
        self._wake()

    def _wake(self) -> None:
        self._window.set()
        self._slots.set()
        self._gone.set()

    # ---- streams --------------------------------------------------------------------
    async def open(self, fields: list[tuple[bytes, bytes]], *, end_stream: bool) -> OriginStream:
        """A new stream with ``fields`` as its HEADERS; waits for a concurrency slot (RFC 9113 §5.1.2).
        :class:`StreamRefused` when the connection can take no new stream (nothing was sent)."""
        async with asyncio.timeout(self.timeout):
            while True:
                if self.gone is not None:
                    raise StreamRefused(f"the HTTP/2 connection to the server cannot take new streams: {self.gone}")
                if self.h2.open_outbound_streams < self.h2.remote_settings.max_concurrent_streams:
                    break
                self._slots.clear()
                await self._slots.wait()
        sid = self.h2.get_next_available_stream_id()
        st = OriginStream(sid)
        self.streams[sid] = st
        try:
            self.h2.send_headers(sid, fields, end_stream=end_stream)
        except (h2.exceptions.ProtocolError, ValueError) as exc:  # the library's own field validation
            self.streams.pop(sid, None)
            raise H2MessageError(f"the request cannot be sent over HTTP/2: {exc}") from None
        await self.flush()
        return st

    def done(self, st: OriginStream) -> None:
        self.streams.pop(st.sid, None)
        self._slots.set()

    async def send_data(self, sid: int, data: bytes, *, end: bool = False) -> None:
        """DATA within the origin's stream and connection windows (RFC 9113 §5.2)."""
        await h2flow.send_data(self.h2, sid, data, end=end, window=self._window, timeout=self.timeout,
                               flush=self.flush, broken=lambda: self.gone)

    async def send_trailers(self, sid: int, fields: list[tuple[bytes, bytes]]) -> None:
        self.h2.send_headers(sid, fields, end_stream=True)
        await self.flush()

    async def acknowledge(self, sid: int, flow: int) -> None:
        if flow and self.gone is None:
            self.h2.acknowledge_received_data(flow, sid)
            await self.flush()

    async def reset(self, sid: int, code: h2.errors.ErrorCodes = h2.errors.ErrorCodes.CANCEL) -> None:
        if self.gone is None:
            with contextlib.suppress(h2.exceptions.H2Error):
                self.h2.reset_stream(sid, code)
            with contextlib.suppress(Exception):
                await self.flush()


def _code_name(code: int) -> str:
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"error {code}"


async def relay(origin: H2Origin, io: Any, method: str, fields: list[tuple[bytes, bytes]]) -> H2Exchange:
    """Carry one client stream (``io``, an ``h2relay.StreamIO``) onto a new origin stream.

    Raises :class:`StreamRefused` (nothing reached the origin) or :class:`RelayError` with a registry
    code (``response_started`` once the client has the response's HEADERS)."""
    st = await origin.open(fields, end_stream=io.request_ended)
    result = H2Exchange(method, 0)
    upload: asyncio.Task[None] | None = None
    if not io.request_ended:
        result.uploading = True
        upload = asyncio.ensure_future(_upload(origin, st, io, result))
    try:
        await _download(origin, st, io, result)
    except BaseException:
        await _stop(upload)
        await origin.reset(st.sid)
        raise
    finally:
        origin.done(st)
    if upload is not None and not upload.done():  # the origin answered before the body ended (RFC 9113 §8.1)
        await _stop(upload)
        await origin.reset(st.sid, h2.errors.ErrorCodes.NO_ERROR)
        io.stop_sending()
    return result


async def _stop(task: asyncio.Task[None] | None) -> None:
    if task is not None:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def _upload(origin: H2Origin, st: OriginStream, io: Any, result: H2Exchange) -> None:
    """The client's body (and trailers) to the origin; the client's window opens as the origin takes it."""
    try:
        while True:
            try:
                async with asyncio.timeout(io.server.timeout):
                    item = await io.incoming.get()
            except TimeoutError:  # the client stopped sending its body: the exchange fails on its side
                st.events.put_nowait(("client-timeout",))
                return
            if item is None:
                if io.reset:
                    return
                if io.trailers:
                    await origin.send_trailers(st.sid, trailer_fields(io.trailers))
                else:
                    await origin.send_data(st.sid, b"", end=True)
                return
            data, flow = item
            if data:
                await origin.send_data(st.sid, data)
                result.bytes_in += len(data)
            await io.acknowledge(flow)
    except (h2.exceptions.H2Error, ConnectionError, OSError, TimeoutError, ssl.SSLError):
        return  # the origin reset or closed the stream: _download reports what it saw
    finally:
        result.uploading = False


async def _download(origin: H2Origin, st: OriginStream, io: Any, result: H2Exchange) -> None:
    """The origin's response to the client stream, until it ended."""
    server = io.server
    held: tuple[Any, ...] | None = None
    while True:
        if held is not None:
            event, held = held, None
        else:
            try:
                async with asyncio.timeout(origin.timeout):
                    event = await st.events.get()
            except TimeoutError:
                if result.uploading:  # the server may wait for the body; _upload times the client out
                    continue
                raise RelayError("upstream-timeout", "no answer from the server within the read timeout",
                                 response_started=io.headers_sent) from None
        kind = event[0]
        if kind == "data":  # what else already arrived goes out in one send (fewer writes)
            chunks, flow = [event[1]], event[2]
            while not st.events.empty():
                nxt = st.events.get_nowait()
                if nxt[0] != "data":
                    held = nxt
                    break
                chunks.append(nxt[1])
                flow += nxt[2]
            event = ("data", b"".join(chunks), flow)
        if kind in ("response", "interim"):
            try:
                out = relay_response_fields(event[1])
            except H2MessageError as exc:
                raise RelayError("upstream-bad-response", str(exc), response_started=io.headers_sent) from None
            status = int(out[0][1])
            if kind == "interim" and status == 101:
                raise RelayError("upstream-bad-response", "101 over HTTP/2 (RFC 9113 §8.6)")
            server.h2.send_headers(io.sid, out)
            await server.flush()
            if kind == "response":
                io.headers_sent = True
                io.status = result.status = status
        elif kind == "data":
            data, flow = event[1], event[2]
            if data:
                await server.send_data(io.sid, data)
                result.bytes_out += len(data)
            await origin.acknowledge(st.sid, flow)
        elif kind == "trailers":
            io.ended = True
            server.h2.send_headers(io.sid, trailer_fields(event[1]), end_stream=True)
            await server.flush()
            return
        elif kind == "end":
            io.ended = True
            await server.send_data(io.sid, b"", end=True)
            return
        elif kind == "reset":
            name = _code_name(event[1])
            if event[1] == h2.errors.ErrorCodes.REFUSED_STREAM and not io.headers_sent:
                raise StreamRefused(f"the server refused the stream (RST_STREAM {name}) before processing it",
                                    RESET_CODE)
            raise RelayError(RESET_CODE, f"the server reset the stream (RST_STREAM {name})",
                             response_started=io.headers_sent)
        elif kind == "client-timeout":
            raise RelayError("client-timeout", "the client did not send the request body in time",
                             response_started=io.headers_sent)
        elif kind == "refused" and not io.headers_sent:
            raise StreamRefused(event[1])
        else:  # lost, or refused after a response (cannot happen: the origin answered that stream)
            code = GOAWAY_CODE if origin.goaway is not None else "upstream-bad-response"
            raise RelayError(code, event[1], response_started=io.headers_sent)
