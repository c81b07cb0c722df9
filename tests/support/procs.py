"""Start real programs for tests and stop them by PID.

    with running(["nginx", "-p", str(d), "-c", "nginx.conf"], port=port) as proc: ...

``free_port()`` picks an unused loopback port; ``wait_port()`` waits until something
listens there (or the process died, in which case its output is raised).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = 15.0,
              proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            out = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before listening:\n{out}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def stop(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Stop a process (and its process group) by PID: SIGTERM, then SIGKILL."""
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


@contextlib.contextmanager
def running(
    argv: Sequence[str],
    *,
    port: int | None = None,
    host: str = "127.0.0.1",
    log: Path | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 15.0,
) -> Iterator[subprocess.Popen[bytes]]:
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        list(argv), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
    )
    try:
        if port is not None:
            wait_port(port, host, timeout, proc, log)
        yield proc
    finally:
        stop(proc)
        if log:
            out.close()  # type: ignore[union-attr]
