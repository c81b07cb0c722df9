"""HTTP/2 on the client leg of inspection (issue 13 item 5), over real sockets.

curl ``--http2`` and headless Chromium go through the proxy to an HTTP/1.1-only origin
(tests/support/h1_origin.py, which reports the version it received); Python's ``ssl`` with
ALPN ``h2`` only plus the ``h2`` library as the client exercise the ``h2_only`` policy:
inspect (default), tunnel (the origin's own certificate reaches the client) and block
(the registry page over h2).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.runtime.forward.conftest import ORIGIN_HOST, ROOT, Pki
from tests.support.procs import free_port, running

ORIGIN = str(ROOT / "tests" / "support" / "h1_origin.py")


@pytest.fixture
def origin(tmp_path: Path, pki: Pki) -> Iterator[int]:
    port = free_port()
    argv = [sys.executable, ORIGIN, "--port", str(port), "--cert", str(pki.server.chain), "--key", str(pki.server.key)]
    with running(argv, port=port, log=tmp_path / "origin.log"):
        yield port


def curl2(pki: Pki, proxy: Any, *args: str) -> subprocess.CompletedProcess[str]:
    argv = ["curl", "-sS", "--max-time", "30", "--noproxy", "", "--proxy", proxy.url, "--cacert", str(proxy.ca),
            "--http2", "-w", "\n%{http_version} %{http_code}", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=pki.client_env(), timeout=60)


def test_curl_http2_is_inspected_over_h2_and_the_origin_gets_http11(pki: Pki, start_proxy: Any, origin: int) -> None:
    proxy = start_proxy()
    url = f"https://{ORIGIN_HOST}:{origin}/echo?x=1"
    r = curl2(pki, proxy, "-H", "Cookie: a=1", "-H", "Cookie: b=2", url)
    assert r.returncode == 0, r.stderr
    body, version = r.stdout.rsplit("\n", 1)
    assert version == "2 200"  # HTTP/2 between curl and the proxy
    seen = json.loads(body)
    assert seen["version"] == "HTTP/1.1" and seen["host"] == f"{ORIGIN_HOST}:{origin}"  # Host from :authority
    assert seen["path"] == "/echo?x=1" and seen["method"] == "GET"
    (rec,) = [r for r in proxy.records() if r.get("method") == "GET"]
    assert rec["action"] == "inspect" and rec["status"] == 200 and rec["url"] == url


def test_h2_request_bodies_and_large_responses_keep_their_bytes(tmp_path: Path, pki: Pki, start_proxy: Any,
                                                                origin: int) -> None:
    proxy = start_proxy()
    base = f"https://{ORIGIN_HOST}:{origin}"
    payload = bytes(range(256)) * 1200
    (tmp_path / "payload").write_bytes(payload)
    # a body with Content-Length, and one without (curl sends no length over h2: relayed chunked)
    for extra in ([], ["-H", "Transfer-Encoding: chunked"]):
        r = curl2(pki, proxy, "--data-binary", f"@{tmp_path / 'payload'}", *extra, f"{base}/echo")
        body, version = r.stdout.rsplit("\n", 1)
        assert version == "2 200", r.stderr
        seen = json.loads(body)
        assert seen["body_len"] == len(payload) and seen["body_sha256"] == hashlib.sha256(payload).hexdigest()
    # responses far beyond the 64 KiB initial window: flow control must be respected both ways
    for path in ("/big?n=3000000", "/chunked?n=2500000"):
        r = curl2(pki, proxy, "-o", "/dev/null", "-w", "%{http_version} %{http_code} %{size_download}", f"{base}{path}")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["2", "200", path.split("=")[1]]


def test_concurrent_streams_on_one_connection(pki: Pki, start_proxy: Any, origin: int) -> None:
    proxy = start_proxy()
    urls = [f"https://{ORIGIN_HOST}:{origin}/big?n={100_000 + i}" for i in range(8)]
    args = ["--parallel", "--parallel-max", "8"]  # curl waits to multiplex on one h2 connection
    for url in urls:
        args += ["-o", "/dev/null", url]
    r = curl2(pki, proxy, *args)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["2", "200"] * 8
    records = [r for r in proxy.records(expect=8) if r.get("method") == "GET"]
    assert sorted(str(r["url"]) for r in records) == sorted(urls)
    assert len({r["client"] for r in records}) == 1  # multiplexed on one client connection


def _h2_only(proxy: Any, port: int, cafile: Path) -> ssl.SSLSocket:
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=20)
    sock.sendall(f"CONNECT {ORIGIN_HOST}:{port} HTTP/1.1\r\nHost: {ORIGIN_HOST}:{port}\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200")
    ctx = ssl.create_default_context(cafile=str(cafile))
    ctx.set_alpn_protocols(["h2"])  # an h2-only client: no http/1.1 in ALPN
    return ctx.wrap_socket(sock, server_hostname=ORIGIN_HOST)


def _h2_get(tls: ssl.SSLSocket, port: int, path: str) -> tuple[int, bytes]:
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    conn.initiate_connection()
    authority = f"{ORIGIN_HOST}:{port}".encode()
    conn.send_headers(1, [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", authority),
                          (b":path", path.encode())], end_stream=True)
    tls.sendall(conn.data_to_send())
    status, body = 0, b""
    for _ in range(1000):  # bounded
        data = tls.recv(65536)
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                status = int(dict(event.headers)[b":status"])
            elif isinstance(event, h2.events.DataReceived):
                body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                return status, body
        tls.sendall(conn.data_to_send())
    raise AssertionError("the stream did not end")


def test_h2_only_client_is_inspected_by_default(pki: Pki, start_proxy: Any, origin: int) -> None:
    proxy = start_proxy()
    with _h2_only(proxy, origin, proxy.ca) as tls:
        assert tls.selected_alpn_protocol() == "h2"
        status, body = _h2_get(tls, origin, "/echo")
    assert status == 200 and json.loads(body)["version"] == "HTTP/1.1"


def test_h2_only_tunnel_reaches_the_origin_uninspected(pki: Pki, start_proxy: Any, origin: int) -> None:
    proxy = start_proxy("--h2-only", "tunnel")
    with _h2_only(proxy, origin, pki.ca.cert) as tls:  # verified against the origin's CA: not our leaf
        issuer = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True) or b"").issuer
    assert "Origin Test CA" in issuer.rfc4514_string()
    rec = proxy.records()[-1]
    assert rec["action"] == "tunnel" and "h2-only tunnel" in str(rec["rule"])


def test_h2_only_block_answers_the_registry_page_over_h2(pki: Pki, start_proxy: Any, origin: int) -> None:
    proxy = start_proxy("--h2-only", "block")
    with _h2_only(proxy, origin, proxy.ca) as tls:
        assert tls.selected_alpn_protocol() == "h2"
        status, body = _h2_get(tls, origin, "/echo")
    assert status == 403 and b"forward-h2-only-blocked" in body
    (rec,) = [r for r in proxy.records() if r.get("code") == "forward-h2-only-blocked"]
    assert rec["code"] == "forward-h2-only-blocked" and rec["action"] == "deny" and rec["method"] == "GET"
    explained = subprocess.run([str(Path(sys.executable).parent / "bridgehead"), "explain", "forward-h2-only-blocked"],
                               capture_output=True, text=True, timeout=30)
    assert explained.returncode == 0 and "h2_only" in explained.stdout


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_chromium_is_inspected_over_h2(tmp_path: Path, pki: Pki, start_proxy: Any, origin: int) -> None:
    proxy = start_proxy("-v")
    ca = x509.load_pem_x509_certificate(proxy.ca.read_bytes())
    spki = ca.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chr'}",
            f"--proxy-server=http://127.0.0.1:{proxy.port}", "--proxy-bypass-list=<-loopback>",
            f"--ignore-certificate-errors-spki-list={pin}", "--dump-dom",
            f"https://{ORIGIN_HOST}:{origin}/echo"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=90, env=pki.client_env())
    assert '"version": "HTTP/1.1"' in r.stdout, r.stderr[-2000:]
    out = (tmp_path / "proxy1.out").read_text()
    assert f"inspecting {ORIGIN_HOST}:{origin}" in out and "over HTTP/2" in out
    recs = [r for r in proxy.records() if r.get("url") == f"https://{ORIGIN_HOST}:{origin}/echo"]
    assert recs and recs[0]["action"] == "inspect" and recs[0]["status"] == 200
