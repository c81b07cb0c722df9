"""What TLS session resumption towards an upstream would save, through Python's ssl module.

    .venv/bin/python bench/tls_resume.py [--rounds 300] [--json]

An inspecting proxy makes one client handshake per new client connection. This times, over
memory BIOs (no sockets, no event loop: only the TLS work), with an ECDSA P-256 chain as the
tests use: the client and server side of a full handshake, of a resumed one (TLS 1.3 ticket),
and the two steps resumption adds in CPython: reading ``SSLObject.session`` after the ticket
arrived, and ``wrap_bio(session=...)`` for the next connection (CPU per call, process time).
Resumption pays only when (full - resumed client handshake) exceeds those two steps.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.pki import TestCA  # noqa: E402


def contexts(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    ca = TestCA.create(directory, "resume bench CA")
    leaf = ca.issue("localhost", dns=["localhost"])
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(leaf.cert, leaf.key)
    client = ssl.create_default_context(cafile=str(ca.cert))
    return client, server


def handshake(client: ssl.SSLContext, server: ssl.SSLContext,
              session: ssl.SSLSession | None = None) -> tuple[float, float, ssl.SSLObject]:
    """(client CPU, server CPU, the client's SSLObject with its ticket read)."""
    ci, co, si, so = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    c = client.wrap_bio(ci, co, server_hostname="localhost", session=session)
    s = server.wrap_bio(si, so, server_side=True)
    spent = [0.0, 0.0]
    done = [False, False]
    for _ in range(6):
        for index, (obj, out, into) in enumerate(((c, co, si), (s, so, ci))):
            t = time.process_time()
            try:
                obj.do_handshake()
                done[index] = True
            except ssl.SSLWantReadError:
                pass
            spent[index] += time.process_time() - t
            into.write(out.read())
        if all(done):
            break
    s.write(b"x")  # the server's tickets and one byte: the client reads the tickets with it
    ci.write(so.read())
    c.read(1)
    return spent[0], spent[1], c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    client, server = contexts(Path(tempfile.mkdtemp()))
    out: dict[str, float] = {}
    for label, resume in (("full", False), ("resumed", True)):
        total_c = total_s = 0.0
        obj = handshake(client, server)[2]
        reused = True
        for _ in range(a.rounds):
            c, s, obj2 = handshake(client, server, obj.session if resume else None)
            total_c, total_s = total_c + c, total_s + s
            reused = reused and (obj2.session_reused or not resume)
            obj = obj2
        if not reused:
            raise SystemExit("the server did not resume a session: the figures would be wrong")
        out[f"{label} client handshake us"] = total_c / a.rounds * 1e6
        out[f"{label} server handshake us"] = total_s / a.rounds * 1e6
    t = time.process_time()
    for _ in range(a.rounds):
        session = obj.session
    out["SSLObject.session read us"] = (time.process_time() - t) / a.rounds * 1e6
    t = time.process_time()
    for _ in range(a.rounds):
        client.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="localhost", session=session)
    with_session = time.process_time() - t
    t = time.process_time()
    for _ in range(a.rounds):
        client.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="localhost")
    out["wrap_bio(session=) extra us"] = (with_session - (time.process_time() - t)) / a.rounds * 1e6
    saved = out["full client handshake us"] - out["resumed client handshake us"]
    cost = out["SSLObject.session read us"] + out["wrap_bio(session=) extra us"]
    out["net saving per connection us"] = saved - cost
    if a.json:
        print(json.dumps({k: round(v, 1) for k, v in out.items()}))
        return
    for key, value in out.items():
        print(f"{key:34s} {value:8.1f}")


if __name__ == "__main__":
    main()
