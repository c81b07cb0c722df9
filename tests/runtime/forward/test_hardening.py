"""Regression tests of the hostile-test findings against the forward proxy (issue 10), over real sockets.

Each test sends the exact bytes of a finding to ``bridgehead forward`` started as a program, with
a backend that records what it receives (``RecordingBackend``, parsed by h11) or a scripted origin
that misbehaves on purpose, and checks what reaches the backend, the client and the access log.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.recording_backend import RecordingBackend

Proxy = object  # tests.runtime.forward.conftest.Proxy, started by the start_proxy fixture


def _send(port: int, data: bytes, *, timeout: float = 10.0, wait_close: bool = True) -> bytes:
    """Send ``data`` on a fresh connection and read until the proxy closes (or ``timeout``)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            out += chunk
            if not wait_close and b"\r\n\r\n" in out:
                break
        return out


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / f"forward-{time.monotonic_ns()}.toml"
    path.write_text(text)
    return str(path)


def test_connection_content_length_cannot_smuggle_a_request(start_proxy) -> None:
    """Critical: ``Connection: Content-Length`` once dropped the framing; the body became a request."""
    with RecordingBackend() as backend:
        proxy = start_proxy()
        hidden = (f"GET /admin/secret HTTP/1.1\r\nHost: 127.0.0.1:{backend.port}\r\n"
                  "X-Bridgehead-User: administrator\r\n\r\n").encode()
        attack = (f"POST http://127.0.0.1:{backend.port}/public/x HTTP/1.1\r\nHost: 127.0.0.1:{backend.port}\r\n"
                  f"Connection: Content-Length\r\nContent-Length: {len(hidden)}\r\n\r\n").encode() + hidden
        reply = _send(proxy.port, attack + f"GET http://127.0.0.1:{backend.port}/next HTTP/1.1\r\nHost: x\r\n"
                      "Connection: close\r\n\r\n".encode())
        backend.wait_idle()
        seen = [(s.method, s.target, s.body) for s in backend.seen]
    assert seen == [("POST", "/public/x", len(hidden)), ("GET", "/next", 0)], seen
    assert b"/admin/secret" not in b"".join(r for r in [reply] if b"seq=" in r).split(b"body=")[0]
    records = proxy.records(expect=2)
    assert [r["url"] for r in records] == [f"http://127.0.0.1:{backend.port}/public/x",
                                           f"http://127.0.0.1:{backend.port}/next"]


def test_absolute_uri_authority_replaces_the_clients_host(start_proxy) -> None:
    with RecordingBackend() as backend:
        proxy = start_proxy()
        _send(proxy.port, f"GET http://127.0.0.1:{backend.port}/a HTTP/1.1\r\nHost: intranet.corp\r\n"
              "Connection: close\r\n\r\n".encode())
        backend.wait_idle()
        (_, data), = backend.received_since(({}, 0))
    assert f"\r\nHost: 127.0.0.1:{backend.port}\r\n".encode() in data and b"intranet.corp" not in data


def test_bad_heads_are_refused_at_once_and_reach_nobody(start_proxy) -> None:
    with RecordingBackend() as backend:
        proxy = start_proxy()
        url = f"http://127.0.0.1:{backend.port}/"
        cases = {
            "bare LF throughout": f"GET {url} HTTP/1.1\nHost: a\n\n",
            "bare LF after the version": f"GET {url} HTTP/1.0\nTransfer-Encoding: chunked\r\n\r\n",
            "bare CR": f"GET {url} HTTP/1.1\r\nHost: a\rX: y\r\n\r\n",
            "Host with a space": f"GET {url} HTTP/1.1\r\nHost: a b\r\n\r\n",
            "two Hosts": f"GET {url} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "CL list": f"POST {url} HTTP/1.1\r\nHost: a\r\nContent-Length: 1,2\r\n\r\nab",
            "CL sign": f"POST {url} HTTP/1.1\r\nHost: a\r\nContent-Length: +2\r\n\r\nab",
            "userinfo": f"GET http://u:secretpw@127.0.0.1:{backend.port}/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "space before colon": f"GET {url}?token=leak HTTP/1.1\r\nAuthorization : Bearer sekrit\r\n\r\n",
        }
        for name, raw in cases.items():
            started = time.monotonic()
            reply = _send(proxy.port, raw.encode(), timeout=5)
            assert reply.startswith(b"HTTP/1.1 400 "), (name, reply[:200])
            assert time.monotonic() - started < 3, f"{name}: the proxy waited instead of refusing"
            assert b"sekrit" not in reply and b"secretpw" not in reply and b"token=leak" not in reply, name
        backend.wait_idle()
        assert backend.seen == [], [s.target for s in backend.seen]
    text = proxy.log.read_text()
    assert "sekrit" not in text and "secretpw" not in text and "leak" not in text
    assert len(proxy.records(expect=len(cases))) == len(cases)
    assert stat.S_IMODE(os.stat(proxy.log).st_mode) & 0o007 == 0, "access log must not be world-readable"


def test_framing_is_rewritten_canonically(start_proxy) -> None:
    """Identical lengths, leading zeros and trailing whitespace go out as one plain Content-Length;
    differing spellings of a repeated length are refused."""
    with RecordingBackend() as backend:
        proxy = start_proxy()
        url = f"http://127.0.0.1:{backend.port}/x"
        sent = {}
        for name, fields in {"zeros": "Content-Length: 005\t\r\n",
                             "twice": "Content-Length: 5\r\nContent-Length: 5\r\n",
                             "list": "Content-Length: 5, 5\r\n"}.items():
            mark = backend.mark()
            raw = f"POST {url} HTTP/1.1\r\nHost: a\r\n{fields}Connection: close\r\n\r\nhello".encode()
            reply = _send(proxy.port, raw)
            backend.wait_idle()
            assert reply.startswith(b"HTTP/1.1 200"), (name, reply[:200])
            sent[name] = b"".join(data for _, data in backend.received_since(mark))
        refused = _send(proxy.port, f"POST {url} HTTP/1.1\r\nHost: a\r\nContent-Length: 05\r\n"
                        "Content-Length: 5\r\n\r\nhello".encode())
    for name, data in sent.items():
        assert data.count(b"Content-Length") == 1 and b"\r\nContent-Length: 5\r\n" in data, (name, data)
        assert data.endswith(b"\r\n\r\nhello"), name
    assert refused.startswith(b"HTTP/1.1 400 "), refused[:100]


@contextmanager
def scripted_origin(script: Callable[[socket.socket, int], None]) -> Iterator[int]:
    """A plain-HTTP origin that runs ``script(conn, n)`` for its n-th connection."""
    srv = socket.create_server(("127.0.0.1", 0))
    count = [0]

    def loop() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            count[0] += 1
            threading.Thread(target=_run, args=(conn, count[0]), daemon=True).start()

    def _run(conn: socket.socket, n: int) -> None:
        with conn:
            try:
                script(conn, n)
            except OSError:
                pass

    threading.Thread(target=loop, daemon=True).start()
    try:
        yield srv.getsockname()[1]
    finally:
        srv.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _answer(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def test_pooled_connection_with_unsolicited_bytes_is_never_reused(start_proxy) -> None:
    """An origin that answers twice: the extra answer must never reach the next client."""

    def origin(conn: socket.socket, n: int) -> None:
        while True:
            request = _read_request(conn)
            if not request:
                return
            target = request.split(b" ")[1]
            conn.sendall(_answer(b"for " + target))
            if target == b"/first":
                time.sleep(0.2)  # the unsolicited answer arrives while the connection idles
                conn.sendall(_answer(b"UNSOLICITED"))

    with scripted_origin(origin) as port:
        proxy = start_proxy()
        # keep-alive clients: the proxy may pool the origin connection after each answer
        first = _send(proxy.port, f"GET http://127.0.0.1:{port}/first HTTP/1.1\r\nHost: a\r\n\r\n".encode(),
                      timeout=1.5)
        time.sleep(0.5)
        second = _send(proxy.port, f"GET http://127.0.0.1:{port}/second HTTP/1.1\r\nHost: a\r\n\r\n".encode(),
                       timeout=1.5)
    assert first.endswith(b"for /first"), first
    assert second.endswith(b"for /second"), second


def test_origin_failures_are_named_and_logged(start_proxy, tmp_path: Path) -> None:
    def origin(conn: socket.socket, n: int) -> None:
        request = _read_request(conn)
        if b"/stall" in request:
            time.sleep(4)
        elif b"/midbody" in request:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)

    with scripted_origin(origin) as port:
        proxy = start_proxy("--config", _config(tmp_path, 'read_timeout = "1s"\n'))
        stall = _send(proxy.port, f"GET http://127.0.0.1:{port}/stall HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        mid = _send(proxy.port, f"GET http://127.0.0.1:{port}/midbody HTTP/1.1\r\nHost: a\r\n\r\n".encode())
    assert stall.startswith(b"HTTP/1.1 504 "), stall[:200]
    assert mid.startswith(b"HTTP/1.1 200 ") and len(mid) < 100000
    records = proxy.records(expect=2)
    by_url = {str(r["url"]).rsplit("/", 1)[1]: r for r in records}
    assert by_url["stall"]["code"] == "upstream-timeout" and by_url["stall"]["status"] == 504
    assert by_url["midbody"]["code"] == "upstream-bad-response" and by_url["midbody"]["action"] == "error"


def test_slow_clients_are_cut_and_a_normal_client_is_served(start_proxy, tmp_path: Path) -> None:
    """Head, body and idle deadlines, and the per-source limit, while a normal client is served."""
    with RecordingBackend() as backend:
        proxy = start_proxy("--config", _config(tmp_path, 'head_timeout = "2s"\nidle_timeout = "2s"\n'
                                                          'body_min_rate = 1000\nmax_connections_per_source = 60\n'))
        url = f"http://127.0.0.1:{backend.port}/"
        slow = []
        for _ in range(40):  # slowloris: a head that never completes
            s = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
            s.sendall(f"GET {url} HTTP/1.1\r\nHost: a\r\n".encode())
            slow.append(s)
        body = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)  # a slow POST body
        body.sendall(f"POST {url} HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\nx".encode())
        idle = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)  # an idle keep-alive
        idle.sendall(f"GET {url} HTTP/1.1\r\nHost: a\r\n\r\n".encode())
        started = time.monotonic()
        for i in range(8):  # the drip goes on (until the proxy closes); a normal client is served at every step
            for s in [*slow, body]:
                with contextlib.suppress(OSError):
                    s.sendall(b"X")
            normal = _send(proxy.port, f"GET {url}n{i} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode())
            assert normal.startswith(b"HTTP/1.1 200"), normal[:100]
            time.sleep(0.5)
        assert time.monotonic() - started < 10
        # over the per-source limit: refused at once with a page, other connections unharmed
        extra = [socket.create_connection(("127.0.0.1", proxy.port), timeout=10) for _ in range(25)]
        refused = 0
        for s in extra:
            s.sendall(f"GET {url} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".encode())
            if s.recv(65536).startswith(b"HTTP/1.1 503"):
                refused += 1
            s.close()
        closed = sum(1 for s in slow if _closed(s))
        answers = [_drain(body), _drain(idle)]
    for s in slow:
        s.close()
    assert closed == len(slow), f"only {closed} of {len(slow)} slow heads were closed by the deadline"
    assert b" 408 " in answers[0].split(b"\r\n")[0] or answers[0].count(b"HTTP/1.1 408") == 1, answers[0][:200]
    assert answers[1].startswith(b"HTTP/1.1 200") and _closed(idle)
    assert refused == 0  # slow connections were closed before: the limit was not reached
    codes = [r["code"] for r in proxy.records(expect=42)]
    assert codes.count("client-timeout") >= len(slow)


def test_connection_limit_per_source(start_proxy, tmp_path: Path) -> None:
    with RecordingBackend() as backend:
        proxy = start_proxy("--config", _config(tmp_path, "max_connections_per_source = 5\n"))
        time.sleep(0.5)  # the start-up probe's connection is released
        held = [socket.create_connection(("127.0.0.1", proxy.port), timeout=5) for _ in range(5)]
        time.sleep(0.3)
        over = _send(proxy.port, f"GET http://127.0.0.1:{backend.port}/ HTTP/1.1\r\nHost: a\r\n\r\n".encode(),
                     timeout=5)
        for s in held:
            s.close()
        time.sleep(0.3)
        after = _send(proxy.port, f"GET http://127.0.0.1:{backend.port}/ok HTTP/1.1\r\nHost: a\r\n"
                      "Connection: close\r\n\r\n".encode(), timeout=5)
    assert over.startswith(b"HTTP/1.1 503 "), over[:200]
    assert after.startswith(b"HTTP/1.1 200 "), after[:200]
    assert any(r["code"] == "client-too-many-connections" for r in proxy.records(expect=2))


def test_read_only_store_keeps_the_learned_bypass_in_memory(tmp_path: Path) -> None:
    """The learned-bypass write fails on a read-only store: the entry is kept in memory, nothing raises."""
    from bridgehead.runtime.forward.server import ForwardProxy, ForwardSettings
    from bridgehead.runtime.store import Store

    state = tmp_path / "state"
    Store.open(state)  # the tables exist; the proxy then opens the database read-only (SQLite mode=ro)
    db = state / "bridgehead.sqlite3"
    proxy = ForwardProxy(ForwardSettings(state_dir=state, store_url=f"sqlite:///file:{db}?mode=ro&uri=true"))
    proxy.learn("renego.example", 443, "client-cert-requested-after-request", "TLS renegotiation")
    assert proxy.learned("renego.example", 443) == "learned: TLS renegotiation"
    assert Store.open(state).get("bypass", "renego.example:443") is None  # it really was not written


def _closed(s: socket.socket) -> bool:
    s.settimeout(3)
    try:
        while chunk := s.recv(65536):
            if not chunk:
                break
        return True
    except (TimeoutError, OSError):
        return False
    return True


def _drain(s: socket.socket) -> bytes:
    s.settimeout(5)
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except (TimeoutError, OSError):
        pass
    return out


def _tls_scripted_origin(pki, script: Callable[[socket.socket, int], None]):  # type: ignore[no-untyped-def]
    """``scripted_origin`` over TLS with the test PKI's server certificate."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(pki.server.chain), str(pki.server.key))

    def wrapped(conn: socket.socket, n: int) -> None:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            script(tls, n)

    return scripted_origin(wrapped)


def _inspected(proxy, port: int) -> socket.socket:  # type: ignore[no-untyped-def]
    """A client connection inspected by the proxy: CONNECT, then TLS trusting the proxy's CA."""
    import ssl

    raw = socket.create_connection(("127.0.0.1", proxy.port), timeout=10)
    raw.sendall(f"CONNECT localhost:{port} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
    assert b" 200 " in _read_request(raw).split(b"\r\n")[0]
    return ssl.create_default_context(cafile=str(proxy.ca)).wrap_socket(raw, server_hostname="localhost")


def _response(conn: socket.socket) -> bytes:
    data = _read_request(conn)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(v) for k, _, v in (line.partition(b":") for line in head.split(b"\r\n")[1:])
                  if k.strip().lower() == b"content-length")
    while len(body) < length:
        body += conn.recv(65536)
    return head.split(b"\r\n")[0] + b" " + body


def test_inspected_tunnel_never_reuses_an_upstream_that_spoke_unasked(start_proxy, pki) -> None:
    """Inside one inspected tunnel: an extra answer, or a close, while the upstream idles → a new one."""

    def origin(conn: socket.socket, n: int) -> None:
        request = _read_request(conn)
        target = request.split(b" ")[1]
        conn.sendall(_answer(b"for " + target + b" on %d" % n))
        if target == b"/unsolicited":
            time.sleep(0.2)
            conn.sendall(_answer(b"UNSOLICITED"))
            time.sleep(2)
        # /closes: the server ends its keep-alive connection after one answer (a keep-alive timeout)

    with _tls_scripted_origin(pki, origin) as port:
        proxy = start_proxy()
        for first in ("/unsolicited", "/closes"):
            with _inspected(proxy, port) as tls:
                tls.sendall(f"GET {first} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
                assert b"for " + first.encode() + b" on " in _response(tls)
                time.sleep(0.6)  # the extra answer or the close arrives while the tunnel idles
                tls.sendall(f"GET /second HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
                second = _response(tls)
                assert second.startswith(b"HTTP/1.1 200") and b"for /second on" in second, second
                assert b"UNSOLICITED" not in second
