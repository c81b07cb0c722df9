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
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.runtime.forward.conftest import BRIDGEHEAD, ORIGIN_HOST, Pki, curl, python_origin, status_of
from tests.support.procs import free_port, running

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")


@contextmanager
def apache_origin(tmp: Path, pki: Pki, *, protocols: str = "-all +TLSv1.2") -> Iterator[int]:
    if not Path(APACHE).exists() or not (MODULES / "mod_ssl.so").exists():
        pytest.skip("apache2 with mod_ssl not installed (scripts/setup.sh --dev installs it)")
    port = free_port()
    # Apache's workers run as www-data: pytest's tmp dirs (0700) are not traversable for them
    d = Path(tempfile.mkdtemp(prefix=f"bh-apache-{port}-"))
    d.chmod(0o755)
    (d / "htdocs" / "secure").mkdir(parents=True)
    (d / "htdocs" / "index.html").write_text("public\n")
    (d / "htdocs" / "secure" / "index.html").write_text("secret area\n")
    conf = textwrap.dedent(f"""
        ServerRoot {d}
        ServerName {ORIGIN_HOST}
        Listen 127.0.0.1:{port}
        PidFile {d}/httpd.pid
        DefaultRuntimeDir {d}
        Mutex file:{d} default
        ErrorLog {d}/error.log
        LogLevel info ssl:info
        LoadModule mpm_event_module {MODULES}/mod_mpm_event.so
        LoadModule authz_core_module {MODULES}/mod_authz_core.so
        LoadModule dir_module {MODULES}/mod_dir.so
        LoadModule mime_module {MODULES}/mod_mime.so
        LoadModule socache_shmcb_module {MODULES}/mod_socache_shmcb.so
        LoadModule ssl_module {MODULES}/mod_ssl.so
        User www-data
        Group www-data
        DocumentRoot {d}/htdocs
        DirectoryIndex index.html
        TypesConfig /etc/mime.types
        SSLSessionCache shmcb:{d}/ssl_scache(512000)
        <VirtualHost 127.0.0.1:{port}>
            SSLEngine on
            SSLProtocol {protocols}
            SSLCertificateFile {pki.server.cert}
            SSLCertificateKeyFile {pki.server.key}
            SSLCertificateChainFile {pki.ca.cert}
            SSLCACertificateFile {pki.ca.cert}
            <Directory {d}/htdocs>
                AllowOverride None
                Require all granted
            </Directory>
            <Location /secure>
                SSLVerifyClient require
                SSLVerifyDepth 2
            </Location>
        </VirtualHost>
    """)
    (d / "httpd.conf").write_text(conf)
    d.chmod(0o755)
    for p in d.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    try:
        with running([APACHE, "-f", str(d / "httpd.conf"), "-DNO_DETACH"], port=port, log=tmp / "apache.out"):
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
        assert "X-Bridgehead-Code: client-cert-requested-after-request" in first.stdout
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
        assert "X-Bridgehead-Code: client-cert-requested-after-request" in first.stdout
        assert "post-handshake" in first.stdout
        assert [e["destination"] for e in _bypass_list(proxy.state)] == [f"{ORIGIN_HOST}:{port}"]


def test_bypass_remove_unknown_entry_is_one_line_error(tmp_path: Path) -> None:
    out = subprocess.run([BRIDGEHEAD, "bypass", "remove", "nowhere.example:443", "--state-dir",
                          str(tmp_path / "s")], capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "no learned bypass entry" in out.stderr
