"""The admin listener over HTTPS with curl: client-certificate sign-in, each refusal's code, the private hop.

``[admin] tls_cert``/``tls_key``/``client_ca``: curl with a certificate from ``client_ca`` is
signed in (303 to ``/``, a Secure cookie); one from another CA, an expired one and one without
clientAuth get 403 pages naming ``edge-client-cert-untrusted`` / ``-expired`` /
``-not-acceptable``; ``client_crl`` is read at each connection (a serial listed a moment ago is
``edge-client-cert-revoked``, a stale CRL ``edge-revocation-unavailable``); no certificate gets
the password form; ``X-Forwarded-For`` changes nothing;
the private loopback port the TLS front relays to refuses a connection that bypasses it.
Unusable ``[admin]`` TLS settings are refused with one line and exit status 2.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from bridgehead.core.ops.password import hash_password
from tests.support.pki import Issued, TestCA
from tests.support.procs import free_port, running

BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")


def _curl(url: str, ca: Path, cert: Issued | None = None, *extra: str) -> tuple[int, dict[str, str], str]:
    argv = ["curl", "-sS", "-i", "--max-time", "10", "--cacert", str(ca), *extra, url]
    if cert is not None:
        argv[1:1] = ["--cert", str(cert.cert), "--key", str(cert.key)]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    head, _, body = out.stdout.replace("\r\n", "\n").partition("\n\n")
    lines = head.split("\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return int(lines[0].split()[1]), headers, body


def _stale_crl(ca: TestCA, path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    crl = (x509.CertificateRevocationListBuilder().issuer_name(ca.certificate.subject)
           .last_update(now - dt.timedelta(days=8)).next_update(now - dt.timedelta(days=1))
           .sign(ca.private_key, hashes.SHA256()))  # type: ignore[arg-type]
    path.write_bytes(crl.public_bytes(serialization.Encoding.PEM))


def _listening_ports(pid: int) -> set[int]:
    """TCP ports the process listens on, from /proc (socket inodes of its descriptors, LISTEN rows)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            cols = row.split()
            if cols[3] == "0A" and cols[9] in inodes:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def test_https_console_client_certificates(tmp_path: Path) -> None:
    admins = TestCA.create(tmp_path / "admins", "Console Admins CA")
    other = TestCA.create(tmp_path / "other", "Some Other CA")
    servers = TestCA.create(tmp_path / "servers", "Server CA")
    alice = admins.issue("alice", cn="Alice Admin", server=False, client=True)
    expired = admins.issue("expired", cn="Old Admin", server=False, client=True, days=-2)
    server_only = admins.issue("server-only", cn="Not A Client", server=True, client=False)
    mallory = other.issue("mallory", cn="Mallory", server=False, client=True)
    lost = admins.issue("lost", cn="Lost Laptop", server=False, client=True)
    crl = admins.write_crl([])
    tls = servers.issue("admin-tls", dns=["localhost"], ips=["127.0.0.1"])
    admin, fwd = free_port(), free_port()
    conf = tmp_path / "gateway.toml"
    conf.write_text(f'state_dir = "state"\ndrain_timeout = "1s"\n[forward]\nlisten = "127.0.0.1:{fwd}"\n'
                    f'[admin]\nlisten = "127.0.0.1:{admin}"\npassword_hash = "{hash_password("pw-for-tls")}"\n'
                    f'tls_cert = "{tls.chain}"\ntls_key = "{tls.key}"\nclient_ca = "{admins.cert}"\n'
                    f'client_crl = "{crl}"\n')
    base = f"https://127.0.0.1:{admin}"
    with running([BRIDGEHEAD, "serve", "--config", str(conf)], port=admin, log=tmp_path / "serve.log",
                 cwd=tmp_path) as proc:
        status, headers, _ = _curl(f"{base}/login", servers.cert, alice)
        assert status == 303 and headers.get("location") == "/", (status, headers)
        cookie = headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        sid = re.search(r"bh_session=([^;]+)", headers["set-cookie"]).group(1)  # type: ignore[union-attr]
        status, _, body = _curl(f"{base}/", servers.cert, alice, "-H", f"Cookie: bh_session={sid}")
        assert status == 200 and "CN=Alice Admin" in body
        # that session is good only with alice's certificate: without one it is dropped
        status, headers, _ = _curl(f"{base}/", servers.cert, None, "-H", f"Cookie: bh_session={sid}")
        assert status == 303 and headers["location"] == "/login"
        assert _curl(f"{base}/", servers.cert, alice, "-H", f"Cookie: bh_session={sid}")[0] == 303

        for who, code in ((mallory, "edge-client-cert-untrusted"), (expired, "edge-client-cert-expired"),
                          (server_only, "edge-client-cert-not-acceptable")):
            status, headers, body = _curl(f"{base}/login", servers.cert, who, "-H", "X-Forwarded-For: 127.0.0.1")
            assert status == 403 and headers["x-bridgehead-code"] == code, (who.name, status, headers)
            assert f"<code id=code>{code}</code>" in body and "set-cookie" not in headers
            explained = subprocess.run([BRIDGEHEAD, "explain", code], capture_output=True, text=True, timeout=30)
            assert explained.returncode == 0 and code in explained.stdout
        # a refused certificate cannot ride on a session either
        status, headers, _ = _curl(f"{base}/", servers.cert, mallory, "-H", f"Cookie: bh_session={sid}")
        assert status == 403 and headers["x-bridgehead-code"] == "edge-client-cert-untrusted"

        # client_crl is read at each connection: the laptop's certificate works until its serial is listed
        assert _curl(f"{base}/login", servers.cert, lost)[0] == 303
        admins.write_crl([lost], crl)
        status, headers, body = _curl(f"{base}/login", servers.cert, lost)
        assert status == 403 and headers["x-bridgehead-code"] == "edge-client-cert-revoked", headers
        _stale_crl(admins, crl)  # past its nextUpdate: fail closed, even for alice
        status, headers, body = _curl(f"{base}/login", servers.cert, alice)
        assert status == 403 and headers["x-bridgehead-code"] == "edge-revocation-unavailable"
        assert "CRL is stale" in body
        admins.write_crl([lost], crl)

        status, headers, body = _curl(f"{base}/login", servers.cert)
        assert status == 200 and "name=password" in body and "set-cookie" not in headers
        assert requests.get(f"{base}/healthz", verify=str(servers.cert), timeout=5).json()["status"] == "ok"

        private = _listening_ports(proc.pid) - {admin, fwd}
        assert len(private) == 1, private
        direct = requests.get(f"http://127.0.0.1:{private.pop()}/healthz", timeout=5)
        assert direct.status_code == 403 and "HTTPS address" in direct.text
        assert direct.headers["X-Bridgehead-Code"] == "admin-https-only"
    log = (tmp_path / "serve.log").read_text()
    assert f"console: {base}/  (sign in as admin with the password whose hash is admin.password_hash or with a " \
        "client certificate issued by admin.client_ca)" in log
    assert "CN=Alice Admin signed in (certificate)" in log
    for code in ("edge-client-cert-untrusted", "edge-client-cert-expired", "edge-client-cert-not-acceptable",
                 "edge-client-cert-revoked", "edge-revocation-unavailable"):
        assert f"refused: {code}" in log


@pytest.mark.parametrize("admin_keys,message", [
    ('tls_cert = "{tls.cert}"\n', "admin: tls_cert and tls_key go together"),
    ('client_ca = "{ca.cert}"\n', "admin: client_ca needs tls_cert and tls_key"),
    ('tls_cert = "{tls.cert}"\ntls_key = "{d}/missing.key"\n', "admin.tls_key: {d}/missing.key: no such file"),
    ('tls_cert = "{tls.cert}"\ntls_key = "{ca.key}"\n', "admin: cannot use tls_cert"),
    ('tls_cert = "{tls.cert}"\ntls_key = "{tls.key}"\nclient_ca = "{d}/gateway.toml"\n', "admin: cannot use"),
    ('tls_cert = "{tls.cert}"\ntls_key = "{tls.key}"\nclient_crl = "{ca.cert}"\n', "admin: client_crl needs client_ca"),
    ('tls_cert = "{tls.cert}"\ntls_key = "{tls.key}"\nclient_ca = "{ca.cert}"\nclient_crl = ["{ca.cert}"]\n',
     "admin.client_crl: {d}/ca/Server_CA.pem: not a CRL"),
])
def test_unusable_admin_tls_settings_are_refused(tmp_path: Path, admin_keys: str, message: str) -> None:
    ca = TestCA.create(tmp_path / "ca", "Server CA")
    tls = ca.issue("admin-tls", ips=["127.0.0.1"])
    conf = tmp_path / "gateway.toml"
    conf.write_text(f'[forward]\nlisten = "127.0.0.1:{free_port()}"\n[admin]\nlisten = "127.0.0.1:{free_port()}"\n'
                    + admin_keys.format(tls=tls, ca=ca, d=tmp_path))
    result = subprocess.run([BRIDGEHEAD, "config", "apply", str(conf), "--state-dir", str(tmp_path / "state")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and message.format(d=tmp_path) in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
