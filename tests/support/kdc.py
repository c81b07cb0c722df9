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

``ApacheBackend`` runs httpd + mod_auth_gssapi over HTTPS with ``/whoami`` printing REMOTE_USER. Apache's
workers run as www-data, so its files live in a 0755 directory made with tempfile.mkdtemp (pytest's tmp dirs
are 0700); it starts with -DNO_DETACH (with -DFOREGROUND prefork kills its own process group on SIGTERM).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.procs import free_port, stop, wait_port

REALM = "EXAMPLE.TEST"
KDC_BIN = "/usr/lib/heimdal-servers/kdc"
SERVICES = ("proxy", "backend", "other", "notrust", "nocd")


def heimdal_available() -> bool:
    return Path(KDC_BIN).exists() and shutil.which("kadmin.heimdal") is not None


def host(name: str) -> str:
    return f"{name}.example.test"


def spn(name: str) -> str:
    return f"HTTP/{host(name)}@{REALM}"


@dataclass
class Realm:
    directory: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None
    _log_offset: int = field(default=0)

    @property
    def conf(self) -> Path:
        return self.directory / "krb5.conf"

    @property
    def log(self) -> Path:
        return self.directory / "kdc.log"

    def keytab(self, name: str) -> Path:
        return self.directory / f"{name}.keytab"

    def env(self) -> dict[str, str]:
        return {
            "KRB5_CONFIG": str(self.conf),
            "KRB5CCNAME": f"FILE:{self.directory / 'ccache'}",
            "KRB5RCACHENAME": f"file2:{self.directory / 'rcache'}",
            "KRB5_TRACE": os.environ.get("KRB5_TRACE_TESTS", "/dev/null"),
        }

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def create(cls, directory: Path, port: int | None = None) -> Realm:
        directory.mkdir(parents=True, exist_ok=True)
        realm = cls(directory, port or free_port())
        realm.conf.write_text(_krb5_conf(directory, realm.port))
        realm.kadmin("init", "--realm-max-ticket-life=1day", "--realm-max-renewable-life=1week", REALM)
        for user in ("alice", "bob"):
            realm.kadmin("add", f"--password={user}-Pw1", "--use-defaults", user)
        for name in SERVICES:
            realm.kadmin("add", "--random-key", "--use-defaults", f"HTTP/{host(name)}")
            realm.kadmin("ext_keytab", "-k", f"FILE:{realm.keytab(name)}", f"HTTP/{host(name)}")
            os.chmod(realm.keytab(name), 0o600)
        # +trusted-for-delegation = protocol transition (S4U2Self ticket forwardable);
        # --constrained-delegation = msDS-AllowedToDelegateTo (replaces the whole list)
        realm.kadmin("modify", "--attributes=+trusted-for-delegation",
                     f"--constrained-delegation={spn('backend')}", f"HTTP/{host('proxy')}")
        realm.kadmin("modify", f"--constrained-delegation={spn('backend')}", f"HTTP/{host('notrust')}")
        realm.kadmin("modify", "--attributes=+trusted-for-delegation", f"HTTP/{host('nocd')}")
        return realm

    def kadmin(self, *args: str) -> str:
        done = subprocess.run(["kadmin.heimdal", "-l", "-c", str(self.conf), *args], capture_output=True,
                              text=True, timeout=30, env={**os.environ, **self.env()})
        if done.returncode != 0:
            raise RuntimeError(f"kadmin {' '.join(args)}: {done.stderr or done.stdout}")
        return done.stdout

    # -- running -------------------------------------------------------------------------------
    def start(self) -> None:
        out = open(self.directory / "kdc.out", "ab")
        self.proc = subprocess.Popen(
            [KDC_BIN, "-c", str(self.conf), "--addresses=127.0.0.1", f"--ports={self.port}"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **self.env()},
        )
        out.close()
        wait_port(self.port, proc=self.proc, log=self.directory / "kdc.out", timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- observing -----------------------------------------------------------------------------
    def mark(self) -> None:
        """Remember the end of the KDC log: :meth:`requests_since_mark` counts from here."""
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0

    def requests_since_mark(self) -> dict[str, int]:
        """AS-REQ / TGS-REQ lines the KDC logged since :meth:`mark` (the KDC's own count)."""
        if not self.log.exists():
            return {"AS-REQ": 0, "TGS-REQ": 0}
        with open(self.log, "rb") as fh:
            fh.seek(self._log_offset)
            text = fh.read().decode(errors="replace")
        return {kind: len(re.findall(rf"^\S+ {kind} \S+ from ", text, re.M)) for kind in ("AS-REQ", "TGS-REQ")}


def _krb5_conf(directory: Path, port: int) -> str:
    # One file: krb5.conf for MIT and Heimdal clients and kdc.conf for the Heimdal KDC.
    return f"""[libdefaults]
    default_realm = {REALM}
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    forwardable = true
    udp_preference_limit = 1
    kdc_timeout = 1000
    max_retries = 1
[realms]
    {REALM} = {{
        kdc = 127.0.0.1:{port}
    }}
[domain_realm]
    .example.test = {REALM}
    example.test = {REALM}
[kdc]
    database = {{
        dbname = {directory}/heimdal
        realm = {REALM}
        mkey_file = {directory}/m-key
        log_file = {directory}/kadmin.log
    }}
[logging]
    kdc = FILE:{directory}/kdc.log
    default = FILE:{directory}/misc.log
"""


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
