"""Memory per idle inspected connection: RSS of the proxy before and after N idle connections.

    .venv/bin/python bench/idle.py [--connections 240] [--json]

An nginx origin, the inspecting forward proxy (bridgehead, and mitmdump when .venv-bench has it)
and N clients (at most 250: the per-source limit is 256) that each CONNECT, finish TLS with the
proxy's minted leaf (the CA trusted, names verified), send one keep-alive ``GET /1k`` through it,
read the answer and then stay idle. The
proxy's VmRSS (``/proc/PID/status``) is read before the first connection (after a warm-up
connection, so imports and the CA are not counted) and when all N are idle; the difference over N
is the memory one idle inspected connection costs (client TLS, upstream TLS, buffers, tasks). The
issue's target is ≤ 50 KiB; ``--tls-pair`` also prints what one idle client+server TLS pair costs in
OpenSSL alone (two in-memory SSLObjects after a handshake and 1 KB each way), the floor under it.
Everything listens on 127.0.0.1 and is stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bhcmd import bridgehead_argv  # noqa: E402
from forward import MITMDUMP, nginx_conf  # noqa: E402
from tests.support.pki import TestCA  # noqa: E402
from tests.support.procs import free_port, running  # noqa: E402


def vm_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


async def one(proxy_port: int, origin: int, ctx: ssl.SSLContext) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """CONNECT, TLS through the proxy, one request answered; the connection is returned open."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", proxy_port), 10)
    writer.write(f"CONNECT localhost:{origin} HTTP/1.1\r\nHost: localhost:{origin}\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    if b" 200 " not in head.split(b"\r\n")[0]:
        raise RuntimeError(f"CONNECT refused: {head[:60]!r}")
    await asyncio.wait_for(writer.start_tls(ctx, server_hostname="localhost"), 10)
    writer.write(f"GET /1k HTTP/1.1\r\nHost: localhost:{origin}\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    await asyncio.wait_for(reader.readexactly(length), 10)
    return reader, writer


async def measure(pid: int, proxy_port: int, origin: int, ca: Path, n: int) -> dict[str, object]:
    ctx = ssl.create_default_context(cafile=str(ca))
    warm = [await one(proxy_port, origin, ctx) for _ in range(5)]
    await asyncio.sleep(0.5)
    before = vm_rss_kb(pid)
    conns = []
    start = time.monotonic()
    for i in range(0, n, 25):  # 25 at a time: a burst, not a flood
        conns += await asyncio.gather(*(one(proxy_port, origin, ctx) for _ in range(min(25, n - i))))
    setup = time.monotonic() - start
    await asyncio.sleep(1.0)
    after = vm_rss_kb(pid)
    for _, writer in conns + warm:
        writer.close()
    return {"connections": n, "rss_before_kb": before, "rss_idle_kb": after,
            "kib_per_connection": round((after - before) / n, 1), "setup_s": round(setup, 2)}


def tls_pair_kib(ca: TestCA, n: int = 500) -> float:
    """RSS of ``n`` idle in-memory TLS client+server pairs, per pair (no proxy code involved)."""
    leaf = ca.issue("pair", dns=["localhost"])
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(str(leaf.chain), str(leaf.key))
    client = ssl.create_default_context(cafile=str(ca.cert))

    def pair() -> tuple[object, ...]:
        bios = [ssl.MemoryBIO() for _ in range(4)]
        c = client.wrap_bio(bios[0], bios[1], server_hostname="localhost")
        s = server.wrap_bio(bios[2], bios[3], server_side=True)
        for _ in range(10):
            for o in (c, s):
                with contextlib.suppress(ssl.SSLWantReadError):
                    o.do_handshake()
            bios[2].write(bios[1].read())
            bios[0].write(bios[3].read())
        c.write(b"x" * 1024)
        bios[2].write(bios[1].read())
        s.read(4096)
        s.write(b"y" * 1024)
        bios[0].write(bios[3].read())
        c.read(4096)
        return (c, s, *bios)

    keep = [pair() for _ in range(20)]
    before = vm_rss_kb(os.getpid())
    keep += [pair() for _ in range(n)]
    return round((vm_rss_kb(os.getpid()) - before) / n, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=240)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--tls-pair", action="store_true", help="also measure one idle TLS pair in OpenSSL alone")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="bh-idle-") as tmp, ExitStack() as stack:
        d = Path(tmp)
        ca = TestCA.create(d / "pki", "Bench CA")
        if args.tls_pair:  # first, while this process has freed nothing its allocator could reuse
            results["openssl tls pair"] = {"kib_per_pair": tls_pair_kib(ca), "openssl": ssl.OPENSSL_VERSION}
        server = ca.issue("origin", dns=["localhost"], ips=["127.0.0.1"])
        origin = free_port()
        stack.enter_context(running([nginx, "-p", str(d), "-c", str(nginx_conf(d, origin, server.chain, server.key))],
                                    port=origin, log=d / "nginx.out"))
        port = free_port()
        bh = stack.enter_context(running(
            [*bridgehead_argv(), "forward", "--listen", f"127.0.0.1:{port}", "--state-dir", str(d / "bh"),
             "--access-log", str(d / "bh.log"), "--upstream-ca", str(ca.cert)], port=port, log=d / "bh.out"))
        ca_pem = d / "bh-ca.pem"  # the proxy's inspection CA, as an admin exports it for clients
        exported = subprocess.run([*bridgehead_argv(), "ca", "export", "--state-dir", str(d / "bh")],
                                  capture_output=True, check=True)
        ca_pem.write_bytes(exported.stdout)
        results["bridgehead inspect"] = asyncio.run(measure(bh.pid, port, origin, ca_pem, args.connections))
        if MITMDUMP.exists():
            mport = free_port()
            mitm = stack.enter_context(running(
                [str(MITMDUMP), "--listen-host", "127.0.0.1", "--listen-port", str(mport), "-q",
                 "--set", f"confdir={d / 'mitm'}", "--set", f"ssl_verify_upstream_trusted_ca={ca.cert}"],
                port=mport, log=d / "mitm.out", timeout=30))
            results["mitmdump inspect"] = asyncio.run(
                measure(mitm.pid, mport, origin, d / "mitm" / "mitmproxy-ca-cert.pem", args.connections))

    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, r in results.items():
        if "kib_per_pair" in r:
            print(f"{name:20s} {r['kib_per_pair']} KiB per idle client+server pair ({r['openssl']})")
            continue
        print(f"{name:20s} {r['connections']} idle connections: RSS {r['rss_before_kb']} → {r['rss_idle_kb']} KiB, "
              f"{r['kib_per_connection']} KiB per connection (target ≤ 50), set up in {r['setup_s']} s")


if __name__ == "__main__":
    main()
