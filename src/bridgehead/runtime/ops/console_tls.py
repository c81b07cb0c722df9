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
  With ``client_crl`` the files are read at every connection (a CRL published by replacing the
  file applies to the next connection, no reload) and fail closed: a listed serial is
  ``edge-client-cert-revoked``; no current, correctly signed CRL for the issuer
  (RFC 5280 §6.3.3) is ``edge-revocation-unavailable``.
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

from cryptography import x509
from OpenSSL import SSL

from bridgehead.core.reverse import revocation as rv
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


def check_files(cert: Path, key: Path, client_ca: Path | None, client_crl: tuple[Path, ...] = ()) -> None:
    """What start-up loads, loaded now: a configuration naming unusable files is refused."""
    for what, path in (("tls_cert", cert), ("tls_key", key), ("client_ca", client_ca),
                       *(("client_crl", c) for c in client_crl)):
        if path is not None and not path.is_file():
            raise ConfigError(f"admin.{what}: {path}: no such file")
    for crl in client_crl:
        try:
            rv.load_crl(crl.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"admin.client_crl: {crl}: not a CRL: {exc}") from None
    try:
        context(cert, key, client_ca)
    except SSL.Error as exc:
        reason = "; ".join(str(e[2]) for e in exc.args[0]) if exc.args and isinstance(exc.args[0], list) else exc
        raise ConfigError(f"admin: cannot use tls_cert {cert} / tls_key {key} / client_ca {client_ca}: "
                          f"{reason}") from None


def judge(stream: OpenSSLServerStream, address: str, *, trust: list[x509.Certificate] | None = None,
          crls: tuple[Path, ...] = (), now: dt.datetime | None = None) -> Peer:
    cert = stream.peer_certificate()
    if cert is None:
        return Peer(address)
    wall = now or dt.datetime.now(dt.UTC)
    verdict = judge_certificate(cert, stream.verify_errors, Restrictions(), wall)
    if not verdict.ok:
        return Peer(address, code=verdict.code, detail=verdict.detail)
    if crls:
        code, detail = revocation(cert, trust or [], crls, wall)
        if code is not None:
            return Peer(address, code=code, detail=detail)
    return Peer(address, subject=cert.subject.rfc4514_string())


def revocation(cert: x509.Certificate, trust: list[x509.Certificate], crls: tuple[Path, ...],
               now: dt.datetime) -> tuple[str | None, str]:
    """``(code or None, detail)``: the CRL files of ``cert``'s issuer, read now, fail closed."""
    issuer = next((c for c in trust if c.subject == cert.issuer), None)
    problems = []
    for path in crls:
        try:
            crl = rv.load_crl(path.read_bytes())
            if crl.issuer != cert.issuer:
                continue  # another CA's list
            if issuer is None:
                raise rv.RevocationDataError("the issuing CA is not in client_ca")
            rv.check_crl(crl, issuer, now)
        except (OSError, ValueError) as exc:
            problems.append(f"{path}: {exc.strerror if isinstance(exc, OSError) else exc}")
            continue
        status, detail = rv.crl_status(crl, cert)
        if status == rv.REVOKED:
            return "edge-client-cert-revoked", f"serial {cert.serial_number:x} {detail} ({path})"
        return None, ""
    why = "; ".join(problems) or f"no CRL in client_crl is issued by {cert.issuer.rfc4514_string()}"
    return "edge-revocation-unavailable", why


class TLSFront:
    """Accepts on the public socket, terminates TLS, relays to uvicorn's private port."""

    def __init__(self, cert: Path, key: Path, client_ca: Path | None, private_port: int,
                 client_crl: tuple[Path, ...] = ()) -> None:
        self.ctx = context(cert, key, client_ca)
        self.private_port = private_port
        self.trust = x509.load_pem_x509_certificates(client_ca.read_bytes()) if client_ca else []
        self.crls = client_crl
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
            peer = await asyncio.to_thread(judge, stream, address, trust=self.trust, crls=self.crls)
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
