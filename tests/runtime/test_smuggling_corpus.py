"""The request-smuggling corpus against bridgehead (issue 10 "Done when"), with a recording backend.

Peers: the forward proxy (absolute-form plain HTTP, with a second client's request after every
case to catch a poisoned upstream pool; and requests inside an inspected CONNECT), the reverse
proxy in ``offload`` and ``reencrypt`` mode (a route on ``/admin`` requires a client certificate
the client never sends). Every case of ``tests/support/smuggling_corpus.py`` runs on its own
client connection against each peer; ``tests/support/smuggling.py`` compares what the backend
received (parsed with h11), what the access log shows and what the client got, and the case
passes only if the proxy refused (4xx, logged) or forwarded a normalised request, with no desync.
A hypothesis part mutates valid requests byte-wise; the harness itself is checked first against
a backend fed a known desync, so a corpus that passes is not a harness that cannot fail.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.support.recording_backend import RecordingBackend, parse_stream
from tests.support.smuggling import (
    DESYNC,
    FORWARDED,
    NORMALISED,
    REFUSED,
    SILENT,
    Endpoint,
    LogEntry,
    LogReader,
    Peer,
    judge,
    strict_chunked,
)
from tests.support.smuggling_corpus import CORPUS, Ctx, cases_for
from tests.support.smuggling_peers import SmugglePki, forward_connect, forward_plain, reverse

PEERS = ("forward", "forward-connect", "reverse-offload", "reverse-reencrypt")


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Peer]]:
    """Each peer started on first use and kept for the module (one proxy, one backend)."""
    tmp = tmp_path_factory.mktemp("smuggling")
    pki = SmugglePki.create(tmp / "pki")
    started: dict[str, Peer] = {}
    with ExitStack() as stack:
        class Lazy(dict[str, Peer]):
            def __missing__(self, kind: str) -> Peer:
                if kind == "forward":
                    peer = forward_plain(stack, tmp, pki)
                elif kind == "forward-connect":
                    peer = forward_connect(stack, tmp, pki)
                else:
                    peer = reverse(stack, tmp, pki, mode=kind.removeprefix("reverse-"))
                self[kind] = peer
                return peer

        yield Lazy(started)


CATEGORIES = sorted({c.category for c in CORPUS})
# The 512-case byte sweep exercises the head parser and the framing decision, which the inspected
# CONNECT and the re-encrypting route share with the plain forward and the offload paths: it runs on
# those two here (bench/smuggle.py runs it everywhere), which keeps this file well under a minute.
SWEEP_PEERS = ("forward", "reverse-offload")


def _matrix() -> list[object]:
    return [pytest.param(kind, category, id=f"{kind}-{category}") for kind in PEERS for category in CATEGORIES
            if category != "tebyte" or kind in SWEEP_PEERS]


@pytest.mark.parametrize(("kind", "category"), _matrix())
def test_corpus(peers: dict[str, Peer], kind: str, category: str) -> None:
    """Every case of one technique against one peer; the message names each failing case and why."""
    peer = peers[kind]
    cases = [c for c in cases_for(forward=kind == "forward") if c.category == category]
    outcomes = peer.run_all([(c.id, c.build(peer.ctx)) for c in cases])
    failures = [f"{o.kind}: {o.text()}" for o in outcomes if o.kind not in (REFUSED, NORMALISED)]
    assert not failures, f"{len(failures)} {category} cases fail against {kind}:\n" + "\n".join(failures)


def test_corpus_size_and_techniques() -> None:
    categories = {c.category for c in CORPUS}
    assert {"clte", "tete", "tebyte", "cl", "chunk", "eol", "names", "reqline", "host", "conn", "ident",
            "expect", "pipe"} <= categories
    assert len(CORPUS) >= 400
    assert len({c.id for c in CORPUS}) == len(CORPUS)
    te_bytes = {c.id.rsplit("-", 1)[1] for c in CORPUS if c.category == "tebyte"}
    assert te_bytes == {f"0x{b:02x}" for b in range(256)}  # every byte, on the name side and the value side


# ---- the fuzzed part ----------------------------------------------------------------------------
def _bases(c: Ctx) -> list[bytes]:
    h = c.h
    return [
        b"POST " + c.t("/f") + b" HTTP/1.1\r\nHost: " + h + b"\r\nContent-Length: 5\r\n\r\nAAAAA"
        + b"GET " + c.t("/f2") + b" HTTP/1.1\r\nHost: " + h + b"\r\n\r\n",
        b"POST " + c.t("/f") + b" HTTP/1.1\r\nHost: " + h + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;e=1\r\nAAAAA\r\n0\r\nX-T: 1\r\n\r\n" + b"GET " + c.t("/f2") + b" HTTP/1.1\r\nHost: " + h + b"\r\n\r\n",
        b"GET " + c.t("/f") + b" HTTP/1.1\r\nHost: " + h + b"\r\nConnection: keep-alive\r\nX-A: b\r\n\r\n"
        + b"GET " + c.t("/f2") + b" HTTP/1.1\r\nHost: " + h + b"\r\n\r\n",
    ]


INTERESTING = b"\x00\t\n\v\f\r \"',;:=-_0159aAfFxX+\x7f\x80\xff"
mutation = st.tuples(st.sampled_from(["insert", "delete", "replace", "dup"]), st.floats(0, 1),
                     st.sampled_from(list(INTERESTING)) | st.integers(0, 255))


def mutate(data: bytes, ops: list[tuple[str, float, int]]) -> bytes:
    buf = bytearray(data)
    for op, where, byte in ops:
        i = min(int(where * len(buf)), len(buf) - 1)
        if op == "insert":
            buf[i:i] = bytes([byte])
        elif op == "delete" and len(buf) > 1:
            del buf[i]
        elif op == "replace":
            buf[i] = byte
        else:  # duplicate the line around i
            start = buf.rfind(b"\n", 0, i) + 1
            end = buf.find(b"\n", i)
            end = len(buf) if end < 0 else end + 1
            buf[start:start] = buf[start:end]
    return bytes(buf)


@pytest.mark.parametrize("kind", PEERS)
def test_fuzzed(peers: dict[str, Peer], kind: str) -> None:
    """40 byte-wise mutations of valid requests per peer, drawn as one batch (one hypothesis example)
    so the proxy's batched access log is awaited once per case, not once per example."""
    peer = peers[kind]
    bases = _bases(peer.ctx)

    # no shrinking: each mutation costs a connection; the failing bytes are printed as they are
    @settings(max_examples=1, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                     HealthCheck.data_too_large])
    @given(st.lists(st.tuples(st.integers(0, len(bases) - 1), st.lists(mutation, min_size=1, max_size=3)),
                    min_size=40, max_size=40))
    def run(batch: list[tuple[int, list[tuple[str, float, int]]]]) -> None:
        payloads = [mutate(bases[which], ops) for which, ops in batch]
        outcomes = peer.run_all([(f"fuzz {p!r}", p) for p in payloads])
        failures = [o.text() for o in outcomes if o.kind not in (REFUSED, NORMALISED)]
        assert not failures, "\n".join(failures)

    run()


# ---- the harness can fail: a backend fed what a broken proxy would forward ------------------------
def _feed(backend: RecordingBackend, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", backend.port), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def _judge_direct(tmp_path: Path, sent: bytes, forwarded: bytes, log: list[LogEntry], client: bytes | None = None,
                  *, identity: bool = False) -> str:
    with RecordingBackend() as backend:
        peer = Peer("direct", Endpoint(backend.port), backend, LogReader(tmp_path / "none.log", lambda _: None),
                    Ctx("", "www.example.test"), identity=identity, own_code_header=False)
        mark = backend.mark()
        answer = _feed(backend, forwarded)
        backend.settle(2)
        outcome = judge(peer, "self-test", sent, answer if client is None else client, True, None, log,
                        backend.received_since(mark))
    return outcome.kind


def test_harness_sees_the_connection_content_length_desync(tmp_path: Path) -> None:
    hidden = b"GET /admin/secret HTTP/1.1\r\nHost: www.example.test\r\nX-Bridgehead-User: administrator\r\n\r\n"
    sent = (b"POST /public/x HTTP/1.1\r\nHost: www.example.test\r\nConnection: Content-Length\r\n"
            b"Content-Length: %d\r\n\r\n" % len(hidden)) + hidden
    # what the vulnerable relay sent on: the head without Content-Length, then the body
    forwarded = b"POST /public/x HTTP/1.1\r\nHost: www.example.test\r\n\r\n" + hidden
    log = [LogEntry(True, "POST", "https://www.example.test/public/x", 200, bytes_in=len(hidden))]
    assert _judge_direct(tmp_path, sent, forwarded, log) == DESYNC


def test_harness_sees_a_body_boundary_disagreement(tmp_path: Path) -> None:
    forwarded = b"POST /a HTTP/1.1\r\nHost: www.example.test\r\nContent-Length: 3\r\n\r\nAAAAA"
    log = [LogEntry(True, "POST", "https://www.example.test/a", 200, bytes_in=5)]
    assert _judge_direct(tmp_path, forwarded, forwarded, log) == DESYNC


def test_harness_sees_a_response_for_another_request(tmp_path: Path) -> None:
    forwarded = b"GET /a HTTP/1.1\r\nHost: www.example.test\r\n\r\n"
    log = [LogEntry(True, "GET", "https://www.example.test/b", 200, bytes_in=0)]
    assert _judge_direct(tmp_path, forwarded, forwarded, log) == DESYNC


def test_harness_sees_unnormalised_forwarding_and_identity_headers(tmp_path: Path) -> None:
    forwarded = (b"POST /a HTTP/1.1\r\nHost: www.example.test\r\nContent-Length: 05\r\n"
                 b"X-Forwarded-For: 127.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: www.example.test\r\n"
                 b"X_Bridgehead_User: administrator\r\n\r\nAAAAA")
    log = [LogEntry(True, "POST", "https://www.example.test/a", 200, bytes_in=5)]
    assert _judge_direct(tmp_path, forwarded, forwarded, log, identity=True) == FORWARDED


def test_harness_accepts_a_clean_exchange_and_flags_a_silent_one(tmp_path: Path) -> None:
    forwarded = b"GET /a HTTP/1.1\r\nHost: www.example.test\r\n\r\n"
    log = [LogEntry(True, "GET", "https://www.example.test/a", 200, bytes_in=0)]
    assert _judge_direct(tmp_path, forwarded, forwarded, log) == NORMALISED
    assert _judge_direct(tmp_path, b"GET /a HTTP/1.1\n\n", b"", [], client=b"") == SILENT


def test_offline_parser_boundaries_and_strict_chunks() -> None:
    data = (b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nAAAAA\r\n0\r\n\r\n"
            b"GET /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost")
    result = parse_stream(data)
    assert [r.target for r in result.requests] == [b"/a", b"/b"]
    assert result.requests[0].raw_body == b"5\r\nAAAAA\r\n0\r\n\r\n" and result.requests[0].body == b"AAAAA"
    assert result.leftover == b"GET /c HTTP/1.1\r\nHost" and result.error is None
    assert strict_chunked(b"5;a=b\r\nAAAAA\r\n0\r\nX: 1\r\n\r\n") == []
    for bad in (b" 5\r\nAAAAA\r\n0\r\n\r\n", b"5\r\r\nAAAAA\r\n0\r\n\r\n", b"5\r\nAAAAA\r\n0\r\nX: a\rb\r\n\r\n",
                b"5\r\nAAAAA\r\n0\r\nGET / HTTP/1.1\r\n\r\n", b"5\x0c\r\nAAAAA\r\n0\r\n\r\n"):
        assert strict_chunked(bad), bad
