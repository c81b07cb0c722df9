"""HTTP/2 to origins (issue 13 item 5), over real sockets, and the protocol of inspected records.

An h2 origin is nginx (``listen ... ssl http2``, nginx 1.22's syntax) whose access log writes
``$server_protocol`` and ``$connection``: curl ``--http2`` through the inspecting proxy reaches
it over HTTP/2, concurrent streams share one upstream connection, a 1 MB body passes each way
(DAV ``PUT`` stores it, a static file answers it), and the proxy's records say ``h2`` on both
legs; headless Chromium too. An HTTP/1.1-only origin still serves an h2 client; an HTTP/1.1
client still reaches the h2-capable nginx over HTTP/1.1. The ``h2`` library as a raw client
checks trailers, resets (both ways) and GOAWAY against ``tests/support/h2_origin.py`` (an
origin built on the ``h2`` library). First, the protocol of records of an inspected CONNECT
whose upstream failed (the inner request's, ``tunnel`` only when none was read).
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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.runtime.forward.conftest import ORIGIN_HOST, ROOT, Pki, curl, status_of
from tests.support.procs import free_port, running
from tests.support.squid import squid_parent


def test_an_inspected_request_whose_upstream_fails_carries_the_inner_protocol(pki: Pki, start_proxy: Any) -> None:
    proxy = start_proxy()
    url = "https://bridgehead-test.invalid:8443/x"  # RFC 6761: .invalid never resolves
    for flag in ("--http1.1", "--http2"):
        r = curl(pki, proxy, url, flag, cacert=proxy.ca)
        assert status_of(r) == 502, r.stderr
        assert "upstream-dns-failed" in r.stdout
    records = proxy.records(expect=2)
    # the page goes out over HTTP/1.1 when the client offers it (curl --http2 offers h2 and http/1.1)
    seen = [(r["code"], r["protocol"], r["method"]) for r in records]
    assert seen == [("upstream-dns-failed", "HTTP/1.1", "GET")] * 2


def test_a_connect_refused_before_any_inner_request_still_says_tunnel(pki: Pki, start_proxy: Any) -> None:
    proxy = start_proxy()
    # the client never finishes TLS: no inner request was read, the CONNECT's protocol stays "tunnel"
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "--noproxy", "", "--proxy", proxy.url,
                        "https://bridgehead-test.invalid:8443/x"], capture_output=True, text=True,
                       env=pki.client_env(), timeout=60)
    assert r.returncode != 0  # curl does not trust the bridgehead CA here
    (record,) = proxy.records()
    assert (record["code"], record["protocol"]) == ("upstream-dns-failed", "tunnel"), record


# ---- an h2 origin: nginx -------------------------------------------------------------------------------------

NGINX_LOG = "$server_protocol $connection $request_method $uri $status"


@contextmanager
def nginx(tmp: Path, pki: Pki, *, http2: bool = True) -> Iterator[tuple[int, Path]]:
    """nginx over TLS (h2 when ``http2``): static files under www/, DAV PUT under /up/; (port, its dir)."""
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    d = tmp / f"nginx-{port}"
    for sub in ("logs", "www/up", "body"):
        (d / sub).mkdir(parents=True)
    (d / "www" / "big.bin").write_bytes(PAYLOAD)
    for i in range(3):
        (d / "www" / f"f{i}.txt").write_text(f"file {i}\n" * 20000)
    listen = f"listen 127.0.0.1:{port} ssl http2;" if http2 else f"listen 127.0.0.1:{port} ssl;"  # nginx 1.22 syntax
    (d / "nginx.conf").write_text(f"""daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
    log_format h2log '{NGINX_LOG}';
    access_log {d}/logs/access.log h2log;
    client_body_temp_path {d}/body; proxy_temp_path {d}/body; fastcgi_temp_path {d}/body;
    uwsgi_temp_path {d}/body; scgi_temp_path {d}/body;
    server {{
        {listen}
        server_name {ORIGIN_HOST};
        ssl_certificate {pki.server.chain};
        ssl_certificate_key {pki.server.key};
        client_max_body_size 4m;
        root {d}/www;
        location /up/ {{ dav_methods PUT; }}
    }}
}}
""")
    with running([nginx_bin, "-p", str(d), "-c", str(d / "nginx.conf")], port=port, log=d / "out.log"):
        yield port, d


def nginx_log(d: Path, expect: int) -> list[list[str]]:
    """nginx's access-log lines as fields (NGINX_LOG), waiting briefly for ``expect`` of them."""
    deadline = time.monotonic() + 5
    while True:
        lines = [line.split() for line in (d / "logs" / "access.log").read_text().splitlines() if line.strip()]
        if len(lines) >= expect or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


PAYLOAD = hashlib.sha256(b"bridgehead").digest() * (1 << 15)  # 1 MiB, not compressible by accident of zeros


def curl2(pki: Pki, proxy: Any, *args: str) -> subprocess.CompletedProcess[str]:
    argv = ["curl", "-sS", "--max-time", "30", "--noproxy", "", "--proxy", proxy.url, "--cacert", str(proxy.ca),
            *args]
    return subprocess.run(argv, capture_output=True, text=True, env=pki.client_env(), timeout=60)


def test_curl_http2_reaches_an_h2_origin_over_h2(tmp_path: Path, pki: Pki, start_proxy: Any) -> None:
    proxy = start_proxy()
    with nginx(tmp_path, pki) as (port, d):
        url = f"https://{ORIGIN_HOST}:{port}/f0.txt"
        r = curl2(pki, proxy, "--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", url)
        assert r.returncode == 0 and r.stdout == "2 200", r.stderr
        (line,) = nginx_log(d, 1)
    assert line[0] == "HTTP/2.0" and line[2:] == ["GET", "/f0.txt", "200"]
    (rec,) = [r for r in proxy.records() if r.get("method") == "GET"]
    assert (rec["protocol"], rec["upstream_protocol"]) == ("h2", "h2"), rec
    assert rec["action"] == "inspect" and rec["status"] == 200 and rec["url"] == url
    assert rec["bytes_out"] == len("file 0\n") * 20000


def test_concurrent_streams_share_one_upstream_h2_connection(tmp_path: Path, pki: Pki, start_proxy: Any) -> None:
    proxy = start_proxy()
    with nginx(tmp_path, pki) as (port, d):
        urls = [f"https://{ORIGIN_HOST}:{port}/f{i}.txt" for i in range(3)]
        args = ["--http2", "--parallel", "--parallel-max", "3", "-w", "%{http_version} %{http_code}\n"]
        for url in urls:
            args += ["-o", "/dev/null", url]
        r = curl2(pki, proxy, *args)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["2", "200"] * 3
        lines = nginx_log(d, 3)
    assert sorted(line[3] for line in lines) == ["/f0.txt", "/f1.txt", "/f2.txt"]
    assert {line[0] for line in lines} == {"HTTP/2.0"}
    assert len({line[1] for line in lines}) == 1, lines  # nginx's $connection: one upstream connection
    records = [r for r in proxy.records(expect=3) if r.get("method") == "GET"]
    assert len(records) == 3 and len({r["client"] for r in records}) == 1
    assert {(r["protocol"], r["upstream_protocol"], r["status"]) for r in records} == {("h2", "h2", 200)}


def test_a_megabyte_each_way_passes_with_flow_control(tmp_path: Path, pki: Pki, start_proxy: Any) -> None:
    proxy = start_proxy()
    (tmp_path / "payload").write_bytes(PAYLOAD)
    with nginx(tmp_path, pki) as (port, d):
        base = f"https://{ORIGIN_HOST}:{port}"
        r = curl2(pki, proxy, "--http2", "-T", str(tmp_path / "payload"), "-w", "%{http_version} %{http_code}",
                  f"{base}/up/payload")
        assert r.returncode == 0 and r.stdout.endswith("2 201"), (r.stdout, r.stderr)
        assert (d / "www" / "up" / "payload").read_bytes() == PAYLOAD  # every byte reached nginx
        r = curl2(pki, proxy, "--http2", "-o", str(tmp_path / "down"), "-w", "%{http_version} %{http_code}",
                  f"{base}/big.bin")
        assert r.returncode == 0 and r.stdout == "2 200", r.stderr
        lines = nginx_log(d, 2)
    assert (tmp_path / "down").read_bytes() == PAYLOAD
    assert [(line[0], line[2], line[4]) for line in lines] == [("HTTP/2.0", "PUT", "201"), ("HTTP/2.0", "GET", "200")]
    put, get = [r for r in proxy.records(expect=2) if r.get("method") in ("PUT", "GET")]
    assert put["bytes_in"] == len(PAYLOAD) and get["bytes_out"] == len(PAYLOAD)
    assert put["upstream_protocol"] == get["upstream_protocol"] == "h2"


def test_an_h2_client_still_reaches_an_http11_only_origin(tmp_path: Path, pki: Pki, start_proxy: Any) -> None:
    proxy = start_proxy()
    with nginx(tmp_path, pki, http2=False) as (port, d):
        r = curl2(pki, proxy, "--http2", "-o", str(tmp_path / "down"), "-w", "%{http_version} %{http_code}",
                  f"https://{ORIGIN_HOST}:{port}/big.bin")
        assert r.returncode == 0 and r.stdout == "2 200", r.stderr
        (line,) = nginx_log(d, 1)
    assert (tmp_path / "down").read_bytes() == PAYLOAD
    assert line[0] == "HTTP/1.1"
    (rec,) = [r for r in proxy.records() if r.get("method") == "GET"]
    assert (rec["protocol"], rec["upstream_protocol"]) == ("h2", "HTTP/1.1"), rec


def test_an_http11_client_reaches_an_h2_capable_origin_over_http11(tmp_path: Path, pki: Pki,
                                                                   start_proxy: Any) -> None:
    proxy = start_proxy()
    with nginx(tmp_path, pki) as (port, d):
        r = curl2(pki, proxy, "--http1.1", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                  f"https://{ORIGIN_HOST}:{port}/f1.txt")
        assert r.returncode == 0 and r.stdout == "1.1 200", r.stderr
        (line,) = nginx_log(d, 1)
    assert line[0] == "HTTP/1.1"  # the upstream offer was http/1.1 only: nginx could not pick h2
    (rec,) = [r for r in proxy.records() if r.get("method") == "GET"]
    assert (rec["protocol"], rec["upstream_protocol"]) == ("HTTP/1.1", "HTTP/1.1"), rec


# ---- an h2 origin built on the h2 library: trailers, resets, GOAWAY; the h2 library as the client ------------

H2_ORIGIN = str(ROOT / "tests" / "support" / "h2_origin.py")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def h2_origin(tmp_path: Path, pki: Pki) -> Iterator[int]:
    port = free_port()
    argv = [sys.executable, H2_ORIGIN, "--port", str(port), "--cert", str(pki.server.chain), "--key",
            str(pki.server.key)]
    with running(argv, port=port, log=tmp_path / "h2origin.log"):
        yield port


class H2Client:
    """The ``h2`` library as a client through the proxy's CONNECT tunnel (ALPN h2, http/1.1)."""

    def __init__(self, proxy: Any, port: int) -> None:
        self.port = port
        sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=20)
        sock.sendall(f"CONNECT {ORIGIN_HOST}:{port} HTTP/1.1\r\nHost: {ORIGIN_HOST}:{port}\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 200")
        ctx = ssl.create_default_context(cafile=str(proxy.ca))
        ctx.set_alpn_protocols(["h2", "http/1.1"])
        self.tls = ctx.wrap_socket(sock, server_hostname=ORIGIN_HOST)
        assert self.tls.selected_alpn_protocol() == "h2"
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.conn.initiate_connection()
        self.results: dict[int, dict[str, Any]] = {}
        self.goaway: int | None = None
        self.pending: dict[int, tuple[bytes, list[tuple[bytes, bytes]] | None]] = {}

    def request(self, path: str, *, method: str = "GET", authority: str | None = None, body: bytes = b"",
                trailers: list[tuple[bytes, bytes]] | None = None, open_body: bool = False) -> int:
        """A request on a new stream; ``open_body``: HEADERS only, the stream left open (no DATA ever)."""
        sid = self.conn.get_next_available_stream_id()
        fields = [(b":method", method.encode()), (b":scheme", b"https"),
                  (b":authority", (authority or f"{ORIGIN_HOST}:{self.port}").encode()), (b":path", path.encode())]
        ended = not body and not trailers and not open_body
        self.conn.send_headers(sid, fields, end_stream=ended)
        if not ended and not open_body:
            self.pending[sid] = (body, trailers)
        self.results[sid] = {"status": 0, "headers": {}, "body": b"", "trailers": {}, "reset": None, "ended": False}
        self._pump()
        return sid

    def _pump(self) -> None:
        """Request bodies within the proxy's flow-control windows (RFC 9113 §5.2), then trailers or END_STREAM."""
        for sid, (body, trailers) in list(self.pending.items()):
            while body and (size := min(len(body), self.conn.local_flow_control_window(sid),
                                        self.conn.max_outbound_frame_size)) > 0:
                self.conn.send_data(sid, body[:size])
                body = body[size:]
            if body:
                self.pending[sid] = (body, trailers)
                continue
            del self.pending[sid]
            if trailers:
                self.conn.send_headers(sid, trailers, end_stream=True)
            else:
                self.conn.end_stream(sid)
        self.tls.sendall(self.conn.data_to_send())

    def run(self, *sids: int, goaway: bool = False) -> dict[int, dict[str, Any]]:
        """Read until every stream in ``sids`` ended or was reset (or the proxy sent GOAWAY); with ``goaway``
        until the proxy sent GOAWAY or closed."""
        def done() -> bool:
            return not goaway and all(self.results[s]["ended"] or self.results[s]["reset"] is not None for s in sids)

        for _ in range(2000):  # bounded
            if done():
                break
            data = self.tls.recv(65536)
            if not data:
                break
            for event in self.conn.receive_data(data):
                r = self.results.get(getattr(event, "stream_id", 0) or 0)
                if isinstance(event, h2.events.ResponseReceived) and r is not None:
                    r["headers"] = dict(event.headers or [])
                    r["status"] = int(r["headers"][b":status"])
                elif isinstance(event, h2.events.DataReceived) and r is not None:
                    r["body"] += event.data
                    self.conn.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id or 0)
                elif isinstance(event, h2.events.TrailersReceived) and r is not None:
                    r["trailers"] = dict(event.headers or [])
                elif isinstance(event, h2.events.StreamEnded) and r is not None:
                    r["ended"] = True
                elif isinstance(event, h2.events.StreamReset) and r is not None:
                    r["reset"] = int(event.error_code or 0)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    self.goaway = int(event.error_code or 0)
            if self.goaway is not None:
                break
            self._pump()
        return self.results

    def close(self) -> None:
        self.tls.close()


def test_trailers_pass_both_ways_and_a_request_body_arrives_whole(pki: Pki, start_proxy: Any, h2_origin: int) -> None:
    proxy = start_proxy()
    client = H2Client(proxy, h2_origin)
    body = PAYLOAD[:200_000]  # beyond the 64 KiB initial windows of both legs
    sid = client.request("/echo", method="POST", body=body, trailers=[(b"x-checksum", b"abc123")])
    client.conn.increment_flow_control_window(1 << 20)
    (r,) = client.run(sid).values()
    client.close()
    assert r["status"] == 200 and r["ended"] and r["reset"] is None
    seen = json.loads(r["body"])
    assert seen["body_len"] == len(body) and seen["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert seen["trailers"] == {"x-checksum": "abc123"}  # the client's trailers reached the origin
    assert r["trailers"] == {b"x-origin-trailer": b"done"}  # and the origin's reached the client
    assert seen["authority"] == f"{ORIGIN_HOST}:{h2_origin}"
    (rec,) = [x for x in proxy.records() if x.get("method") == "POST"]
    assert (rec["protocol"], rec["upstream_protocol"], rec["status"]) == ("h2", "h2", 200)
    assert rec["bytes_in"] == len(body)


def test_resets_from_the_origin_are_mapped(pki: Pki, start_proxy: Any, h2_origin: int) -> None:
    proxy = start_proxy()
    client = H2Client(proxy, h2_origin)
    reset, refused, truncated = (client.request(p) for p in ("/reset", "/refuse", "/truncate"))
    results = client.run(reset, refused, truncated)
    ok = client.request("/echo")  # the connection to the origin carries on after stream errors
    results = client.run(ok)
    client.close()
    assert results[reset]["status"] == 502 and b"upstream-h2-stream-reset" in results[reset]["body"]
    assert results[refused]["reset"] == h2.errors.ErrorCodes.REFUSED_STREAM  # the client may retry it
    assert results[truncated]["status"] == 200 and results[truncated]["reset"] == h2.errors.ErrorCodes.INTERNAL_ERROR
    assert len(results[truncated]["body"]) < 5000  # a truncated response never looks complete
    assert results[ok]["status"] == 200 and json.loads(results[ok]["body"])["connection"] == 1
    records = {str(r["url"]).rsplit("/", 1)[1]: r for r in proxy.records(expect=4) if r.get("method") == "GET"}
    assert records["reset"]["code"] == records["truncate"]["code"] == records["refuse"]["code"] \
        == "upstream-h2-stream-reset"
    assert "INTERNAL_ERROR" in str(records["reset"]["reason"]) and "REFUSED_STREAM" in str(records["refuse"]["reason"])
    assert records["echo"]["status"] == 200 and records["echo"]["code"] is None


def test_goaway_from_the_origin_refuses_the_unprocessed_stream_and_drains_the_client(
        pki: Pki, start_proxy: Any, h2_origin: int) -> None:
    proxy = start_proxy()
    client = H2Client(proxy, h2_origin)
    sid = client.request("/goaway")
    (r,) = client.run(sid, goaway=True).values()
    client.close()
    assert r["reset"] == h2.errors.ErrorCodes.REFUSED_STREAM and r["status"] == 0
    assert client.goaway == h2.errors.ErrorCodes.NO_ERROR  # new requests go on a new tunnel
    (rec,) = [x for x in proxy.records() if x.get("method") == "GET"]
    assert rec["code"] == "upstream-h2-goaway" and "REFUSED_STREAM" in str(rec["reason"])
    # the next tunnel works again (upstream-first, a new origin connection)
    again = H2Client(proxy, h2_origin)
    sid = again.request("/echo")
    (r,) = again.run(sid).values()
    again.close()
    assert r["status"] == 200 and json.loads(r["body"])["connection"] == 2


def test_a_request_for_another_host_inside_the_tunnel_is_refused(pki: Pki, start_proxy: Any,
                                                                 h2_origin: int) -> None:
    proxy = start_proxy()
    client = H2Client(proxy, h2_origin)
    other = client.request("/echo", authority="elsewhere.example")
    ok = client.request("/echo")
    results = client.run(other, ok)
    client.close()
    assert results[other]["status"] == 400 and b"not the host this tunnel was opened to" in results[other]["body"]
    assert results[ok]["status"] == 200 and json.loads(results[ok]["body"])["authority"] == f"{ORIGIN_HOST}:{h2_origin}"


def test_a_stream_the_client_resets_is_cancelled_towards_the_origin(pki: Pki, start_proxy: Any,
                                                                    h2_origin: int) -> None:
    proxy = start_proxy()
    client = H2Client(proxy, h2_origin)
    held = client.request("/hold")
    time.sleep(0.2)  # the origin has the stream
    client.conn.reset_stream(held, h2.errors.ErrorCodes.CANCEL)
    client.tls.sendall(client.conn.data_to_send())
    resets: list[list[int]] = []
    for _ in range(20):  # bounded: the proxy's RST_STREAM and the next request race on the origin connection
        sid = client.request("/echo")
        seen = json.loads(client.run(sid)[sid]["body"])
        resets = seen["resets"]
        if resets:
            break
        time.sleep(0.1)
    client.close()
    assert resets == [[1, h2.errors.ErrorCodes.CANCEL]] and seen["connection"] == 1


def test_chromium_reaches_an_h2_origin_over_h2(tmp_path: Path, pki: Pki, start_proxy: Any) -> None:
    proxy = start_proxy()
    ca = x509.load_pem_x509_certificate(proxy.ca.read_bytes())
    spki = ca.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    with nginx(tmp_path, pki) as (port, d):
        (d / "www" / "page.html").write_text("<html><body><p id=x>served over h2</p></body></html>")
        url = f"https://{ORIGIN_HOST}:{port}/page.html"
        argv = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
                f"--user-data-dir={tmp_path / 'chr'}", f"--proxy-server=http://127.0.0.1:{proxy.port}",
                "--proxy-bypass-list=<-loopback>", f"--ignore-certificate-errors-spki-list={pin}", "--dump-dom", url]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=90, env=pki.client_env())
        assert "served over h2" in r.stdout, r.stderr[-2000:]
        lines = [line for line in nginx_log(d, 1) if line[3] == "/page.html"]
    assert lines and lines[0][0] == "HTTP/2.0"
    recs = [r for r in proxy.records() if r.get("url") == url]
    assert recs and (recs[0]["protocol"], recs[0]["upstream_protocol"], recs[0]["status"]) == ("h2", "h2", 200)


def test_a_client_that_stops_sending_its_body_gets_client_timeout(tmp_path: Path, pki: Pki, start_proxy: Any,
                                                                 h2_origin: int) -> None:
    config = tmp_path / "forward.toml"
    config.write_text('[forward]\nread_timeout = "2s"\n')
    proxy = start_proxy("--config", str(config))
    client = H2Client(proxy, h2_origin)
    sid = client.request("/echo", method="POST", open_body=True)  # the body never comes
    started = time.monotonic()
    (r,) = client.run(sid).values()
    client.close()
    assert r["status"] == 408 and b"client-timeout" in r["body"], r
    assert time.monotonic() - started < 10
    (rec,) = [x for x in proxy.records() if x.get("method") == "POST"]
    assert rec["code"] == "client-timeout" and rec["upstream_protocol"] == "h2"


def test_h2_to_the_origin_through_a_parent_proxy(tmp_path: Path, pki: Pki, start_proxy: Any) -> None:
    (tmp_path / "squid").mkdir()
    with squid_parent(tmp_path / "squid") as parent, nginx(tmp_path, pki) as (port, d):
        proxy = start_proxy("--parent", parent.url)
        r = curl2(pki, proxy, "--http2", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                  f"https://{ORIGIN_HOST}:{port}/f2.txt")
        assert r.returncode == 0 and r.stdout == "2 200", r.stderr
        (line,) = nginx_log(d, 1)
        assert line[0] == "HTTP/2.0"  # ALPN h2 inside the parent's CONNECT tunnel
        proxy_records = [x for x in proxy.records() if x.get("method") == "GET"]
        deadline = time.monotonic() + 5
        while not any(f"CONNECT {ORIGIN_HOST}:{port}" in x for x in parent.access_lines(timeout=0)) \
                and time.monotonic() < deadline:
            time.sleep(0.05)  # squid logs the CONNECT when the tunnel ends
        assert any(f"CONNECT {ORIGIN_HOST}:{port}" in x for x in parent.access_lines(timeout=0))
    assert (proxy_records[0]["protocol"], proxy_records[0]["upstream_protocol"]) == ("h2", "h2")
