"""Regression tests of the hostile-test findings against the reverse proxy (issue 10), over real sockets.

The reverse proxy runs as a program in offload and re-encrypt mode in front of a backend that
records the exact bytes it receives (``RecordingBackend``, parsed by h11); hostile requests are
sent over TLS with raw bytes (``ssl`` sockets), as ``openssl s_client`` would.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from pathlib import Path

import pytest

from tests.runtime.reverse.conftest import Pki, listener
from tests.support.recording_backend import RecordingBackend

HOST = "mail.example.test"


def _routes(pki: Pki, port: int, mode: str, extra_top: str = "") -> str:
    scheme = "https" if mode == "reencrypt" else "http"
    common = (f'mode = "{mode}"\nbackend = "{scheme}://ex01.internal.test:{port}"\n'
              f'backend_address = "127.0.0.1:{port}"\nbackend_ca = "{pki.internal.cert}"\n'
              f'hosts = ["{HOST}"]\nlistener = "edge"\n')
    return (extra_top + listener(pki) + f'\n[[route]]\nname = "admin"\npaths = ["/admin"]\n'
            f'client_certificate = "required"\n{common}'
            f'\n[[route]]\nname = "public"\npaths = ["/public"]\n{common}')


def _tls(port: int, pki: Pki) -> ssl.SSLSocket:
    ctx = ssl.create_default_context(cafile=str(pki.public.cert))
    ctx.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname=HOST)


def _exchange(port: int, pki: Pki, data: bytes, timeout: float = 10.0) -> bytes:
    with _tls(port, pki) as s:
        s.sendall(data)
        s.settimeout(timeout)
        out = b""
        with contextlib.suppress(TimeoutError, ssl.SSLError, OSError):
            while chunk := s.recv(65536):
                out += chunk
        return out


def _backend(pki: Pki, mode: str) -> RecordingBackend:
    if mode == "offload":
        return RecordingBackend()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(pki.backend.chain), str(pki.backend.key))
    return RecordingBackend(tls=ctx)


@pytest.mark.parametrize("mode", ["offload", "reencrypt"])
def test_connection_content_length_cannot_reach_a_certificate_route(tmp_path: Path, pki: Pki, start_reverse,
                                                                   mode: str) -> None:
    """Critical: a hidden request in the body reached a client_certificate = "required" route."""
    with _backend(pki, mode) as backend:
        proxy = start_reverse(_routes(pki, backend.port, mode))
        hidden = f"GET /admin/secret HTTP/1.1\r\nHost: {HOST}\r\nX-Bridgehead-User: administrator\r\n\r\n".encode()
        attack = (f"POST /public/x HTTP/1.1\r\nHost: {HOST}\r\nConnection: Content-Length\r\n"
                  f"Content-Length: {len(hidden)}\r\n\r\n").encode() + hidden
        reply = _exchange(proxy.port, pki, attack + f"GET /public/y HTTP/1.1\r\nHost: {HOST}\r\n"
                          "Connection: close\r\n\r\n".encode())
        backend.wait_idle()
        seen = [(s.method, s.target, s.body) for s in backend.seen]
    assert seen == [("POST", "/public/x", len(hidden)), ("GET", "/public/y", 0)], (seen, reply[:300])
    assert [r["url"] for r in proxy.records(expect=2, action="publish")] == [
        f"https://{HOST}/public/x", f"https://{HOST}/public/y"]


def test_proxy_fields_survive_connection_tokens_and_identity_spellings(tmp_path: Path, pki: Pki,
                                                                       start_reverse) -> None:
    with _backend(pki, "offload") as backend:
        proxy = start_reverse(_routes(pki, backend.port, "offload"))
        _exchange(proxy.port, pki, (f"GET /public/a HTTP/1.1\r\nHost: {HOST}\r\n"
                                    "Connection: close, X-Forwarded-For, X-Forwarded-Host, Host\r\n"
                                    "X-Forwarded-For: 6.6.6.6\r\nX_Bridgehead_User: administrator\r\n"
                                    "x-bridgehead-user: root\r\nX_Forwarded_Proto: http\r\n"
                                    "X-Remote-User: admin\r\n\r\n").encode())
        backend.wait_idle()
        (_, data), = backend.received_since(({}, 0))
    head = data.split(b"\r\n\r\n")[0].lower()
    assert b"\r\nx-forwarded-for: 127.0.0.1" in head and b"6.6.6.6" not in head
    assert f"\r\nx-forwarded-host: {HOST}".encode() in head
    assert b"administrator" not in head and b"root" not in head and b"x-remote-user" not in head
    assert b"x_forwarded_proto" not in head and b"\r\nx-forwarded-proto: https" in head
    assert head.count(b"\r\nhost: ") == 1 and f"\r\nhost: {HOST}".encode() in head  # a token never drops Host


def test_absolute_form_is_routed_and_forwarded_by_its_authority(tmp_path: Path, pki: Pki, start_reverse) -> None:
    with _backend(pki, "offload") as backend:
        proxy = start_reverse(_routes(pki, backend.port, "offload"))
        _exchange(proxy.port, pki, (f"GET https://{HOST}/public/abs HTTP/1.1\r\nHost: other.example\r\n"
                                    "Connection: close\r\n\r\n").encode())
        refused = _exchange(proxy.port, pki, (f"GET /public/a HTTP/1.1\r\nHost: {HOST}\r\nHost: other.example\r\n"
                                              "\r\n").encode())
        tabbed = _exchange(proxy.port, pki, f"GET /public/\ta HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        eight_bit = _exchange(proxy.port, pki, b"GET /public/\xe9 HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n\r\n")
        backend.wait_idle()
        seen = [s.target for s in backend.seen]
    assert seen == ["/public/abs"]
    assert refused.startswith(b"HTTP/1.1 400 ") and tabbed.startswith(b"HTTP/1.1 400 ")
    assert eight_bit.startswith(b"HTTP/1.1 400 ")


def test_slow_tls_clients_are_cut_and_a_normal_client_is_served(tmp_path: Path, pki: Pki, start_reverse) -> None:
    with _backend(pki, "offload") as backend:
        proxy = start_reverse(_routes(pki, backend.port, "offload",
                                      'head_timeout = "2s"\nidle_timeout = "2s"\nbody_min_rate = 1000\n'))
        hello_only = [socket.create_connection(("127.0.0.1", proxy.port), timeout=10) for _ in range(20)]
        for s in hello_only:
            s.sendall(b"\x16\x03\x01")  # the first bytes of a ClientHello, then nothing
        heads = [_tls(proxy.port, pki) for _ in range(20)]
        for s in heads:
            s.sendall(f"GET /public/ HTTP/1.1\r\nHost: {HOST}\r\n".encode())
        body = _tls(proxy.port, pki)
        body.sendall(f"POST /public/b HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 100000\r\n\r\nx".encode())
        started = time.monotonic()
        for _ in range(8):
            for s in [*heads, body]:
                with contextlib.suppress(OSError):
                    s.sendall(b"x")
            normal = _exchange(proxy.port, pki, f"GET /public/n HTTP/1.1\r\nHost: {HOST}\r\nConnection: close"
                               "\r\n\r\n".encode())
            assert normal.startswith(b"HTTP/1.1 200 "), normal[:200]
            time.sleep(0.5)
        assert time.monotonic() - started < 15
        closed = [_closed(s) for s in [*hello_only, *heads]]
        body_answer = _drain(body)
    assert all(closed), f"{closed.count(False)} slow connections still open after the deadline"
    assert body_answer.startswith(b"HTTP/1.1 408 "), body_answer[:200]
    codes = [r.get("code") for r in proxy.records(expect=21)]
    assert codes.count("client-timeout") >= 21


def _closed(s: socket.socket) -> bool:
    s.settimeout(3)
    try:
        while s.recv(65536):
            pass
        return True
    except (TimeoutError, ssl.SSLError, OSError) as exc:
        return not isinstance(exc, TimeoutError)


def _drain(s: socket.socket) -> bytes:
    s.settimeout(5)
    out = b""
    with contextlib.suppress(TimeoutError, ssl.SSLError, OSError):
        while chunk := s.recv(65536):
            out += chunk
    return out
