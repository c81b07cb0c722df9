"""``bridgehead serve``: forward and reverse listeners and the admin listener in one process.

How it works:

* The configuration always comes from the versioned store (:mod:`bridgehead.runtime.ops.config_store`):
  ``serve --config FILE`` first applies the file to the store (a new version when it
  changed), an array member (``--store URL --member NAME``) only reads it. A watcher polls
  the newest version number every second (a PostgreSQL NOTIFY wakes it at once), applies a
  new version and reports to the store what it applied, or the error that stopped it — the
  old configuration keeps serving then.
* Applying swaps without dropping connections: the gateway owns the listening sockets; a new
  forward/reverse proxy object starts accepting on a duplicate of the same socket, then the
  old one stops accepting. Connections already accepted finish on the object that accepted
  them, with the configuration they started with.
* Workers (``--workers N``, :mod:`bridgehead.runtime.serve_workers`): the parent process runs
  the admin listener, the watcher, the apply and the store reports once, binds the listening
  sockets and hands them with each version to N forked workers, which run the forward and
  reverse listeners on them (:meth:`Gateway.run_worker`); a version counts as applied when
  every worker applied it. SIGTERM to the parent (or to the whole group, as systemd sends it)
  drains every worker; metrics are summed over the workers (see ``runtime/ops/metrics.py``).
* Signals: SIGHUP re-reads the file (one node) or the store (member), validates and swaps;
  an invalid file is refused with a log line. SIGUSR1 and SIGHUP reopen the access logs and
  ``log_file`` (logrotate). SIGTERM/SIGINT stop accepting, let in-flight connections finish
  for up to ``drain_timeout`` (``/healthz`` answers 503 meanwhile), then cancel the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridgehead.runtime.forward.config import ConfigError
from bridgehead.runtime.ops.config_store import ConfigStore, Doorbell, Version
from bridgehead.runtime.ops.gateway_config import GatewayConfig, parse_text
from bridgehead.runtime.ops.metrics import MeteredAccessLog, Metrics

log = logging.getLogger("bridgehead.serve")

POLL_SECONDS = 1.0


@dataclass
class Running:
    """What one applied version runs: its config and proxy objects."""

    config: GatewayConfig
    version: int
    forward: Any = None
    reverse: Any = None
    addresses: list[tuple[str, int]] = field(default_factory=list)


class Gateway:
    def __init__(self, cstore: ConfigStore, member: str, *, config_file: Path | None = None,
                 state_dir: Path | None = None, bind: str | None = None, author: str = "serve",
                 array: bool = False, worker_index: int | None = None) -> None:
        self.cstore = cstore
        self.worker_index = worker_index  # set in a worker process of --workers N
        self.pool: Any = None  # the parent of --workers N: a serve_workers.WorkerPool
        self.workers = 1  # processes serving (set by start_workers)
        self.workers_from_file = False  # the count came from the file's `workers` (not --workers)
        self.worker_error: str | None = None  # a worker that exited on its own (it is not replaced)
        self.exit_code = 0
        self.array = array  # an explicit --store: the inspection CA and revocation state live in the store
        self._array_ca: tuple[bytes, Any] | None = None
        self.member = member
        self.config_file = config_file
        self.state_dir = state_dir
        self.bind = bind
        self.author = author
        self.metrics = Metrics()
        self.running: Running | None = None
        self.failed_version: int | None = None
        self.last_error: str | None = None
        self.applied_at: float | None = None
        self.store_ok = True
        self.draining = False
        self.latest: int | None = None
        self.socks: dict[tuple[str, int], socket.socket] = {}
        self.logs: dict[tuple[str, str], MeteredAccessLog] = {}
        self.admin: Any = None
        self.log_handler: logging.FileHandler | None = None
        self._wake: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._own: set[asyncio.Task[Any]] = set()
        self._doorbell: Doorbell | None = None
        self._apply_lock = asyncio.Lock()
        self.metrics.state.source = self._state
        self.metrics.revocation_ages.source = self._revocation_ages

    # ---- configuration -------------------------------------------------------------------
    def read_file(self) -> tuple[str, Path]:
        assert self.config_file is not None
        try:
            text = self.config_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {self.config_file}: {exc.strerror}") from None
        return text, self.config_file.resolve()

    def validate(self, text: str, source: Path) -> GatewayConfig:
        return parse_text(text, source, state_dir=self.state_dir, bind=self.bind, store=self.cstore.store.url)

    def apply_file(self, author: str) -> int:
        """Validate the file and store it as a new version if it differs from the newest one."""
        text, source = self.read_file()
        self.validate(text, source)
        latest = self.cstore.latest()
        if latest is not None and latest.source == text and latest.base_dir == str(source.parent):
            return latest.number
        return self.cstore.add(text, str(source.parent), author, comment=f"serve --config {source}").number

    async def sync_once(self) -> None:
        """One poll: heartbeat, and apply the newest version if it is new to this member."""
        try:
            latest = await asyncio.to_thread(self.cstore.latest_number)
        except Exception as exc:  # store unreachable: keep serving what we have
            if self.store_ok:
                log.warning("configuration store unreachable, serving version %s: %s", self.applied, exc)
            self.store_ok = False
            return
        if not self.store_ok:
            log.warning("configuration store reachable again")
        self.store_ok = True
        self.latest = latest
        applied: int | None = None
        failed: int | None = None
        if latest is not None and latest != self.applied and latest != self.failed_version:
            version = await asyncio.to_thread(self.cstore.get, latest)
            if version is not None:
                if await self.apply(version):
                    applied = latest
                else:
                    failed = latest
        with contextlib.suppress(Exception):  # a lost store shows at the next poll
            await asyncio.to_thread(self.cstore.report, self.member, applied=applied, failed=failed,
                                    error=self.last_error if failed else None)

    @property
    def applied(self) -> int | None:
        return self.running.version if self.running else None

    async def apply(self, version: Version) -> bool:
        async with self._apply_lock:
            try:
                cfg = await asyncio.to_thread(self.validate, version.source, Path(version.base_dir) / "gateway.toml")
                await self._swap(cfg, version.number)
            except (ConfigError, OSError, ValueError, LookupError) as exc:
                self.failed_version = version.number
                self.last_error = str(exc) if not isinstance(exc, OSError) else f"{exc.strerror or exc}"
                log.error("configuration version %s refused, still serving version %s: %s", version.number,
                          self.applied, self.last_error)
                return False
            self.failed_version = None
            self.last_error = None
            self.applied_at = time.time()
            if self.worker_index is None and self.workers_from_file and cfg.workers != self.workers:
                log.warning("workers = %d in version %d: the number of worker processes is fixed at start "
                            "(%d now); restart the service to change it", cfg.workers, version.number, self.workers)
            log.warning("serving configuration version %s", version.number)
            return True

    # ---- swapping ------------------------------------------------------------------------
    def _socket(self, host: str, port: int, fresh: list[socket.socket]) -> socket.socket:
        sock = self.socks.get((host, port))
        if sock is None:
            try:
                sock = socket.create_server((host, port), backlog=1024)
            except OSError as exc:
                raise OSError(exc.errno, f"cannot listen on {host}:{port}: {exc.strerror}") from None
            fresh.append(sock)
            self.socks[(host, port)] = sock
        return sock

    def _log(self, service: str, path: Path | None) -> MeteredAccessLog:
        key = (service, str(path))
        if key not in self.logs:
            fixed = {"worker": self.worker_index} if self.worker_index is not None else None
            self.logs[key] = MeteredAccessLog(self.metrics, path, fixed=fixed, service=service)
        return self.logs[key]

    async def _swap(self, cfg: GatewayConfig, number: int) -> None:
        from bridgehead.runtime.forward.server import ForwardProxy
        from bridgehead.runtime.reverse.revocation import SharedRevocation
        from bridgehead.runtime.reverse.server import ReverseProxy

        if self.pool is not None:
            await self._swap_workers(cfg, number)
            return
        fresh: list[socket.socket] = []
        new = Running(cfg, number)
        try:
            if cfg.forward is not None:
                s = cfg.forward
                sock = self._socket(s.host, s.port, fresh)
                new.addresses.append((s.host, s.port))
                ca = await asyncio.to_thread(self._ca_for, cfg) if self.array else None
                new.forward = ForwardProxy(s, access_log=self._log("forward", s.access_log), ca=ca)
                await new.forward.start(sock.dup())
            if cfg.reverse is not None:
                socks = {}
                for x in cfg.reverse.listeners:
                    socks[x.name] = self._socket(x.host, x.port, fresh).dup()
                    new.addresses.append((x.host, x.port))
                new.reverse = ReverseProxy(cfg.reverse, access_log=self._log("reverse", cfg.reverse.access_log))
                shared = SharedRevocation(self.cstore.store)  # CRLs one member fetched reach the others
                for rt in new.reverse.listeners.values():
                    rt.revocation.shared = shared
                await new.reverse.start_on(socks)
        except BaseException:
            for proxy in (new.forward, new.reverse):
                if proxy is not None:
                    proxy.stop_accepting()
            for sock in fresh:
                self.socks = {k: v for k, v in self.socks.items() if v is not sock}
                sock.close()
            raise
        old, self.running = self.running, new
        if old is not None:
            for proxy in (old.forward, old.reverse):
                if proxy is not None:
                    await _stop_accepting(proxy)
        for addr in [a for a in self.socks if a not in new.addresses]:
            self.socks.pop(addr).close()
        self._open_log_file(cfg.log_file)
        if self.admin is not None:
            await self.admin.ensure(cfg.admin)

    async def _swap_workers(self, cfg: GatewayConfig, number: int) -> None:
        """The parent of --workers N: bind what the version needs, hand it to every worker, wait for all."""
        fresh: list[socket.socket] = []
        addresses: list[tuple[str, int]] = []
        if cfg.forward is not None:
            addresses.append((cfg.forward.host, cfg.forward.port))
        addresses += [(x.host, x.port) for x in (cfg.reverse.listeners if cfg.reverse else ())]
        try:
            socks = [self._socket(host, port, fresh) for host, port in addresses]
            workers = self.pool.alive()
            if not workers:
                raise ConfigError("no worker process is running")
            message = {"op": "apply", "version": number, "source": cfg.text, "base_dir": str(cfg.source.parent),
                       "addresses": [list(a) for a in addresses]}
            replies = await asyncio.gather(*(asyncio.to_thread(self.pool.ask, w, message, socks) for w in workers))
            errors = [str(r.get("error")) for r in replies if not r.get("ok")]
            if errors:
                raise ConfigError("; ".join(errors))
        except BaseException:
            for sock in fresh:
                self.socks = {k: v for k, v in self.socks.items() if v is not sock}
                sock.close()
            raise
        new = Running(cfg, number, addresses=addresses)
        self.running = new
        for addr in [a for a in self.socks if a not in addresses]:
            self.socks.pop(addr).close()
        self._open_log_file(cfg.log_file)
        if self.admin is not None:
            await self.admin.ensure(cfg.admin)

    def start_workers(self, count: int) -> None:
        """Fork ``count`` workers (before the event loop starts); this process becomes their parent."""
        from bridgehead.runtime.serve_workers import WorkerPool

        url = self.cstore.store.url

        def child(index: int, control: socket.socket, records: socket.socket) -> int:
            from bridgehead.runtime.store import Store

            self.cstore.engine.dispose(close=False)  # the parent's pooled connections stay the parent's
            worker = Gateway(ConfigStore(Store(url)), self.member, state_dir=self.state_dir, bind=self.bind,
                             author=self.author, array=self.array, worker_index=index)
            asyncio.run(worker.run_worker(control, records))
            signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the group's SIGTERM may come late: flush first
            return 0

        self.pool = WorkerPool.fork(count, child)
        self.workers = count

    def _ca_for(self, cfg: GatewayConfig) -> Any:
        """The array's inspection CA from the store (created there by the first member); loaded once per
        passphrase. A missing or wrong passphrase refuses the version (``CAError``)."""
        from bridgehead.runtime.forward.array_ca import ArrayCA, array_material, read_passphrase
        from bridgehead.runtime.forward.ca import fingerprint

        passphrase = read_passphrase(cfg.ca_key_passphrase_file)
        if self._array_ca is not None and self._array_ca[0] == passphrase:
            return self._array_ca[1]
        material, created = array_material(self.cstore.store, passphrase, member=self.member)
        ca = ArrayCA(material, created=created, location=f"the store {self.store_label}")
        log.warning("%s the array's inspection CA %s", "created" if created else "using",
                    fingerprint(material.certificate))
        self._array_ca = (passphrase, ca)
        return ca

    @property
    def store_label(self) -> str:
        """The store URL without its password (for logs and pages)."""
        from sqlalchemy.engine import make_url

        return make_url(self.cstore.store.url).render_as_string(hide_password=True)

    # ---- logs ------------------------------------------------------------------------------
    def _open_log_file(self, path: Path | None) -> None:
        current = Path(self.log_handler.baseFilename) if self.log_handler else None
        if path == current:
            return
        root = logging.getLogger()
        if self.log_handler is not None:
            root.removeHandler(self.log_handler)
            self.log_handler.close()
            self.log_handler = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.log_handler = logging.FileHandler(path, encoding="utf-8")
            self.log_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            root.addHandler(self.log_handler)

    def reopen_logs(self) -> None:
        if self.pool is not None:  # the workers hold the access logs
            for w in self.pool.alive():
                self._task(asyncio.to_thread(self.pool.ask, w, {"op": "reopen"}, (), 10.0))
        for access in self.logs.values():
            try:
                access.reopen()
            except OSError as exc:
                log.error("cannot reopen %s: %s", access.path, exc.strerror)
        if self.log_handler is not None:
            path = Path(self.log_handler.baseFilename)
            self.log_handler = None
            self._open_log_file(path)
        log.warning("log files reopened")

    # ---- signals ---------------------------------------------------------------------------
    async def reload(self) -> None:
        """SIGHUP: reopen logs; re-read and validate the file (one node) and apply it, else re-read the store."""
        self.reopen_logs()
        if self.config_file is not None:
            try:
                await asyncio.to_thread(self.apply_file, "SIGHUP")
            except ConfigError as exc:
                log.error("SIGHUP: %s refused, still serving version %s: %s", self.config_file, self.applied, exc)
                return
        self.failed_version = None  # a SIGHUP retries a version that failed before
        await self.sync_once()

    def _state(self) -> dict[str, float | None]:
        """The gauges of /metrics: applied and newest version, store reachable, learned bypass entries."""
        bypass: float | None = None
        running = self.running
        if running is not None and running.config.forward is not None:
            try:
                bypass = float(len(self.cstore.store.list("bypass"))) if self.store_ok else float("nan")
            except Exception:
                bypass = float("nan")
        return {"applied": float(self.applied) if self.applied is not None else None,
                "latest": float(self.latest) if self.latest is not None else None,
                "reachable": 1.0 if self.store_ok else 0.0, "bypass": bypass,
                "workers": float(len(self.pool.alive())) if self.pool is not None else 1.0}

    def _revocation_ages(self) -> list[tuple[str, str, str, float]]:
        """Per listener and CRL source: how old the array's newest copy in the store is (members look there at
        least every second while they serve requests, see runtime/reverse/revocation.py)."""
        from bridgehead.runtime.reverse.revocation import SharedRevocation

        running = self.running
        if running is None or running.config.reverse is None or not self.store_ok:
            return []
        try:
            entries = {str(e.get("source")): e for e in SharedRevocation(self.cstore.store).all()}
        except Exception:  # the store went away since the last poll
            return []
        now = time.time()
        out = []
        for x in running.config.reverse.listeners:
            for where in x.revocation.crl:
                entry = entries.get(where)
                if entry is not None:
                    age = max(0.0, now - float(entry["fetched_at"]))
                    out.append((x.name, where, str(entry.get("issuer", "")), age))
        return out

    def health(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": "draining" if self.draining else ("ok" if self.running else "starting"),
               "member": self.member, "applied_version": self.applied, "latest_version": self.latest,
               "store_reachable": self.store_ok, "error": self.last_error or self.worker_error}
        if self.pool is not None:
            out["workers"] = {"configured": len(self.pool.workers), "running": len(self.pool.alive())}
        return out

    # ---- the main loop ---------------------------------------------------------------------
    def _task(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._own.add(task)
        return task

    async def run(self, *, on_ready: Any = None) -> None:
        from bridgehead.runtime.admin import AdminServer

        loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self.admin = AdminServer(self)
        self._own.add(asyncio.current_task())  # type: ignore[arg-type]
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._task(self.reload()))
        loop.add_signal_handler(signal.SIGUSR1, self.reopen_logs)
        if self.cstore.store.is_postgres:
            wake = self._wake
            def ring() -> None:
                loop.call_soon_threadsafe(wake.set)

            self._doorbell = Doorbell(self.cstore.store.url, ring)
            self._doorbell.start()
        if self.pool is not None:
            self._read_worker_records(loop)
        await self.sync_once()
        if self.running is not None and on_ready is not None:
            on_ready(self)
        watcher = self._task(self._watch(on_ready))
        await self._stop.wait()
        await self.drain()
        watcher.cancel()
        if self._doorbell is not None:
            self._doorbell.stop()
        await self.admin.stop()

    async def _watch(self, on_ready: Any) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()
            before = self.running
            if self.pool is not None and not self.draining:
                self._check_workers()
            await self.sync_once()
            if before is None and self.running is not None and on_ready is not None:
                on_ready(self)

    def _check_workers(self) -> None:
        """A worker that exited on its own is not replaced (forking from a running parent is unsafe): the others
        serve on; when none is left the parent stops with status 1, for systemd's Restart=on-failure."""
        assert self._stop is not None
        alive = self.pool.alive()
        for w in self.pool.workers:
            if w.exit_status is not None and not w.reported:
                w.reported = True
                self.worker_error = (f"worker {w.index} (pid {w.pid}) exited with status {w.exit_status}; "
                                     f"{len(alive)} of {len(self.pool.workers)} workers serve")
                log.error("%s", self.worker_error)
        if not alive:
            log.error("no worker process left: stopping (exit status 1)")
            self.exit_code = 1
            self._stop.set()

    def _read_worker_records(self, loop: asyncio.AbstractEventLoop) -> None:
        from bridgehead.runtime.serve_workers import read_records

        for w in self.pool.workers:
            w.records.setblocking(False)

            def readable(sock: socket.socket = w.records) -> None:
                if not read_records(sock, self.metrics.keep):
                    loop.remove_reader(sock.fileno())

            loop.add_reader(w.records.fileno(), readable)

    # ---- a worker process of --workers N ------------------------------------------------------
    async def run_worker(self, control: socket.socket, records: socket.socket) -> None:
        """Serve what the parent sends until it says stop, SIGTERM comes, or the parent goes away."""
        from bridgehead.runtime.serve_workers import relay_to

        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._own.add(asyncio.current_task())  # type: ignore[arg-type]
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: None)  # the parent reloads and sends the version
        loop.add_signal_handler(signal.SIGUSR1, self.reopen_logs)
        self.metrics.relay = relay_to(records, loop)
        control.setblocking(False)
        loop.add_reader(control.fileno(), self._on_control, control)
        await self._stop.wait()
        loop.remove_reader(control.fileno())
        await self.drain()

    def _on_control(self, control: socket.socket) -> None:
        from bridgehead.runtime.serve_workers import MAX_MESSAGE

        assert self._stop is not None
        try:
            data, fds, _flags, _addr = socket.recv_fds(control, MAX_MESSAGE, 64)
        except BlockingIOError:
            return
        except OSError:
            data, fds = b"", []
        if not data:  # the parent has gone away
            self._stop.set()
            return
        message = json.loads(data)
        op = message.get("op")
        if op == "apply":
            self._task(self._apply_sent(control, message, fds))
            return
        for fd in fds:
            os.close(fd)
        if op == "reopen":
            self.reopen_logs()
            self._reply(control, {"ok": True})
        elif op == "stop":
            self._stop.set()

    async def _apply_sent(self, control: socket.socket, message: dict[str, Any], fds: list[int]) -> None:
        for (host, port), fd in zip(message["addresses"], fds, strict=False):
            key = (str(host), int(port))
            if key in self.socks:  # the same listening socket as before: keep the one we have
                os.close(fd)
            else:
                self.socks[key] = socket.socket(fileno=fd)
        number = int(message["version"])
        version = Version(number, "", 0.0, str(message["source"]), str(message["base_dir"]), "", "")
        ok = self.applied == number or await self.apply(version)
        self._reply(control, {"ok": ok, "error": None if ok else f"worker {self.worker_index}: {self.last_error}"})

    @staticmethod
    def _reply(control: socket.socket, answer: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            control.send(json.dumps(answer).encode())

    async def drain(self) -> None:
        if self.pool is not None:
            await self._drain_workers()
            return
        self.draining = True
        running = self.running
        timeout = running.config.drain_timeout if running else 0.0
        if running is not None:
            for proxy in (running.forward, running.reverse):
                if proxy is not None:
                    await _stop_accepting(proxy)
        for sock in self.socks.values():
            sock.close()
        self.socks.clear()
        deadline = time.monotonic() + timeout
        log.warning("draining: no new connections; in-flight ones get %.0f s", timeout)
        while True:
            pending = {t for t in asyncio.all_tasks() if t not in self._own and not t.done() and _client(t)}
            left = deadline - time.monotonic()
            if not pending:
                break
            if left <= 0:
                log.warning("drain_timeout reached: closing %d connection(s): %s", len(pending),
                            ", ".join(sorted({getattr(t.get_coro(), "__qualname__", "?") for t in pending})))
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending, timeout=2)
                break
            await asyncio.wait(pending, timeout=min(left, 0.5))
        for access in self.logs.values():
            access.close()


    async def _drain_workers(self) -> None:
        self.draining = True
        timeout = self.running.config.drain_timeout if self.running else 0.0
        log.warning("draining: %d worker(s) stop accepting; in-flight connections get %.0f s",
                    len(self.pool.alive()), timeout)
        for w in self.pool.alive():
            self.pool.tell(w, {"op": "stop"})
        for sock in self.socks.values():
            sock.close()
        self.socks.clear()
        await asyncio.to_thread(self.pool.wait, timeout + 5.0)


def _client(task: asyncio.Task[Any]) -> bool:
    """A client connection's task: asyncio's stream server runs the proxies' ``_handle`` per connection
    (pooled upstream connections and other helpers are not waited for, only cancelled at exit)."""
    name = getattr(task.get_coro(), "__qualname__", "")
    return name in ("ForwardProxy._handle", "ReverseProxy._handle")


async def _stop_accepting(proxy: Any) -> None:
    """Stop a proxy's listeners without resetting a connection accepted a moment ago.

    asyncio (3.11) accepts in a selector callback and builds the transport in a task one loop
    turn later; ``Server.close()`` in between makes that task fail (``Server._attach`` asserts)
    and the client gets a reset. So: stop reading the listening sockets first (public
    ``loop.remove_reader``), let the tasks already scheduled attach, then close.
    """
    loop = asyncio.get_running_loop()
    servers = [proxy._server] if getattr(proxy, "_server", None) is not None else list(getattr(proxy, "servers", []))
    for server in servers:
        for sock in server.sockets:
            loop.remove_reader(sock.fileno())
    for _ in range(3):
        await asyncio.sleep(0)
    proxy.stop_accepting()
