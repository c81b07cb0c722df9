"""`bridgehead pki`: the files a reverse-proxy quick start needs, checked with openssl (an
independent X.509 implementation) and served by nginx to curl with a client certificate."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

from cryptography import x509

from bridgehead.runtime.lab import origins
from bridgehead.runtime.lab.pki import UPN_OID
from bridgehead.runtime.lab.procs import Programs, clean_env

BH = [sys.executable, "-m", "bridgehead"]


def bh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BH, *args], capture_output=True, text=True, timeout=60)


def test_pki_files_verify_and_revocation_lands_in_the_crl(tmp_path: Path) -> None:
    d = tmp_path / "pki"
    r = bh("pki", "init", str(d))
    assert r.returncode == 0, r.stderr
    assert "for quick starts and labs only" in r.stderr
    r = bh("pki", "server", str(d), "mail.example.test", "127.0.0.1", "--json")
    assert r.returncode == 0, r.stderr
    server = json.loads(r.stdout)
    r = bh("pki", "client", str(d), "alice", "--upn", "alice@EXAMPLE.TEST", "--email", "alice@example.test")
    assert r.returncode == 0, r.stderr
    for key in (d / "ca.key", d / "mail.example.test.key", d / "alice.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    for name, purpose in (("mail.example.test", "sslserver"), ("alice", "sslclient")):
        v = subprocess.run(["openssl", "verify", "-CAfile", str(d / "ca.pem"), "-purpose", purpose,
                            str(d / f"{name}.pem")], capture_output=True, text=True)
        assert v.returncode == 0, v.stdout + v.stderr
    alice = x509.load_pem_x509_certificate((d / "alice.pem").read_bytes())
    san = alice.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    upn = san.get_values_for_type(x509.OtherName)[0]
    assert upn.type_id == UPN_OID and upn.value.endswith(b"alice@EXAMPLE.TEST")
    assert san.get_values_for_type(x509.RFC822Name) == ["alice@example.test"]

    # revoked: openssl with the CRL refuses it, the server certificate still verifies
    assert bh("pki", "revoke", str(d), "alice").returncode == 0
    crl = x509.load_pem_x509_crl((d / "crl.pem").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(alice.serial_number) is not None
    bundle = tmp_path / "ca+crl.pem"
    bundle.write_bytes((d / "ca.pem").read_bytes() + (d / "crl.pem").read_bytes())
    refused = subprocess.run(["openssl", "verify", "-crl_check", "-CAfile", str(bundle), str(d / "alice.pem")],
                             capture_output=True, text=True)
    assert refused.returncode != 0 and "revoked" in (refused.stdout + refused.stderr)
    ok = subprocess.run(["openssl", "verify", "-crl_check", "-CAfile", str(bundle), server["cert"]],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    # the files work as they are: nginx requiring a client certificate, curl with alice's
    with Programs(tmp_path) as progs:
        port = origins.nginx_tls(progs, "nginx", chain=Path(server["chain"]), key=Path(server["key"]),
                                 client_ca=d / "ca.pem", verify="on")
        r2 = subprocess.run(["curl", "-sS", "--noproxy", "*", "--resolve", f"mail.example.test:{port}:127.0.0.1",
                             "--cacert", str(d / "ca.pem"), "--cert", str(d / "alice.pem"), "--key",
                             str(d / "alice.key"), f"https://mail.example.test:{port}/"],
                            capture_output=True, text=True, timeout=30, env=clean_env())
    assert "client=CN=alice verify=SUCCESS" in r2.stdout, r2.stderr


def test_pki_errors_are_one_line(tmp_path: Path) -> None:
    r = bh("pki", "server", str(tmp_path / "none"), "x.test")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "pki init" in r.stderr
    assert bh("pki", "init", str(tmp_path / "p")).returncode == 0
    again = bh("pki", "init", str(tmp_path / "p"))
    assert again.returncode == 2 and "already exists" in again.stderr
    r = bh("pki", "revoke", str(tmp_path / "p"), "nobody")
    assert r.returncode == 2 and "no certificate named 'nobody'" in r.stderr
    r = bh("pki", "client", str(tmp_path / "p"), "../evil")
    assert r.returncode == 2 and "not a usable file name" in r.stderr
