"""Profile a proxy under the benchmark load with py-spy (``.venv/bin/pip install py-spy``).

    .venv/bin/python bench/profile.py forward-inspect|forward-tunnel|reverse-reencrypt \
        [--seconds 8] [--connections 50] [--out /tmp/profile] [--native]

Starts an nginx origin and one bridgehead (as bench/forward.py and bench/reverse.py do), runs
bench/loadgen.py against it (1 KB keep-alive) while ``py-spy record`` samples the proxy, and
writes a flame graph (``OUT.svg``) and py-spy's raw collapsed stacks (``OUT.txt``), then prints the
20 heaviest functions by own time and by total time from the collapsed stacks.
"""

from __future__ import annotations

import argparse
import collections
import pstats
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import loadgen  # noqa: E402
from bhcmd import bridgehead_argv  # noqa: E402
from forward import nginx_conf  # noqa: E402
from procstat import cpu_split, cpu_us_per_request  # noqa: E402
from reverse import bridgehead_conf  # noqa: E402
from tests.support.pki import TestCA  # noqa: E402
from tests.support.procs import free_port, running  # noqa: E402

PYSPY = ROOT / ".venv" / "bin" / "py-spy"


def cprofile_argv(out: Path) -> list[str]:
    """The proxy under cProfile; the profile is written when it stops (SIGTERM ends it cleanly)."""
    code = ("import cProfile, sys; sys.argv[0] = 'bridgehead'; from bridgehead.cli.main import main; "
            "p = cProfile.Profile(); p.enable()\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"finally:\n    p.disable(); p.dump_stats({str(out) + '.prof'!r})")
    return [str(ROOT / ".venv" / "bin" / "python"), "-c", code]


def top(collapsed: Path, n: int = 20) -> None:
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        k = int(count)
        samples += k
        own[frames[-1]] += k
        for f in set(frames):
            total[f] += k
    for title, counter in (("own", own), ("total", total)):
        print(f"\n-- by {title} time ({samples} samples)")
        for f, k in counter.most_common(n):
            print(f"{100 * k / samples:6.1f}%  {f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["forward-inspect", "forward-tunnel", "reverse-reencrypt"])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--out", default="/tmp/bridgehead-profile")
    ap.add_argument("--native", action="store_true", help="py-spy --native (C frames too)")
    ap.add_argument("--new-conn", action="store_true", help="a new connection (CONNECT + TLS) per request")
    ap.add_argument("--gil", action="store_true",
                    help="py-spy --gil: only samples holding the GIL (Python CPU; a send() that waits on the "
                         "kernel or is preempted is left out)")
    ap.add_argument("--cprofile", action="store_true",
                    help="run the proxy under cProfile instead of py-spy (CPU by function, no sampling; "
                         "slower, so compare its shares, not its req/s); writes OUT.prof")
    args = ap.parse_args()
    if not PYSPY.exists() and not args.cprofile:
        sys.exit("py-spy is missing: .venv/bin/pip install py-spy")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    with tempfile.TemporaryDirectory(prefix="bh-prof-") as tmp, ExitStack() as stack:
        d = Path(tmp)
        ca = TestCA.create(d / "pki", "Bench CA")
        leaf = ca.issue("localhost", dns=["localhost"], ips=["127.0.0.1"])
        origin = free_port()
        stack.enter_context(running([nginx, "-p", str(d), "-c", str(nginx_conf(d, origin, leaf.chain, leaf.key))],
                                    port=origin, log=d / "nginx.out"))
        port = free_port()
        out = Path(args.out)
        prefix = cprofile_argv(out) if args.cprofile else bridgehead_argv()
        if args.mode.startswith("forward"):
            argv = [*prefix, "forward", "--listen", f"127.0.0.1:{port}", "--state-dir", str(d / "bh"),
                    "--access-log", str(d / "bh.log"), "--upstream-ca", str(ca.cert)]
            if args.mode == "forward-tunnel":
                argv += ["--default", "tunnel"]
            bh = stack.enter_context(running(argv, port=port, log=d / "bh.out"))
            load = ["--port", str(origin), "--proxy", f"127.0.0.1:{port}"]
        else:
            pt = free_port()
            conf = bridgehead_conf(d, port, pt, origin, leaf.chain, leaf.key, ca.cert)
            bh = stack.enter_context(running([*prefix, "reverse", "--config", str(conf)], port=port,
                                             log=d / "bh.out", cwd=d))
            load = ["--port", str(port)]
        spy = None if args.cprofile else subprocess.Popen(
            [str(PYSPY), "record", "--pid", str(bh.pid), "--rate", "250", "--duration", str(int(args.seconds)),
             "--format", "raw", "-o", f"{out}.txt", "--nonblocking", *(["--native"] if args.native else []),
             *(["--gil"] if args.gil else [])],
            stdout=subprocess.DEVNULL)
        u0, s0 = cpu_split(bh.pid)
        r = loadgen.run(loadgen.parser().parse_args(
            [*load, "--path", "/1k", "--connections", str(args.connections), "--seconds", str(args.seconds),
             *(["--new-connection"] if args.new_conn else [])]))
        u1, s1 = cpu_split(bh.pid)
        if spy is not None:
            spy.wait(60)
        n = int(r["requests"])  # type: ignore[call-overload]
        print(f"{args.mode}: {r['rps']} req/s p50 {r['p50_ms']} ms p99 {r['p99_ms']} ms errors {r['errors']} "
              f"cpu {cpu_us_per_request(u0 + s0, u1 + s1, n)} us/req (user {cpu_us_per_request(u0, u1, n)}, "
              f"sys {cpu_us_per_request(s0, s1, n)}; py-spy sampling adds a little)")
    if args.cprofile:
        pstats.Stats(f"{out}.prof").sort_stats("tottime").print_stats(35)
    else:
        top(Path(f"{out}.txt"))


if __name__ == "__main__":
    main()
