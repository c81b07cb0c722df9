"""Upstream TLS for the inspecting proxy: connect, watch for CertificateRequest, classify failures.

The function :func:`watch` is installed as the context's ``_msg_callback``; OpenSSL calls
it for every handshake message, with the ``SSLObject`` as first argument. Each upstream
connection's facts are one object of the core, the stream's
:class:`~bridgehead.core.proxy.handshake.ServerFacts` (found by its ``SSLObject`` in a weak map,
nothing is set on the SSL object), which reads the messages:

* ``cert_request_in_handshake`` — CertificateRequest (type 13, RFC 8446 §4.3.2 / RFC 5246
  §7.4.4) received before the handshake finished: the connection can still be given to the
  client by replaying its ClientHello.
* ``cert_request_after`` — a CertificateRequest (TLS 1.3 post-handshake auth, RFC 8446
  §4.6.2) or a HelloRequest (TLS 1.2 renegotiation, RFC 5246 §7.4.1.1) after it finished:
  too late to splice.
* ``server_chain`` — the server's Certificate message (type 11, RFC 8446 §4.4.2 / RFC 5246
  §7.4.2): Python 3.11's ``ssl`` shows only the leaf, the browser-grade checks of
  :mod:`bridgehead.core.server_cert` look at the whole chain.

Validation is browser-grade (see :mod:`bridgehead.runtime.tls`): OpenSSL's verification
without X509_STRICT, then the explicit checks. Handshake failures map to registry codes in
the one classify step (:mod:`bridgehead.runtime.classify`: X509_V_ERR numbers, TLS alerts).
Revocation is checked against CRLs given with ``--upstream-crl`` per issuer (OpenSSL's own CRL flag would fail every
server whose CA has no CRL loaded). Then OCSP (:mod:`bridgehead.runtime.forward.ocsp`, the policy
``[forward] ocsp`` / ``[[ocsp]]``): a revoked leaf is refused ``upstream-cert-revoked``; no answer
refuses (``fail = closed``, ``upstream-ocsp-unavailable``) or is noted on the stream for the access
record (``fail = open``, :func:`upstream_note`). A handshake that carried a CertificateRequest is
not checked: the connection is dropped and the client's own handshake spliced (the client checks).

ALPN (RFC 7301): ``http/1.1`` only, unless the caller passes :func:`alpn_offer` of a ClientHello
that offered ``h2`` (then ``h2, http/1.1``, decided before the first upstream handshake, so the
CertificateRequest detection is unchanged); :func:`selected_alpn` is the origin's pick.

Cipher suites: :data:`~bridgehead.runtime.tls.CLIENT_CIPHERS`, no static-RSA key exchange.
When a handshake fails with a handshake-failure alert, one more connection offers *only*
static-RSA suites; if the server accepts it the failure is named
``upstream-tls-rsa-key-exchange-only``. Destinations listed in ``legacy_tls``
(``[[legacy_tls]] destination = [...]``) are offered those suites too.

Chaining (:mod:`bridgehead.core.chaining` decides the route per destination): when a
destination goes through a parent proxy, :meth:`UpstreamConnector.open_tcp` connects to the
parent and sends ``CONNECT host:port`` (RFC 9110 §9.3.6), so tunnels, the inspection's upstream
TLS leg and the replay of a held ClientHello (a *fresh* CONNECT each time) all run through it
unchanged. :meth:`UpstreamConnector.open_http` gives plain-HTTP requests a connection to the
parent itself; :func:`plain_request` keeps their target in absolute-form (RFC 9112 §3.2.2) and
adds the parent's ``Proxy-Authorization``. The parent's refusals are named
(``parent-proxy-auth-required`` 407, ``parent-proxy-denied`` 403, ``parent-proxy-bad-gateway``,
``parent-proxy-unreachable``); its password is never logged or shown.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from bridgehead.core.chaining import ChainPolicy, Parent, connect_request, parent_refusal, parse_status_line
from bridgehead.core.forward_ocsp import OcspPolicy
from bridgehead.core.forward_policy import DestinationRule
from bridgehead.core.proxy.handshake import HANDSHAKE, ServerFacts
from bridgehead.core.server_cert import check_chain
from bridgehead.runtime import tls
from bridgehead.runtime.classify import classify
from bridgehead.runtime.forward.ocsp import OcspChecker
from bridgehead.runtime.relay import RelayError
from bridgehead.runtime.streams import TLSStream
from bridgehead.wire.http1 import ResponseHead

_FACTS: weakref.WeakKeyDictionary[Any, ServerFacts] = weakref.WeakKeyDictionary()  # SSLObject → its facts

HANDSHAKE_FAILURE_MARKERS = ("handshake failure", "no shared cipher", "no cipher", "insufficient security")


def watch(conn: Any, direction: str, version: Any, content_type: Any, msg_type: Any, data: bytes) -> None:
    """``SSLContext._msg_callback``: the server's handshake messages to the connection's :class:`ServerFacts`."""
    if direction != "read" or content_type != HANDSHAKE:
        return
    facts = _FACTS.get(conn)
    if facts is not None:
        facts.message(int(version), int(content_type), int(msg_type), data)


def cert_request_in_handshake(stream: TLSStream) -> bool:
    return stream.facts.cert_request_in_handshake


def cert_request_after(stream: TLSStream) -> bool:
    return stream.facts.cert_request_after


def renegotiation_requested(stream: TLSStream) -> bool:
    return stream.facts.renegotiation


HTTP1_ONLY = ("http/1.1",)
H2_OR_HTTP1 = ("h2", "http/1.1")


def alpn_offer(client_alpn: Sequence[str] | None) -> tuple[str, ...]:
    """The ALPN list offered upstream (RFC 7301 §3.1), decided before the first upstream handshake:
    h2 (then http/1.1) only when the client offered h2 in its ClientHello, else http/1.1 only, so an
    HTTP/1.1 client is never relayed over h2."""
    return H2_OR_HTTP1 if client_alpn and "h2" in client_alpn else HTTP1_ONLY


def selected_alpn(stream: TLSStream) -> str | None:
    """The protocol the origin picked (``h2``, ``http/1.1``), ``None`` when it ignored ALPN (HTTP/1.1)."""
    picked: str | None = stream.obj.selected_alpn_protocol()
    return picked


class UpstreamFailure(Exception):
    """A failure towards the server, with its registry code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def server_chain(stream: TLSStream) -> list[bytes]:
    """The certificates the server sent (leaf first), or just the leaf if the message was not seen."""
    chain = list(stream.facts.server_chain)
    if not chain:
        try:
            leaf = stream.peer_certificate_der()
        except ValueError:  # handshake not done
            leaf = None
        chain = [leaf] if leaf else []
    return chain


def upstream_note(stream: TLSStream) -> tuple[str, str] | None:
    """``(code, detail)`` for the access record of a connection allowed with a warning (OCSP fail = open)."""
    return stream.facts.note


def leaf_not_after(stream: TLSStream) -> dt.datetime | None:
    """The server certificate's notAfter (UTC), for the minted leaf's lifetime."""
    chain = server_chain(stream)
    if not chain:
        return None
    return x509.load_der_x509_certificate(chain[0]).not_valid_after_utc


def classify_ssl_error(exc: BaseException, chain: list[bytes] | None = None) -> UpstreamFailure:
    """The one classify step (:mod:`bridgehead.runtime.classify`), plus the chain's no-SAN refinement."""
    code, detail = classify(exc)
    if code == "upstream-cert-name-mismatch" and chain:
        refusal = check_chain(chain[:1])
        if refusal is not None and refusal.code == "upstream-cert-no-san":
            return UpstreamFailure(refusal.code, refusal.detail)
    return UpstreamFailure(code, detail)


def _handshake_failure(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in HANDSHAKE_FAILURE_MARKERS)


@dataclass
class CRLSet:
    """CRLs by issuer name, each checked against a trusted CA before use (RFC 5280 §6.3)."""

    crls: list[x509.CertificateRevocationList]

    @classmethod
    def load(cls, crlfiles: list[Path], cafiles: list[Path]) -> CRLSet:
        cas = []
        for path in cafiles:
            cas += x509.load_pem_x509_certificates(Path(path).read_bytes())
        out = []
        for path in crlfiles:
            data = Path(path).read_bytes()
            crl = x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
            issuer = next((c for c in cas if c.subject == crl.issuer), None)
            if issuer is None or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                raise ValueError(f"{path}: CRL issuer not among --upstream-ca or signature invalid")
            out.append(crl)
        return cls(out)

    def revoked(self, leaf_der: bytes) -> bool:
        if not self.crls:
            return False
        leaf = x509.load_der_x509_certificate(leaf_der)
        for crl in self.crls:
            if crl.issuer == leaf.issuer and crl.get_revoked_certificate_by_serial_number(leaf.serial_number):
                return True
        return False


class UpstreamConnector:
    """Opens TCP and TLS connections to servers, with one cached client context per variant."""

    def __init__(self, cafiles: list[Path], crlfiles: list[Path], *, connect_timeout: float = 10.0,
                 handshake_timeout: float = 15.0, legacy_tls: Sequence[DestinationRule] = (),
                 chain: ChainPolicy | None = None, ocsp: OcspPolicy | None = None) -> None:
        self.chain = chain or ChainPolicy()
        self.ocsp = OcspChecker(ocsp, self.open_http, self.route, self._trusted) \
            if ocsp is not None and ocsp.enabled else None
        self._trust: list[x509.Certificate] | None = None
        self.cafiles = [Path(p) for p in cafiles]
        self.crls = CRLSet.load([Path(p) for p in crlfiles], self.cafiles)
        self.connect_timeout = connect_timeout
        self.handshake_timeout = handshake_timeout
        self.legacy_tls = list(legacy_tls)
        self._contexts: dict[tuple[tuple[str, str] | None, bool, tuple[str, ...]], ssl.SSLContext] = {}

    def legacy_allowed(self, host: str, port: int) -> bool:
        """Whether ``host:port`` opted in to static-RSA key exchange (``[[legacy_tls]]``)."""
        return any(rule.matches(host, port) for rule in self.legacy_tls)

    def context(self, client_cert: tuple[str, str] | None = None, *, legacy: bool = False,
                alpn: tuple[str, ...] = HTTP1_ONLY) -> ssl.SSLContext:
        """The client context for one variant; ``alpn`` is the offer (RFC 7301 §3.1), :data:`H2_OR_HTTP1`
        only for a client that offered h2 itself (see :func:`alpn_offer`)."""
        key = (client_cert, legacy, alpn)
        ctx = self._contexts.get(key)
        if ctx is None:
            ctx = tls.client_context(cafiles=self.cafiles, client_cert=client_cert, alpn=list(alpn),
                                     on_message=watch, post_handshake_auth=True,
                                     ciphers=tls.LEGACY_RSA_CIPHERS if legacy else tls.CLIENT_CIPHERS)
            self._contexts[key] = ctx
        return ctx

    def route(self, host: str, port: int) -> Parent | None:
        """The parent proxy ``host:port`` goes through, or ``None`` for direct."""
        return self.chain.route(host, port)

    async def open_tcp(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A byte stream to ``host:port``: direct, or a tunnel through the parent proxy (CONNECT)."""
        parent = self.route(host, port)
        if parent is None:
            return await self._dial(host, port)
        return await self._connect_via(parent, host, port)

    async def open_http(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection for plain-HTTP requests to ``host:port``: the origin, or the parent proxy itself."""
        parent = self.route(host, port)
        if parent is None:
            return await self._dial(host, port)
        return await self._dial_parent(parent)

    async def _dial_parent(self, parent: Parent) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await self._dial(parent.host, parent.port)
        except UpstreamFailure as exc:
            raise UpstreamFailure("parent-proxy-unreachable", f"parent proxy {parent}: {exc.detail}") from None

    async def _connect_via(self, parent: Parent, host: str, port: int
                           ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """CONNECT through ``parent`` (RFC 9110 §9.3.6); bytes after the 2xx head stay in the reader."""
        reader, writer = await self._dial_parent(parent)
        target = f"{host}:{port}"
        try:
            writer.write(connect_request(host, port, parent))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.handshake_timeout)
            status = parse_status_line(head)
        except TimeoutError:
            writer.close()
            raise UpstreamFailure("parent-proxy-unreachable",
                                  f"parent proxy {parent} did not answer the CONNECT for {target} in time") from None
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError, ValueError) as exc:
            writer.close()
            raise UpstreamFailure("parent-proxy-unreachable",
                                  f"parent proxy {parent} gave no HTTP answer to the CONNECT for {target}: "
                                  f"{type(exc).__name__}") from None
        refusal = parent_refusal(status, parent, target, _squid_error(head))
        if refusal is not None:
            writer.close()
            raise UpstreamFailure(*refusal)
        return reader, writer

    async def _dial(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            return await asyncio.wait_for(asyncio.open_connection(host, port, limit=2**20),
                                          self.connect_timeout)
        except TimeoutError:
            raise UpstreamFailure("upstream-unreachable", f"connect to {host}:{port} timed out") from None
        except OSError as exc:
            if "Name or service not known" in str(exc) or "nodename nor servname" in str(exc) or \
                    getattr(exc, "errno", None) in (-2, -3, -5):
                raise UpstreamFailure("upstream-dns-failed", f"{host}: {exc.strerror or exc}") from None
            raise UpstreamFailure("upstream-unreachable", f"{host}:{port}: {exc.strerror or exc}") from None

    async def open_tls(self, host: str, port: int, server_name: str,
                       client_cert: tuple[str, str] | None = None, *,
                       alpn: tuple[str, ...] = HTTP1_ONLY) -> TLSStream:
        """TCP + TLS handshake; a CertificateRequest does not fail it (see the flags). ``alpn``: the
        protocols offered (the origin's pick: :func:`selected_alpn`)."""
        reader, writer = await self.open_tcp(host, port)
        legacy = self.legacy_allowed(host, port)
        stream = TLSStream(reader, writer, self.context(client_cert, legacy=legacy, alpn=alpn), server_side=False,
                           server_hostname=server_name)
        _FACTS[stream.obj] = stream.facts
        try:
            await asyncio.wait_for(stream.handshake(), self.handshake_timeout)
        except ssl.SSLError as exc:
            stream.abort()
            if cert_request_in_handshake(stream) and client_cert is None:  # presented: a real refusal
                stream.facts.refused_without_cert = True
                return stream  # TLS 1.2 server that requires a certificate: alert after our empty one
            if not legacy and not isinstance(exc, ssl.SSLCertVerificationError) and _handshake_failure(exc) \
                    and await self._speaks_only_rsa_key_exchange(host, port, server_name):
                raise UpstreamFailure(
                    "upstream-tls-rsa-key-exchange-only",
                    f"{host}:{port} offers only static-RSA key exchange suites (no ECDHE); allow it with "
                    f"[[legacy_tls]] destination = [\"{host}\"]") from None
            raise classify_ssl_error(exc, stream.facts.server_chain or None) from None
        except TimeoutError:
            stream.abort()
            raise UpstreamFailure("upstream-timeout", "TLS handshake timed out") from None
        except (ConnectionError, OSError) as exc:
            stream.abort()
            if cert_request_in_handshake(stream) and client_cert is None:
                stream.facts.refused_without_cert = True
                return stream
            raise UpstreamFailure("upstream-tls-failed", f"connection closed during TLS handshake: {exc}") \
                from None
        stream.facts.handshake_done = True
        leaf = stream.peer_certificate_der()
        refusal = check_chain(server_chain(stream))
        if refusal is not None:
            stream.abort()
            raise UpstreamFailure(refusal.code, refusal.detail)
        if leaf and self.crls.revoked(leaf):
            stream.abort()
            raise UpstreamFailure("upstream-cert-revoked", "serial number listed in the issuer's CRL")
        if self.ocsp is not None and not cert_request_in_handshake(stream):
            verdict = await self.ocsp.check(host, port, server_chain(stream))
            if verdict.refuse is not None:
                stream.abort()
                raise UpstreamFailure(*verdict.refuse)
            stream.facts.note = verdict.note
        return stream

    def _trusted(self) -> list[x509.Certificate]:
        """The CAs the upstream leg trusts (``--upstream-ca`` or the system's), for finding an issuer."""
        if self._trust is None:
            import warnings

            ders = self.context().get_ca_certs(binary_form=True)
            with warnings.catch_warnings():  # a system CA with a negative serial: cryptography warns, still loads
                warnings.simplefilter("ignore")
                self._trust = [x509.load_der_x509_certificate(der) for der in ders]
        return self._trust

    async def _speaks_only_rsa_key_exchange(self, host: str, port: int, server_name: str) -> bool:
        """One bounded extra handshake offering only static-RSA suites (nothing is verified or sent)."""
        probe = tls.client_context(verify=False, ciphers=tls.RSA_KEY_EXCHANGE_CIPHERS)
        probe.maximum_version = ssl.TLSVersion.TLSv1_2  # TLS 1.3 has no static-RSA key exchange
        try:
            reader, writer = await self.open_tcp(host, port)
        except UpstreamFailure:
            return False
        stream = TLSStream(reader, writer, probe, server_side=False, server_hostname=server_name)
        try:
            await asyncio.wait_for(stream.handshake(), min(self.handshake_timeout, 5.0))
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError):
            return False
        finally:
            stream.abort()
        return True


def _squid_error(head: bytes) -> str | None:
    """squid's ``X-Squid-Error: ERR_DNS_FAIL 0`` names why it refused; kept short for the log."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"x-squid-error":
            return value.strip()[:80].decode("latin-1")
    return None


def plain_request(parent: Parent | None, origin: bytes, authority: bytes
                  ) -> tuple[bytes | None, list[tuple[bytes, bytes]], Any]:
    """``(target, own fields, response check)`` for a plain-HTTP request.

    Direct: origin-form, the authority as Host (RFC 9112 §3.2.2). Through a parent: the
    absolute-form target unchanged (RFC 9112 §3.2.2), Host, the parent's Basic credentials, and a
    check that turns the parent's 407 into ``parent-proxy-auth-required`` (a 407 always comes
    from a proxy, RFC 9110 §15.5.8: passed on, the client would answer it to bridgehead)."""
    own = [(b"Host", authority)]
    if parent is None:
        return origin, own, None
    auth = parent.authorization()
    if auth is not None:
        own.append((b"Proxy-Authorization", auth))

    def check(response: ResponseHead) -> None:
        if response.status == 407:
            refusal = parent_refusal(407, parent, authority.decode("latin-1"))
            assert refusal is not None
            raise RelayError(*refusal)

    return None, own, check


def parse_chain(tables: Any, parent: str | None = None, passwords: dict[str, str] | None = None) -> ChainPolicy:
    """``[[chain]] destination = [...], via = "http://[user@]HOST:PORT" | "direct"`` and the default
    ``parent`` → a :class:`ChainPolicy`. ``passwords`` maps ``chain[N]`` / ``parent`` to the password
    read for it (see :func:`read_password`). ``ValueError`` with one line naming the bad entry."""
    from bridgehead.core.chaining import ChainRule, parse_via

    passwords = passwords or {}
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ValueError("chain must be an array of tables: [[chain]] destination = [...], via = \"...\"")
    rules: list[ChainRule] = []
    for i, table in enumerate(tables, 1):
        key = f"chain[{i}]"
        unknown = set(table) - {"destination", "via", "password_file", "name"}
        if unknown:
            raise ValueError(f"{key}: unknown key(s) {', '.join(sorted(unknown))}")
        dest = table.get("destination")
        specs = [dest] if isinstance(dest, str) else dest
        if not specs or not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
            raise ValueError(f"{key}: destination must be a host or a list of hosts")
        via = table.get("via")
        if not isinstance(via, str):
            raise ValueError(f"{key}: via must be \"direct\" or \"http://HOST:PORT\"")
        try:
            rule = ChainRule.parse(str(table.get("name", key)), specs, via)
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None
        if rule.via is not None:
            rule = ChainRule(rule.name, rule.destinations, _with_password(rule.via, passwords.get(key), key))
        elif "password_file" in table:
            raise ValueError(f"{key}: password_file needs via = \"http://user@HOST:PORT\"")
        rules.append(rule)
    default = None
    if parent:
        try:
            default = parse_via(parent)
        except ValueError as exc:
            raise ValueError(f"parent: {exc}") from None
        if default is None:
            raise ValueError("parent: give http://HOST:PORT (leave it out to go direct)")
        default = _with_password(default, passwords.get("parent"), "parent")
    return ChainPolicy(tuple(rules), default)


PASSWORD_ENV = "BRIDGEHEAD_PARENT_PASSWORD"


def _with_password(parent: Parent, password: str | None, key: str) -> Parent:
    import os

    if password is None and parent.user is not None:
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            raise ValueError(f"{key}: parent proxy user {parent.user!r} needs a password: password_file "
                             f"(--parent-password-file) or the environment variable {PASSWORD_ENV}")
    if password is not None and parent.user is None:
        raise ValueError(f"{key}: a password needs a user in the URL (http://user@HOST:PORT)")
    return Parent(parent.host, parent.port, parent.user, password)


def read_password(path: Path, key: str) -> str:
    """The first line of a password file (the trailing newline is not part of the password)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{key}: cannot read the password file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{key}: the password file {path} is not UTF-8 text") from None
    password = text.splitlines()[0] if text else ""
    if not password:
        raise ValueError(f"{key}: the password file {path} is empty")
    return password


def parse_legacy_tls(tables: Any) -> list[DestinationRule]:
    """``[[legacy_tls]] destination = ["host", "*.domain", "192.0.2.0/24:443"]`` → the opt-in rules.

    Raises ``ValueError`` with one line naming the bad entry (the config loader turns it into its error).
    """
    from bridgehead.core.forward_policy import PolicyError

    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ValueError("legacy_tls must be an array of tables: [[legacy_tls]] destination = [...]")
    rules: list[DestinationRule] = []
    for i, table in enumerate(tables, 1):
        unknown = set(table) - {"destination"}
        if unknown:
            raise ValueError(f"legacy_tls[{i}]: unknown key(s) {', '.join(sorted(unknown))}")
        dest = table.get("destination")
        specs = [dest] if isinstance(dest, str) else dest
        if not specs or not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
            raise ValueError(f"legacy_tls[{i}]: destination must be a host or a list of hosts")
        try:
            rules += [DestinationRule.parse(s) for s in specs]
        except PolicyError as exc:
            raise ValueError(f"legacy_tls[{i}]: {exc}") from None
    return rules
