"""A throwaway PostgreSQL cluster for tests: initdb in a temp dir, postgres on 127.0.0.1.

    with pg_cluster() as pg:
        store = Store(pg.url)
        pg.stop(); pg.start()        # the database goes away and comes back on the same port

Debian's ``postgresql`` package provides the binaries (scripts/setup.sh installs it).
PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user
(the package creates it): the processes are started with that user's uid/gid. The server is
started with Popen (its PID kept) and stopped by that PID with SIGINT, PostgreSQL's "fast"
shutdown (clients are disconnected, the lock file is removed), SIGKILL as the last resort.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.procs import free_port, stop, wait_port


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run 'bash scripts/setup.sh --dev' (Debian package postgresql)")
    return Path(found[-1]).parent


class Cluster:
    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.data = root / "data"
        self.port = port
        self.bindir = _bindir()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "postgres.log"
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            self._as = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://bridgehead@127.0.0.1:{self.port}/bridgehead"

    def init(self) -> None:
        if self._as:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        subprocess.run([str(self.bindir / "initdb"), "-D", str(self.data), "-U", "bridgehead",
                        "-A", "trust", "-E", "UTF8", "--no-sync"], check=True, capture_output=True, **self._as)
        self.start()
        subprocess.run([str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                        "-U", "bridgehead", "bridgehead"], check=True, capture_output=True)

    def start(self) -> None:
        out = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data), "-h", "127.0.0.1",
                 "-p", str(self.port), "-k", str(self.root), "-c", "fsync=off", "-c", "max_connections=100"],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **self._as)
        finally:
            out.close()
        wait_port(self.port, timeout=30, proc=self.proc, log=self.log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # listening is not accepting queries yet
            ready = subprocess.run([str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port),
                                    "-U", "bridgehead"], capture_output=True)
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError("PostgreSQL did not become ready")

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            stop(self.proc, timeout=5)
        self.proc = None


@contextlib.contextmanager
def pg_cluster() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="bh-pg-", dir="/tmp"))
    os.chmod(root, 0o755)
    cluster = Cluster(root, free_port())
    try:
        cluster.init()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
