"""The admin listener over HTTPS, and sign-in with a client certificate from the admins' CA.

How it works: Python's ``ssl`` aborts a handshake whose client certificate it does not trust
(no page could name the cause) and uvicorn does not hand the peer certificate to the app.
So with ``[admin] tls_cert``/``tls_key`` the public socket is served here:

* TLS is terminated with pyOpenSSL through the reverse proxy's edge stream
  (:class:`bridgehead.runtime.reverse.edge_tls.OpenSSLServerStream`): with ``client_ca`` the
  server sends a CertificateRequest naming that CA (RFC 8446 §4.3.2, RFC 5246 §7.4.4) and its
  verify callback records OpenSSL's errors instead of aborting, so every client finishes the
  handshake; without ``client_ca`` no certificate is asked for.
* The certificate is judged with the edge's rules
  (:func:`bridgehead.core.reverse.clientcert.judge_certificate`: chain to ``client_ca``,
  validity, clientAuth EKU when an EKU is present) → :class:`Peer` with the subject, or the
  registry code that refuses it (``edge-client-cert-untrusted``, ``-expired``, ``-not-acceptable``).
* The decrypted bytes are relayed to uvicorn on a private ``127.0.0.1`` socket. The relay
  connection's local address is the key of ``TLSFront.peers``: the app looks its
  request's client address up there. A connection to the private socket that did not come
  through the relay is not in the table, and the app refuses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from OpenSSL import SSL

from bridgehead.core.reverse.clientcert import judge_certificate
from bridgehead.core.reverse.model import Restrictions
from bridgehead.runtime.forward.config import ConfigError
from bridgehead.runtime.reverse.edge_tls import EdgeTLSError, OpenSSLServerStream, client_cert_context

log = logging.getLogger("bridgehead.admin")

HANDSHAKE_TIMEOUT = 10.0
RELAY_READ = 65536


@dataclass(frozen=True)
class Peer:
    """Who is at the other end of one TLS connection to the admin listener."""

    address: str  # the client's IP address (the relay hop is loopback)
    subject: str | None = None  # RFC 4514 subject of a trusted client certificate
    code: str | None = None  # registry code when a certificate was presented and refused
    detail: str = ""


def context(cert: Path, key: Path, client_ca: Path | None) -> Any:
    """The pyOpenSSL server context (one cipher policy with every listener, runtime/tls.py)."""
    ctx = client_cert_context(str(cert), str(key), [str(client_ca)] if client_ca else [])
    if client_ca is None:
        ctx.set_verify(SSL.VERIFY_NONE)  # HTTPS only: no CertificateRequest
    return ctx


def check_files(cert: Path, key: Path, client_ca: Path | None) -> None:
    """What start-up loads, loaded now: a configuration naming unusable files is refused."""
    for what, path in (("tls_cert", cert), ("tls_key", key), ("client_ca", client_ca)):
        if path is not None and not path.is_file():
            raise ConfigError(f"admin.{what}: {path}: no such file")
    try:
        context(cert, key, client_ca)
    except SSL.Error as exc:
        reason = "; ".join(str(e[2]) for e in exc.args[0]) if exc.args and isinstance(exc.args[0], list) else exc
        raise ConfigError(f"admin: cannot use tls_cert {cert} / tls_key {key} / client_ca {client_ca}: "
                          f"{reason}") from None


def judge(stream: OpenSSLServerStream, address: str, now: dt.datetime | None = None) -> Peer:
    cert = stream.peer_certificate()
    if cert is None:
        return Peer(address)
    verdict = judge_certificate(cert, stream.verify_errors, Restrictions(), now or dt.datetime.now(dt.UTC))
    if verdict.ok:
        return Peer(address, subject=cert.subject.rfc4514_string())
    return Peer(address, code=verdict.code, detail=verdict.detail)


class TLSFront:
    """Accepts on the public socket, terminates TLS, relays to uvicorn's private port."""

    def __init__(self, cert: Path, key: Path, client_ca: Path | None, private_port: int) -> None:
        self.ctx = context(cert, key, client_ca)
        self.private_port = private_port
        self.peers: dict[tuple[str, int], Peer] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self, sock: socket.socket) -> None:
        self._server = await asyncio.start_server(self._handle, sock=sock)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)

    def peer(self, client: tuple[str, int] | None) -> Peer | None:
        return self.peers.get(client) if client is not None else None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        address = str((writer.get_extra_info("peername") or ("?",))[0])
        stream = OpenSSLServerStream(reader, writer, self.ctx)
        key: tuple[str, int] | None = None
        up_writer: asyncio.StreamWriter | None = None
        try:
            try:
                await asyncio.wait_for(stream.handshake(), HANDSHAKE_TIMEOUT)
            except (EdgeTLSError, TimeoutError, OSError) as exc:
                log.info("admin listener: TLS handshake from %s failed: %s", address, exc)
                return
            peer = judge(stream, address)
            if peer.code:
                log.warning("console: client certificate from %s refused: %s (%s)", address, peer.code, peer.detail)
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.private_port)
            local = up_writer.get_extra_info("sockname")
            key = (str(local[0]), int(local[1]))
            self.peers[key] = peer  # before the first byte reaches uvicorn
            await self._relay(stream, up_reader, up_writer)
        except asyncio.CancelledError:  # stop(): the connection ends here (asyncio's stream callback
            pass  # would log a cancelled handler as an error)
        except (OSError, EdgeTLSError) as exc:
            log.info("admin listener: connection from %s ended: %s", address, exc)
        finally:
            if key is not None:
                self.peers.pop(key, None)
            if up_writer is not None:
                up_writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(stream.close(), 2)
            if task is not None:
                self._tasks.discard(task)

    async def _relay(self, stream: OpenSSLServerStream, up_reader: asyncio.StreamReader,
                     up_writer: asyncio.StreamWriter) -> None:
        async def inbound() -> None:
            while data := await stream.read():
                up_writer.write(data)
                await up_writer.drain()
            if up_writer.can_write_eof():
                up_writer.write_eof()

        async def outbound() -> None:
            while data := await up_reader.read(RELAY_READ):
                await stream.write(data)

        tasks = [asyncio.create_task(inbound()), asyncio.create_task(outbound())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if tasks[0] in done and tasks[0].exception() is None:
                # the client sent everything (EOF): the answer still flows until uvicorn closes its side
                await asyncio.wait([tasks[1]])
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
