"""Reverse-proxy benchmark: the same load, in one run, against nginx directly, bridgehead
reverse (reencrypt and passthrough routes) and nginx as a reverse proxy with the same TLS
settings (``proxy_pass https://`` with upstream keep-alive for re-encryption, ``stream`` +
``ssl_preread`` for SNI passthrough).

    .venv/bin/python bench/reverse.py [--seconds 5] [--connections 8] [--json]

Loads (wrk, HTTPS keep-alive, bounded by --seconds): 1 KB responses (req/s, p50/p99) and
1 MB responses (MB/s). Reports the proxy's CPU per request (utime+stime from /proc/PID/stat
over the load), ratios to direct and to nginx-as-proxy (req/s or MB/s, and CPU per request), and
bridgehead's peak RSS. Everything listens on 127.0.0.1 and is stopped by PID. Needs nginx with the stream
module (Debian: libnginx-mod-stream) for the nginx passthrough row.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bhcmd import bridgehead_argv  # noqa: E402
from procstat import cpu_seconds, cpu_us_per_request  # noqa: E402
from tests.support.pki import TestCA  # noqa: E402
from tests.support.procs import free_port, running  # noqa: E402

STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")
TLS = "ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache off; ssl_session_tickets off;"


def _nginx_common(d: Path) -> str:
    return (f"daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log warn;\n"
            + (f"load_module {STREAM_MODULE};\n" if STREAM_MODULE.exists() else "")
            + "events { worker_connections 1024; }\n")


def _http_temp(d: Path) -> str:
    return (f"client_body_temp_path {d}/b; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f; "
            f"uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;")


def origin_conf(d: Path, port: int, cert: Path, key: Path) -> Path:
    www = d / "www"
    www.mkdir(parents=True)
    (www / "1k").write_bytes(b"k" * 1024)
    (www / "1m").write_bytes(os.urandom(1024 * 1024))
    conf = d / "origin.conf"
    conf.write_text(_nginx_common(d) + textwrap.dedent(f"""
        http {{
            access_log off; sendfile on; keepalive_requests 1000000; {_http_temp(d)}
            server {{
                listen 127.0.0.1:{port} ssl; {TLS}
                ssl_certificate {cert}; ssl_certificate_key {key};
                root {www}; default_type application/octet-stream;
            }}
        }}
    """))
    return conf


def nginx_proxy_conf(d: Path, http_port: int, stream_port: int | None, origin: int, cert: Path, key: Path,
                     ca: Path, keepalive: int = 32) -> Path:
    """``keepalive``: idle upstream connections nginx keeps; fewer than the load's connections would
    make nginx handshake with the origin on most requests (bridgehead keeps one per client)."""
    stream = textwrap.dedent(f"""
        stream {{
            server {{ listen 127.0.0.1:{stream_port}; ssl_preread on; proxy_pass 127.0.0.1:{origin}; }}
        }}
    """) if stream_port else ""
    conf = d / "proxy.conf"
    conf.write_text(_nginx_common(d) + textwrap.dedent(f"""
        http {{
            access_log off; keepalive_requests 1000000; {_http_temp(d)}
            upstream backend {{ server 127.0.0.1:{origin}; keepalive {keepalive}; }}
            server {{
                listen 127.0.0.1:{http_port} ssl; {TLS}
                ssl_certificate {cert}; ssl_certificate_key {key};
                location / {{
                    proxy_pass https://backend; proxy_http_version 1.1; proxy_set_header Connection "";
                    proxy_set_header Host $host; proxy_set_header X-Forwarded-For $remote_addr;
                    proxy_ssl_verify on; proxy_ssl_trusted_certificate {ca}; proxy_ssl_name localhost;
                    proxy_ssl_server_name on; proxy_ssl_session_reuse on; proxy_buffering off;
                }}
            }}
        }}
    """) + stream)
    return conf


def bridgehead_conf(d: Path, re_port: int, pt_port: int, origin: int, cert: Path, key: Path, ca: Path) -> Path:
    conf = d / "reverse.toml"
    conf.write_text(textwrap.dedent(f"""
        state_dir = "bh-state"
        access_log = "bh-access.log"
        [[listener]]
        name = "re"
        listen = "127.0.0.1:{re_port}"
        certificates = [{{ cert = "{cert}", key = "{key}" }}]
        [[listener]]
        name = "pt"
        listen = "127.0.0.1:{pt_port}"
        certificates = [{{ cert = "{cert}", key = "{key}" }}]
        [[route]]
        name = "reencrypt"
        listener = "re"
        hosts = ["localhost"]
        mode = "reencrypt"
        backend = "https://localhost:{origin}"
        backend_ca = "{ca}"
        [[route]]
        name = "passthrough"
        listener = "pt"
        hosts = ["localhost"]
        mode = "passthrough"
        backend = "https://localhost:{origin}"
    """))
    return conf


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_BYTES = {"B": 1 / 2**20, "KB": 1 / 1024, "MB": 1.0, "GB": 1024.0}


def wrk(url: str, seconds: float, connections: int) -> dict[str, float]:
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "10s", url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout

    def latency(pct: str) -> float:
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return round(float(m.group(1)) * _UNITS[m.group(2)], 2) if m else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"^\s+(\d+) requests in", out, re.M)
    tps = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": float(rps.group(1)) if rps else 0.0, "requests": int(count.group(1)) if count else 0,
            "mbps": round(float(tps.group(1)) * _BYTES[tps.group(2)], 1) if tps else 0.0,
            "p50_ms": latency("50"), "p99_ms": latency("99"),
            "errors": (int(errors.group(1)) if errors else 0) + (sum(int(x) for x in sock.groups()) if sock else 0)}


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--only", help="measure only peers whose name contains one of these comma-separated texts "
                    "(direct always)")
    ap.add_argument("--load", help="run only the loads whose name contains this text (e.g. 'KB')")
    ap.add_argument("--baseline", metavar="SRC", help="also run bridgehead from this source tree (rows 'baseline "
                    "…'; git archive COMMIT src | tar -x -C DIR, then DIR/src)")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (scripts/setup.sh --dev)")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    with tempfile.TemporaryDirectory(prefix="bh-rbench-") as tmp, ExitStack() as stack:
        d = Path(tmp)
        ca = TestCA.create(d / "pki", "Bench CA")
        leaf = ca.issue("localhost", dns=["localhost"], ips=["127.0.0.1"])
        origin, ng_http, ng_stream, bh_re, bh_pt = (free_port() for _ in range(5))
        stack.enter_context(running([nginx, "-p", str(d / "o"), "-c", str(origin_conf(d / "o", origin, leaf.chain,
                                                                                       leaf.key))],
                                    port=origin, log=d / "origin.out"))
        (d / "n").mkdir()
        stream_port = ng_stream if STREAM_MODULE.exists() else None
        ng_conf = nginx_proxy_conf(d / "n", ng_http, stream_port, origin, leaf.chain, leaf.key, ca.cert,
                                   keepalive=max(32, 2 * args.connections))
        ngp = stack.enter_context(running([nginx, "-p", str(d / "n"), "-c", str(ng_conf)], port=ng_http,
                                          log=d / "n.out"))
        bh = stack.enter_context(running([*bridgehead_argv(), "reverse", "--config", str(bridgehead_conf(
            d, bh_re, bh_pt, origin, leaf.chain, leaf.key, ca.cert))], port=bh_pt, log=d / "bh.out"))
        pids = {"bridgehead": bh.pid, "nginx": ngp.pid}
        base: dict[str, int] = {}
        if args.baseline:
            (d / "base").mkdir()
            b_re, b_pt = free_port(), free_port()
            bp = stack.enter_context(running([*bridgehead_argv(args.baseline), "reverse", "--config", str(
                bridgehead_conf(d / "base", b_re, b_pt, origin, leaf.chain, leaf.key, ca.cert))], port=b_pt,
                log=d / "base.out"))
            pids["baseline"] = bp.pid
            base = {"reencrypt": b_re, "passthrough": b_pt}
        rows = [("1 KB keep-alive", "/1k", {"direct": origin, "bridgehead reencrypt": bh_re,
                                            **({"baseline reencrypt": base["reencrypt"]} if base else {}),
                                            "nginx proxy (reencrypt)": ng_http}),
                ("1 MB keep-alive", "/1m", {"direct": origin, "bridgehead passthrough": bh_pt,
                                            **({"baseline passthrough": base["passthrough"]} if base else {}),
                                            **({"nginx stream (passthrough)": ng_stream} if stream_port else {}),
                                            "bridgehead reencrypt": bh_re,
                                            **({"baseline reencrypt": base["reencrypt"]} if base else {}),
                                            "nginx proxy (reencrypt)": ng_http})]
        results = []
        for load, path, peers in rows:
            if args.load and args.load not in load:
                continue
            for name, port in peers.items():
                if args.only and name != "direct" and not any(o in name for o in args.only.split(",")):
                    continue
                pid = next((p for k, p in pids.items() if name.startswith(k)), None)
                before = cpu_seconds(pid) if pid else 0.0
                r = wrk(f"https://localhost:{port}{path}", args.seconds, args.connections)
                cpu = cpu_us_per_request(before, cpu_seconds(pid), int(r["requests"])) if pid else None
                r.update(load=load, peer=name, cpu_us=cpu)
                results.append(r)
                if not args.json:
                    print(f"  {load:16} {name:28} {r['rps']:>9.0f} req/s {r['mbps']:>7} MB/s p50 {r['p50_ms']} ms "
                          f"p99 {r['p99_ms']} ms cpu {r['cpu_us']} us/req errors {r['errors']}", file=sys.stderr)
        rss = peak_rss_mb(bh.pid)
    report(results, rss, args)


def report(results: list[dict[str, object]], rss: float | None, args: argparse.Namespace) -> None:
    by = {(r["load"], r["peer"]): r for r in results}
    for r in results:
        direct = by[(r["load"], "direct")]
        nginx_peer = "nginx stream (passthrough)" if "passthrough" in str(r["peer"]) else "nginx proxy (reencrypt)"
        ref = by.get((r["load"], nginx_peer))
        if not str(r["peer"]).startswith("bridgehead"):
            r["cpu_vs_baseline"] = None
        else:
            b = by.get((r["load"], str(r["peer"]).replace("bridgehead", "baseline")))
            r["cpu_vs_baseline"] = (round(float(r["cpu_us"]) / float(b["cpu_us"]), 2)  # type: ignore[arg-type]
                                    if b and b.get("cpu_us") and r.get("cpu_us") else None)
        metric = "rps" if r["load"].startswith("1 KB") else "mbps"  # type: ignore[union-attr]
        r["vs_direct"] = round(float(r[metric]) / float(direct[metric]), 2) if direct[metric] else None  # type: ignore[arg-type]
        r["vs_nginx"] = round(float(r[metric]) / float(ref[metric]), 2) if ref and ref[metric] else None  # type: ignore[arg-type]
        r["cpu_vs_nginx"] = (round(float(r["cpu_us"]) / float(ref["cpu_us"]), 2)  # type: ignore[arg-type]
                             if ref and ref.get("cpu_us") and r.get("cpu_us") else None)
    if args.json:
        print(json.dumps({"seconds": args.seconds, "connections": args.connections, "bridgehead_peak_rss_mb": rss,
                          "results": results}, indent=2))
        return
    print(f"\nbridgehead reverse benchmark: wrk -t1 -c{args.connections} -d{args.seconds}s, HTTPS keep-alive, "
          "TLS 1.2/1.3 on every hop\n")
    print(f"{'load':16} {'peer':28} {'req/s':>9} {'MB/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'vs direct':>9} "
          f"{'vs nginx':>8} {'CPU us/req':>10} {'CPU x nginx':>11} {'CPU x base':>10}")
    for r in results:
        print(f"{r['load']:16} {r['peer']:28} {r['rps']:>9.0f} {r['mbps']:>8} {r['p50_ms']:>7} {r['p99_ms']:>7} "
              f"{r['vs_direct']!s:>9} {r['vs_nginx']!s:>8} {r['cpu_us']!s:>10} {r['cpu_vs_nginx']!s:>11} "
              f"{r.get('cpu_vs_baseline')!s:>10}")
    print(f"\nbridgehead peak RSS: {rss} MB (ratios: req/s for 1 KB, MB/s for 1 MB; nginx = the same mode)")


if __name__ == "__main__":
    main()
