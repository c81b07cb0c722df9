"""Origins and backends for the lab, as real programs: nginx, Apache httpd, openssl s_server,
a Python ``ssl`` origin for TLS 1.3 post-handshake auth, and ``bridgehead backend``.

Each function writes the program's configuration under ``workdir``, starts it with
:class:`~bridgehead.runtime.lab.procs.Programs` and returns its port once it listens. The
configurations themselves come from :func:`nginx_tls_conf` and :func:`apache_renegotiating_site`,
which the test suite's origins use as well (with their own certificates and answers).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path

from bridgehead.runtime.lab.procs import Programs, bridgehead_argv, find_program, free_port

_NGINX_TEMPS = "client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi; " \
               "uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;"


def nginx_tls_conf(d: Path, port: int, directives: Sequence[str], answer: str, *, status: int = 200,
                   worker_connections: int = 128, access_log: str = "off") -> str:
    """nginx.conf for one TLS server on 127.0.0.1:``port`` (files under ``d``) answering every request
    with ``status`` and the text ``answer`` (nginx variables allowed); ``directives`` go in the server block."""
    lines = "\n".join(f"        {x}" for x in directives)
    return f"""daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log info;
events {{ worker_connections {worker_connections}; }}
http {{
    access_log {access_log};
    {_NGINX_TEMPS.format(d=d)}
    server {{
        listen 127.0.0.1:{port} ssl;
{lines}
        location / {{
            default_type text/plain;
            return {status} "{answer}\\n";
        }}
    }}
}}
"""


CLIENT_DN_ANSWER = "client=$ssl_client_s_dn verify=$ssl_client_verify proto=$ssl_protocol"


def nginx_tls(progs: Programs, label: str, *, chain: Path, key: Path, client_ca: Path | None = None,
              verify: str = "off", protocols: str = "TLSv1.2 TLSv1.3", status: int = 200) -> int:
    """nginx over TLS (``ssl_verify_client verify``) answering with the client certificate's DN."""
    nginx = find_program("nginx")
    port = free_port()
    d = progs.workdir / label
    (d / "logs").mkdir(parents=True, exist_ok=True)
    directives = [f"ssl_certificate {chain};", f"ssl_certificate_key {key};", f"ssl_protocols {protocols};",
                  *([f"ssl_client_certificate {client_ca};"] if client_ca else []), f"ssl_verify_client {verify};"]
    (d / "nginx.conf").write_text(nginx_tls_conf(d, port, directives, CLIENT_DN_ANSWER, status=status))
    progs.start(label, [nginx, "-p", str(d), "-c", str(d / "nginx.conf")], port=port)
    return port


APACHE_MODULES = Path("/usr/lib/apache2/modules")


def apache_renegotiating_site(d: Path, port: int, *, cert: Path, key: Path, chain: Path, ca: Path,
                              server_name: str = "localhost", protocols: str = "-all +TLSv1.2",
                              log_level: str | None = None) -> Path:
    """Write ``d/httpd.conf`` and ``d/htdocs`` (``/`` public, ``/secure`` behind ``SSLVerifyClient
    require`` in a ``<Location>``) and open ``d`` to Apache's www-data workers; returns the conf path."""
    modules = APACHE_MODULES
    (d / "htdocs" / "secure").mkdir(parents=True)
    (d / "htdocs" / "index.html").write_text("public\n")
    (d / "htdocs" / "secure" / "index.html").write_text("secret area\n")
    log_line = f"LogLevel {log_level}" if log_level else ""
    conf = textwrap.dedent(f"""
        ServerRoot {d}
        ServerName {server_name}
        Listen 127.0.0.1:{port}
        PidFile {d}/httpd.pid
        DefaultRuntimeDir {d}
        Mutex file:{d} default
        ErrorLog {d}/error.log
        {log_line}
        LoadModule mpm_event_module {modules}/mod_mpm_event.so
        LoadModule authz_core_module {modules}/mod_authz_core.so
        LoadModule dir_module {modules}/mod_dir.so
        LoadModule mime_module {modules}/mod_mime.so
        LoadModule socache_shmcb_module {modules}/mod_socache_shmcb.so
        LoadModule ssl_module {modules}/mod_ssl.so
        User www-data
        Group www-data
        DocumentRoot {d}/htdocs
        DirectoryIndex index.html
        TypesConfig /etc/mime.types
        SSLSessionCache shmcb:{d}/ssl_scache(512000)
        <VirtualHost 127.0.0.1:{port}>
            SSLEngine on
            SSLProtocol {protocols}
            SSLCertificateFile {cert}
            SSLCertificateKeyFile {key}
            SSLCertificateChainFile {chain}
            SSLCACertificateFile {ca}
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
    return d / "httpd.conf"


def apache_renegotiating(progs: Programs, label: str, *, cert: Path, key: Path, ca: Path) -> int:
    """Apache httpd, TLS 1.2 only, ``SSLVerifyClient require`` inside ``<Location /secure>``: the
    certificate is asked for by renegotiation for that path only, as IIS does per virtual directory."""
    apache = find_program("apache2")
    if not (APACHE_MODULES / "mod_ssl.so").exists():
        raise FileNotFoundError("apache2's mod_ssl is missing: install the Debian package 'apache2'")
    port = free_port()
    # Apache's workers run as www-data: a directory they can traverse
    d = Path(tempfile.mkdtemp(prefix=f"bh-lab-apache-{port}-"))
    progs.cleanup.append(d)
    for src, name in ((cert, "cert.pem"), (key, "key.pem"), (ca, "ca.pem")):
        shutil.copyfile(src, d / name)
    conf = apache_renegotiating_site(d, port, cert=d / "cert.pem", key=d / "key.pem", chain=d / "ca.pem",
                                     ca=d / "ca.pem")
    progs.start(label, [apache, "-f", str(conf), "-DNO_DETACH"], port=port)
    return port


def pha_origin(progs: Programs, label: str, *, chain: Path, key: Path, ca: Path, path: str = "/secure") -> int:
    """A Python ``ssl`` origin asking for a certificate by TLS 1.3 post-handshake auth on ``path``."""
    port = free_port()
    argv = [sys.executable, "-m", "bridgehead.runtime.lab.pha_origin", "--port", str(port), "--cert", str(chain),
            "--key", str(key), "--client-ca", str(ca), "--pha-path", path]
    progs.start(label, argv, port=port)
    return port


def s_server(progs: Programs, label: str, *, cert: Path, key: Path, tls: str = "-tls1_3") -> int:
    """openssl s_server speaking only one TLS version (a TLS-version mismatch peer)."""
    openssl = find_program("openssl")
    port = free_port()
    argv = [openssl, "s_server", "-accept", f"127.0.0.1:{port}", tls, "-cert", str(cert), "-key", str(key),
            "-quiet"]
    progs.start(label, argv, port=port)
    return port


def bh_backend(progs: Programs, label: str, *args: str) -> int:
    """``bridgehead backend`` (the IIS/Exchange stand-in) with the given arguments."""
    port = free_port()
    progs.start(label, [*bridgehead_argv(), "backend", "--listen", f"127.0.0.1:{port}", *args], port=port)
    return port
