"""A throwaway Heimdal realm EXAMPLE.TEST on 127.0.0.1 and an Apache mod_auth_gssapi backend, for tests.

    realm = Realm.create(directory)            # database + keytabs, < 1 s
    realm.start()                              # KDC on 127.0.0.1:<free port> (udp + tcp)
    realm.env()                                # KRB5_CONFIG / KRB5CCNAME / KRB5RCACHENAME under directory
    realm.stop()                               # by PID (the KDC master stops its workers)

Principals (see DESIGN.md §4 and the kcd recipe): ``alice`` and ``bob`` (users), ``HTTP/proxy`` (trusted for
delegation, constrained delegation to ``HTTP/backend`` only), ``HTTP/backend`` (the target), ``HTTP/other``
(an SPN not in the proxy's list), ``HTTP/notrust`` (list but no +trusted-for-delegation: no protocol
transition) and ``HTTP/nocd`` (trusted, empty list). Every service has a keytab ``<host>.keytab``.
Heimdal, because MIT krb5's DB2 back end cannot allow S4U2Proxy. Nothing touches /etc/krb5.conf.
The realm itself (krb5.conf, kadmin, keytabs, the KDC's argv and log count) is the lab's
``bridgehead.runtime.lab.kdc.KdcRealm``; this module adds the principals and runs the KDC by PID.

``ApacheBackend`` runs httpd + mod_auth_gssapi over HTTPS with ``/whoami`` printing REMOTE_USER. Apache's
workers run as www-data, so its files live in a 0755 directory made with tempfile.mkdtemp (pytest's tmp dirs
are 0700); it starts with -DNO_DETACH (with -DFOREGROUND prefork kills its own process group on SIGTERM).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from bridgehead.runtime.lab.kdc import REALM, KdcRealm, host, spn
from tests.support.procs import free_port, stop, wait_port

__all__ = ["KDC_BIN", "REALM", "SERVICES", "ApacheBackend", "Realm", "heimdal_available", "host", "spn"]

KDC_BIN = "/usr/lib/heimdal-servers/kdc"
SERVICES = ("proxy", "backend", "other", "notrust", "nocd")


def heimdal_available() -> bool:
    return Path(KDC_BIN).exists() and shutil.which("kadmin.heimdal") is not None


@dataclass
class Realm(KdcRealm):
    """The lab's realm (files, principals, log count) with ``bob`` and ``HTTP/nocd`` added, run
    without a :class:`~bridgehead.runtime.lab.procs.Programs`."""

    USERS: ClassVar[dict[str, str]] = {"alice": "alice-Pw1", "bob": "bob-Pw1"}
    SERVICES: ClassVar[tuple[str, ...]] = SERVICES
    TRUSTED_ONLY: ClassVar[tuple[str, ...]] = ("nocd",)

    def env(self) -> dict[str, str]:
        return {**super().env(), "KRB5_TRACE": os.environ.get("KRB5_TRACE_TESTS", "/dev/null")}

    # -- running -------------------------------------------------------------------------------
    def start(self) -> None:
        out = open(self.directory / "kdc.out", "ab")
        self.proc = subprocess.Popen(self.kdc_argv(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, **self.env()})
        out.close()
        wait_port(self.port, proc=self.proc, log=self.directory / "kdc.out", timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def requests_since_mark(self) -> dict[str, int]:
        """AS-REQ / TGS-REQ lines the KDC logged since :meth:`mark` (the KDC's own count)."""
        return self.requests_by_kind_since_mark()


# -- Apache httpd + mod_auth_gssapi ------------------------------------------------------------
_MODULES = "/usr/lib/apache2/modules"


@dataclass
class ApacheBackend:
    directory: Path
    port: int
    cert: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/whoami"

    @classmethod
    def start(cls, realm: Realm, cert: Path, key: Path, keytab: str = "backend") -> ApacheBackend:
        import grp

        directory = Path(tempfile.mkdtemp(prefix="bh-httpd-"))
        directory.chmod(0o755)
        www = grp.getgrnam("www-data").gr_gid
        shutil.copy(cert, directory / "cert.pem")
        shutil.copy(key, directory / "key.pem")
        shutil.copy(realm.keytab(keytab), directory / "backend.keytab")
        shutil.copy(realm.conf, directory / "krb5.conf")
        os.chown(directory / "backend.keytab", 0, www)
        os.chmod(directory / "backend.keytab", 0o640)
        rcache = directory / "rcache"
        rcache.mkdir()
        os.chown(rcache, 0, www)
        rcache.chmod(0o770)
        script = directory / "whoami.cgi"
        script.write_text('#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%s\\n" "$REMOTE_USER"\n')
        script.chmod(0o755)
        port = free_port()
        (directory / "httpd.conf").write_text(_httpd_conf(directory, port))
        env = {**os.environ, **realm.env(), "KRB5_CONFIG": str(directory / "krb5.conf"),
               "KRB5RCACHENAME": f"file2:{rcache}/rc"}
        out = open(directory / "stdout", "wb")
        proc = subprocess.Popen(["/usr/sbin/apache2", "-f", str(directory / "httpd.conf"), "-DNO_DETACH"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        out.close()
        backend = cls(directory, port, directory / "cert.pem", proc)
        try:
            wait_port(port, proc=proc, log=directory / "error.log", timeout=15)
        except Exception:
            backend.stop()
            raise
        return backend

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None
        shutil.rmtree(self.directory, ignore_errors=True)


def _httpd_conf(d: Path, port: int) -> str:
    m = _MODULES
    return f"""ServerRoot {d}
DefaultRuntimeDir {d}
PidFile {d}/httpd.pid
ServerName backend.example.test
Listen 127.0.0.1:{port}
User www-data
Group www-data
ErrorLog {d}/error.log
LogLevel warn auth_gssapi:info
LogFormat "%h %u \\"%r\\" %>s" short
CustomLog {d}/access.log short
LoadModule mpm_prefork_module {m}/mod_mpm_prefork.so
LoadModule authn_core_module {m}/mod_authn_core.so
LoadModule authz_core_module {m}/mod_authz_core.so
LoadModule authz_user_module {m}/mod_authz_user.so
LoadModule alias_module {m}/mod_alias.so
LoadModule cgi_module {m}/mod_cgi.so
LoadModule ssl_module {m}/mod_ssl.so
LoadModule auth_gssapi_module {m}/mod_auth_gssapi.so
StartServers 2
MinSpareServers 2
MaxSpareServers 4
KeepAlive Off
SSLEngine on
SSLCertificateFile {d}/cert.pem
SSLCertificateKeyFile {d}/key.pem
ScriptAlias /whoami {d}/whoami.cgi
<Location /whoami>
    AuthType GSSAPI
    AuthName "Kerberos"
    GssapiCredStore keytab:{d}/backend.keytab
    GssapiAllowedMech krb5
    GssapiSSLonly On
    Require valid-user
</Location>
"""
