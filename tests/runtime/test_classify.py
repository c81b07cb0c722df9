"""One classify step, against real TLS peers (openssl s_server, a plain-HTTP server) on loopback.

The same exception gets the same registry code in the proxies, probe and the OAuth probe
because they all call ``bridgehead.runtime.classify.classify``; each case here makes a real
handshake fail in one way and checks the code.
"""

from __future__ import annotations

import socket
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridgehead.failures import REGISTRY
from bridgehead.runtime.classify import classify
from tests.support.pki import TestCA
from tests.support.procs import free_port, running


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    d = tmp_path_factory.mktemp("classify")
    ca = TestCA.create(d / "ca")
    other = TestCA.create(d / "other", "Other CA")
    yield {
        "dir": d, "ca": ca, "other": other,
        "good": ca.issue("srv", dns=["localhost"]),
        "expired": ca.issue("old", dns=["localhost"], days=-2),
        "client_other": other.issue("cli", client=True, server=False),
    }


def _handshake(port: int, cafile: Path, cert: tuple[Path, Path] | None = None,
               tls12: bool = False) -> BaseException:
    ctx = ssl.create_default_context(cafile=str(cafile))
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
            tls.recv(100)
    except (OSError, ssl.SSLError) as exc:
        return exc
    raise AssertionError("the handshake did not fail")


def _s_server(port: int, cert: Path, key: Path, *extra: str) -> list[str]:
    return ["openssl", "s_server", "-quiet", "-accept", f"127.0.0.1:{port}", "-cert", str(cert),
            "-key", str(key), *extra]


def test_expired_server_certificate(pki: dict[str, Any]) -> None:
    port, leaf, ca = free_port(), pki["expired"], pki["ca"]
    with running(_s_server(port, leaf.cert, leaf.key), port=port):
        code, detail = classify(_handshake(port, ca.cert))
    assert code == "upstream-cert-expired" and "X509_V_ERR 10" in detail


def test_untrusted_issuer(pki: dict[str, Any]) -> None:
    port, leaf, other = free_port(), pki["good"], pki["other"]
    with running(_s_server(port, leaf.cert, leaf.key), port=port):
        code, _ = classify(_handshake(port, other.cert))
    assert code == "upstream-cert-untrusted"


def test_client_certificate_required_tls12_is_alert_40(pki: dict[str, Any]) -> None:
    port, leaf, ca = free_port(), pki["good"], pki["ca"]
    argv = _s_server(port, leaf.cert, leaf.key, "-Verify", "1", "-CAfile", str(ca.cert), "-tls1_2")
    with running(argv, port=port):
        code, detail = classify(_handshake(port, ca.cert, tls12=True))
    assert code == "tls-alert-40", detail


def test_client_certificate_from_another_ca_is_alert_48(pki: dict[str, Any]) -> None:
    port, leaf, ca, cli = free_port(), pki["good"], pki["ca"], pki["client_other"]
    argv = _s_server(port, leaf.cert, leaf.key, "-Verify", "1", "-CAfile", str(ca.cert), "-tls1_2",
                    "-verify_return_error")
    with running(argv, port=port):
        code, detail = classify(_handshake(port, ca.cert, cert=(cli.cert, cli.key), tls12=True))
    assert code == "tls-alert-48", detail


def test_tls_to_a_plain_http_port(tmp_path: Path, pki: dict[str, Any]) -> None:
    port = free_port()
    with running([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port), "-d", str(tmp_path)],
                 port=port):
        code, detail = classify(_handshake(port, pki["ca"].cert))
    assert code == "tls-wrong-version-number", detail


def test_refused_and_dns() -> None:
    port = free_port()
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError as exc:
        assert classify(exc, connecting=True)[0] == "upstream-unreachable"
    try:
        socket.getaddrinfo("no-such-host.invalid", 443)
    except socket.gaierror as exc:
        assert classify(exc)[0] == "upstream-dns-failed"
    for code in ("upstream-unreachable", "upstream-dns-failed", "tls-wrong-version-number", "tls-alert-40"):
        assert code in REGISTRY
