"""Worker processes of ``bridgehead serve --workers N``: the parent supervises, the workers serve.

How it works:

* The parent forks N workers before it starts its event loop (no threads yet, nothing to copy
  half-way). Each worker gets two ``AF_UNIX``/``SOCK_SEQPACKET`` socket pairs to the parent
  (message boundaries kept): *control* (parent → worker requests, one JSON reply each) and
  *records* (worker → parent: the access-log records, for the console's ring of recent
  records, in batches at the end of the event loop's turn; dropped rather than waited for
  when the parent is slow).
* The parent runs what must run once: the admin listener, the store watcher, applying a
  version, reporting to the store, the signals. It binds the listening sockets itself (a
  port in use is one error, before any worker tries) and sends them with the version to
  every worker (``SCM_RIGHTS``, :func:`socket.send_fds`); a worker accepts on the very same
  sockets, so the kernel spreads connections over the workers and a reload never closes a
  listening socket that stays in the configuration.
* Control messages: ``{"op": "apply", "version", "source", "base_dir", "addresses"}`` with the
  sockets' descriptors → ``{"ok": true}`` or ``{"ok": false, "error": "…"}``; ``{"op":
  "reopen"}`` → ``{"ok": true}`` (logrotate); ``{"op": "stop"}`` → the worker drains and exits
  (no reply; the parent waits for the process). A worker whose parent went away (control
  socket at EOF) drains and exits too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("bridgehead.serve")

MAX_MESSAGE = 4 * 1024 * 1024  # a configuration file and its addresses; SEQPACKET keeps it one message
REPLY_TIMEOUT = 120.0  # seconds a worker may take to apply a version (building TLS contexts, a CA)


@dataclass
class Worker:
    index: int
    pid: int
    control: socket.socket
    records: socket.socket
    lock: threading.Lock = field(default_factory=threading.Lock)
    exit_status: int | None = None
    reported: bool = False  # the parent logged its exit


def _pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    for s in (a, b):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_MESSAGE)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, MAX_MESSAGE)
    return a, b


class WorkerPool:
    """The parent's side: fork, ask, tell, wait."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers

    @classmethod
    def fork(cls, count: int, child: Callable[[int, socket.socket, socket.socket], int]) -> WorkerPool:
        """Fork ``count`` workers; each runs ``child(index, control, records)`` and leaves with its result."""
        from bridgehead.runtime.accesslog import flush_all

        workers: list[Worker] = []
        for index in range(count):
            control, control_child = _pair()
            records, records_child = _pair()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    for w in workers:  # the other workers' channels belong to the parent
                        w.control.close()
                        w.records.close()
                    control.close()
                    records.close()
                    code = child(index, control_child, records_child)
                except BaseException:  # a worker never returns into the parent's code
                    log.exception("worker %d failed", index)
                finally:
                    flush_all()  # os._exit skips atexit: write the access-log records still batched
                    os._exit(code)
            control_child.close()
            records_child.close()
            workers.append(Worker(index, pid, control, records))
        return cls(workers)

    def ask(self, worker: Worker, message: dict[str, Any], sockets: Sequence[socket.socket] = (),
            timeout: float = REPLY_TIMEOUT) -> dict[str, Any]:
        """Send one control message (blocking; call it in a thread) and return the worker's reply."""
        data = json.dumps(message).encode()
        with worker.lock:
            worker.control.settimeout(timeout)
            try:
                if sockets:
                    socket.send_fds(worker.control, [data], [s.fileno() for s in sockets])
                else:
                    worker.control.send(data)
                reply = worker.control.recv(MAX_MESSAGE)
            except (OSError, TimeoutError) as exc:
                return {"ok": False, "error": f"worker {worker.index} (pid {worker.pid}) did not answer: {exc}"}
        if not reply:
            return {"ok": False, "error": f"worker {worker.index} (pid {worker.pid}) has exited"}
        answer: dict[str, Any] = json.loads(reply)
        return answer

    def tell(self, worker: Worker, message: dict[str, Any]) -> None:
        """A message without a reply (``stop``); a worker that is gone already is fine."""
        with worker.lock, contextlib.suppress(OSError):
            worker.control.settimeout(2.0)
            worker.control.send(json.dumps(message).encode())

    def alive(self) -> list[Worker]:
        out = []
        for w in self.workers:
            if w.exit_status is None:
                with contextlib.suppress(ChildProcessError):
                    pid, status = os.waitpid(w.pid, os.WNOHANG)
                    if pid == 0:
                        out.append(w)
                        continue
                    w.exit_status = os.waitstatus_to_exitcode(status)
                if w.exit_status is None:
                    w.exit_status = -1
        return out

    def wait(self, timeout: float) -> None:
        """Wait for every worker to exit; SIGKILL what is left after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        for w in self.alive():
            log.warning("worker %d (pid %d) did not exit in time: killed", w.index, w.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(w.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(w.pid, 0)
            w.exit_status = -signal.SIGKILL
        for w in self.workers:
            w.control.close()
            w.records.close()


RELAY_BATCH = 64  # records per message to the parent (a few tens of KB: below the socket buffer)


def relay_to(records: socket.socket, loop: asyncio.AbstractEventLoop) -> Callable[[dict[str, Any]], None]:
    """A worker's ``Metrics.relay``: records go to the parent in batches, one message at the end of the
    event loop's turn (or per RELAY_BATCH records); a batch is dropped when the parent's queue is full."""
    records.setblocking(False)
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        if batch:
            data = json.dumps(batch, default=str).encode()
            batch.clear()
            with contextlib.suppress(OSError):  # BlockingIOError (parent busy), EMSGSIZE, or the parent is gone
                records.send(data)

    def send(record: dict[str, Any]) -> None:
        if not batch:
            loop.call_soon(flush)
        batch.append(record)
        if len(batch) >= RELAY_BATCH:
            flush()

    return send


def read_records(records: socket.socket, keep: Callable[[dict[str, Any]], None]) -> bool:
    """The parent's reader callback: keep what arrived; ``False`` once the worker has closed its end."""
    while True:
        try:
            data = records.recv(MAX_MESSAGE)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        with contextlib.suppress(ValueError):
            for record in json.loads(data):
                keep(record)
