"""A certificate request after the first request (TLS 1.2 renegotiation, TLS 1.3 PHA).

Apache's ``SSLVerifyClient require`` inside a ``<Location>`` renegotiates under TLS 1.2 for
that path only, as IIS does per virtual directory. The proxy cannot splice any more: it
answers 502 naming the cause, learns the destination, and the next connection tunnels, so
the client's own certificate gets through. ``bypass list`` shows the entry; ``remove``
drops it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bridgehead.runtime.lab.origins import APACHE_MODULES, apache_renegotiating_site
from tests.runtime.forward.conftest import BRIDGEHEAD, ORIGIN_HOST, Pki, curl, python_origin, status_of
from tests.support.procs import free_port, running

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = APACHE_MODULES


@contextmanager
def apache_origin(tmp: Path, pki: Pki, *, protocols: str = "-all +TLSv1.2") -> Iterator[int]:
    if not Path(APACHE).exists() or not (MODULES / "mod_ssl.so").exists():
        pytest.skip("apache2 with mod_ssl not installed (scripts/setup.sh --dev installs it)")
    port = free_port()
    # Apache's workers run as www-data: pytest's tmp dirs (0700) are not traversable for them
    d = Path(tempfile.mkdtemp(prefix=f"bh-apache-{port}-"))
    d.chmod(0o755)
    conf = apache_renegotiating_site(d, port, cert=pki.server.cert, key=pki.server.key, chain=pki.ca.cert,
                                     ca=pki.ca.cert, server_name=ORIGIN_HOST, protocols=protocols,
                                     log_level="info ssl:info")
    try:
        with running([APACHE, "-f", str(conf), "-DNO_DETACH"], port=port, log=tmp / "apache.out"):
            yield port
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _bypass_list(state: Path) -> list[dict[str, object]]:
    out = subprocess.run([BRIDGEHEAD, "bypass", "list", "--json", "--state-dir", str(state)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_tls12_renegotiation_is_named_learned_and_then_tunnelled(tmp_path: Path, pki: Pki, start_proxy) -> None:
    proxy = start_proxy()
    client_cert = ("--cert", str(pki.client.cert), "--key", str(pki.client.key))
    with apache_origin(tmp_path, pki) as port:
        # the public part is inspected normally
        public = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/", cacert=proxy.ca)
        assert status_of(public) == 200 and "public" in public.stdout
        # the renegotiating path: 502 naming the cause
        first = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/secure/", "-i", *client_cert, cacert=proxy.ca)
        assert status_of(first) == 502, first.stdout + first.stderr
        assert "x-bridgehead-code: client-cert-requested-after-request" in first.stdout.lower()  # h1 or h2
        assert "renegotiation" in first.stdout
        entries = _bypass_list(proxy.state)
        assert [e["destination"] for e in entries] == [f"{ORIGIN_HOST}:{port}"]
        assert entries[0]["expires_at"] is not None
        # the next connection tunnels: the client's certificate reaches Apache
        second = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/secure/", *client_cert, cacert=pki.ca.cert)
        assert status_of(second) == 200, second.stderr
        assert "secret area" in second.stdout
    records = proxy.records(expect=3)
    assert [r["action"] for r in records][-1] == "tunnel"
    assert records[-1]["rule"] == "learned-bypass"
    removed = subprocess.run([BRIDGEHEAD, "bypass", "remove", f"{ORIGIN_HOST}:{port}", "--state-dir",
                              str(proxy.state)], capture_output=True, text=True)
    assert removed.returncode == 0, removed.stderr
    assert _bypass_list(proxy.state) == []


def test_tls13_post_handshake_auth_is_named_and_learned(tmp_path: Path, pki: Pki, start_proxy) -> None:
    proxy = start_proxy()
    with python_origin(tmp_path, pki.server, "--pha-path", "/secure", "--client-ca", str(pki.ca.cert)) as port:
        first = curl(pki, proxy, f"https://{ORIGIN_HOST}:{port}/secure", "-i", cacert=proxy.ca)
        assert status_of(first) == 502, first.stdout + first.stderr
        assert "x-bridgehead-code: client-cert-requested-after-request" in first.stdout.lower()  # h1 or h2
        assert "post-handshake" in first.stdout
        assert [e["destination"] for e in _bypass_list(proxy.state)] == [f"{ORIGIN_HOST}:{port}"]


def test_bypass_remove_unknown_entry_is_one_line_error(tmp_path: Path) -> None:
    out = subprocess.run([BRIDGEHEAD, "bypass", "remove", "nowhere.example:443", "--state-dir",
                          str(tmp_path / "s")], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "no learned bypass entry" in out.stderr
