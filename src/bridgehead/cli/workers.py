"""``--workers N|auto`` for the proxies: bind in the parent, fork, every worker accepts on the same sockets.

Each worker is a full process with its own event loop (the GIL makes threads no help for a
CPU-bound proxy). The parent binds the listening sockets first, so a port in use is one
error line before anything forks; the kernel spreads accepted connections over the
processes. SIGTERM/SIGINT to the parent ends every worker; the parent waits for them.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable

import click

from bridgehead.runtime.accesslog import flush_all


class WorkersType(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.5, plain before
    """``1`` to ``64`` or ``auto`` (the number of CPU cores this process may run on)."""

    name = "N|auto"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            count = value
        elif str(value).strip().lower() == "auto":
            count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        else:
            try:
                count = int(str(value))
            except ValueError:
                self.fail(f"{value!r} is not a number of workers or 'auto'", param, ctx)
        if not 1 <= count <= 64:
            self.fail(f"{count} workers: use 1 to 64 or 'auto'", param, ctx)
        return count


WORKERS = WorkersType()


def run_workers(count: int, serve: Callable[[bool], None]) -> None:
    """Run ``serve(quiet)`` in ``count`` processes: ``count - 1`` forked children and this one.

    Children are quiet (the parent prints the start-up lines once) and leave with ``os._exit``.
    """
    children: list[int] = []
    for _ in range(count - 1):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                serve(True)
            except BaseException:  # a child never returns into the parent's code
                code = 1
            finally:
                flush_all()  # os._exit skips atexit: write the access-log records still batched
                os._exit(code)
        children.append(pid)
    try:
        serve(False)
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
