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
import time
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
        _stop(children)


def _stop(children: list[int], grace: float = 2.0) -> None:
    """End the workers. A SIGTERM to the process group (systemd, a terminal) reached them already:
    wait ``grace`` seconds for them to finish on their own first, since a second SIGTERM that lands
    while a worker's event loop is closing would kill it before it writes its last log records."""
    left = set(children)
    deadline = time.monotonic() + grace
    while left and time.monotonic() < deadline:
        for pid in list(left):
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(pid, os.WNOHANG)[0] == 0:
                    continue
            left.discard(pid)
        if left:
            time.sleep(0.05)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in left:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def event_loop_option(what: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``--event-loop asyncio|uvloop`` for a proxy command (``what``: where uvloop helps it)."""
    return click.option("--event-loop", "event_loop", type=click.Choice(["asyncio", "uvloop"]), default="asyncio",
                        show_default=True, help=f"uvloop halves the CPU of {what} (pip install 'bridgehead[fast]').")


def chosen_loop(name: str) -> str:
    """``name`` when it can run here, else one error line for the command (uvloop not installed)."""
    from bridgehead.cli.common import CliError
    from bridgehead.runtime import eventloop

    try:
        eventloop.check(name)
    except eventloop.LoopUnavailable as exc:
        raise CliError(str(exc)) from None
    return name

