"""OCSP for the origin's certificate: ask the responder, cache the answer (decisions in
:mod:`bridgehead.core.forward_ocsp`).

After the upstream handshake validated, :meth:`OcspChecker.check` takes the chain the server
sent, finds the leaf's issuer (the server's chain, then the trusted CAs) and the responder URL
in the leaf's AIA (RFC 5280 §4.2.2.1), and POSTs the DER OCSPRequest (RFC 6960 Appendix A.1,
``Content-Type: application/ocsp-request``) over HTTP/1.1. The request takes the route a
plain-HTTP request to the responder's host would take (``[[chain]]`` / ``parent``): direct, or
to the parent proxy in absolute-form with its Basic credentials (RFC 9112 §3.2.2). The whole
exchange is bounded by ``ocsp_timeout``.

Answers are cached by (issuer, serial) — the certificate, not the destination — and reused
while :func:`~bridgehead.core.forward_ocsp.usable` says so (thisUpdate/nextUpdate); concurrent
connections to the same certificate wait for one fetch. A failed fetch is remembered for
:data:`RETRY_AFTER` seconds so that a responder outage costs one ``ocsp_timeout`` per
certificate and not one per connection. The cache holds at most :data:`MAX_ENTRIES` answers.

Stapling (RFC 6066 §8 status_request): Python's ``ssl`` (the upstream leg's TLS stack) has no
client API to ask for a stapled response (``SSL_set_tlsext_status_type`` is not exposed) or to
read one, so a server never staples to bridgehead; the responder is always asked.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp as x509_ocsp

from bridgehead.core import forward_ocsp as fo
from bridgehead.core.chaining import Parent
from bridgehead.core.reverse import revocation as rv
from bridgehead.wire.http1 import CHUNKED, LENGTH, HttpError, find_head_end, parse_response_head, response_framing

log = logging.getLogger("bridgehead.forward.ocsp")

RETRY_AFTER = 30.0  # seconds a failed fetch is remembered
MAX_ENTRIES = 4096
MAX_RESPONSE = 256 * 1024  # an OCSP response is a few KiB

Opener = Callable[[str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
Router = Callable[[str, int], Parent | None]


class OcspFetchError(Exception):
    """No usable answer from the responder (the text says why; never a credential)."""


def response_body(raw: bytes) -> tuple[int, bytes]:
    """``(status, body)`` of a complete HTTP/1.1 response read until the server closed."""
    end = find_head_end(raw)
    if end < 0:
        raise HttpError("no complete response head")
    head = parse_response_head(raw[:end])
    rest = raw[end:]
    framing = response_framing(head, b"POST")
    if framing.kind == LENGTH:
        if len(rest) < framing.length:
            raise HttpError("response body shorter than its Content-Length")
        return head.status, rest[:framing.length]
    if framing.kind == CHUNKED:
        body, pos = b"", 0
        while True:  # bounded: every turn consumes a chunk of the bounded input or stops
            nl = rest.find(b"\r\n", pos)
            if nl < 0:
                raise HttpError("truncated chunked body")
            size = int(rest[pos:nl].split(b";")[0].strip() or b"x", 16)
            if size == 0:
                return head.status, body
            body += rest[nl + 2 : nl + 2 + size]
            pos = nl + 2 + size + 2
    return head.status, rest


class _Lazy:
    """Iterates ``load()``'s list, calling it only when the iteration gets that far."""

    def __init__(self, load: Callable[[], list[x509.Certificate]]) -> None:
        self.load = load

    def __iter__(self) -> Iterator[x509.Certificate]:
        return iter(self.load())


class OcspChecker:
    def __init__(self, policy: fo.OcspPolicy, opener: Opener, router: Router,
                 trusted: Callable[[], list[x509.Certificate]]) -> None:
        self.policy = policy
        self._open = opener
        self._route = router
        self._trusted = trusted
        self._answers: dict[tuple[bytes, int], fo.OcspStatus] = {}
        self._failures: dict[tuple[bytes, int], tuple[float, str]] = {}
        self._locks: dict[tuple[bytes, int], asyncio.Lock] = {}
        self.fetches = 0

    async def check(self, host: str, port: int, chain: list[bytes]) -> fo.OcspVerdict:
        """The verdict for the server ``host:port`` that sent ``chain`` (leaf first)."""
        mode, where = self.policy.mode_for(host, port)
        if mode == fo.OFF or not chain:
            return fo.OcspVerdict()
        leaf = x509.load_der_x509_certificate(chain[0])
        url = rv.responder_url(leaf)
        if url is None:
            return fo.OcspVerdict()  # nothing to ask, as browsers do
        issuer = self._issuer(leaf, chain[1:])
        if issuer is None:
            return fo.verdict(mode, where, url, None, "the issuer's certificate is neither in the server's chain "
                                                      "nor among the trusted CAs (needed for the OCSP CertID)")
        key = (hashlib.sha256(issuer.public_bytes(Encoding.DER)).digest(), leaf.serial_number)
        answer, problem = await self._answer(key, url, leaf, issuer)
        result = fo.verdict(mode, where, url, answer, problem)
        if result.note is not None:
            log.warning("%s:%d: %s", host, port, result.note[1])
        return result

    def _issuer(self, leaf: x509.Certificate, sent: list[bytes]) -> x509.Certificate | None:
        candidates = (x509.load_der_x509_certificate(der) for der in sent)
        for cert in itertools.chain(candidates, _Lazy(self._trusted)):  # the trusted CAs only when needed
            if cert.subject == leaf.issuer:
                try:
                    leaf.verify_directly_issued_by(cert)
                except (InvalidSignature, ValueError, TypeError):  # a namesake, not the issuer
                    continue
                return cert
        return None

    async def _answer(self, key: tuple[bytes, int], url: str, leaf: x509.Certificate,
                      issuer: x509.Certificate) -> tuple[fo.OcspStatus | None, str | None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                return await self._answer_locked(key, url, leaf, issuer)
        finally:
            if not lock.locked():  # a woken waiter finds the answer cached; the dict stays small
                self._locks.pop(key, None)

    async def _answer_locked(self, key: tuple[bytes, int], url: str, leaf: x509.Certificate,
                             issuer: x509.Certificate) -> tuple[fo.OcspStatus | None, str | None]:
        cached = self._answers.get(key)
        if cached is not None and fo.usable(cached, dt.datetime.now(dt.UTC)):
            return cached, None
        failed = self._failures.get(key)
        if failed is not None and time.monotonic() < failed[0]:
            return None, f"{failed[1]} (an earlier attempt; asked again after {RETRY_AFTER:.0f} s)"
        try:
            answer = await asyncio.wait_for(self._fetch(url, leaf, issuer), self.policy.timeout)
        except TimeoutError:
            return None, self._failed(key, f"no answer within ocsp_timeout {self.policy.timeout:g} s")
        except (OcspFetchError, rv.RevocationDataError, HttpError, OSError, ValueError) as exc:
            return None, self._failed(key, str(exc) or type(exc).__name__)
        self._failures.pop(key, None)
        self._store(key, answer)
        return answer, None

    def _failed(self, key: tuple[bytes, int], why: str) -> str:
        if len(self._failures) >= MAX_ENTRIES:
            self._failures.pop(next(iter(self._failures)))
        self._failures[key] = (time.monotonic() + RETRY_AFTER, why)
        return why

    def _store(self, key: tuple[bytes, int], answer: fo.OcspStatus) -> None:
        self._answers.pop(key, None)
        if len(self._answers) >= MAX_ENTRIES:
            self._answers.pop(next(iter(self._answers)))  # the oldest
        self._answers[key] = answer

    async def _fetch(self, url: str, leaf: x509.Certificate, issuer: x509.Certificate) -> fo.OcspStatus:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise OcspFetchError(f"only http:// responders are asked (RFC 6960 Appendix A.1), not {url!r}")
        host, port = parts.hostname, parts.port or 80
        body = rv.ocsp_request(leaf, issuer)
        parent = self._route(host, port)
        authority = parts.netloc.rpartition("@")[2]
        target = url if parent is not None else (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"POST {target} HTTP/1.1", f"Host: {authority}", "Content-Type: application/ocsp-request",
                 "Accept: application/ocsp-response", f"Content-Length: {len(body)}", "Connection: close"]
        auth = parent.authorization() if parent is not None else None
        if auth is not None:
            lines.append("Proxy-Authorization: " + auth.decode("latin-1"))
        self.fetches += 1
        try:
            reader, writer = await self._open(host, port)
        except Exception as exc:  # UpstreamFailure (the connector's), without importing it here
            raise OcspFetchError(f"cannot connect: {getattr(exc, 'detail', exc)}") from None
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            raw = b""
            while len(raw) <= MAX_RESPONSE:  # bounded by MAX_RESPONSE
                data = await reader.read(65536)
                if not data:
                    break
                raw += data
        finally:
            writer.close()
        if len(raw) > MAX_RESPONSE:
            raise OcspFetchError(f"response larger than {MAX_RESPONSE} bytes")
        status, payload = response_body(raw)
        if status == 407 and parent is not None:
            raise OcspFetchError(f"the parent proxy {parent} asked for authentication (407)")
        if status != 200:
            raise OcspFetchError(f"HTTP status {status}")
        now = dt.datetime.now(dt.UTC)
        answer = rv.parse_ocsp(payload, leaf, issuer, now)
        this_update = x509_ocsp.load_der_ocsp_response(payload).this_update_utc
        return fo.OcspStatus(answer.status, answer.detail, this_update, answer.next_update)


