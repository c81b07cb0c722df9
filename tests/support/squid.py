"""A real squid (Debian package ``squid``) as the parent proxy of the chaining tests.

    with squid_parent(tmp, users={"chain": "s3cret"}) as parent: ...   # parent.port, parent.log

Foreground (``-N``), listening on 127.0.0.1 only, its own pid/log paths in a temp directory, no
cache, started and stopped by PID (tests/support/procs.py). With ``users`` it requires Basic
proxy authentication (``basic_ncsa_auth`` over an htpasswd file, the passwords hashed with
``openssl passwd -apr1``); ``deny`` lists destination domains it answers 403 for.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import textwrap
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.procs import free_port, running

SQUID = shutil.which("squid") or "/usr/sbin/squid"
NCSA = "/usr/lib/squid/basic_ncsa_auth"


@dataclass
class Squid:
    port: int
    dir: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def access_lines(self, expect: int = 1, timeout: float = 5.0) -> list[str]:
        """squid's access.log lines (written after each transaction), waiting (bounded) for ``expect``."""
        path = self.dir / "access.log"
        deadline = time.monotonic() + timeout
        while True:
            lines = path.read_text().splitlines() if path.exists() else []
            if len(lines) >= expect or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)


@contextmanager
def squid_parent(tmp: Path, *, users: dict[str, str] | None = None, deny: Sequence[str] = ()) -> Iterator[Squid]:
    if not Path(SQUID).exists():
        pytest.fail("squid is not installed: run bash scripts/setup.sh --dev (DEV_DEBS has squid)")
    port = free_port()
    d = tmp / f"squid-{port}"
    d.mkdir()
    lines = [
        f"http_port 127.0.0.1:{port}",
        f"pid_filename {d}/squid.pid",
        f"cache_log {d}/cache.log",
        f"access_log stdio:{d}/access.log",
        f"coredump_dir {d}",
        "cache deny all",
        "cache_mem 8 MB",
        "shutdown_lifetime 0 seconds",
        "visible_hostname bridgehead-test-parent",
        "acl CONNECT method CONNECT",
        "acl loopback src 127.0.0.0/8",
    ]
    if deny:
        lines += ["acl denied dstdomain " + " ".join(deny), "http_access deny denied"]
    if users:
        htpasswd = d / "htpasswd"
        entries = []
        for user, password in users.items():
            hashed = subprocess.run(["openssl", "passwd", "-apr1", "-stdin"], input=password, text=True,
                                    capture_output=True, check=True).stdout.strip()
            entries.append(f"{user}:{hashed}")
        htpasswd.write_text("\n".join(entries) + "\n")
        lines += [f"auth_param basic program {NCSA} {htpasswd}", "auth_param basic realm bridgehead-test-parent",
                  "acl authed proxy_auth REQUIRED", "http_access allow loopback authed"]
    else:
        lines += ["http_access allow loopback"]
    lines += ["http_access deny all"]
    (d / "squid.conf").write_text(textwrap.dedent("\n".join(line for line in lines if line)) + "\n")
    if os.geteuid() == 0:  # squid started as root switches to its cache_effective_user (proxy)
        proxy_user = pwd.getpwnam("proxy")
        for path in (d, *d.iterdir()):
            os.chown(path, proxy_user.pw_uid, proxy_user.pw_gid)
        os.chmod(d, 0o755)
        for parent in d.parents:  # the temp directories above must be traversable
            if parent == Path("/"):
                break
            if not os.stat(parent).st_mode & 0o001:
                os.chmod(parent, os.stat(parent).st_mode | 0o001)
    with running([SQUID, "-N", "-f", str(d / "squid.conf")], port=port, log=d / "out.log", timeout=30):
        yield Squid(port, d)
