"""ClientHello parsing on hellos produced by real TLS stacks (OpenSSL via Python and via the
openssl command), and fuzzing."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridgehead.wire.tls_hello import TlsParseError, looks_like_tls, read_client_hello


def _python_hello(sni: str | None, alpn: list[str] | None = None, tls13: bool = True) -> bytes:
    ctx = ssl.create_default_context()
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if not tls13:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    if sni is None:
        ctx.check_hostname = False
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def test_python_openssl_hello() -> None:
    raw = _python_hello("Mail.Example.Test", ["h2", "http/1.1"])
    assert looks_like_tls(raw)
    hello = read_client_hello(raw)
    assert hello is not None
    assert hello.sni == "mail.example.test"
    assert hello.alpn == ("h2", "http/1.1")
    assert 0x0304 in hello.versions and hello.max_version == "TLSv1.3"
    assert hello.raw == raw


def test_incomplete_hello_asks_for_more() -> None:
    raw = _python_hello("a.example")
    for cut in (0, 3, 5, 40, len(raw) - 1):
        assert read_client_hello(raw[:cut]) is None


def test_hello_split_over_two_records() -> None:
    raw = _python_hello("split.example")
    body = raw[5:]
    first, second = body[:50], body[50:]
    rec = lambda b: b"\x16\x03\x01" + len(b).to_bytes(2, "big") + b  # noqa: E731
    hello = read_client_hello(rec(first) + rec(second))
    assert hello is not None and hello.sni == "split.example"


def test_openssl_s_client_hello() -> None:
    """The hello of another client program, captured on a real socket."""
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    got: list[bytes] = []

    def accept() -> None:
        conn, _ = srv.accept()
        conn.settimeout(5)
        data = b""
        while read_client_hello(data) is None:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        got.append(data)
        conn.close()

    t = threading.Thread(target=accept)
    t.start()
    subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "s-client.example",
                    "-alpn", "http/1.1"], input=b"", capture_output=True, timeout=20)
    t.join(10)
    srv.close()
    hello = read_client_hello(got[0])
    assert hello is not None and hello.sni == "s-client.example" and hello.alpn == ("http/1.1",)


@pytest.mark.parametrize("bad", [b"GET / HTTP/1.1\r\n\r\n", b"\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00",
                                 b"\x17\x03\x03\x00\x01x"])
def test_not_a_client_hello(bad: bytes) -> None:
    with pytest.raises(TlsParseError):
        read_client_hello(bad)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    try:
        read_client_hello(data)
    except TlsParseError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 300), st.integers(0, 255))
def test_fuzz_mutated_real_hello(pos: int, value: int) -> None:
    raw = bytearray(_python_hello("fuzz.example", ["http/1.1"], tls13=False))
    raw[pos % len(raw)] = value
    try:
        read_client_hello(bytes(raw))
    except TlsParseError:
        pass
