"""What prometheus_client's multiprocess mode (``serve --workers N``) costs against one process.

    .venv/bin/python bench/metrics_workers.py [--records 20000] [--workers 4]

For each mode a fresh interpreter (the mode is chosen when prometheus_client is imported)
feeds ``--records`` access-log records through ``Metrics.observe`` (one counter, one histogram,
sometimes a KDC histogram: what every request costs) and then renders ``/metrics`` with the
files of ``--workers`` processes in the directory. Prints µs per record and ms per render.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[3])
from bridgehead.runtime.ops.metrics import Metrics
records, workers = int(sys.argv[1]), int(sys.argv[2])
codes = ["", "upstream-cert-expired", "forward-rule-denied", "client-timeout"]
m = Metrics()
batch = [{"action": "inspect", "code": codes[i % 4], "duration_ms": i % 300,
          **({"kcd_cached": False, "kcd_kdc_ms": 12.5} if i % 50 == 0 else {})} for i in range(records)]
start = time.perf_counter()
for rec in batch:
    m.observe(rec)
observe = (time.perf_counter() - start) / records * 1e6
for pid in range(workers - 1):  # the other workers' files (multiprocess mode only)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        if os.fork() == 0:
            mm = Metrics()
            for rec in batch[:1000]:
                mm.observe(rec)
            os._exit(0)
        os.wait()
start = time.perf_counter()
for _ in range(20):
    body = m.render()
render = (time.perf_counter() - start) / 20 * 1e3
print(json.dumps({"observe_us": round(observe, 2), "render_ms": round(render, 2), "bytes": len(body)}))
"""


def run(records: int, workers: int, multiprocess: bool) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    with tempfile.TemporaryDirectory(prefix="bh-metrics-bench-") as tmp:
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = tmp
        out = subprocess.run([sys.executable, "-c", CHILD, str(records), str(workers), str(ROOT / "src")],
                             capture_output=True, text=True, env=env, timeout=300, check=True)
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    one = run(args.records, 1, False)
    multi = run(args.records, args.workers, True)
    print(f"one process:            {one['observe_us']:6.2f} us/record   /metrics {one['render_ms']:6.2f} ms")
    print(f"multiprocess ({args.workers} files): {multi['observe_us']:6.2f} us/record   "
          f"/metrics {multi['render_ms']:6.2f} ms")


if __name__ == "__main__":
    main()
