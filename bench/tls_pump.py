"""The TLS transport alone: bridgehead's memory-BIO pump against asyncio's own TLS transport.

    .venv/bin/python bench/tls_pump.py [--seconds 5] [--connections 20] [--uvloop]

Two minimal HTTPS servers answering every keep-alive request with 1 KB, run one after the other
as child processes under the same load (bench/loadgen.py):

* ``pump``: asyncio streams + :class:`bridgehead.runtime.streams.TLSStream` + ``Conn.read_head``,
  the path every inspected and re-encrypted request takes today;
* ``asyncio-tls``: ``asyncio.start_server(ssl=...)`` (asyncio's SSLProtocol) + ``readuntil``;
* ``protocol``: asyncio's TLS transport with a bare ``asyncio.Protocol`` (no streams, no task per
  read): the floor of what asyncio's TLS can cost;
* ``engine``: bridgehead's memory-BIO record engine (``TLSStream.open_records``/``seal``) under a bare
  ``asyncio.Protocol`` that took the transport over after the handshake, as the callback lane
  (runtime/http1_lane.py) runs every kept-alive request: the same shape as ``protocol``, with
  bridgehead's engine instead of asyncio's.

CPU per request of each server from /proc/PID/stat. The difference between ``pump`` and the others
is what replacing the pump with asyncio's TLS transport could save per TLS leg (a proxied request
crosses two legs) — the measurement behind the decision in the issue (item 3).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import loadgen  # noqa: E402
from procstat import cpu_seconds, cpu_us_per_request  # noqa: E402
from tests.support.pki import TestCA  # noqa: E402
from tests.support.procs import free_port, running  # noqa: E402

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 1024\r\nContent-Type: application/octet-stream\r\n\r\n" + b"k" * 1024


def serve(kind: str, port: int, cert: str, key: str, use_uvloop: bool) -> None:
    """The child: one server of ``kind`` until killed."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from bridgehead.runtime.streams import Conn, TLSStream

        stream = TLSStream(reader, writer, ctx, server_side=True)
        await stream.handshake()
        conn = Conn(stream)
        while await conn.read_head() is not None:
            await conn.write(RESPONSE)

    async def streams(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def engine(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        from bridgehead.runtime.streams import TLSStream, reader_state

        stream = TLSStream(reader, writer, ctx, server_side=True)
        await stream.handshake()
        transport = writer.transport
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        class Records(asyncio.Protocol):
            buf = b""

            def data_received(self, data: bytes) -> None:
                plain, ended, failure, reply = stream.open_records(data)
                if reply:
                    transport.write(reply)
                self.buf += plain
                while (end := self.buf.find(b"\r\n\r\n")) >= 0:
                    self.buf = self.buf[end + 4:]
                    transport.write(stream.seal(RESPONSE))
                if ended or failure is not None:
                    transport.close()

            def eof_received(self) -> bool:
                return False

            def connection_lost(self, exc: BaseException | None) -> None:
                if not done.done():
                    done.set_result(None)

        waiting = reader_state(reader)[0]
        held = bytes(waiting or b"")
        if waiting:
            waiting.clear()
        records = Records()
        transport.set_protocol(records)
        records.data_received(held)
        await done

    class Answer(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport
            self.buf = b""

        def data_received(self, data: bytes) -> None:
            self.buf += data
            while (end := self.buf.find(b"\r\n\r\n")) >= 0:
                self.buf = self.buf[end + 4:]
                self.transport.write(RESPONSE)  # type: ignore[attr-defined]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        if kind == "pump":
            server = await asyncio.start_server(pump, "127.0.0.1", port)
        elif kind == "engine":
            server = await asyncio.start_server(engine, "127.0.0.1", port)
        elif kind == "asyncio-tls":
            server = await asyncio.start_server(streams, "127.0.0.1", port, ssl=ctx)
        else:
            server = await loop.create_server(Answer, "127.0.0.1", port, ssl=ctx)
        async with server:
            await server.serve_forever()

    if use_uvloop:
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--uvloop", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--serve", nargs=4, metavar=("KIND", "PORT", "CERT", "KEY"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        kind, port, cert, key = args.serve
        serve(kind, int(port), cert, key, args.uvloop)
        return
    results = []
    with tempfile.TemporaryDirectory(prefix="bh-tls-") as tmp:
        d = Path(tmp)
        ca = TestCA.create(d / "pki", "Bench CA")
        leaf = ca.issue("localhost", dns=["localhost"], ips=["127.0.0.1"])
        for kind in ("pump", "asyncio-tls", "protocol", "engine"):
            port = free_port()
            argv = [sys.executable, __file__, "--serve", kind, str(port), str(leaf.chain), str(leaf.key),
                    *(["--uvloop"] if args.uvloop else [])]
            with running(argv, port=port, log=d / f"{kind}.out") as proc:
                before = cpu_seconds(proc.pid)
                r = loadgen.run(loadgen.parser().parse_args(
                    ["--port", str(port), "--connections", str(args.connections), "--seconds", str(args.seconds)]))
                r.update(server=kind, cpu_us=cpu_us_per_request(before, cpu_seconds(proc.pid), int(r["requests"])))  # type: ignore[call-overload]
                results.append(r)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        print(f"{r['server']:12s} {r['rps']:>9} req/s  p50 {r['p50_ms']} ms  p99 {r['p99_ms']} ms  "
              f"server CPU {r['cpu_us']} µs/req  errors {r['errors']}")


if __name__ == "__main__":
    main()
