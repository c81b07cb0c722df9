"""The inspection CA belongs to the array: kept in the store (key encrypted), created once, used by every member.

A real PostgreSQL (throwaway cluster), two ``bridgehead serve --store`` members started at the
same moment on an empty store, a Python ``ssl`` origin: ``ca export --store`` fails with one line
before any member ran, then prints one CA; the leaf each member mints for the origin (read over a
real CONNECT + TLS handshake) is signed by that CA, and curl through each member trusts it with
only the exported PEM. The record in the store holds an encrypted PKCS#8 key (never a plain one);
a member with another passphrase refuses the version and says why. Eight threads racing to create
the CA end up with one.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bridgehead.runtime.forward.array_ca import ARRAY_KEY, ARRAY_NAMESPACE, array_material
from bridgehead.runtime.forward.ca import CAError, fingerprint
from bridgehead.runtime.store import Store
from tests.support.pki import TestCA
from tests.support.postgres import pg_cluster
from tests.support.procs import free_port, running, wait_port

BRIDGEHEAD = str(Path(sys.executable).parent / "bridgehead")
TLS_SERVER = str(Path(__file__).resolve().parents[2] / "support" / "tls_server.py")
PASS = "correct horse battery staple"
ADDRS = {"m1": "127.0.0.2", "m2": "127.0.0.3"}


def _bh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BRIDGEHEAD, *args], capture_output=True, text=True, timeout=60)


def _leaf_via(proxy: tuple[str, int], host: str, port: int) -> x509.Certificate:
    """CONNECT through the proxy, handshake without verification, return the certificate it presented."""
    with socket.create_connection(proxy, timeout=10) as raw:
        raw.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = raw.recv(4096)
            assert chunk, head
            head += chunk
        assert head.startswith(b"HTTP/1.1 200"), head
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with ctx.wrap_socket(raw, server_hostname=None) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _conf(tmp: Path, fwd: int, admin: int, upstream_ca: Path, passphrase_file: str = "") -> Path:
    conf = tmp / "gateway.toml"
    extra = f'ca_key_passphrase_file = "{passphrase_file}"\n' if passphrase_file else ""
    conf.write_text(f'state_dir = "state"\ndrain_timeout = "2s"\n[forward]\nlisten = "127.0.0.1:{fwd}"\n{extra}'
                    f'upstream_ca = ["{upstream_ca}"]\n[admin]\nlisten = "127.0.0.1:{admin}"\n')
    return conf


def test_two_members_mint_from_the_one_array_ca_export_prints(tmp_path: Path) -> None:
    pki = TestCA.create(tmp_path / "pki")
    origin_cert = pki.issue("origin", ips=["127.0.0.1"])
    origin_port, fwd, admin = free_port(), free_port(), free_port()
    (tmp_path / "ca.pass").write_text(PASS + "\n")  # [forward] ca_key_passphrase_file, beside the file
    conf = _conf(tmp_path, fwd, admin, pki.cert, "ca.pass")
    env = {**os.environ, "BRIDGEHEAD_CA_PASSPHRASE": "the file wins over the environment"}
    with pg_cluster() as pg, running([sys.executable, TLS_SERVER, "--port", str(origin_port), "--cert",
                                      str(origin_cert.cert), "--key", str(origin_cert.key)], port=origin_port):
        url = pg.url
        none = _bh("ca", "export", "--store", url)
        assert none.returncode == 2 and none.stdout == ""
        assert none.stderr.count("\n") == 1 and "no inspection CA in the store" in none.stderr, none.stderr
        assert _bh("ca", "status", "--store", url).returncode == 2
        assert _bh("config", "apply", str(conf), "--store", url).returncode == 0
        members = [running([BRIDGEHEAD, "serve", "--store", url, "--member", name, "--bind", addr, "--state-dir",
                            str(tmp_path / name)], log=tmp_path / f"{name}.log", env=env, cwd=tmp_path)
                   for name, addr in ADDRS.items()]
        procs = [m.__enter__() for m in members]  # both start at once: they race to create the CA
        try:
            for (name, addr), proc in zip(ADDRS.items(), procs, strict=True):
                wait_port(fwd, addr, 20, proc, tmp_path / f"{name}.log")
            exported = _bh("ca", "export", "--store", url)
            assert exported.returncode == 0, exported.stderr
            cas = x509.load_pem_x509_certificates(exported.stdout.encode())
            assert len(cas) == 1
            ca = cas[0]
            (tmp_path / "array-ca.pem").write_text(exported.stdout)
            shown = _bh("ca", "status", "--store", url, "--json")
            assert shown.returncode == 0, shown.stderr
            current = json.loads(shown.stdout)["current"]
            assert current["sha256"] == fingerprint(ca)
            assert current["subject"] == "O=bridgehead,CN=bridgehead Inspection CA"
            assert json.loads(shown.stdout)["store"] == url  # the test cluster's URL has no password
            for name, addr in ADDRS.items():
                assert not (tmp_path / name / "ca").exists()  # no member made a CA of its own
                leaf = _leaf_via((addr, fwd), "127.0.0.1", origin_port)
                assert leaf.issuer == ca.subject
                leaf.verify_directly_issued_by(ca)
                curl = subprocess.run(["curl", "-sS", "--max-time", "10", "--proxy", f"http://{addr}:{fwd}",
                                       "--cacert", str(tmp_path / "array-ca.pem"),
                                       f"https://127.0.0.1:{origin_port}/"], capture_output=True, text=True)
                assert curl.returncode == 0, (name, curl.stderr)
            logs = "".join((tmp_path / f"{n}.log").read_text() for n in ADDRS)
            assert logs.count("created the array's inspection CA") == 1, logs
            assert PASS not in logs

            record = Store(url).get(ARRAY_NAMESPACE, ARRAY_KEY)
            assert record is not None
            key_pem = str(record.value["key_pem"])
            assert key_pem.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
            assert PASS not in str(record.value)
            with pytest.raises(TypeError):  # no key can be read from the record without the passphrase
                serialization.load_pem_private_key(key_pem.encode(), None)
            assert record.value["fingerprint"] == fingerprint(ca)
        finally:
            for m in reversed(members):
                m.__exit__(None, None, None)

        # version 2 without the file; a third member whose BRIDGEHEAD_CA_PASSPHRASE is not the array's
        # passphrase refuses it, with the reason
        _conf(tmp_path, fwd, admin, pki.cert)
        assert _bh("config", "apply", str(conf), "--store", url).returncode == 0
        wrong = {**env, "BRIDGEHEAD_CA_PASSPHRASE": "not the array's passphrase"}
        with running([BRIDGEHEAD, "serve", "--store", url, "--member", "m3", "--bind", "127.0.0.4", "--state-dir",
                      str(tmp_path / "m3")], log=tmp_path / "m3.log", env=wrong, cwd=tmp_path):
            status = _status_of(url, "m3")
            assert status["state"] == "error" and "wrong passphrase" in status["message"], status
        assert not (tmp_path / "m3" / "ca").exists()


def _status_of(url: str, name: str, timeout: float = 15.0) -> dict[str, str]:
    import time

    deadline = time.monotonic() + timeout
    while True:
        out = _bh("status", "--store", url, "--json")
        assert out.returncode == 0, out.stderr
        found = [m for m in json.loads(out.stdout)["members"] if m["name"] == name]
        if found and found[0]["state"] == "error":
            return found[0]  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} did not report an error: {out.stdout}")
        time.sleep(0.1)


def test_members_racing_to_create_the_ca_end_with_one(tmp_path: Path) -> None:
    with pg_cluster() as pg:
        results: list[str] = []
        created: list[bool] = []
        errors: list[BaseException] = []
        gate = threading.Barrier(8)

        def member(n: int) -> None:
            try:
                store = Store(pg.url)
                gate.wait(10)
                material, made = array_material(store, PASS.encode(), member=f"m{n}")
                results.append(fingerprint(material.certificate))
                created.append(made)
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=member, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
        assert len(results) == 8 and len(set(results)) == 1
        assert created.count(True) == 1
        with pytest.raises(CAError, match="wrong passphrase"):
            array_material(Store(pg.url), b"another passphrase!", member="x")
