"""A throwaway Heimdal realm ``EXAMPLE.TEST`` on 127.0.0.1 for the lab's S4 (constrained delegation).

    realm = LabRealm.create(workdir / "realm")   # database, principals, keytabs (< 1 s)
    realm.start(progs)                           # KDC on 127.0.0.1:<free port>, udp + tcp
    realm.env()                                  # KRB5_CONFIG / KRB5CCNAME / KRB5RCACHENAME under the directory
    realm.stop(progs)                            # by PID, through :class:`Programs`

How it works: one file serves as krb5.conf for the clients and as kdc.conf for the Heimdal KDC;
``kadmin.heimdal -l`` (local mode, no kadmind) writes the database. Principals: the user
``alice``; ``HTTP/proxy`` trusted for delegation (``+trusted-for-delegation`` = protocol
transition, the S4U2Self ticket is forwardable) with ``HTTP/backend`` as its only constrained
delegation target (``--constrained-delegation``, Active Directory's msDS-AllowedToDelegateTo);
``HTTP/backend`` (the target); ``HTTP/other`` (an SPN not in the proxy's list); ``HTTP/notrust``
(delegation list but no protocol transition). Every service has a keytab ``<host>.keytab`` (0600).
Heimdal, because MIT krb5's DB2 back end cannot allow S4U2Proxy. Nothing touches /etc/krb5.conf.

:class:`KdcRealm` is the realm without a running process (files, principals, the KDC's argv, its
log count); :class:`LabRealm` runs it through :class:`Programs`. The test suite's realm
(``tests/support/kdc.py``) is another subclass of :class:`KdcRealm`, with more principals.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Self

from bridgehead.runtime.lab.procs import ProgramFailed, Programs, find_program, free_port

REALM = "EXAMPLE.TEST"
SERVICES = ("proxy", "backend", "other", "notrust")


def host(name: str) -> str:
    return f"{name}.example.test"


def spn(name: str) -> str:
    return f"HTTP/{host(name)}@{REALM}"


@dataclass
class KdcRealm:
    """A Heimdal realm's files and principals; subclasses say who is in it and how the KDC runs."""

    directory: Path
    port: int
    kadmin_bin: str
    proc: subprocess.Popen[bytes] | None = None
    _offset: int = field(default=0)

    USERS: ClassVar[Mapping[str, str]] = {"alice": "alice-Lab-Pw1"}  # user → password
    SERVICES: ClassVar[tuple[str, ...]] = SERVICES
    TRUSTED_ONLY: ClassVar[tuple[str, ...]] = ()  # +trusted-for-delegation with an empty list

    @property
    def conf(self) -> Path:
        return self.directory / "krb5.conf"

    @property
    def log(self) -> Path:
        return self.directory / "kdc.log"

    def keytab(self, name: str) -> Path:
        return self.directory / f"{name}.keytab"

    def env(self) -> dict[str, str]:
        return {"KRB5_CONFIG": str(self.conf), "KRB5CCNAME": f"FILE:{self.directory / 'ccache'}",
                "KRB5RCACHENAME": f"file2:{self.directory / 'rcache'}", "KRB5_TRACE": "/dev/null"}

    @classmethod
    def create(cls, directory: Path, port: int | None = None) -> Self:
        find_program("kdc")  # fail early, naming the package
        directory.mkdir(parents=True, exist_ok=True)
        realm = cls(directory, port or free_port(), find_program("kadmin"))
        realm.conf.write_text(_krb5_conf(directory, realm.port))
        realm.kadmin("init", "--realm-max-ticket-life=1day", "--realm-max-renewable-life=1week", REALM)
        for user, password in cls.USERS.items():
            realm.kadmin("add", f"--password={password}", "--use-defaults", user)
        for name in cls.SERVICES:
            realm.kadmin("add", "--random-key", "--use-defaults", f"HTTP/{host(name)}")
            realm.kadmin("ext_keytab", "-k", f"FILE:{realm.keytab(name)}", f"HTTP/{host(name)}")
            os.chmod(realm.keytab(name), 0o600)
        # +trusted-for-delegation = protocol transition (S4U2Self ticket forwardable);
        # --constrained-delegation = msDS-AllowedToDelegateTo (replaces the whole list)
        realm.kadmin("modify", "--attributes=+trusted-for-delegation",
                     f"--constrained-delegation={spn('backend')}", f"HTTP/{host('proxy')}")
        realm.kadmin("modify", f"--constrained-delegation={spn('backend')}", f"HTTP/{host('notrust')}")
        for name in cls.TRUSTED_ONLY:
            realm.kadmin("modify", "--attributes=+trusted-for-delegation", f"HTTP/{host(name)}")
        return realm

    def kadmin(self, *args: str) -> str:
        env = {**os.environ, **self.env()}
        done = subprocess.run([self.kadmin_bin, "-l", "-c", str(self.conf), *args], capture_output=True,
                              text=True, timeout=30, env=env)
        if done.returncode != 0:
            raise ProgramFailed(f"kadmin {' '.join(args)}: {(done.stderr or done.stdout).strip()}")
        return done.stdout

    def kdc_argv(self) -> list[str]:
        """The KDC on 127.0.0.1:``port`` (udp + tcp), its configuration the realm's one file."""
        return [find_program("kdc"), "-c", str(self.conf), "--addresses=127.0.0.1", f"--ports={self.port}"]

    def mark(self) -> None:
        """Remember the end of the KDC log; the ``requests_*since_mark`` methods count from here."""
        self._offset = self.log.stat().st_size if self.log.exists() else 0

    def requests_by_kind_since_mark(self) -> dict[str, int]:
        """AS-REQ and TGS-REQ lines the KDC logged since :meth:`mark` (the KDC's own count)."""
        if not self.log.exists():
            return {"AS-REQ": 0, "TGS-REQ": 0}
        with open(self.log, "rb") as fh:
            fh.seek(self._offset)
            text = fh.read().decode(errors="replace")
        return {kind: len(re.findall(rf"^\S+ {kind} \S+ from ", text, re.M)) for kind in ("AS-REQ", "TGS-REQ")}


@dataclass
class LabRealm(KdcRealm):
    """The lab's realm: ``alice`` and the four services, the KDC run through :class:`Programs`."""

    def start(self, progs: Programs) -> None:
        self.proc = progs.start("kdc", self.kdc_argv(), port=self.port, timeout=10, env={**os.environ, **self.env()})

    def stop(self, progs: Programs) -> None:
        if self.proc is not None:
            progs.stop(self.proc)
            self.proc = None

    def requests_since_mark(self) -> int:
        """AS-REQ and TGS-REQ lines the KDC logged since :meth:`mark`, together."""
        return sum(self.requests_by_kind_since_mark().values())


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
