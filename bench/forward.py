"""Forward-proxy benchmark: the same load, in one run, against
direct nginx, bridgehead inspecting, bridgehead tunnelling, mitmdump inspecting, mitmdump
with the host ignored (tunnel) and squid tunnelling (CONNECT).

    .venv/bin/python bench/forward.py [--seconds 5] [--connections 8] [--json]

Loads (bench/loadgen.py, bounded by time): 1 KB responses on keep-alive connections, 1 MB
responses on keep-alive connections, and 1 KB with a new connection (CONNECT + TLS) per
request. Reports req/s, MB/s, p50/p99 latency, the proxy's CPU per request (utime+stime from
/proc/PID/stat over the load, workers included), its peak RSS (VmHWM) and the ratios to direct,
to mitmdump (inspection) and to squid (tunnels). Everything listens on 127.0.0.1 and is stopped by PID.
mitmdump comes from the separate venv .venv-bench (scripts/setup.sh --dev); it is skipped
when missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import textwrap
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import loadgen  # noqa: E402
from bhcmd import bridgehead_argv  # noqa: E402
from procstat import cpu_seconds, cpu_us_per_request  # noqa: E402
from tests.support.pki import TestCA  # noqa: E402
from tests.support.procs import free_port, running  # noqa: E402
from tests.support.squid import squid_parent  # noqa: E402

MITMDUMP = ROOT / ".venv-bench" / "bin" / "mitmdump"

LOADS = [("1 KB keep-alive", "/1k", False), ("1 MB keep-alive", "/1m", False), ("1 KB new conn", "/1k", True)]


def nginx_conf(d: Path, port: int, cert: Path, key: Path) -> Path:
    www = d / "www"
    www.mkdir()
    (www / "1k").write_bytes(b"k" * 1024)
    (www / "1m").write_bytes(os.urandom(1024 * 1024))
    conf = d / "nginx.conf"
    conf.write_text(textwrap.dedent(f"""
        daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid;
        error_log {d}/error.log warn;
        events {{ worker_connections 1024; }}
        http {{
            access_log off; sendfile on; keepalive_requests 1000000;
            client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f;
            uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;
            server {{
                listen 127.0.0.1:{port} ssl;
                ssl_certificate {cert}; ssl_certificate_key {key};
                ssl_protocols TLSv1.2 TLSv1.3;
                root {www};
                default_type application/octet-stream;
            }}
        }}
    """))
    return conf


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def tree_rss_kb(pid: int) -> int:
    """Peak RSS of a process plus its worker children."""
    total = rss_kb(pid) or 0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return total + sum(rss_kb(int(c)) or 0 for c in children)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="also measure bridgehead with this many workers")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--baseline", metavar="SRC", help="also run bridgehead from this source tree (rows 'baseline "
                    "…'; git archive COMMIT src | tar -x -C DIR, then DIR/src)")
    ap.add_argument("--uvloop", action="store_true", help="also run this tree's bridgehead under uvloop "
                    "(rows 'uvloop …'; pip install uvloop)")
    ap.add_argument("--aiofastnet", action="store_true", help="also run this tree's bridgehead on aiofastnet's "
                    "transports (rows 'aiofastnet …'; pip install aiofastnet)")
    ap.add_argument("--no-squid", action="store_true", help="leave out the squid tunnel row")
    ap.add_argument("--only", help="measure only peers whose name contains one of these comma-separated texts "
                    "(direct always)")
    ap.add_argument("--load", help="run only the loads whose name contains this text (e.g. 'KB keep')")
    args = ap.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    with tempfile.TemporaryDirectory(prefix="bh-bench-") as tmp, ExitStack() as stack:
        d = Path(tmp)
        ca = TestCA.create(d / "pki", "Bench CA")
        server = ca.issue("origin", dns=["localhost"], ips=["127.0.0.1"])
        origin = free_port()
        conf = nginx_conf(d, origin, server.chain, server.key)
        stack.enter_context(running([nginx, "-p", str(d), "-c", str(conf)], port=origin, log=d / "nginx.out"))

        peers: dict[str, tuple[str | None, int | None]] = {"direct": (None, None)}
        variants: list[tuple[str, list[str], str | None]] = [
            ("bridgehead inspect", [], None), ("bridgehead tunnel", ["--default", "tunnel"], None)]
        if args.uvloop:
            variants += [("uvloop inspect", [], "uvloop"), ("uvloop tunnel", ["--default", "tunnel"], "uvloop")]
        if args.aiofastnet:
            variants += [("aiofastnet inspect", [], "aiofastnet"),
                         ("aiofastnet tunnel", ["--default", "tunnel"], "aiofastnet")]
        if args.baseline:
            variants += [("baseline inspect", [], args.baseline),
                         ("baseline tunnel", ["--default", "tunnel"], args.baseline)]
        if args.workers > 1:
            variants.append((f"bridgehead inspect x{args.workers}w", ["--workers", str(args.workers)], None))
        for i, (name, extra, src) in enumerate(variants):
            port = free_port()
            cmd = bridgehead_argv(uvloop=True) if src == "uvloop" else \
                bridgehead_argv(aiofastnet=True) if src == "aiofastnet" else bridgehead_argv(src)
            argv = [*cmd, "forward", "--listen", f"127.0.0.1:{port}", "--state-dir", str(d / f"bh{i}"),
                    "--access-log", str(d / f"bh{i}.log"), "--upstream-ca", str(ca.cert), *extra]
            proc = stack.enter_context(running(argv, port=port, log=d / f"bh{i}.out"))
            peers[name] = (f"127.0.0.1:{port}", proc.pid)
        if MITMDUMP.exists():
            for name, extra in (("mitmdump inspect", []), ("mitmdump ignore", ["--ignore-hosts", ".*"])):
                port = free_port()
                argv = [str(MITMDUMP), "--listen-host", "127.0.0.1", "--listen-port", str(port), "-q",
                        "--set", f"confdir={d / 'mitm'}", "--set", f"ssl_verify_upstream_trusted_ca={ca.cert}",
                        *extra]
                proc = stack.enter_context(running(argv, port=port, log=d / f"mitm-{port}.out", timeout=30))
                peers[name] = (f"127.0.0.1:{port}", proc.pid)
        if not args.no_squid:
            squid = stack.enter_context(squid_parent(d))
            peers["squid tunnel"] = (f"127.0.0.1:{squid.port}", int((squid.dir / "squid.pid").read_text()))

        results: list[dict[str, object]] = []
        for load, path, newconn in LOADS:
            if args.load and args.load not in load:
                continue
            for name, (proxy, pid) in peers.items():
                if args.only and name != "direct" and not any(o in name for o in args.only.split(",")):
                    continue
                ns = loadgen.parser().parse_args(
                    ["--port", str(origin), "--path", path, "--connections", str(args.connections),
                     "--processes", str(args.processes), "--seconds", str(args.seconds)]
                    + (["--proxy", proxy] if proxy else []) + (["--new-connection"] if newconn else []))
                before = cpu_seconds(pid) if pid else 0.0
                r = loadgen.run(ns)
                cpu = cpu_us_per_request(before, cpu_seconds(pid), int(r["requests"])) if pid else None  # type: ignore[call-overload]
                r.update(load=load, peer=name, rss_mb=round(tree_rss_kb(pid) / 1024, 1) if pid else None,
                         cpu_us=cpu)
                results.append(r)
                if not args.json:
                    print(f"  {load:16} {name:20} {r['rps']:>9} req/s {r['mbps']:>8} MB/s "
                          f"p50 {r['p50_ms']} ms p99 {r['p99_ms']} ms cpu {r['cpu_us']} us/req errors {r['errors']}",
                          file=sys.stderr)
        report(results, args.json)


def report(results: list[dict[str, object]], as_json: bool) -> None:
    by = {(r["load"], r["peer"]): r for r in results}
    for r in results:
        direct = by.get((r["load"], "direct"))
        mitm = by.get((r["load"], "mitmdump inspect" if "inspect" in str(r["peer"]) else "mitmdump ignore"))
        base = by.get((r["load"], str(r["peer"]).replace("bridgehead", "baseline")))
        r["cpu_vs_baseline"] = (round(float(r["cpu_us"]) / float(base["cpu_us"]), 2)  # type: ignore[arg-type]
                                if base and base is not r and base.get("cpu_us") and r.get("cpu_us") else None)
        squid = None if "inspect" in str(r["peer"]) else by.get((r["load"], "squid tunnel"))
        r["vs_squid"] = round(float(r["rps"]) / float(squid["rps"]), 2) if squid and squid["rps"] else None
        r["cpu_vs_mitmdump"] = (round(float(r["cpu_us"]) / float(mitm["cpu_us"]), 3)  # type: ignore[arg-type]
                                if mitm and mitm.get("cpu_us") and r.get("cpu_us") else None)
        r["cpu_vs_squid"] = (round(float(r["cpu_us"]) / float(squid["cpu_us"]), 2)  # type: ignore[arg-type]
                             if squid and squid.get("cpu_us") and r.get("cpu_us") else None)
        r["vs_direct"] = round(float(r["rps"]) / float(direct["rps"]), 3) if direct and direct["rps"] else None
        r["vs_mitmdump"] = round(float(r["rps"]) / float(mitm["rps"]), 2) if mitm and mitm["rps"] else None
        r["mbps_vs_direct"] = (round(float(r["mbps"]) / float(direct["mbps"]), 3)
                               if direct and direct["mbps"] else None)
    if as_json:
        print(json.dumps(results, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="forward proxy benchmark (same load, same run)")
    for col in ("load", "peer", "req/s", "MB/s", "p50 ms", "p99 ms", "CPU us/req", "RSS MB", "x direct",
                "x mitmdump", "CPU x mitm", "x squid", "CPU x squid", "CPU x base", "errors"):
        table.add_column(col, justify="right" if col not in ("load", "peer") else "left")
    for r in results:
        table.add_row(str(r["load"]), str(r["peer"]), str(r["rps"]), str(r["mbps"]), str(r["p50_ms"]),
                      str(r["p99_ms"]), str(r["cpu_us"] or "-"), str(r["rss_mb"] or "-"),
                      str(r["vs_direct"] or "-"), str(r["vs_mitmdump"] or "-"), str(r["cpu_vs_mitmdump"] or "-"),
                      str(r["vs_squid"] or "-"), str(r["cpu_vs_squid"] or "-"),
                      str(r["cpu_vs_baseline"] or "-"), str(r["errors"]))
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
