"""The inspection CA (issue 13 item 7): `ca export` never creates one; bring your own subordinate CA (RSA or ECDSA)
with its chain sent to clients; `ca rotate` with an overlap period that a running proxy honours; minted leaves
never outlive the CA, the upstream certificate or their own cache entry."""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from bridgehead.runtime.forward.ca import CHECK_INTERVAL, REMINT_MARGIN, InspectionCA
from tests.runtime.forward.conftest import BRIDGEHEAD, ORIGIN_HOST, Pki, curl, python_origin, status_of
from tests.support.pki import TestCA, create_subordinate


def bh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BRIDGEHEAD, *args], capture_output=True, text=True, timeout=60)


def leaf_through(proxy_port: int, origin_port: int, cafile: Path) -> list[x509.Certificate]:
    """CONNECT through the proxy and complete TLS as a client trusting ``cafile``: the leaf the proxy minted
    (verified), followed by what else the proxy sent, as seen by ``openssl s_client -showcerts``."""
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=20) as raw:
        raw.sendall(f"CONNECT {ORIGIN_HOST}:{origin_port} HTTP/1.1\r\nHost: {ORIGIN_HOST}:{origin_port}\r\n\r\n"
                    .encode())
        assert raw.recv(4096).startswith(b"HTTP/1.1 200")
        ctx = ssl.create_default_context(cafile=str(cafile))
        with ctx.wrap_socket(raw, server_hostname=ORIGIN_HOST) as tls_sock:
            der = tls_sock.getpeercert(binary_form=True)
    assert der
    shown = subprocess.run(["openssl", "s_client", "-showcerts", "-proxy", f"127.0.0.1:{proxy_port}",
                            "-connect", f"{ORIGIN_HOST}:{origin_port}", "-servername", ORIGIN_HOST],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30).stdout
    sent = x509.load_pem_x509_certificates(shown.encode()) if "BEGIN CERTIFICATE" in shown else []
    return [x509.load_der_x509_certificate(der), *sent[1:]]


def test_export_never_creates_a_ca(tmp_path: Path) -> None:
    state = tmp_path / "mistyped-state"
    result = bh("ca", "export", "--state-dir", str(state))
    assert result.returncode != 0 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(state / "ca" / "ca.pem") in lines[0] and "Traceback" not in result.stderr
    assert not state.exists()
    for command in (["ca", "status"], ["ca", "rotate"]):
        other = bh(*command, "--state-dir", str(state))
        assert other.returncode != 0 and "no inspection CA" in other.stderr and not state.exists()


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_bring_your_own_subordinate_ca(tmp_path: Path, pki: Pki, start_proxy: Any, kind: str) -> None:
    root = TestCA.create(tmp_path / "pki", "Enterprise Root CA", rsa_key=kind == "rsa")
    issuing = create_subordinate(root, tmp_path / "pki" / "issuing", "Enterprise Issuing CA", rsa_key=kind == "rsa")
    sub = create_subordinate(issuing, tmp_path / "pki" / "sub", "bridgehead Inspection Sub CA",
                             rsa_key=kind == "rsa", path_length=0)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(issuing.cert.read_bytes() + root.cert.read_bytes())
    state = tmp_path / "state"
    imported = bh("ca", "import", "--state-dir", str(state), "--cert", str(sub.cert), "--key", str(sub.key),
                  "--chain", str(chain))
    assert imported.returncode == 0, imported.stderr
    assert oct((state / "ca" / "ca.key").stat().st_mode & 0o777) == "0o600"
    status = json.loads(bh("ca", "status", "--state-dir", str(state), "--json").stdout)
    assert status["current"]["subject"] == "CN=bridgehead Inspection Sub CA" and status["current"]["chain"] == 2
    proxy = start_proxy(state=state)
    with python_origin(tmp_path, pki.server) as port:
        # clients trust only the enterprise root: the proxy must send the subordinate and the issuing CA
        result = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", cacert=root.cert)
        assert status_of(result) == 200, result.stderr
        leaf, *sent = leaf_through(proxy.port, port, root.cert)
    assert leaf.issuer == sub.certificate.subject
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(sub.certificate.public_key(), rsa.RSAPublicKey if kind == "rsa" else ec.EllipticCurvePublicKey)
    assert [c.subject for c in sent[:2]] == [sub.certificate.subject, issuing.certificate.subject]
    # the exported certificate is the subordinate CA (nothing new to push to clients)
    assert x509.load_pem_x509_certificate(bh("ca", "export", "--state-dir", str(state)).stdout.encode()) == \
        sub.certificate


def test_import_refuses_what_cannot_sign(tmp_path: Path, pki: Pki) -> None:
    state = tmp_path / "state"
    leaf = bh("ca", "import", "--state-dir", str(state), "--cert", str(pki.server.cert), "--key",
              str(pki.server.key))
    assert leaf.returncode != 0 and "not a CA certificate" in leaf.stderr
    mismatch = bh("ca", "import", "--state-dir", str(state), "--cert", str(pki.ca.cert), "--key",
                  str(pki.other_ca.key))
    assert mismatch.returncode != 0 and "does not belong" in mismatch.stderr
    broken_chain = bh("ca", "import", "--state-dir", str(state), "--cert", str(pki.ca.cert), "--key",
                      str(pki.ca.key), "--chain", str(pki.other_ca.cert))
    assert broken_chain.returncode != 0 and "did not issue" in broken_chain.stderr
    assert bh("ca", "import", "--state-dir", str(state), "--cert", str(pki.ca.cert), "--key",
              str(pki.ca.key)).returncode == 0
    again = bh("ca", "import", "--state-dir", str(state), "--cert", str(pki.other_ca.cert), "--key",
               str(pki.other_ca.key))
    assert again.returncode != 0 and "ca rotate" in again.stderr
    for result in (leaf, mismatch, broken_chain, again):
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_rotate_with_overlap_switches_a_running_proxy(tmp_path: Path, pki: Pki, start_proxy: Any) -> None:
    state = tmp_path / "state"
    old = InspectionCA(state / "ca").certificate  # as the first 'bridgehead forward' run would create it
    proxy = start_proxy(state=state)
    with python_origin(tmp_path, pki.server) as port:
        leaf, *_ = leaf_through(proxy.port, port, proxy.ca)
        assert leaf.issuer == old.subject
        overlap = 8.0
        before = time.time()
        rotated = bh("ca", "rotate", "--state-dir", str(state), "--overlap", f"{overlap}s", "--json")
        assert rotated.returncode == 0, rotated.stderr
        # the switch time the command staged (its own clock, after its start-up: later than before + overlap on
        # a loaded machine); the proxy looks at the directory every CHECK_INTERVAL
        switch_at = float(json.loads((state / "ca" / "rotation.json").read_text())["switch_at"])
        assert before + overlap <= switch_at
        info = json.loads(rotated.stdout)
        assert info["next"] and info["next"]["sha256"] != info["current"]["sha256"]
        time.sleep(CHECK_INTERVAL + 0.2)  # the proxy has seen the staged rotation by now ...
        bundle = tmp_path / "bundle.pem"
        bundle.write_text(bh("ca", "export", "--state-dir", str(state)).stdout)  # clients import both now
        both = x509.load_pem_x509_certificates(bundle.read_bytes())
        assert len(both) == 2 and both[0] == old
        new = both[1]
        during = leaf_through(proxy.port, port, bundle)[0]
        if time.time() < switch_at:
            during.verify_directly_issued_by(old)  # ... and still signs with the old CA during the overlap
        time.sleep(max(0.0, switch_at - time.time()) + CHECK_INTERVAL + 0.3)
        after, *_ = leaf_through(proxy.port, port, bundle)
        after.verify_directly_issued_by(new)
        assert status_of(curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", cacert=bundle)) == 200
    exported = x509.load_pem_x509_certificates(bh("ca", "export", "--state-dir", str(state)).stdout.encode())
    assert exported == [new]
    retired = list((state / "ca" / "retired").glob("*.pem"))
    assert [x509.load_pem_x509_certificate(p.read_bytes()) for p in retired] == [old]
    assert not list((state / "ca").rglob("*.key"))[1:]  # only the signing key remains
    assert not (state / "ca" / "next").exists()


def _served_leaf(ctx: ssl.SSLContext, cafile: Path) -> x509.Certificate:
    """One real handshake against ``ctx`` over a loopback socket; the leaf the client saw."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        try:
            with ctx.wrap_socket(conn, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            client.wrap_socket(raw, server_hostname="www.example.test") as tls_sock:
        der = tls_sock.getpeercert(binary_form=True)
    thread.join(5)
    server.close()
    assert der
    return x509.load_der_x509_certificate(der)


def test_minted_leaf_honours_upstream_and_own_expiry(tmp_path: Path) -> None:
    authority = InspectionCA(tmp_path / "ca")
    now = dt.datetime.now(dt.UTC)
    upstream = now + dt.timedelta(days=3)
    leaf = _served_leaf(authority.context_for("www.example.test", upstream_not_after=upstream), authority.cert_path)
    assert abs(leaf.not_valid_after_utc - upstream.replace(microsecond=0)) <= dt.timedelta(seconds=1)
    # without an upstream date: 90 days, never past the CA
    plain = _served_leaf(authority.context_for("www.example.test"), authority.cert_path)
    assert dt.timedelta(days=89) < plain.not_valid_after_utc - now <= dt.timedelta(days=90)
    assert plain.not_valid_after_utc <= authority.certificate.not_valid_after_utc
    # cached while valid; an upstream that renewed (another notAfter) gets a new leaf
    assert authority.context_for("www.example.test") is authority.context_for("www.example.test")
    renewed = upstream + dt.timedelta(days=60)
    assert authority.context_for("www.example.test", upstream_not_after=renewed) is not \
        authority.context_for("www.example.test", upstream_not_after=upstream)
    # a leaf about to expire is not served from the cache
    soon = now + REMINT_MARGIN / 2
    first = authority.context_for("short.example.test", upstream_not_after=soon)
    assert authority.context_for("short.example.test", upstream_not_after=soon) is not first
