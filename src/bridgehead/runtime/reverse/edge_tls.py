"""Server-side TLS for client-certificate listeners: pyOpenSSL over memory BIOs.

The same shape as :class:`bridgehead.runtime.streams.TLSStream` (the
:class:`~bridgehead.runtime.streams.Stream` protocol: read/write/close/abort plus ``handshake``)
so :class:`~bridgehead.runtime.streams.Conn` and the relay work unchanged. pyOpenSSL instead of
``ssl`` only where it is needed: OpenSSL's
verify callback lets the handshake finish with an untrusted/expired certificate while
recording why (``verify_errors``), so the edge answers with a page naming the cause.
Listeners without client-certificate routes use the standard ``TLSStream``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from cryptography import x509
from OpenSSL import SSL

from bridgehead.runtime import tls
from bridgehead.runtime.streams import READ_SIZE


class EdgeTLSError(ConnectionError):
    """The client's TLS handshake or record layer failed."""


def record_verify(conn: SSL.Connection, cert: Any, errnum: int, depth: int, ok: int) -> bool:
    """OpenSSL verify callback: keep ``(depth, X509_V_ERR)`` for the policy, never abort."""
    if not ok:
        stream = conn.get_app_data()
        if stream is not None:
            stream.verify_errors.append((depth, errnum))
    return True


def client_cert_context(cert: str, key: str, client_cafiles: list[str]) -> Any:
    return tls.client_cert_server_context(cert, key, client_cafiles=client_cafiles, verify_callback=record_verify)


class OpenSSLServerStream:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, ctx: Any, *,
                 initial: bytes = b"") -> None:
        self.reader = reader
        self.writer = writer
        self.conn = SSL.Connection(ctx, None)
        self.conn.set_accept_state()
        self.conn.set_app_data(self)
        self.verify_errors: list[tuple[int, int]] = []
        self._eof = False
        if initial:
            self.conn.bio_write(initial)

    def _flush(self) -> None:
        out = self._pending_out()
        if out:
            self.writer.write(out)

    async def _fill(self) -> None:
        self._flush()
        await self.writer.drain()
        data = await self.reader.read(READ_SIZE)
        if not data:
            self._eof = True
            self.conn.bio_shutdown()
        else:
            self.conn.bio_write(data)

    async def handshake(self) -> None:
        while True:
            try:
                self.conn.do_handshake()
                self._flush()
                await self.writer.drain()
                return
            except SSL.WantReadError:
                if self._eof:
                    raise EdgeTLSError("peer closed the connection during the TLS handshake") from None
                await self._fill()
            except SSL.Error as exc:
                self._flush()
                raise EdgeTLSError(f"TLS handshake failed: {exc}") from None

    async def read(self) -> bytes:
        while True:
            try:
                data = self.conn.recv(READ_SIZE)
                self._flush()
                return bytes(data)
            except SSL.WantReadError:
                if self._eof:
                    return b""
                await self._fill()
            except (SSL.ZeroReturnError, SSL.SysCallError):
                return b""
            except SSL.Error as exc:
                raise EdgeTLSError(f"TLS error: {exc}") from None

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = self.conn.send(bytes(view[:READ_SIZE]))
                view = view[n:]
            except SSL.WantReadError:
                await self._fill()
            except SSL.Error as exc:
                raise EdgeTLSError(f"TLS error: {exc}") from None
        self._flush()
        await self.writer.drain()

    # ---- the record engine, for a callback runner that took the transport over (http1_lane) ----
    def open_records(self, data: bytes) -> tuple[bytes, bool, Exception | None, bytes]:
        """As :meth:`bridgehead.runtime.streams.TLSStream.open_records`, with pyOpenSSL's errors."""
        if data:
            self.conn.bio_write(data)
        parts: list[bytes] = []
        ended = False
        failure: Exception | None = None
        try:
            while True:
                parts.append(bytes(self.conn.recv(READ_SIZE)))
        except SSL.WantReadError:
            pass
        except (SSL.ZeroReturnError, SSL.SysCallError):
            ended = True
        except SSL.Error as exc:
            failure = EdgeTLSError(f"TLS error: {exc}")
        return b"".join(parts), ended, failure, self._pending_out()

    def seal(self, data: bytes) -> bytes:
        view = memoryview(data)
        while view:
            view = view[self.conn.send(bytes(view[:READ_SIZE])):]
        return self._pending_out()

    def mark_closed(self) -> None:
        self._eof = True

    def _pending_out(self) -> bytes:
        out = bytearray()
        while True:
            try:
                chunk = self.conn.bio_read(READ_SIZE)
            except SSL.WantReadError:
                break
            if not chunk:
                break
            out += chunk
        return bytes(out)

    def peer_certificate(self) -> x509.Certificate | None:
        cert = self.conn.get_peer_certificate()
        return cert.to_cryptography() if cert is not None else None

    def peer_chain(self) -> list[x509.Certificate]:
        chain = self.conn.get_peer_cert_chain() or []
        return [c.to_cryptography() for c in chain]

    def verified_chain(self) -> list[x509.Certificate]:
        chain = self.conn.get_verified_chain() or []
        return [c.to_cryptography() for c in chain]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.shutdown()
        with contextlib.suppress(Exception):
            self._flush()
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 2)

    def abort(self) -> None:
        self.writer.transport.abort()
