"""Relay one HTTP/1.1 exchange between two buffered connections (shared by the proxies).

Every decision is made by the sans-IO layer :class:`bridgehead.core.proxy.exchange.Http1Exchange`
(framing before fields, the proxy's fields last, 100-continue answered by the proxy, interim
responses, 101 only to a request that asked, reuse only of a connection holding no byte nobody
asked for, a registry code for every failure); :func:`exchange` is its runner on two
:class:`~bridgehead.runtime.streams.Conn`: it performs the layer's sends and reads and maps what
the transport raised to the layer's :class:`~bridgehead.core.proxy.exchange.Broken` events at the
boundary (httpcore's ``map_exceptions`` is the model). :func:`classify` maps the exceptions the
proxies still see around an exchange (a head read, a handshake) to a registry code.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Iterable

from bridgehead.core.proxy.exchange import (
    Broken,
    ClientData,
    Event,
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
from bridgehead.runtime.streams import Conn, DeadlineExceeded, PeerClosed, splice
from bridgehead.wire.http1 import HttpError, RequestHead, ResponseHead

__all__ = ["Exchange", "RelayError", "classify", "exchange", "switched"]


class RelayError(Exception):
    def __init__(self, code: str, detail: str, *, response_started: bool = False) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.response_started = response_started


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
    peer: str = "server",
) -> Exchange:
    """Forward ``head`` (already read from ``client``) and its body, and relay the response.

    The runner of :class:`~bridgehead.core.proxy.exchange.Http1Exchange`, which decides everything:
    this function only performs its commands on the two connections and reports reads, EOFs,
    deadlines and transport errors back as events. ``owned``: field names a client may not send
    on (besides identity fields and ``X-Bridgehead-*``); ``own``: the proxy's fields, set after
    every removal. ``check`` runs when the response head arrived, before any byte reaches the
    client, and may raise :class:`RelayError`. A ``101`` to a request that asked for an upgrade
    (WebSocket) is relayed and the two connections are then spliced until one side closes (each
    read waits at most ``upgrade_idle``). Failures raise :class:`RelayError` with the layer's code.
    """
    layer = Http1Exchange(head, target=target, owned=owned, own=own, buffered=bytes(client.buf),
                          upstream_buffered=bytes(upstream.buf), body_rate=client.deadlines.body_rate,
                          body_grace=client.deadlines.body_grace, upstream_timeout=upstream.timeout,
                          head_limit=upstream.head_limit, clock=asyncio.get_running_loop().time, peer=peer)
    client.buf.clear()
    upstream.buf.clear()
    commands = layer.start()
    while True:
        event: Event | None = None
        for command in commands:
            kind = type(command)  # exact types, most frequent first (the commands are final dataclasses)
            if kind is SendUpstream:
                event = await _send(upstream, command.data)  # type: ignore[union-attr]
            elif kind is SendClient:
                event = await _send(client, command.data)  # type: ignore[union-attr]
            elif kind is ReadUpstream:
                event = await _receive(upstream, command.timeout, command.phase, UpstreamData)  # type: ignore[union-attr]
            elif kind is ReadClient:
                event = await _receive(client, command.timeout, command.phase, ClientData)  # type: ignore[union-attr]
            elif isinstance(command, ResponseStarted):
                if check is not None:
                    check(command.head)
            elif isinstance(command, Finished):
                return _finished(command, client, upstream)
            elif isinstance(command, Failed):
                raise RelayError(command.code, command.detail, response_started=command.response_started)
            elif isinstance(command, Switch):
                return await switched(client, upstream, head, command, upgrade_idle)
            if event is not None:
                break  # a send failed, or a read produced data
        if event is None:
            raise RuntimeError("the exchange layer asked for nothing")  # a bug in the layer, never a hang
        commands = layer.handle(event)


async def _send(conn: Conn, data: bytes) -> Broken | None:
    try:
        await conn.write(data)
    except (DeadlineExceeded, OSError, EOFError) as exc:
        return _broken(conn, exc)
    return None


async def _receive(conn: Conn, timeout: float | None, phase: str,
                   wrap: type[ClientData] | type[UpstreamData]) -> Event:
    try:
        data = await conn.read_some(timeout, phase)
    except (DeadlineExceeded, OSError, EOFError) as exc:
        return _broken(conn, exc)
    return wrap(data) if data else Broken(conn.role, "closed", "end of stream")


def _broken(conn: Conn, exc: BaseException) -> Broken:
    """A transport exception as the layer's event (httpcore's ``map_exceptions``, at the boundary)."""
    if isinstance(exc, DeadlineExceeded):
        return Broken(exc.role, "timeout", str(exc))
    if isinstance(exc, ssl.SSLError):
        code, _ = relay_tls_failure(exc)  # the one classify step names an explicit TLS alert
        return Broken(conn.role, "tls", exc.reason or type(exc).__name__, code)
    return Broken(conn.role, "closed", str(exc) or type(exc).__name__)


def _finished(done: Finished, client: Conn, upstream: Conn) -> Exchange:
    if done.client_leftover:
        client.unread(done.client_leftover)  # a pipelined request: read next by the caller
    if done.upstream_leftover:
        upstream.unread(done.upstream_leftover)  # bytes nobody asked for: the connection is not reused
    done.exchange.upstream_reusable = done.exchange.upstream_reusable and not upstream.eof
    return done.exchange


async def switched(client: Conn, upstream: Conn, head: RequestHead, switch: Switch, idle: float = 300.0) -> Exchange:
    """The 101 went out: the connection now speaks the upgraded protocol (RFC 9110 §7.8); splice."""
    client.timeout = upstream.timeout = idle
    if switch.client_leftover:
        client.unread(switch.client_leftover)  # sent before the 101 arrived: they go first, none lost
    sent, received = await splice(client, upstream, close_on_eof=True)
    return Exchange(head.method.decode("latin-1"), head.target.decode("latin-1"), 101, switch.bytes_in + sent,
                    switch.head_bytes + received, False, False, switch.protocol)


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
        return relay_tls_failure(exc, peer)  # the one classify step (runtime/classify.py)
    return "upstream-bad-response", str(exc) or type(exc).__name__
