"""HTTP/2 through inspection, with an h2 origin and with an HTTP/1.1 origin (issue 13 item 5).

    .venv/bin/python bench/h2upstream.py [--runs 5] [--mib 20] [--parallel 64] [--json]

curl ``--http2`` goes through the inspecting forward proxy to nginx, once with ``listen ... ssl
http2`` (the streams go to it over h2 on one connection) and once without (each stream on an
HTTP/1.1 connection of its own, at most 6). Measured, median of ``--runs``: one download of
``--mib`` MiB (time and MiB/s) and ``--parallel`` concurrent GETs of a 140 KB file on one client
connection (wall time); plus how many connections nginx saw (``$connection`` in its access
log). Everything listens on 127.0.0.1 and is stopped by PID; about 20 s with the defaults.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.runtime.forward.conftest import Pki  # noqa: E402
from tests.runtime.forward.test_h2_upstream import nginx  # noqa: E402
from tests.support.pki import TestCA  # noqa: E402
from tests.support.procs import free_port, running  # noqa: E402

BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="repetitions of each measurement (median)")
    parser.add_argument("--mib", type=int, default=20, help="size of the download in MiB")
    parser.add_argument("--parallel", type=int, default=64, help="concurrent GETs on one client connection")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")
    args = parser.parse_args()
    if not 1 <= args.runs <= 50 or not 1 <= args.mib <= 512 or not 1 <= args.parallel <= 100:
        parser.error("--runs 1..50, --mib 1..512, --parallel 1..100")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        ca = TestCA.create(d, "Bench Origin CA")
        server = ca.issue("server", dns=["localhost"], ips=["127.0.0.1"])
        pki = Pki(d, ca, server, server, ca)
        port = free_port()
        argv = [BRIDGEHEAD, "forward", "--listen", f"127.0.0.1:{port}", "--state-dir", str(d / "state"),
                "--upstream-ca", str(ca.cert)]
        with running(argv, port=port, log=d / "proxy.out"):
            for http2 in (True, False):
                with nginx(d, pki, http2=http2) as (origin, nd):
                    results.append(_measure(args, port, d / "state" / "ca" / "ca.pem", origin, nd, http2))
    if args.json:
        print(json.dumps(results))
        return
    for r in results:
        print(f"origin {r['origin']}: {r['mib']} MiB download {r['download_s']:.3f} s ({r['mib_per_s']:.0f} MiB/s); "
              f"{r['parallel']} parallel GETs {r['parallel_s']:.3f} s; nginx saw {r['origin_connections']} "
              f"connections for {r['client_connections']} client connections")


def _measure(args: argparse.Namespace, port: int, ca: Path, origin: int, nd: Path, http2: bool) -> dict[str, object]:
    (nd / "www" / "big").write_bytes(b"z" * (args.mib << 20))
    base = f"https://localhost:{origin}"

    def curl(*extra: str) -> subprocess.CompletedProcess[str]:
        argv = ["curl", "-sS", "--max-time", "120", "--noproxy", "", "--proxy", f"http://127.0.0.1:{port}",
                "--cacert", str(ca), "--http2", *extra]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            raise SystemExit(f"curl failed: {done.stderr.strip()}")
        return done

    downloads, parallel = [], []
    for _ in range(args.runs):
        downloads.append(float(curl("-o", "/dev/null", "-w", "%{time_total}", f"{base}/big").stdout))
        urls = [item for i in range(args.parallel) for item in ("-o", "/dev/null", f"{base}/f{i % 3}.txt")]
        start = time.monotonic()
        curl("--parallel", "--parallel-max", str(args.parallel), *urls)
        parallel.append(time.monotonic() - start)
    lines = (nd / "logs" / "access.log").read_text().splitlines()
    median = statistics.median(downloads)
    return {"origin": "h2" if http2 else "http/1.1", "mib": args.mib, "download_s": median,
            "mib_per_s": args.mib / median, "parallel": args.parallel, "parallel_s": statistics.median(parallel),
            "origin_connections": len({line.split()[1] for line in lines}), "client_connections": 2 * args.runs}


if __name__ == "__main__":
    main()
