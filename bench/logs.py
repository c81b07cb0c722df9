"""Benchmark: ``bridgehead logs scan`` vs goaccess on one generated IIS log; ``logs freb`` on 10,000 traces.

Usage (from the repository root):

    .venv/bin/python bench/logs.py                       # 1 GB IIS log, 10,000 FREB files
    .venv/bin/python bench/logs.py --size-mb 100         # smaller run
    .venv/bin/python bench/logs.py --size-mb 50 --freb-count 2000 --workdir /tmp/bh-bench --keep

What it does, in one run and on the same files:
1. Writes an IIS W3C log of ``--size-mb`` MB (default IIS fields, which goaccess's predefined
   ``W3C`` format reads) into a temporary directory: varied successful traffic with a few
   failures mixed in (NTLM logons ending in ``401 1 3221226331`` after the CHALLENGE step,
   ``401 1 2148074248``).
2. Reads the file once to warm the page cache, then times
   ``bridgehead logs scan FILE --json`` and ``goaccess FILE --log-format=W3C -o report.json``
   (both single process, wall clock including start-up) and prints MB/s, lines/s and the
   ratio. It checks that bridgehead found exactly the injected failures.
3. Writes ``--freb-count`` FREB traces (10 % for /EWS/mrsproxy.svc with 0x80090346) and times
   ``bridgehead logs freb DIR --url '*/EWS/mrsproxy.svc' --json`` (goal: 10,000 files ≤ 5 s),
   checking the number of matches.
Peak RSS of each child is reported from getrusage.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.logsamples import IIS_HEADER, make_freb  # noqa: E402

BRIDGEHEAD = Path(sys.executable).parent / "bridgehead"
URLS = ["/owa/", "/owa/service.svc", "/EWS/Exchange.asmx", "/mapi/emsmdb/", "/Microsoft-Server-ActiveSync/default.eas",
        "/Autodiscover/Autodiscover.xml", "/ecp/", "/rpc/rpcproxy.dll", "/OAB/oab.xml", "/owa/auth/logon.aspx"]
AGENTS = ["Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)+Chrome/120.0",
          "Microsoft+Office/16.0+(Windows+NT+10.0;+Microsoft+Outlook+16.0.17126;+Pro)", "Apple-iPhone15C2/2101.55",
          "MSRPC", "Ews_Probe/Local", "Outlook-iOS/2.0"]


def _block(rng: random.Random, lines: int, day: str, failures: int) -> tuple[bytes, int]:
    """``lines`` IIS records for ``day`` with ``failures`` failing NTLM logons mixed in."""
    out = []
    fail_at = set(rng.sample(range(lines), failures))
    injected = 0
    for i in range(lines):
        t = f"{(i * 24 // lines):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
        c = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        if i in fail_at:
            for sub, win32 in ((2, 5), (1, 2148074254), (1, 3221226331)):
                out.append(f"{day} {t} 192.168.100.33 POST /EWS/mrsproxy.svc - 443 - {c} "
                           f"MRSProxy/15.20 - 401 {sub} {win32} 3\n")
            injected += 1
            continue
        url = rng.choice(URLS)
        status = rng.choices((200, 302, 304, 401, 404, 500), (80, 5, 5, 6, 3, 1))[0]
        sub, win32 = (0, 0) if status != 401 else rng.choice(((2, 5), (1, 2148074254)))
        user = "-" if status == 401 else f"EXAMPLE\\user{rng.randrange(5000)}"
        out.append(f"{day} {t} 192.168.100.33 {rng.choice(('GET', 'POST'))} {url} "
                   f"&CorrelationID=<empty>;&cafeReqId={rng.getrandbits(64):016x} 443 {user} {c} "
                   f"{rng.choice(AGENTS)} - {status} {sub} {win32} {rng.randrange(1, 2000)}\n")
    return "".join(out).encode(), injected


def make_iis(path: Path, size_mb: int, seed: int = 1) -> tuple[int, int]:
    """Write the log; returns (lines, injected failing logons)."""
    rng = random.Random(seed)
    target = size_mb * 1024 * 1024
    written, lines, injected = 0, 0, 0
    with open(path, "wb") as fh:
        fh.write(IIS_HEADER.encode())
        templates = [_block(rng, 20_000, "2024-09-10", 2) for _ in range(4)]
        day = 0
        while written < target:
            data, inj = templates[day % len(templates)]
            date = f"2024-{1 + (day // 28) % 12:02d}-{1 + day % 28:02d}".encode()
            data = data.replace(b"2024-09-10", date)
            last = written + len(data) > target
            if last:
                data = data[: data.rfind(b"\n", 0, target - written) + 1]
                inj = data.count(b" 3221226331 ")
            fh.write(data)
            written += len(data)
            lines += data.count(b"\n")
            injected += inj
            day += 1
            if last:
                break
    return lines, injected


def make_frebs(directory: Path, count: int, seed: int = 2) -> int:
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "freb.xsl").write_text("<xsl:stylesheet version='1.0'/>\n")
    matching = 0
    for i in range(count):
        if i % 10 == 0:
            data = make_freb(padding_events=rng.randrange(2, 12))
            matching += 1
        else:
            url = f"https://mail.example.com:443{rng.choice(URLS)}"
            data = make_freb(url=url, status="401.2", error_code=None, padding_events=rng.randrange(2, 12))
        (directory / f"fr{i:06d}.xml").write_bytes(data)
    return matching


def timed(cmd: list[str]) -> tuple[float, bytes, float]:
    """Wall time, stdout and peak RSS (MB, from wait4) of one child process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {err.read().decode(errors='replace')[-500:]}")
        return elapsed, out.read(), usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mb", type=int, default=1024, help="size of the generated IIS log (default 1024)")
    ap.add_argument("--freb-count", type=int, default=10_000, help="number of FREB files (default 10000)")
    ap.add_argument("--workdir", type=Path, help="where to generate (default: a temporary directory)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    args = ap.parse_args()
    if shutil.which("goaccess") is None:
        raise SystemExit("goaccess not installed (Debian package goaccess)")
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bh-bench-logs-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        run(work, args.size_mb, args.freb_count)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, size_mb: int, freb_count: int) -> None:
    log = work / "u_ex240910.log"
    t0 = time.perf_counter()
    lines, injected = make_iis(log, size_mb)
    size = log.stat().st_size
    print(f"generated {size / 1e6:.0f} MB, {lines:,} records, {injected} failing NTLM logons "
          f"in {time.perf_counter() - t0:.1f} s")
    with open(log, "rb") as fh:  # warm the page cache for both tools
        while fh.read(16 * 1024 * 1024):
            pass

    bh_s, out, bh_rss = timed([str(BRIDGEHEAD), "logs", "scan", str(log), "--json"])
    report = json.loads(out)
    found = {f["code"]: f["count"] for f in report["findings"]}
    ok = found.get("ntlm-three-401") == injected and found.get("ntlm-bad-bindings") == injected
    ga_s, _, ga_rss = timed(["goaccess", str(log), "--log-format=W3C", "--no-progress", "--no-parsing-spinner",
                             "-o", str(work / "goaccess.json")])
    ga_total = json.loads((work / "goaccess.json").read_text())["general"]["total_requests"]
    mb = size / 1e6
    print(f"{'tool':<22}{'seconds':>9}{'MB/s':>9}{'lines/s':>12}{'peak RSS MB':>13}")
    print(f"{'bridgehead logs scan':<22}{bh_s:9.2f}{mb / bh_s:9.1f}{lines / bh_s:12,.0f}{bh_rss:13.0f}")
    print(f"{'goaccess (W3C, json)':<22}{ga_s:9.2f}{mb / ga_s:9.1f}{lines / ga_s:12,.0f}{ga_rss:13.0f}")
    print(f"ratio bridgehead/goaccess MB/s: {ga_s / bh_s:.2f}x   goaccess parsed {ga_total:,} requests; "
          f"bridgehead findings {'match' if ok else 'DO NOT match'} the {injected} injected failures "
          f"(three-401 {found.get('ntlm-three-401')}, bad-bindings {found.get('ntlm-bad-bindings')})")

    frebdir = work / "FailedReqLogFiles" / "W3SVC1"
    t0 = time.perf_counter()
    matching = make_frebs(frebdir, freb_count)
    print(f"generated {freb_count:,} FREB files ({matching} for mrsproxy.svc) in {time.perf_counter() - t0:.1f} s")
    os.sync()
    fr_s, out, fr_rss = timed([str(BRIDGEHEAD), "logs", "freb", str(frebdir), "--url", "*/EWS/mrsproxy.svc",
                                "--json"])
    got = len(json.loads(out)["matches"])
    fh_s, out, _ = timed([str(BRIDGEHEAD), "logs", "freb", str(frebdir), "--url", "*/EWS/mrsproxy.svc",
                           "--status", "401", "--header", "*X-Forwarded-For*", "--copy-to", str(work / "filter"),
                           "--json"])
    got_h = len(json.loads(out)["matches"])
    print(f"logs freb --url: {freb_count:,} files in {fr_s:.2f} s ({freb_count / fr_s:,.0f} files/s), "
          f"{got} matches (expected {matching}), peak RSS {fr_rss:.0f} MB; goal <= 5 s: "
          f"{'met' if fr_s <= 5 else 'NOT met'}")
    print(f"logs freb --url --status --header --copy-to: {fh_s:.2f} s, {got_h} matches copied")


if __name__ == "__main__":
    main()
