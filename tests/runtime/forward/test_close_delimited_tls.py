"""A response body delimited by the end of the connection (RFC 9112 section 6.3 rule 8) from a TLS
origin, through inspection: the origin (Python's asyncio TLS server) writes the response and closes
at once, so its TLS close_notify follows the last record straight away; a coalescing TCP relay in
front of it makes the two arrive at the proxy in one read every time. curl must get the whole body
without waiting for a timeout."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

from tests.runtime.forward.conftest import ORIGIN_HOST, Pki
from tests.support.browser_nss import coalescing_relay

BODY = b"the body ends where the connection ends\n" * 50


@contextlib.asynccontextmanager
async def close_delimited_origin(pki: Pki) -> AsyncIterator[int]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(pki.server.chain), str(pki.server.key))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n" + BODY)
            writer.close()  # no Content-Length, no chunking: the close ends the body
            await asyncio.wait_for(writer.wait_closed(), 35)

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    async with server:
        yield server.sockets[0].getsockname()[1]


def test_close_delimited_body_from_a_tls_origin_is_not_held(pki: Pki, start_proxy: Any) -> None:
    proxy = start_proxy()

    async def run() -> tuple[float, subprocess.CompletedProcess[bytes]]:
        async with close_delimited_origin(pki) as origin, coalescing_relay(origin) as port:
            argv = ["curl", "-sS", "--max-time", "5", "--noproxy", "", "--proxy", proxy.url, "--cacert",
                    str(proxy.ca), f"https://{ORIGIN_HOST}:{port}/"]
            start = time.monotonic()
            done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, env=pki.client_env(),
                                           timeout=30)
            return time.monotonic() - start, done

    took, done = asyncio.run(run())
    assert done.returncode == 0, (took, done.stderr)
    assert done.stdout == BODY
    assert took < 3, f"{took:.1f} s"
