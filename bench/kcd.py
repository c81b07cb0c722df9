"""Kerberos constrained delegation benchmark: requests/s through `bridgehead reverse` on one route with
delegation and the per-user ticket cache warm, with the cache off (one S4U2Self + S4U2Proxy exchange per
request), and the same route without delegation (identity = "header") — same load, same run.

    .venv/bin/python bench/kcd.py [--seconds 5] [--connections 8] [--json]

A throwaway Heimdal realm (tests/support/kdc.py) on 127.0.0.1, nginx as the backend (answers 200 with a small
body; it does not check the ticket — the tests do, against Apache mod_auth_gssapi and `bridgehead backend`), a
client certificate with alice's UPN, keep-alive HTTPS connections from an asyncio client. Reports req/s, p50/p99
latency, the KDC's own count of TGS requests (from its log) and the ratios. Everything listens on 127.0.0.1 and
is stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import ssl
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.kdc import REALM, Realm, host, spn  # noqa: E402
from tests.support.pki import TestCA  # noqa: E402
from tests.support.procs import free_port, running  # noqa: E402

BRIDGEHEAD = str(ROOT / ".venv" / "bin" / "bridgehead")


async def _client(port: int, ctx: ssl.SSLContext, deadline: float, lat: list[float], errors: list[int]) -> None:
    request = b"GET /whoami HTTP/1.1\r\nHost: mail.example.test\r\nUser-Agent: bridgehead-bench\r\n\r\n"
    while time.monotonic() < deadline:
        writer = None
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                           server_hostname="mail.example.test")
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise ConnectionError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                lat.append(time.perf_counter() - t0)
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, ConnectionError) as exc:
            errors.append(1)
            if len(errors) == 1:
                print(f"  first error: {exc}", file=sys.stderr)
            await asyncio.sleep(0.01)
        finally:
            if writer is not None:
                writer.close()


async def _load(port: int, ctx: ssl.SSLContext, seconds: float, connections: int) -> dict[str, float]:
    lat: list[float] = []
    errors: list[int] = []
    t0 = time.monotonic()
    await asyncio.gather(*(_client(port, ctx, t0 + seconds, lat, errors) for _ in range(connections)))
    took = time.monotonic() - t0
    lat.sort()
    q = statistics.quantiles(lat, n=100) if len(lat) > 2 else [0.0] * 99
    return {"requests": len(lat), "rps": len(lat) / took, "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000,
            "errors": len(errors)}


def _nginx(d: Path, cert: object, port: int) -> list[str]:
    (d / "logs").mkdir(parents=True, exist_ok=True)
    (d / "nginx.conf").write_text(textwrap.dedent(f"""
        daemon off;
        master_process off;
        worker_processes 1;
        pid {d}/nginx.pid;
        error_log {d}/logs/error.log warn;
        events {{ worker_connections 512; }}
        http {{
            access_log off;
            client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi;
            uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
            large_client_header_buffers 4 16k;
            server {{
                listen 127.0.0.1:{port} ssl;
                keepalive_requests 1000000;
                ssl_certificate {cert.chain};
                ssl_certificate_key {cert.key};
                location / {{ default_type text/plain; return 200 "ok\\n"; }}
            }}
        }}
    """))
    return [shutil.which("nginx") or "/usr/sbin/nginx", "-p", str(d), "-c", str(d / "nginx.conf")]


def _config(d: Path, name: str, port: int, backend_port: int, realm: Realm, edge: object, ca: TestCA,
            identity: str, cache: bool) -> Path:
    kerberos = ""
    if identity == "kerberos":
        kerberos = textwrap.dedent(f"""
            [route.kerberos]
            principal = "{spn('proxy')}"
            keytab = "{realm.keytab('proxy')}"
            cache = {str(cache).lower()}
        """)
    path = d / f"{name}.toml"
    path.write_text(textwrap.dedent(f"""
        state_dir = "state-{name}"
        access_log = "{d}/{name}-access.log"
        [[listener]]
        name = "edge"
        listen = "127.0.0.1:{port}"
        certificates = [{{ cert = "{edge.chain}", key = "{edge.key}" }}]
        client_ca = ["{ca.cert}"]
        [[route]]
        name = "whoami"
        hosts = ["mail.example.test"]
        backend = "https://{host('backend')}:{backend_port}"
        backend_address = "127.0.0.1:{backend_port}"
        backend_ca = "{ca.cert}"
        client_certificate = "required"
        identity = "{identity}"
    """) + kerberos)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="bh-bench-kcd-"))
    realm = Realm.create(d / "realm")
    realm.start()
    os.environ.update(realm.env())
    ca = TestCA.create(d / "pki", "Bench CA")
    backend_cert = ca.issue("backend", dns=[host("backend")], ips=["127.0.0.1"])
    edge = ca.issue("edge", dns=["mail.example.test"], ips=["127.0.0.1"])
    alice = ca.issue("alice", cn="Alice", client=True, server=False, upn=f"alice@{REALM}")
    ctx = ssl.create_default_context(cafile=str(ca.cert))
    ctx.load_cert_chain(str(alice.cert), str(alice.key))
    modes = [("no delegation (identity=header)", "header", True), ("kcd, cache warm", "kerberos", True),
             ("kcd, cache off (S4U per request)", "kerberos", False)]
    results = []
    bport = free_port()
    try:
        with running(_nginx(d / "nginx", backend_cert, bport), port=bport, log=d / "nginx.out"):
            for i, (label, identity, cache) in enumerate(modes):
                port = free_port()
                cfg = _config(d, f"mode{i}", port, bport, realm, edge, ca, identity, cache)
                with running([BRIDGEHEAD, "reverse", "--config", str(cfg)], port=port, log=d / f"mode{i}.out",
                             env=dict(os.environ)):
                    asyncio.run(_load(port, ctx, 0.5, 2))  # warm-up: TLS, the proxy's TGT, the first ticket
                    realm.mark()
                    row = asyncio.run(_load(port, ctx, a.seconds, a.connections))
                    row.update(label=label, kdc_tgs=realm.requests_since_mark()["TGS-REQ"])
                    results.append(row)
    finally:
        realm.stop()
        shutil.rmtree(d, ignore_errors=True)
    base = results[0]["rps"] or 1
    for row in results:
        row["ratio_to_no_delegation"] = row["rps"] / base
    if a.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{'mode':36} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'KDC TGS':>8} {'ratio':>6} {'errors':>6}")
        for r in results:
            print(f"{r['label']:36} {r['rps']:8.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['kdc_tgs']:8d} "
                  f"{r['ratio_to_no_delegation']:6.2f} {r['errors']:6d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
