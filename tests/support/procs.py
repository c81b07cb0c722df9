"""Start real programs for tests and stop them by PID.

    with running(["nginx", "-p", str(d), "-c", "nginx.conf"], port=port) as proc: ...

``free_port()`` picks an unused loopback port; ``wait_port()`` waits until something
listens there (or the process died, in which case its output is raised); ``stop()`` stops a
process group by PID. The three are the lab's (``bridgehead.runtime.lab.procs``), re-exported.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

from bridgehead.runtime.lab.procs import free_port, wait_port
from bridgehead.runtime.lab.procs import stop_process as stop

__all__ = ["free_port", "running", "stop", "wait_port"]


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
