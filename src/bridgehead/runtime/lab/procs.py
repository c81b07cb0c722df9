"""Programs the lab starts: started in their own session, waited for on their port, stopped by PID.

    with Programs(workdir) as progs:
        port = progs.start("nginx", [nginx, "-p", d, "-c", conf])
        ...                                 # leaving the block stops every program it started

``find_program`` locates an external component or raises :class:`MissingComponent` naming the
Debian package that provides it. Every wait is bounded (``timeout``). ``wait_port`` and
``stop_process`` are the two halves used by :class:`Programs` and, re-exported, by the test suite's
``tests/support/procs.py``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

# program → (candidate paths, Debian package)
COMPONENTS: dict[str, tuple[tuple[str, ...], str]] = {
    "nginx": (("nginx", "/usr/sbin/nginx"), "nginx"),
    "apache2": (("apache2", "/usr/sbin/apache2"), "apache2"),
    "curl": (("curl",), "curl"),
    "openssl": (("openssl",), "openssl"),
    "kdc": (("/usr/lib/heimdal-servers/kdc", "/usr/libexec/heimdal-kdc"), "heimdal-kdc"),
    "kadmin": (("/usr/bin/kadmin.heimdal", "/usr/lib/heimdal-servers/kadmin"), "heimdal-clients"),
    "chromium": (("chromium", "/usr/bin/chromium"), "chromium"),
}


class MissingComponent(Exception):
    """An external program the lab needs is not installed (the message names the package)."""


class ProgramFailed(RuntimeError):
    """A program exited before it listened, or never listened."""


def find_program(name: str) -> str:
    candidates, package = COMPONENTS[name]
    for candidate in candidates:
        found = shutil.which(candidate) if "/" not in candidate else (candidate if os.access(candidate, os.X_OK)
                                                                      else None)
        if found:
            return found
    raise MissingComponent(f"{name} not found: install the Debian package {package!r} "
                           f"(apt-get install {package}, or bash scripts/setup.sh --dev)")


def bridgehead_argv() -> list[str]:
    """How to run this very bridgehead as a program."""
    return [sys.executable, "-m", "bridgehead"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = 15.0,
              proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    """Wait until something accepts on ``host:port``; raise :class:`ProgramFailed` if ``proc`` exits
    first (with the tail of ``log``) or nothing listens within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:].strip() if log is not None and log.exists() else ""
            name = log.stem if log is not None else str(proc.args)
            raise ProgramFailed(f"{name} exited with {proc.returncode} before listening on {port}: {tail}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise ProgramFailed(f"nothing listens on {host}:{port} after {timeout}s" + (f" ({log})" if log else ""))


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Stop a process and its process group by PID: SIGTERM, then SIGKILL after ``timeout``."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)


def clean_env() -> dict[str, str]:
    """The environment for clients: no proxy or CA-bundle variables that would override the lab's."""
    env = dict(os.environ)
    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "https_proxy", "HTTPS_PROXY",
                "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(var, None)
    return env


class Programs:
    """Starts programs and stops all of them (by PID, process group) on exit."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[object] = []
        self.cleanup: list[Path] = []  # directories outside workdir, removed after the programs stop

    def __enter__(self) -> Programs:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop_all()

    def start(self, label: str, argv: list[str], *, port: int | None = None, timeout: float = 20.0,
              env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen[bytes]:
        log = self.workdir / f"{label}.log"
        out = open(log, "wb")  # closed in stop_all
        self._logs.append(out)
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
        self.procs.append(proc)
        if port is not None:
            self.wait_port(proc, port, log, timeout)
        return proc

    @staticmethod
    def wait_port(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float) -> None:
        wait_port(port, timeout=timeout, proc=proc, log=log)

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
        stop_process(proc, timeout)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        self.procs.clear()
        for fh in self._logs:
            with contextlib.suppress(OSError):
                fh.close()  # type: ignore[attr-defined]
        self._logs.clear()
        for d in self.cleanup:
            shutil.rmtree(d, ignore_errors=True)
        self.cleanup.clear()
