"""A bounded HTTPS load generator for the benchmarks: keep-alive or one request per connection,
directly or through an HTTP proxy (CONNECT), in several processes.

    python bench/loadgen.py --host localhost --port 8443 [--proxy 127.0.0.1:8080] --path /1k \
        --connections 8 --processes 2 --seconds 5 [--new-connection]

Prints one JSON object: requests, bytes, seconds, errors, latencies (p50/p99 in ms).
Certificates are not verified: the benchmark measures throughput, the tests check validation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import ssl
import time


async def _connection(a: argparse.Namespace, deadline: float, lat: list[float], totals: list[int]) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    request = f"GET {a.path} HTTP/1.1\r\nHost: {a.host}\r\nUser-Agent: bridgehead-bench\r\n\r\n".encode()
    while time.monotonic() < deadline:
        writer = None
        try:
            if a.proxy:
                ph, pp = a.proxy.rsplit(":", 1)
                reader, writer = await asyncio.open_connection(ph, int(pp), limit=2**22)
                writer.write(f"CONNECT {a.host}:{a.port} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise ConnectionError(head[:60])
            else:
                reader, writer = await asyncio.open_connection(a.host, a.port, limit=2**22)
            await writer.start_tls(ctx, server_hostname=a.host)
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                lat.append(time.perf_counter() - t0)
                totals[0] += 1
                totals[1] += length
                if a.new_connection:
                    break
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            totals[2] += 1
            await asyncio.sleep(0.01)
        finally:
            if writer is not None:
                writer.close()


async def _run(a: argparse.Namespace, conns: int) -> dict[str, object]:
    lat: list[float] = []
    totals = [0, 0, 0]
    deadline = time.monotonic() + a.seconds
    start = time.monotonic()
    await asyncio.gather(*(_connection(a, deadline, lat, totals) for _ in range(conns)))
    return {"requests": totals[0], "bytes": totals[1], "errors": totals[2], "seconds": time.monotonic() - start,
            "lat": lat}


def _worker(a: argparse.Namespace, conns: int, q: mp.Queue) -> None:  # type: ignore[type-arg]
    q.put(asyncio.run(_run(a, conns)))


def run(a: argparse.Namespace) -> dict[str, object]:
    q: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    per = max(1, a.connections // a.processes)
    procs = [mp.Process(target=_worker, args=(a, per, q)) for _ in range(a.processes)]
    for p in procs:
        p.start()
    results = [q.get(timeout=a.seconds + 60) for _ in procs]
    for p in procs:
        p.join(10)
    lat = sorted(x for r in results for x in r["lat"])  # type: ignore[attr-defined]
    seconds = max(r["seconds"] for r in results)  # type: ignore[type-var]
    requests = sum(r["requests"] for r in results)  # type: ignore[misc]
    nbytes = sum(r["bytes"] for r in results)  # type: ignore[misc]

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else float("nan")

    return {"requests": requests, "bytes": nbytes, "errors": sum(r["errors"] for r in results),  # type: ignore[misc]
            "seconds": round(seconds, 3), "rps": round(requests / seconds, 1),
            "mbps": round(nbytes / seconds / 1e6, 2), "p50_ms": pct(0.50), "p99_ms": pct(0.99)}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="localhost")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--proxy")
    p.add_argument("--path", default="/1k")
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--new-connection", action="store_true")
    return p


if __name__ == "__main__":
    print(json.dumps(run(parser().parse_args())))
