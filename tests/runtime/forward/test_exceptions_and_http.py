"""Inspection exceptions, plain HTTP forwarding, keep-alive and strict HTTP/1.1 parsing."""

from __future__ import annotations

import hashlib
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.runtime.forward.conftest import ORIGIN_HOST, Pki, curl, nginx_origin, status_of


def test_destination_exception_tunnels_without_decryption(tmp_path: Path, pki: Pki, start_proxy) -> None:
    proxy = start_proxy("--exception-destination", "*.example.org", "--exception-destination", ORIGIN_HOST)
    with nginx_origin(tmp_path, pki, verify="off") as port:
        # trusting only the origin's CA proves the client saw the origin's own certificate
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", cacert=pki.ca.cert)
    assert status_of(result) == 200, result.stderr
    (record,) = proxy.records()
    assert record["action"] == "tunnel"
    assert record["rule"] == f"exception-destination[2] {ORIGIN_HOST}"


def test_cidr_destination_exception_matches_resolved_name(tmp_path: Path, pki: Pki, start_proxy) -> None:
    proxy = start_proxy("--exception-destination", "127.0.0.0/8")
    with nginx_origin(tmp_path, pki, verify="off") as port:
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", cacert=pki.ca.cert)  # the origin's own CA
    assert status_of(result) == 200, result.stderr
    assert proxy.records()[0]["rule"] == "exception-destination[1] 127.0.0.0/8"


def test_source_exception_tunnels(tmp_path: Path, pki: Pki, start_proxy) -> None:
    proxy = start_proxy("--exception-source", "127.0.0.0/8")
    with nginx_origin(tmp_path, pki, verify="off") as port:
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", cacert=pki.ca.cert)
    assert status_of(result) == 200, result.stderr
    assert proxy.records()[0]["rule"] == "exception-source[1] 127.0.0.0/8"


def test_bad_exception_spec_is_one_line_error(start_proxy, tmp_path: Path) -> None:
    import subprocess

    from tests.runtime.forward.conftest import BRIDGEHEAD

    out = subprocess.run([BRIDGEHEAD, "forward", "--exception-destination", "bad name!", "--state-dir",
                          str(tmp_path / "s")], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "destination exception" in out.stderr


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        digest = hashlib.sha256(body).hexdigest().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(digest)))
        self.end_headers()
        self.wfile.write(digest)

    def do_GET(self) -> None:
        body = b"x" * 1000
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def http_origin() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_plain_http_post_bodies_arrive_intact(pki: Pki, start_proxy, tmp_path: Path) -> None:
    proxy = start_proxy()
    payload = tmp_path / "payload.bin"
    data = bytes(range(256)) * 4096  # 1 MiB
    payload.write_bytes(data)
    with http_origin() as port:
        fixed = curl(pki, proxy, f"http://127.0.0.1:{port}/up", "--data-binary", f"@{payload}")
        chunked = curl(pki, proxy, f"http://127.0.0.1:{port}/up", "--data-binary", f"@{payload}",
                       "-H", "Transfer-Encoding: chunked")
    expected = hashlib.sha256(data).hexdigest()
    assert fixed.stdout.startswith(expected) and status_of(fixed) == 200
    assert chunked.stdout.startswith(expected) and status_of(chunked) == 200


def _raw(proxy_port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=10) as s:
        s.sendall(data)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def test_conflicting_framing_is_refused(start_proxy) -> None:
    proxy = start_proxy()
    answer = _raw(proxy.port, b"POST http://127.0.0.1:9/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"X-Bridgehead-Code: client-bad-request" in answer
    answer = _raw(proxy.port, b"POST http://127.0.0.1:9/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                              b"Content-Length: 6\r\n\r\nhello")
    assert answer.startswith(b"HTTP/1.1 400 ")


def test_oversized_head_is_refused(start_proxy) -> None:
    proxy = start_proxy()
    answer = _raw(proxy.port, b"GET http://127.0.0.1:9/ HTTP/1.1\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_keep_alive_through_inspection(tmp_path: Path, pki: Pki, start_proxy) -> None:
    proxy = start_proxy()
    with nginx_origin(tmp_path, pki, verify="off") as port:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as raw:
            raw.sendall(f"CONNECT {ORIGIN_HOST}:{port} HTTP/1.1\r\nHost: {ORIGIN_HOST}:{port}\r\n\r\n".encode())
            assert raw.recv(4096).startswith(b"HTTP/1.1 200")
            ctx = ssl.create_default_context(cafile=str(proxy.ca))
            with ctx.wrap_socket(raw, server_hostname=ORIGIN_HOST) as tls:
                for _ in range(3):
                    tls.sendall(f"GET / HTTP/1.1\r\nHost: {ORIGIN_HOST}\r\n\r\n".encode())
                    reply = b""
                    while not reply.endswith(b"\n") or b"proto=" not in reply:
                        reply += tls.recv(65536)
                    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    records = proxy.records(expect=3)
    assert [r["status"] for r in records] == [200, 200, 200]
