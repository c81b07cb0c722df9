"""The pure head work of one proxied request: parse + prepare of a request and of its response.

    .venv/bin/python bench/http1_heads.py [--rounds 300] [--against REV] [--json]

Times ``parse_request_head`` + ``prepare_request`` (with the reverse proxy's owned and own
fields) and ``parse_response_head`` + ``prepare_response`` for an nginx-like 1 KB response, in
batches of 100, keeping the best batch (the minimum filters out a shared machine's noise).
``--against REV`` loads ``src/bridgehead/wire/http1.py`` as of a git revision as well and times
both alternately in the same run, so the ratio is what counts.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from bridgehead.wire import http1  # noqa: E402

REQUEST = b"GET /1k HTTP/1.1\r\nHost: 127.0.0.1:8443\r\nUser-Agent: loadgen\r\nAccept: */*\r\n\r\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 01 Dec 2026 12:00:00 GMT\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Length: 1024\r\n"
            b"Last-Modified: Tue, 01 Dec 2026 12:00:00 GMT\r\nConnection: keep-alive\r\nETag: \"abc-400\"\r\n"
            b"Accept-Ranges: bytes\r\n\r\n")
OWN = [(b"X-Forwarded-For", b"127.0.0.1"), (b"X-Forwarded-Proto", b"https"), (b"X-Forwarded-Host", b"app")]


def load_revision(rev: str) -> ModuleType:
    text = subprocess.run(["git", "show", f"{rev}:src/bridgehead/wire/http1.py"], cwd=ROOT, check=True,
                          capture_output=True).stdout
    path = Path(tempfile.mkdtemp()) / "http1_old.py"
    path.write_bytes(text)
    spec = importlib.util.spec_from_file_location("http1_old", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["http1_old"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def cases(m: ModuleType) -> dict[str, object]:
    return {
        "request parse+prepare": lambda: m.prepare_request(m.parse_request_head(REQUEST), own=OWN,
                                                           owned=m.IDENTITY_FIELDS),
        "response parse+prepare": lambda: m.prepare_response(m.parse_response_head(RESPONSE), b"GET"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--against", help="a git revision to time alongside (e.g. HEAD~1)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    modules = {"now": http1}
    if args.against:
        modules[args.against] = load_revision(args.against)
    result: dict[str, dict[str, float]] = {}
    for name in cases(http1):
        best = {label: float("inf") for label in modules}
        for _ in range(args.rounds):
            for label, module in modules.items():
                fn = cases(module)[name]
                start = time.perf_counter()
                for _ in range(100):
                    fn()  # type: ignore[operator]
                best[label] = min(best[label], (time.perf_counter() - start) * 1e4)
        result[name] = best
    if args.json:
        print(json.dumps(result))
        return
    for name, best in result.items():
        line = "  ".join(f"{label} {us:6.1f} µs" for label, us in best.items())
        ratio = f"  (x{best[args.against] / best['now']:.2f})" if args.against else ""
        print(f"{name:24s} {line}{ratio}")


if __name__ == "__main__":
    main()
