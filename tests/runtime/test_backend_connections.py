"""``bridgehead backend``: connection-bound auth state and client certificates, over real sockets.

* NTLM state belongs to one TCP connection (MS-NTHT §2): a NEW connection must never inherit an
  earlier connection's logon, not even when it comes from the same source port (loopback reuses
  TIME_WAIT ports with tcp_tw_reuse). The client here pins its source port with ``bind()``; the
  NTLM messages come from pyspnego (an independent implementation).
* With ``--client-cert require`` the JSON answer names the presented certificate's subject
  (curl and requests as clients).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import socket
import ssl
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import spnego

from tests.support.pki import TestCA
from tests.support.procs import free_port, running

BH = [sys.executable, "-m", "bridgehead"]
USER, PASSWORD = "CORP\\alice", "Passw0rd!"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("conn")
    ca = TestCA.create(d / "pki")
    server = ca.issue("backend", dns=["localhost"], ips=["127.0.0.1"])
    client = ca.issue("alice-device", client=True)
    users = d / "users.txt"
    users.write_text(f"CORP:alice:{PASSWORD}\n")
    ports = {"plain": free_port(), "mtls": free_port()}
    common = ["--cert", str(server.cert), "--key", str(server.key), "--users", str(users), "--ep", "none"]
    with contextlib.ExitStack() as stack:
        stack.enter_context(running([*BH, "backend", "--listen", f"127.0.0.1:{ports['plain']}", *common,
                                     "--auth", "ntlm"], port=ports["plain"], log=d / "plain.log"))
        stack.enter_context(running([*BH, "backend", "--listen", f"127.0.0.1:{ports['mtls']}", *common,
                                     "--auth", "basic", "--client-cert", "require", "--client-ca",
                                     str(ca.cert)], port=ports["mtls"], log=d / "mtls.log"))
        yield {"dir": d, "ca": ca, "client": client, "ports": ports}


def _connect(lab, source_port: int) -> ssl.SSLSocket:  # type: ignore[no-untyped-def]
    """A TLS connection to the plain backend whose source port is ``source_port``."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    raw.settimeout(20)
    raw.bind(("127.0.0.1", source_port))
    raw.connect(("127.0.0.1", lab["ports"]["plain"]))
    ctx = ssl.create_default_context(cafile=str(lab["ca"].cert))
    return ctx.wrap_socket(raw, server_hostname="localhost")


def _request(sock: ssl.SSLSocket, method: str, authorization: str | None = None,
             close: bool = False) -> http.client.HTTPResponse:
    body = b"not an MRS payload" if method == "POST" else b""
    lines = [f"{method} /EWS/mrsproxy.svc HTTP/1.1", "Host: localhost", f"Content-Length: {len(body)}"]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    if close:
        lines.append("Connection: close")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    resp = http.client.HTTPResponse(sock, method=method)  # type: ignore[arg-type]
    resp.begin()
    resp.body = resp.read()  # type: ignore[attr-defined]
    return resp


def _ntlm_logon(sock: ssl.SSLSocket) -> http.client.HTTPResponse:
    client = spnego.client(USER, PASSWORD, hostname="localhost", service="HTTP", protocol="ntlm")
    token = client.step()
    for _ in range(3):
        resp = _request(sock, "POST", f"NTLM {base64.b64encode(token or b'').decode()}")
        if resp.status != 401:
            return resp
        challenge = resp.headers.get("WWW-Authenticate", "")
        token = client.step(base64.b64decode(challenge.split(" ", 1)[1]))
    raise AssertionError("NTLM handshake did not finish in three legs")


def _reset(sock: ssl.SSLSocket) -> None:
    """Close with RST (SO_LINGER 0): no TIME_WAIT on the client, the port is free at once."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.parametrize("ending", ["server-closes", "client-resets"])
def test_new_connection_from_same_source_port_does_not_inherit_the_logon(lab, ending: str) -> None:  # type: ignore[no-untyped-def]
    """The old backend keyed NTLM state by (ip, port): the second connection got alice's logon."""
    port = free_port()
    first = _connect(lab, port)
    assert first.getsockname()[1] == port
    logon = _ntlm_logon(first)
    assert logon.status == 400 and json.loads(logon.body)["user"] == USER  # type: ignore[attr-defined]
    # the same connection stays authenticated without Authorization (IIS' default) ...
    again = _request(first, "POST", close=ending == "server-closes")
    assert again.status == 400 and json.loads(again.body)["user"] == USER  # type: ignore[attr-defined]
    _reset(first)
    # ... a new connection from the very same (ip, port) does not
    for _ in range(3):
        second = _connect(lab, port)
        assert second.getsockname() == ("127.0.0.1", port)
        anonymous = _request(second, "POST")
        _reset(second)
        assert anonymous.status == 401, anonymous.body  # type: ignore[attr-defined]
        assert anonymous.headers.get("WWW-Authenticate") == "NTLM"


def test_interleaved_connections_keep_their_own_state(lab) -> None:  # type: ignore[no-untyped-def]
    """A half-finished handshake on one connection cannot be completed on another."""
    a, b = _connect(lab, 0), _connect(lab, 0)
    try:
        client = spnego.client(USER, PASSWORD, hostname="localhost", service="HTTP", protocol="ntlm")
        r1 = _request(a, "POST", f"NTLM {base64.b64encode(client.step() or b'').decode()}")
        assert r1.status == 401
        token = client.step(base64.b64decode(r1.headers["WWW-Authenticate"].split(" ", 1)[1]))
        r2 = _request(b, "POST", f"NTLM {base64.b64encode(token or b'').decode()}")
        assert r2.status == 401  # no CHALLENGE was issued on b
        assert _request(b, "POST").status == 401
    finally:
        a.close()
        b.close()


def _subject_of(cert: Path) -> str:
    from cryptography import x509

    name = x509.load_pem_x509_certificate(cert.read_bytes()).subject
    return name.rfc4514_string()


def test_client_certificate_subject_with_curl(lab) -> None:  # type: ignore[no-untyped-def]
    url = f"https://localhost:{lab['ports']['mtls']}/owa/"
    out = subprocess.run(["curl", "-s", "--cacert", str(lab["ca"].cert), "--cert", str(lab["client"].cert),
                          "--key", str(lab["client"].key), "-u", f"{USER}:{PASSWORD}", url],
                         capture_output=True, text=True, timeout=30, check=True)
    body = json.loads(out.stdout)
    assert body["user"] == USER
    assert body["client_certificate"] is not None
    assert "CN=alice-device" in body["client_certificate"]


def test_client_certificate_subject_with_requests(lab) -> None:  # type: ignore[no-untyped-def]
    url = f"https://localhost:{lab['ports']['mtls']}/EWS/Exchange.asmx"
    with requests.Session() as s:
        for _ in range(2):  # the second request reuses the connection: the subject is still there
            r = s.get(url, auth=(USER, PASSWORD), cert=(str(lab["client"].cert), str(lab["client"].key)),
                      verify=str(lab["ca"].cert), timeout=20)
            assert r.status_code == 200, r.text
            assert "CN=alice-device" in r.json()["client_certificate"]
    assert "alice-device" in _subject_of(lab["client"].cert)


def test_required_client_certificate_missing_is_refused(lab) -> None:  # type: ignore[no-untyped-def]
    url = f"https://localhost:{lab['ports']['mtls']}/owa/"
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(url, auth=(USER, PASSWORD), verify=str(lab["ca"].cert), timeout=20)
