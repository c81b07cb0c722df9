"""The callback lane for kept-alive HTTP/1.1 (runtime/http1_lane.py) over real sockets, on both event loops.

A "proxy" accepts a client on 127.0.0.1, connects to a scripted origin and runs the lane as the
forward proxy's inspected tunnels and the reverse proxy's routes do; whatever the lane hands back
(``slow``, ``switch``) continues the coroutine way (``relay.exchange``, ``relay.switched``) on the
same connections, so the hand-back itself is under test. One scenario runs both legs over TLS.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridgehead.runtime import http1_lane
from bridgehead.runtime.relay import exchange, switched
from bridgehead.runtime.streams import Conn, Deadlines, PlainStream, TLSStream
from bridgehead.wire.http1 import RequestHead
from tests.support.pki import TestCA


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Callable[[Awaitable[None]], None]:
    from bridgehead.runtime import eventloop

    return lambda main: eventloop.run(main, request.param)  # type: ignore[arg-type]


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """(head, body) of one request at the origin; chunked bodies are returned still chunked."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lower = head.lower()
    body = b""
    if b"content-length:" in lower:
        length = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
        body = await reader.readexactly(length)
    elif b"transfer-encoding: chunked" in lower:
        while True:  # size lines, data, then the last chunk and the trailer section (RFC 9112 §7.1)
            line = await reader.readuntil(b"\r\n")
            body += line
            size = int(line.split(b";")[0], 16)
            if size == 0:
                while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                    body += trailer
                return head, body + trailer
            body += await reader.readexactly(size + 2)
    return head, body


async def answering(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers each request with ``<method> <target> <body sha256[:8]>``, Content-Length framed."""
    while (request := await read_request(reader)) is not None:
        head, body = request
        line = head.split(b"\r\n")[0].split(b" ")
        size = int(line[1].rsplit(b"/", 1)[1]) if line[1].startswith(b"/big/") else 0
        digest = hashlib.sha256(body).hexdigest()[:8].encode()
        payload = b"B" * size if size else b"%s %s %s" % (line[0], line[1], digest)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload)
        await writer.drain()
    writer.close()


@dataclass
class Rig:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    stops: list[http1_lane.Stop] = field(default_factory=list)
    exchanges: list[Any] = field(default_factory=list)
    upstreams: int = 0
    done: asyncio.Future[None] | None = None
    servers: tuple[Any, ...] = ()

    async def response(self) -> tuple[bytes, bytes]:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0]) if b"content-length" in \
            head.lower() else 0
        return head, await asyncio.wait_for(self.reader.readexactly(length), 30)

    async def finish(self) -> None:
        self.writer.close()
        assert self.done is not None
        await asyncio.wait_for(self.done, 10)
        for server in self.servers:
            server.close()


class Hooks:
    def __init__(self, rig: Rig, decline: bytes | None = None) -> None:
        self.rig = rig
        self.decline = decline

    def begin(self, head: RequestHead) -> http1_lane.LaneRequest | None:
        if self.decline is not None and head.target == self.decline:
            return None
        return http1_lane.LaneRequest(own=[(b"X-Proxy", b"lane")])

    def done(self, head: RequestHead, ex: Any, start: float) -> bool:
        self.rig.exchanges.append(ex)
        return bool(ex.keep_alive and ex.upstream_reusable)


async def rig(origin: Handler, *, deadlines: Deadlines | None = None, timeout: float = 5.0,
              decline: bytes | None = None, tls: TestCA | None = None, delay: float = 0.0) -> Rig:
    loop = asyncio.get_running_loop()
    origin_ssl = client_ssl = None
    if tls is not None:
        leaf = tls.issue("localhost")
        origin_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        origin_ssl.load_cert_chain(leaf.cert, leaf.key)
        client_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        client_ssl.load_cert_chain(leaf.cert, leaf.key)
    origin_server = await asyncio.start_server(origin, "127.0.0.1", 0, ssl=origin_ssl)
    origin_port = origin_server.sockets[0].getsockname()[1]
    done: asyncio.Future[None] = loop.create_future()
    box: list[Rig] = [Rig(None, None, done=done)]  # type: ignore[arg-type]  # connected below

    async def open_upstream() -> Conn:
        box[0].upstreams += 1
        up_r, up_w = await asyncio.open_connection("127.0.0.1", origin_port)
        if tls is None:
            return Conn(PlainStream(up_r, up_w), timeout=timeout, role="upstream")
        ctx = ssl.create_default_context(cafile=str(tls.cert))
        stream = TLSStream(up_r, up_w, ctx, server_side=False, server_hostname="localhost")
        await stream.handshake()
        return Conn(stream, timeout=timeout, role="upstream")

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        the = box[0]
        hooks = Hooks(the, decline)
        stream: Any = PlainStream(reader, writer)
        if client_ssl is not None:
            stream = TLSStream(reader, writer, client_ssl, server_side=True)
            await stream.handshake()
        client = Conn(stream, timeout=timeout, deadlines=deadlines or Deadlines(read=timeout))
        upstream = await open_upstream()
        await asyncio.sleep(delay)  # the client's bytes (and EOF) wait in the stream reader meanwhile
        try:
            while True:
                stop = await http1_lane.run(client, upstream, hooks)
                the.stops.append(stop)
                if stop.kind == "switch":
                    assert stop.head is not None and stop.switch is not None
                    the.exchanges.append(await switched(client, upstream, stop.head, stop.switch, 5))
                    return
                if stop.kind != "slow":
                    return
                head = stop.head or await client.read_request()
                if head is None:
                    return
                if not upstream.reusable():
                    await upstream.close()
                    upstream = await open_upstream()
                ex = await exchange(client, upstream, head, own=[(b"X-Proxy", b"coroutine")])
                if not hooks.done(head, ex, 0):
                    return
                upstream.park()
        finally:
            await upstream.close()
            await client.close()
            done.set_result(None)

    proxy_server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = proxy_server.sockets[0].getsockname()[1]
    if tls is not None:
        ctx = ssl.create_default_context(cafile=str(tls.cert))
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
    else:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    the = box[0]
    the.reader, the.writer, the.servers = reader, writer, (origin_server, proxy_server)
    return the


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for what a deadline in the proxy brings about (a loaded machine may take longer)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not condition():
        assert loop.time() < end, "the proxy did not act within its deadline"
        await asyncio.sleep(0.05)


def get(target: str, extra: str = "") -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: origin\r\n{extra}\r\n".encode()


def test_keep_alive_and_pipelined_requests_stay_in_the_lane(run: Callable[[Awaitable[None]], None]) -> None:
    async def main() -> None:
        r = await rig(answering)
        for n in range(3):
            r.writer.write(get(f"/one/{n}"))
            _, body = await r.response()
            assert body.startswith(f"GET /one/{n} ".encode())
        r.writer.write(b"".join(get(f"/pipe/{n}") for n in range(50)))  # pipelined: in order, none lost
        for n in range(50):
            _, body = await r.response()
            assert body.startswith(f"GET /pipe/{n} ".encode())
        await r.finish()
        assert [s.kind for s in r.stops] == ["closed"]  # never handed back
        assert len(r.exchanges) == 53 and r.upstreams == 1

    run(main())


def test_request_bodies_chunked_and_content_length_and_100_continue(run: Callable[[Awaitable[None]], None]) -> None:
    async def main() -> None:
        r = await rig(answering)
        body = os.urandom(300_000)
        r.writer.write(b"POST /cl HTTP/1.1\r\nHost: o\r\nContent-Length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), 65536):  # in pieces, each its own read at the proxy
            r.writer.write(body[i:i + 65536])
            await asyncio.sleep(0.01)
        _, got = await r.response()
        assert got == b"POST /cl " + hashlib.sha256(body).hexdigest()[:8].encode()
        chunked = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        r.writer.write(b"POST /ch HTTP/1.1\r\nHost: o\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked[:9])
        await asyncio.sleep(0.05)
        r.writer.write(chunked[9:])
        _, got = await r.response()
        assert got == b"POST /ch " + hashlib.sha256(chunked).hexdigest()[:8].encode()
        r.writer.write(b"PUT /x HTTP/1.1\r\nHost: o\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        interim = await asyncio.wait_for(r.reader.readuntil(b"\r\n\r\n"), 5)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"  # answered by the proxy, before any body byte
        r.writer.write(b"data")
        _, got = await r.response()
        assert got == b"PUT /x " + hashlib.sha256(b"data").hexdigest()[:8].encode()
        await r.finish()
        assert [s.kind for s in r.stops] == ["closed"]

    run(main())


def test_a_large_response_to_a_slow_reader_arrives_whole(run: Callable[[Awaitable[None]], None]) -> None:
    async def main() -> None:
        r = await rig(answering)
        size = 24 * 1024 * 1024
        r.writer.write(get(f"/big/{size}"))
        head = await asyncio.wait_for(r.reader.readuntil(b"\r\n\r\n"), 10)
        assert b"Content-Length: %d" % size in head
        got = 0
        while got < size:  # a reader that takes its time: the proxy must pause the origin, not buffer 24 MB
            chunk = await asyncio.wait_for(r.reader.read(1 << 20), 10)
            assert chunk and set(chunk) == {ord("B")}
            got += len(chunk)
            if got < 4 << 20:
                await asyncio.sleep(0.02)
        assert got == size
        r.writer.write(get("/after"))
        _, body = await r.response()
        assert body.startswith(b"GET /after ")
        await r.finish()

    run(main())


def test_idle_and_head_deadlines(run: Callable[[Awaitable[None]], None]) -> None:
    async def main() -> None:
        quick = Deadlines(head=0.4, idle=0.3, read=5)
        r = await rig(answering, deadlines=quick)
        r.writer.write(get("/a"))
        await r.response()
        assert await asyncio.wait_for(r.reader.read(), 3) == b""  # idle: closed quietly, no page
        assert r.stops[-1].kind == "closed"
        await r.finish()

        r = await rig(answering, deadlines=quick)
        r.writer.write(get("/a"))
        await r.response()
        r.writer.write(b"GET /slow HTTP/1.1\r\nHost")  # a head that never completes
        await until(lambda: len(r.stops) == 1)
        stop = r.stops[-1]
        assert stop.kind == "error" and type(stop.error).__name__ == "DeadlineExceeded"
        assert getattr(stop.error, "phase", "") == "head"
        await r.finish()

    run(main())


def test_an_upstream_that_does_not_answer_fails_with_upstream_timeout(run: Callable[[Awaitable[None]], None]) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)
        writer.close()

    async def main() -> None:
        r = await rig(silent, timeout=0.5)
        r.writer.write(get("/x"))
        await until(lambda: len(r.stops) == 1)
        stop = r.stops[-1]
        assert stop.kind == "failed" and getattr(stop.error, "code", "") == "upstream-timeout"
        assert stop.head is not None and stop.head.target == b"/x"
        await r.finish()

    run(main())


def test_an_upstream_that_speaks_while_idle_is_not_reused(run: Callable[[Awaitable[None]], None]) -> None:
    connections: list[int] = []

    async def chatty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        if len(connections) > 1:  # the proxy's second connection is a well-behaved one
            await answering(reader, writer)
            return
        request = await read_request(reader)
        assert request is not None
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
        await writer.drain()
        await asyncio.sleep(0.05)  # after the answer went out: the bytes arrive while the connection idles
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nunbidden!")  # nobody asked for this
        await writer.drain()
        await answering(reader, writer)

    async def main() -> None:
        r = await rig(chatty)
        r.writer.write(get("/1"))
        assert (await r.response())[1] == b"first"
        await asyncio.sleep(0.5)
        r.writer.write(get("/2"))
        _, body = await r.response()
        assert body.startswith(b"GET /2 ")  # the unsolicited answer never reaches the client
        assert r.stops[0].kind == "slow" and r.stops[0].head is not None and r.upstreams == 2
        await r.finish()

    run(main())


def test_a_declined_request_continues_the_coroutine_way_on_the_same_connection(
        run: Callable[[Awaitable[None]], None]) -> None:
    async def main() -> None:
        r = await rig(answering, decline=b"/slow")
        body = b"0123456789"
        r.writer.write(get("/fast") + b"POST /slow HTTP/1.1\r\nHost: o\r\nContent-Length: 10\r\n\r\n" + body
                       + get("/fast-again"))  # the declined request's body and the next head already sent
        assert (await r.response())[1].startswith(b"GET /fast ")
        assert (await r.response())[1] == b"POST /slow " + hashlib.sha256(body).hexdigest()[:8].encode()
        assert (await r.response())[1].startswith(b"GET /fast-again ")
        await r.finish()
        assert [s.kind for s in r.stops] == ["slow", "closed"] and r.upstreams == 1

    run(main())


def test_a_101_is_handed_back_and_spliced(run: Callable[[Awaitable[None]], None]) -> None:
    async def upgrading(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
        while data := await reader.read(65536):
            writer.write(data.upper())
        writer.close()

    async def main() -> None:
        r = await rig(upgrading)
        r.writer.write(get("/ws", "Upgrade: echo\r\nConnection: Upgrade\r\n") + b"early bytes ")
        head = await asyncio.wait_for(r.reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101")
        r.writer.write(b"and later")
        got = b""
        while len(got) < len(b"EARLY BYTES AND LATER"):
            got += await asyncio.wait_for(r.reader.read(100), 5)
        assert got == b"EARLY BYTES AND LATER"  # bytes sent with the request head were not lost
        await r.finish()
        assert r.stops[0].kind == "switch" and r.exchanges[-1].upgrade == "echo"

    run(main())


def test_a_client_that_closes_mid_head_or_mid_body(run: Callable[[Awaitable[None]], None]) -> None:
    async def main() -> None:
        r = await rig(answering)
        r.writer.write(b"GET /half HTTP/1.1\r\nHo")
        await asyncio.sleep(0.1)
        r.writer.write_eof()
        await asyncio.wait_for(r.done, 5)  # type: ignore[arg-type]
        assert r.stops[-1].kind == "error" and type(r.stops[-1].error).__name__ == "PeerClosed"
        await r.finish()

        r = await rig(answering)
        r.writer.write(b"POST /b HTTP/1.1\r\nHost: o\r\nContent-Length: 100\r\n\r\nonly some")
        await asyncio.sleep(0.1)
        r.writer.write_eof()
        await asyncio.wait_for(r.done, 5)  # type: ignore[arg-type]
        assert r.stops[-1].kind == "failed" and getattr(r.stops[-1].error, "code", "") == "client-bad-request"
        await r.finish()

    run(main())


def test_everything_the_client_sent_before_the_lane_began_counts_its_eof_too(
        run: Callable[[Awaitable[None]], None]) -> None:
    async def main() -> None:
        for delay in (0.0, 0.3):  # the EOF arrives during the lane, or waits in the reader before it
            r = await rig(answering, delay=delay)
            r.writer.write(b"POST /b HTTP/1.1\r\nHost: o\r\nContent-Length: 100\r\n\r\nAAAAA")
            r.writer.write_eof()
            await asyncio.wait_for(r.done, 5)  # type: ignore[arg-type]  # not left waiting for the body
            assert r.stops[-1].kind == "failed" and getattr(r.stops[-1].error, "code", "") == "client-bad-request"
            await r.finish()

    run(main())


def test_both_legs_over_tls(run: Callable[[Awaitable[None]], None], tmp_path: Path) -> None:
    ca = TestCA.create(tmp_path, "lane test CA")

    async def main() -> None:
        r = await rig(answering, tls=ca)
        r.writer.write(b"".join(get(f"/t/{n}") for n in range(20)))
        for n in range(20):
            assert (await r.response())[1].startswith(f"GET /t/{n} ".encode())
        size = 5 * 1024 * 1024
        r.writer.write(get(f"/big/{size}"))
        _, body = await r.response()
        assert len(body) == size
        await r.finish()
        assert [s.kind for s in r.stops] == ["closed"] and len(r.exchanges) == 21

    run(main())


STREAM = (get("/s/0") + b"\r\n"  # an empty line between requests is allowed (RFC 9112 §2.2)
          + b"POST /s/1 HTTP/1.1\r\nHost: o\r\nContent-Length: 11\r\n\r\nhello world"
          + b"POST /s/2 HTTP/1.1\r\nHost: o\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n"
          + get("/s/3", "Expect: 100-continue\r\n"))


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(cuts=st.lists(st.integers(1, len(STREAM) - 1), max_size=12, unique=True))
def test_any_split_of_the_byte_stream_gives_the_same_answers(cuts: list[int]) -> None:
    """Heads, bodies, chunk lines and the empty line cut anywhere across reads: the same four answers."""
    async def main() -> None:
        r = await rig(answering)
        bounds = [0, *sorted(cuts), len(STREAM)]
        sock = r.writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for a, b in itertools.pairwise(bounds):
            r.writer.write(STREAM[a:b])
            await r.writer.drain()
            await asyncio.sleep(0.002)  # each piece its own segment, its own read at the proxy
        bodies = []
        while len(bodies) < 4:
            head, body = await r.response()
            if not head.startswith(b"HTTP/1.1 100 "):  # the proxy's interim answer to the Expect
                bodies.append(body)
        assert [b.split(b" ")[1] for b in bodies] == [b"/s/0", b"/s/1", b"/s/2", b"/s/3"]
        assert bodies[1].endswith(hashlib.sha256(b"hello world").hexdigest()[:8].encode())
        assert bodies[2].endswith(hashlib.sha256(b"3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n").hexdigest()[:8].encode())
        await r.finish()
        assert [s.kind for s in r.stops] == ["closed"] and len(r.exchanges) == 4

    asyncio.run(main())
