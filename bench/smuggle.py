"""Request-smuggling differential: the same corpus through nginx, HAProxy and bridgehead.

    .venv/bin/python bench/smuggle.py [--peers nginx,haproxy,forward,forward-connect,reverse-offload,reverse-reencrypt]
                                      [--category chunk] [--show forwarded,desync] [--json]

Every case of ``tests/support/smuggling_corpus.py`` (a few hundred hostile requests, one client
connection each) goes through each peer to its own recording backend (h11, bytes recorded as
received), and is judged by ``tests/support/smuggling.py``:

* ``refused``     the proxy refused (4xx/501/505, logged) and nothing ambiguous reached the backend
* ``normalised``  forwarded, and what the backend received is unambiguous (CRLF, one Host, one plain
                  framing header, strict chunks, no Connection token naming another header, …)
* ``forwarded``   forwarded with ambiguous bytes the backend had to interpret (e.g. ``Content-Length:
                  05``, ``Connection: Content-Length`` passed on, a Host with a space)
* ``silent``      no log record, no answer, or an unlogged/odd error page
* ``desync``      the backend saw a request the log does not show, or another body boundary, or
                  a client got the answer to another request

Peers: nginx 1.22 (``proxy_pass`` over upstream keep-alive, ``proxy_http_version 1.1``) and
HAProxy 2.6 (``mode http``, ``http-reuse always``), both plain HTTP with origin-form requests and
configured to set ``X-Forwarded-*`` and drop ``X-Bridgehead-User`` as bridgehead does; bridgehead
forward (absolute-form; inside an inspected CONNECT) and reverse (offload; re-encrypt; TLS at the
edge). Everything listens on 127.0.0.1 and is stopped by PID; each case is bounded by a 4 s timeout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.smuggling import ORDER, Peer  # noqa: E402
from tests.support.smuggling_corpus import cases_for  # noqa: E402
from tests.support.smuggling_peers import (  # noqa: E402
    SmugglePki,
    forward_connect,
    forward_plain,
    haproxy,
    nginx,
    reverse,
)

PEERS = ("nginx", "haproxy", "forward", "forward-connect", "reverse-offload", "reverse-reencrypt")
COLUMNS = ("refused", "normalised", "forwarded", "silent", "desync")


def start(kind: str, stack: ExitStack, tmp: Path, pki: SmugglePki) -> Peer:
    if kind == "nginx":
        return nginx(stack, tmp, pki)
    if kind == "haproxy":
        return haproxy(stack, tmp, pki)
    if kind == "forward":
        return forward_plain(stack, tmp, pki)
    if kind == "forward-connect":
        return forward_connect(stack, tmp, pki)
    return reverse(stack, tmp, pki, mode=kind.removeprefix("reverse-"))


def run(kinds: list[str], category: str | None) -> dict[str, dict[str, object]]:
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="bh-smuggle-") as d, ExitStack() as stack:
        tmp = Path(d)
        pki = SmugglePki.create(tmp / "pki")
        for kind in kinds:
            peer = start(kind, stack, tmp, pki)
            cases = [c for c in cases_for(forward=kind == "forward") if category in (None, c.category)]
            counts: Counter[str] = Counter()
            cases_by_kind: dict[str, list[dict[str, str]]] = {k: [] for k in ORDER}
            t0 = time.monotonic()
            for case, outcome in zip(cases, peer.run_all([(c.id, c.build(peer.ctx)) for c in cases]), strict=True):
                counts[outcome.kind] += 1
                cases_by_kind[outcome.kind].append(
                    {"case": case.id, "why": "; ".join(t for _, t in outcome.problems)[:300]})
            results[kind] = {"cases": len(cases), **{c: counts[c] for c in COLUMNS},
                             "seconds": round(time.monotonic() - t0, 1),
                             "by_kind": {k: v for k, v in cases_by_kind.items() if k not in ("refused", "normalised")}}
    return results


def table(results: dict[str, dict[str, object]], show: list[str]) -> str:
    head = f"{'peer':<20}{'cases':>7}" + "".join(f"{c:>12}" for c in COLUMNS) + f"{'seconds':>9}"
    lines = [head, "-" * len(head)]
    for kind, r in results.items():
        lines.append(f"{kind:<20}{r['cases']:>7}" + "".join(f"{r[c]:>12}" for c in COLUMNS) + f"{r['seconds']:>9}")
    for kind, r in results.items():
        by_kind = r["by_kind"]
        assert isinstance(by_kind, dict)
        for k in show:
            for item in by_kind.get(k, []):
                lines.append(f"  {kind} {k}: {item['case']}: {item['why']}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated, from {','.join(PEERS)}")
    ap.add_argument("--category", help="only one technique (clte, tete, tebyte, cl, chunk, eol, names, reqline, "
                                       "host, conn, ident, expect, pipe)")
    ap.add_argument("--show", default="desync,silent",
                    help="list the cases of these outcomes under the table (comma-separated; '' for none)")
    ap.add_argument("--json", action="store_true", help="print JSON (every non-clean case with its reason)")
    args = ap.parse_args()
    kinds = [k.strip() for k in args.peers.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in PEERS]
    if unknown:
        print(f"smuggle: unknown peer {unknown[0]!r} (choose from {', '.join(PEERS)})", file=sys.stderr)
        return 2
    results = run(kinds, args.category)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(table(results, [s for s in args.show.split(",") if s]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
