"""The reverse publishing proxy (scenarios S2 and S4): asyncio listeners, the only part with sockets.

Per client connection on a listener:

1. The ClientHello is read and parsed (``wire.tls_hello``) before any TLS answer. If its SNI
   names a ``passthrough`` route, the raw ClientHello is replayed to the backend and the two
   sockets are spliced: TLS, client certificates and channel bindings go end to end.
2. Otherwise TLS is terminated with the certificate chosen by SNI. A listener with routes
   that use client certificates asks for one in the handshake (pyOpenSSL, see ``edge_tls``);
   the certificate is judged once per connection (trust list, validity, restrictions) and
   mapped to an identity; revocation is checked per request against a cache with ``max_age``.
3. Each request is matched to a route by Host and path prefix; the route enforces
   ``client_certificate`` (off|optional|required) and ``fallback`` (none|basic), then the
   delegation step adds its headers, ``X-Forwarded-*`` are replaced, and the request is
   relayed (``runtime.relay.exchange``) over this client connection's own backend connection:
   one backend connection per client connection and route, so NTLM/Negotiate's
   per-connection handshake survives re-encryption (connection affinity).

At start, each ``reencrypt`` route's backend certificate is fetched and compared with the
certificate the listener presents for the route's first host (Extended Protection works
through a terminating proxy only when they are the same).

Every request, refusal and tunnel gives one access-log record (with ``listener``, ``route``,
``mode``, ``identity``); every failure a registry code and an error page naming it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import logging
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from bridgehead.core import errorpage
from bridgehead.core.ntlm.users import UserStore
from bridgehead.core.oauth.model import split_host_port
from bridgehead.core.proxy.edge import EdgeLayer, NotTLS, Passthrough, Refuse, Terminate, covers
from bridgehead.core.proxy.edge import HelloReceived as EdgeHello
from bridgehead.core.reverse.backend_facts import refused_for_missing_cert
from bridgehead.core.reverse.clientcert import Verdict, judge_certificate, route_decision
from bridgehead.core.reverse.identity import map_identity
from bridgehead.core.reverse.model import (
    ANONYMOUS,
    Identity,
    Listener,
    Mode,
    ReverseConfig,
    Route,
)
from bridgehead.core.reverse.routes import PathRefused, match, needs_client_cert
from bridgehead.failures import get
from bridgehead.runtime import http1_lane, tls
from bridgehead.runtime.accesslog import AccessLog
from bridgehead.runtime.forward.upstream import UpstreamConnector, UpstreamFailure
from bridgehead.runtime.limits import ConnectionLimits
from bridgehead.runtime.relay import Exchange, RelayError, classify, exchange, switched
from bridgehead.runtime.reverse.delegation import DelegationError, Delegator, ImmediateDelegator, build_delegator
from bridgehead.runtime.reverse.edge_tls import OpenSSLServerStream, client_cert_context
from bridgehead.runtime.reverse.revocation import RevocationChecker
from bridgehead.runtime.streams import Conn, DeadlineExceeded, Deadlines, PlainStream, TLSStream, read_hello, splice
from bridgehead.runtime.users_file import load_users
from bridgehead.wire.http1 import IDENTITY_FIELDS, HttpError, RequestHead, is_absolute_form, split_absolute
from bridgehead.wire.pyspnego_private import ntowfv1
from bridgehead.wire.tls_hello import ClientHello, TlsParseError

log = logging.getLogger("bridgehead.reverse")

HELLO_TIMEOUT = 10.0


@dataclass
class EdgeCert:
    pair: Any
    leaf: x509.Certificate
    der: bytes
    names: tuple[str, ...]
    plain_ctx: ssl.SSLContext
    cert_ctx: Any = None  # pyOpenSSL context when the listener asks for client certificates

    def serves(self, name: str) -> bool:
        return any(covers(n, name) for n in self.names)


def _names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [d.lower() for d in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        dns = []
    cns = [str(a.value).lower() for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)]
    return tuple(dns or cns)


class ListenerRuntime:
    """A listener's certificates, contexts, trust list, revocation cache and routes."""

    def __init__(self, listener: Listener, routes: tuple[Route, ...]) -> None:
        self.listener = listener
        self.routes = routes
        self.wants_client_cert = needs_client_cert(routes)
        cafiles = [str(p) for p in listener.client_ca]
        self.certs: list[EdgeCert] = []
        for pair in listener.certificates:
            pem = Path(pair.cert).read_bytes()
            leaf = x509.load_pem_x509_certificates(pem)[0]
            from cryptography.hazmat.primitives.serialization import Encoding

            plain = tls.server_context(pair.cert, pair.key, alpn=["http/1.1"])
            cert_ctx = client_cert_context(str(pair.cert), str(pair.key), cafiles) if self.wants_client_cert \
                else None
            self.certs.append(EdgeCert(pair, leaf, leaf.public_bytes(Encoding.DER), _names(leaf), plain, cert_ctx))
        self.trust: list[x509.Certificate] = []
        for path in listener.client_ca:
            self.trust += x509.load_pem_x509_certificates(Path(path).read_bytes())
        self.revocation = RevocationChecker(listener.revocation, self.trust)
        self.users = load_users(listener.basic_users) if listener.basic_users else UserStore([])
        self.edge = EdgeLayer(routes, [frozenset(c.names) for c in self.certs])  # the front door's decisions

    def cert_for(self, sni: str | None) -> EdgeCert:
        return self.certs[self.edge.certificate_for(sni)]


@dataclass
class ClientState:
    """One client connection: its certificate verdict and identity, and its backend connections."""

    client: str
    client_ip: str
    sni: str | None
    cert: x509.Certificate | None = None
    chain: list[x509.Certificate] = field(default_factory=list)
    verdict: Verdict | None = None
    identity: Identity = ANONYMOUS
    backends: dict[str, Conn] = field(default_factory=dict)


class ReverseProxy:
    def __init__(self, config: ReverseConfig, *, access_log: AccessLog | None = None) -> None:
        self.config = config
        self.log = access_log or AccessLog(config.access_log)
        self.listeners = {x.name: ListenerRuntime(x, config.routes_of(x.name)) for x in config.listeners}
        self.connectors: dict[str, UpstreamConnector] = {}
        self.delegators: dict[str, Delegator] = {}
        for route in config.routes:
            self.connectors[route.name] = UpstreamConnector(list(route.backend_ca), [],
                                                            handshake_timeout=config.read_timeout)
            self.delegators[route.name] = build_delegator(route, config.state_dir)
        self.servers: list[asyncio.base_events.Server] = []
        self.ports: dict[str, int] = {}
        self.backend_checks: dict[str, dict[str, Any]] = {}
        self.limits = ConnectionLimits(config.max_connections, config.max_connections_per_source)
        self.deadlines = Deadlines(head=config.head_timeout, idle=config.idle_timeout, read=config.read_timeout,
                                   body_rate=config.body_min_rate, body_grace=config.head_timeout)

    # ---- lifecycle -------------------------------------------------------------------
    async def start(self, *, check_backends: bool = True) -> None:
        for name, rt in self.listeners.items():
            server = await asyncio.start_server(functools.partial(self._handle, rt), rt.listener.host,
                                                rt.listener.port, limit=2**20, backlog=1024)
            self.servers.append(server)
            self.ports[name] = server.sockets[0].getsockname()[1]
        if check_backends:
            await self.check_backends()

    async def serve_forever(self) -> None:
        await asyncio.gather(*(s.serve_forever() for s in self.servers))

    async def close(self) -> None:
        for server in self.servers:
            server.close()
        for server in self.servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()

    async def check_backends(self) -> dict[str, dict[str, Any]]:
        """Compare each reencrypt route's backend certificate with the listener's (S2)."""
        routes = [r for r in self.config.routes if r.mode == Mode.REENCRYPT]
        results = await asyncio.gather(*(self._check_backend(r) for r in routes))
        for route, result in zip(routes, results, strict=True):
            self.backend_checks[route.name] = result
            self.log.write(action="backend-check", route=route.name, listener=route.listener, mode=route.mode.value,
                           host=route.backend.host, port=route.backend.port, **result)
            if result.get("same_certificate") is False and route.backend_extended_protection in ("allow", "require"):
                log.warning("route %s: the listener presents another certificate than the backend, whose "
                            "Extended Protection is %s: NTLM logons will fail (route-ep-cert-mismatch)",
                            route.name, route.backend_extended_protection)
        return self.backend_checks

    async def _check_backend(self, route: Route) -> dict[str, Any]:
        edge = self.listeners[route.listener].cert_for(route.hosts[0])
        host, port = route.backend.connect_to
        try:
            stream = await self.connectors[route.name].open_tls(host, port, route.backend.host,
                                                                client_cert=_pair(route))
        except UpstreamFailure as exc:
            return {"same_certificate": None, "code": exc.code, "reason": exc.detail}
        try:
            der = stream.peer_certificate_der() or b""
            requested = stream.facts.cert_request_in_handshake
        finally:
            stream.abort()
        return {"same_certificate": der == edge.der, "backend_sha256": hashlib.sha256(der).hexdigest(),
                "listener_sha256": hashlib.sha256(edge.der).hexdigest(), "backend_requests_client_cert": requested}

    # ---- connection handling ----------------------------------------------------------
    async def _handle(self, rt: ListenerRuntime, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("0.0.0.0", 0)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = Conn(PlainStream(reader, writer), timeout=self.config.read_timeout, deadlines=self.deadlines)
        start = time.monotonic()
        state = ClientState(f"{peer[0]}:{peer[1]}", str(peer[0]), None)
        refused = self.limits.admit(state.client_ip)
        if refused is not None:  # before TLS: nothing can be answered, the connection is closed
            self.log.write(client=state.client, listener=rt.listener.name, action="deny",
                           code="client-too-many-connections", reason=refused, duration_ms=_ms(start))
            client.stream.abort()
            return
        try:
            await self._connection(rt, client, state, start)
        except (ConnectionError, TimeoutError, ssl.SSLError, OSError, asyncio.IncompleteReadError):
            pass
        except Exception:  # never let one connection take the listener down
            log.exception("unexpected error on connection from %s", state.client)
        finally:
            self.limits.release(state.client_ip)
            for conn in state.backends.values():
                await conn.close()
            await client.close()

    async def _connection(self, rt: ListenerRuntime, client: Conn, state: ClientState, start: float) -> None:
        try:
            hello = await read_hello(client, min(HELLO_TIMEOUT, self.config.head_timeout))
        except TlsParseError as exc:
            refused = rt.edge.handle(NotTLS(str(exc)))
            assert isinstance(refused, Refuse)
            self.log.write(client=state.client, listener=rt.listener.name, action="deny", code=refused.code,
                           reason=refused.reason, duration_ms=_ms(start))
            return
        if hello is None:
            return
        state.sni = hello.sni
        decision = rt.edge.handle(EdgeHello(hello.sni))
        if isinstance(decision, Passthrough):
            await self._passthrough(rt, decision.route, client, hello, state, start)
            return
        assert isinstance(decision, Terminate)
        inner = await self._terminate(rt, rt.certs[decision.certificate], client, hello, state, start)
        if inner is None:
            return
        try:
            await self._requests(rt, inner, state)
        finally:
            await inner.close()

    async def _passthrough(self, rt: ListenerRuntime, route: Route, client: Conn, hello: ClientHello,
                           state: ClientState, start: float) -> None:
        host, port = route.backend.connect_to
        fields: dict[str, Any] = {"client": state.client, "listener": rt.listener.name, "route": route.name,
                                  "mode": "passthrough",
                  "host": hello.sni, "port": rt.listener.port}
        try:
            reader, writer = await self.connectors[route.name].open_tcp(host, port)
        except UpstreamFailure as exc:
            self.log.write(**fields, action="error", status=502, code=exc.code, reason=exc.detail,
                           duration_ms=_ms(start))
            return
        upstream = Conn(PlainStream(reader, writer), timeout=max(self.config.read_timeout, 300.0), role="upstream")
        client.timeout = max(self.config.read_timeout, 300.0)
        pending = hello.raw + bytes(client.buf)
        client.buf.clear()
        sent = received = 0
        try:  # logged when both sides have closed, or when the proxy stops
            await upstream.write(pending)
            sent, received = await splice(client, upstream)
        finally:
            await upstream.close()
            self.log.write(**fields, action="tunnel", url=f"{route.backend.url}", status=200,
                           reason="SNI passthrough: TLS end to end", duration_ms=_ms(start),
                           bytes_in=sent + len(pending), bytes_out=received)

    async def _terminate(self, rt: ListenerRuntime, edge: EdgeCert, client: Conn, hello: ClientHello,
                         state: ClientState, start: float) -> Conn | None:
        reader, writer = client.stream.reader, client.stream.writer  # type: ignore[attr-defined]
        initial = hello.raw + bytes(client.buf)
        client.buf.clear()
        stream: TLSStream | OpenSSLServerStream
        if edge.cert_ctx is not None:
            stream = OpenSSLServerStream(reader, writer, edge.cert_ctx, initial=initial)
        else:
            stream = TLSStream(reader, writer, edge.plain_ctx, server_side=True, initial=initial)
        try:
            await asyncio.wait_for(stream.handshake(), HELLO_TIMEOUT)
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError) as exc:
            self.log.write(client=state.client, listener=rt.listener.name, host=hello.sni, action="error",
                           code="client-bad-request", reason=f"client TLS handshake failed: {exc}",
                           duration_ms=_ms(start))
            return None
        if isinstance(stream, OpenSSLServerStream):
            state.cert = stream.peer_certificate()
            if state.cert is not None:
                state.chain = stream.peer_chain()
                state.verdict = judge_certificate(state.cert, stream.verify_errors, rt.listener.restrictions,
                                                  dt.datetime.now(dt.UTC))
                state.identity = map_identity(state.cert, rt.listener.identity_from, rt.listener.identity_rules)
                if state.verdict.ok and state.identity.user is None:
                    state.verdict = Verdict("edge-client-cert-not-acceptable",
                                            "the certificate maps to no user (identity_from / identity_rule)")
        return Conn(stream, timeout=self.config.read_timeout, deadlines=self.deadlines)

    # ---- requests ---------------------------------------------------------------------
    async def _requests(self, rt: ListenerRuntime, inner: Conn, state: ClientState) -> None:
        """The connection's requests. While a request goes to the backend connection the last one used
        and needs no wait (no revocation fetch, no KDC), it runs in the event loop's callbacks
        (:mod:`bridgehead.runtime.http1_lane`); any other request continues here the full way."""
        hooks = _RouteHooks(self, rt, state)
        while True:
            start = time.monotonic()
            head: RequestHead | None = None
            backend = hooks.lane_backend()
            if backend is not None and http1_lane.eligible(inner, backend):
                hooks.upstream = backend
                stop = await http1_lane.run(inner, backend, hooks)
                if stop.kind == "closed":
                    return
                if stop.kind == "error":
                    if isinstance(stop.error, (HttpError, DeadlineExceeded)):
                        await self._refuse(inner, rt, state, None, *classify(stop.error), stop.start)
                        return
                    assert stop.error is not None
                    raise stop.error
                if stop.kind != "slow":
                    await self._lane_outcome(rt, inner, state, hooks, stop)
                    return
                head, start = stop.head, stop.start
            if head is None:
                try:
                    head = await inner.read_request()
                except (HttpError, DeadlineExceeded) as exc:
                    await self._refuse(inner, rt, state, None, *classify(exc), start)
                    return
                if head is None:
                    return
            if not await self._request(rt, inner, state, head, start):
                return

    async def _lane_outcome(self, rt: ListenerRuntime, inner: Conn, state: ClientState, hooks: _RouteHooks,
                            stop: http1_lane.Stop) -> None:
        """A failure or a 101 inside a request the lane relayed: logged, answered or spliced here."""
        route, identity, ctx, upstream = hooks.route, hooks.identity, hooks.ctx, hooks.upstream
        assert route is not None and stop.head is not None and upstream is not None
        if stop.kind == "switch":
            assert stop.switch is not None
            ex = await switched(inner, upstream, stop.head, stop.switch)
            self._after(rt, state, route, identity, stop.start, ctx, upstream, ex)
            return
        assert stop.error is not None
        await self._exchange_failed(rt, inner, state, route, identity, stop.start, ctx, upstream, stop.error)

    def _routing(self, rt: ListenerRuntime, state: ClientState, head: RequestHead
                 ) -> tuple[Route | None, str, dict[str, Any], tuple[str, str] | None]:
        """The request's route and its log fields, or the refusal ``(code, detail)`` (no route, no Host)."""
        if is_absolute_form(head.target):  # RFC 9112 §3.2.2: route and forward by the target's authority
            _, authority, origin = split_absolute(head.target)
            head.target = origin
            head.headers.set(b"Host", authority)
        target = head.target.decode("latin-1")
        host_value = head.headers.get(b"host")
        host = host_value.decode("latin-1") if host_value else (state.sni or "")
        name, port = split_host_port(host)  # the record: the host without its port, the port as a number
        ctx: dict[str, Any] = {"method": head.method.decode("latin-1"), "url": f"https://{host}{target}",
                               "host": name, "port": port or rt.listener.port}
        if host_value is None and head.version == b"HTTP/1.1":
            return None, host, ctx, ("client-bad-request", "HTTP/1.1 request without Host (RFC 9112 §3.2)")
        try:
            route = match(rt.routes, host, target)
        except PathRefused as exc:
            return None, host, ctx, ("client-bad-request", str(exc))
        if route is None:
            return None, host, ctx, ("edge-no-route", f"no route for host {host!r} and path {target.split('?')[0]!r} "
                               f"on listener {rt.listener.name!r}")
        return route, host, ctx, None

    async def _request(self, rt: ListenerRuntime, inner: Conn, state: ClientState, head: RequestHead,
                       start: float) -> bool:
        route, host, ctx, refusal = self._routing(rt, state, head)
        if route is None:
            assert refusal is not None
            await self._refuse(inner, rt, state, None, *refusal, start, **ctx)
            return False
        identity, edge_auth = await self._authenticate(rt, inner, state, route, head, start, ctx)
        if identity is None:
            return False
        try:
            fields = await self._proxy_fields(route, state, head, host, identity, edge_auth)
        except DelegationError as exc:
            ctx.update(getattr(self.delegators[route.name], "log_fields", dict)())  # e.g. kcd_user, kcd_spn
            await self._refuse(inner, rt, state, route, exc.code, exc.detail, start, identity=identity, **ctx)
            return False
        ctx.update(getattr(self.delegators[route.name], "log_fields", dict)())  # never a ticket, see kcd
        return await self._forward(rt, inner, state, route, head, identity, start, ctx, fields)

    def _identity_now(self, rt: ListenerRuntime, state: ClientState, route: Route, head: RequestHead
                      ) -> tuple[str, Identity | None, bool]:
        """``(step, identity, edge_auth)`` decided without waiting: step ``ok``, ``refuse``, ``challenge``
        (no valid Basic logon) or ``revocation`` (the certificate's revocation must be checked first)."""
        decision = route_decision(route, state.cert is not None, state.verdict)
        if decision.action == "refuse":
            return "refuse", None, False
        if decision.action == "challenge-basic":
            user = self._basic_user(rt, head)
            if user is None:
                return "challenge", None, False
            return "ok", Identity(user=user, source="basic", mapped_by="basic"), True
        if decision.use_certificate and state.cert is not None:
            return ("revocation" if rt.revocation.settings.enabled else "ok"), state.identity, False
        return "ok", ANONYMOUS, False

    async def _authenticate(self, rt: ListenerRuntime, inner: Conn, state: ClientState, route: Route,
                            head: RequestHead, start: float, ctx: dict[str, Any]) -> tuple[Identity | None, bool]:
        """The request's identity, or ``(None, _)`` when it was refused/challenged (already answered)."""
        step, identity, edge_auth = self._identity_now(rt, state, route, head)
        if step == "refuse":
            decision = route_decision(route, state.cert is not None, state.verdict)
            await self._refuse(inner, rt, state, route, decision.code or "edge-client-cert-not-acceptable",
                               decision.detail, start, identity=state.identity, **ctx)
            return None, False
        if step == "challenge":
            await self._challenge(inner, rt, state, route, head, start, ctx)
            return None, False
        if step == "revocation":
            assert state.cert is not None
            code, detail, failed_open = await rt.revocation.check(state.cert, state.chain)
            if code is not None:
                await self._refuse(inner, rt, state, route, code, detail, start, identity=state.identity, **ctx)
                return None, False
            if failed_open:
                ctx["revocation"] = detail
        return identity, edge_auth

    def _basic_user(self, rt: ListenerRuntime, head: RequestHead) -> str | None:
        """The user of a valid ``Authorization: Basic`` (RFC 7617) against ``basic_users``."""
        value = head.headers.get(b"authorization") or b""
        scheme, _, token = value.partition(b" ")
        if scheme.lower() != b"basic":
            return None
        try:
            text = base64.b64decode(token.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None
        login, sep, password = text.partition(":")
        domain, _, name = login.rpartition("\\")
        user = rt.users.find(domain or None, name) if sep and name else None
        if user is None or not hmac.compare_digest(ntowfv1(password), user.nt_hash):
            return None
        return f"{user.domain}\\{user.name}" if user.domain else user.name

    async def _challenge(self, inner: Conn, rt: ListenerRuntime, state: ClientState, route: Route,
                         head: RequestHead, start: float, ctx: dict[str, Any]) -> None:
        failure = get("edge-basic-logon-failed")
        realm = rt.listener.basic_realm or (route.hosts[0] if route.hosts else rt.listener.name)
        page = errorpage.render("edge-basic-logon-failed", detail="send a client certificate or a Basic logon",
                                host=ctx["host"], headers=[("WWW-Authenticate", errorpage.basic_challenge(realm))])
        with contextlib.suppress(Exception):
            await inner.write(page)
        had_credentials = head.headers.get(b"authorization") is not None
        self.log.write(client=state.client, listener=rt.listener.name, route=route.name, mode=route.mode.value,
                       action="deny", status=failure.status, code="edge-basic-logon-failed" if had_credentials
                       else None, reason="Basic logon failed" if had_credentials
                       else "no client certificate: Basic challenge", duration_ms=_ms(start), **ctx)

    async def _proxy_fields(self, route: Route, state: ClientState, head: RequestHead, host: str,
                            identity: Identity, edge_auth: bool) -> tuple[list[bytes], list[tuple[bytes, bytes]]]:
        """``(owned, own)`` for the relay (see :meth:`_fields`), the delegation step's fields included."""
        return self._fields(route, state, head, host, edge_auth,
                            await self.delegators[route.name].headers_for(route, identity, head))

    def _fields(self, route: Route, state: ClientState, head: RequestHead, host: str, edge_auth: bool,
                delegated: list[tuple[bytes, bytes]]) -> tuple[list[bytes], list[tuple[bytes, bytes]]]:
        """``(owned, own)`` for the relay: fields the client may not send, and the proxy's own fields
        (Host, X-Forwarded-*, identity, delegation; RFC 7239 §5 equivalents), set after every removal."""
        owned = [*IDENTITY_FIELDS, route.identity_header.encode("latin-1")]
        if edge_auth and route.identity != "basic-passthrough":
            owned.append(b"authorization")  # the edge consumed the password; it does not go on
        own = [(b"X-Forwarded-For", state.client_ip.encode()), (b"X-Forwarded-Proto", b"https"),
               (b"X-Forwarded-Host", host.encode("latin-1"))]
        if not route.preserve_host:
            default = 443 if route.backend.scheme == "https" else 80
            port = "" if route.backend.port == default else f":{route.backend.port}"
            own.append((b"Host", f"{route.backend.host}{port}".encode()))
        elif head.headers.get(b"host") is None:  # HTTP/1.0 without Host: the name it was routed by (SNI)
            own.append((b"Host", host.encode("latin-1")))
        return owned, own + delegated

    async def _backend(self, route: Route, state: ClientState) -> Conn:
        conn = state.backends.get(route.name)
        if conn is not None and conn.reusable():  # never a connection holding bytes nobody asked for
            return conn
        if conn is not None:
            await conn.close()
        host, port = route.backend.connect_to
        connector = self.connectors[route.name]
        if route.mode == Mode.OFFLOAD:
            reader, writer = await connector.open_tcp(host, port)
            conn = Conn(PlainStream(reader, writer), timeout=self.config.read_timeout, role="upstream")
        else:
            stream = await connector.open_tls(host, port, route.backend.host, client_cert=_pair(route))
            if stream.facts.refused_without_cert:
                raise UpstreamFailure("route-backend-requires-client-cert",
                                      "the backend asked for a client certificate and refused the handshake"
                                      + (" with the bridging certificate" if route.bridging_certificate else
                                         "; the route has no bridging_certificate"))
            conn = Conn(stream, timeout=self.config.read_timeout, role="upstream")
        state.backends[route.name] = conn
        return conn

    async def _forward(self, rt: ListenerRuntime, inner: Conn, state: ClientState, route: Route, head: RequestHead,
                       identity: Identity, start: float, ctx: dict[str, Any],
                       fields: tuple[list[bytes], list[tuple[bytes, bytes]]]) -> bool:
        try:
            upstream = await self._backend(route, state)
        except UpstreamFailure as exc:
            await self._refuse(inner, rt, state, route, exc.code, exc.detail, start, identity=identity, **ctx)
            return False
        try:
            ex = await exchange(inner, upstream, head, owned=fields[0], own=fields[1], peer="backend")
        except (RelayError, ssl.SSLError, ConnectionError, TimeoutError, OSError, HttpError) as exc:
            await self._exchange_failed(rt, inner, state, route, identity, start, ctx, upstream, exc)
            return False
        if not self._after(rt, state, route, identity, start, ctx, upstream, ex):
            await upstream.close()
            state.backends.pop(route.name, None)
        return ex.keep_alive

    async def _exchange_failed(self, rt: ListenerRuntime, inner: Conn, state: ClientState, route: Route,
                               identity: Identity, start: float, ctx: dict[str, Any], upstream: Conn,
                               exc: BaseException) -> None:
        await upstream.close()
        state.backends.pop(route.name, None)
        code, detail = classify(exc, peer="backend")
        if isinstance(exc, RelayError) and exc.response_started:
            self._log(rt, state, route, identity, start, ctx, action="error", code=code, reason=detail)
            return
        await self._refuse(inner, rt, state, route, code, detail, start, identity=identity, **ctx)

    def _after(self, rt: ListenerRuntime, state: ClientState, route: Route, identity: Identity, start: float,
               ctx: dict[str, Any], upstream: Conn, ex: Exchange) -> bool:
        """Log a relayed exchange (naming a backend's refusal of delegation or of a missing certificate);
        True when the backend connection may carry the next request (then it is parked)."""
        extra: dict[str, Any] = {}
        if route.identity == "kerberos" and ex.status in (401, 403):
            # the backend refused a delegated ticket: name the cause in the log (seed 004's 401/403)
            extra = {"code": "kcd-delegated-401-403",
                     "reason": f"backend answered {ex.status} to the delegated Kerberos ticket"}
        extra = extra or refused_for_missing_cert(route, ex.status, _cert_requested(upstream)) or {}
        if ex.upgrade:  # a WebSocket (or other 101) session: logged when it ends, bytes both ways
            extra["upgrade"] = ex.upgrade
        self._log(rt, state, route, identity, start, ctx, action="publish", status=ex.status, bytes_in=ex.bytes_in,
                  bytes_out=ex.bytes_out, **extra)
        if ex.upstream_reusable:
            upstream.park()
        return ex.upstream_reusable

    # ---- answers and logs ---------------------------------------------------------------
    def _log(self, rt: ListenerRuntime, state: ClientState, route: Route | None, identity: Identity, start: float,
             ctx: dict[str, Any], **fields: Any) -> None:
        self.log.write(client=state.client, listener=rt.listener.name, route=route.name if route else None,
                       mode=route.mode.value if route else None, user=identity.user, duration_ms=_ms(start),
                       **identity.log_fields(), **ctx, **fields)

    async def _refuse(self, inner: Conn, rt: ListenerRuntime, state: ClientState, route: Route | None, code: str,
                      detail: str, start: float, *, identity: Identity | None = None, **ctx: Any) -> None:
        page = errorpage.render(code, detail=detail, host=str(ctx.get("host", "")))
        with contextlib.suppress(Exception):
            await inner.write(page)
        self._log(rt, state, route, identity or state.identity, start, ctx, action="deny", status=get(code).status,
                  code=code, reason=detail)

    async def start_on(self, socks: dict[str, socket.socket]) -> None:
        """Accept on ready listening sockets, one per listener name (serve keeps them across reloads)."""
        for name, rt in self.listeners.items():
            server = await asyncio.start_server(functools.partial(self._handle, rt), sock=socks[name],
                                                limit=2**20, backlog=1024)
            self.servers.append(server)
            self.ports[name] = server.sockets[0].getsockname()[1]

    def stop_accepting(self) -> None:
        """Close the listening sockets; accepted connections carry on (serve: reload and drain)."""
        for server in self.servers:
            server.close()


class _RouteHooks:
    """The per-request policy of a reverse connection without waits, for the lane (see :meth:`begin`)."""

    def __init__(self, proxy: ReverseProxy, rt: ListenerRuntime, state: ClientState) -> None:
        self.proxy = proxy
        self.rt = rt
        self.state = state
        self.upstream: Conn | None = None
        self.route: Route | None = None
        self.identity: Identity = ANONYMOUS
        self.ctx: dict[str, Any] = {}

    def lane_backend(self) -> Conn | None:
        """The backend connection the last request used, when it may carry the next one."""
        backends = self.state.backends
        if len(backends) != 1:
            return None
        conn = next(iter(backends.values()))
        return conn if conn.reusable() else None

    def begin(self, head: RequestHead) -> http1_lane.LaneRequest | None:
        """The exchange's fields, or ``None`` for a request that needs the full way: a refusal, a
        challenge, a revocation check, a delegation step that waits, another backend connection."""
        proxy, state = self.proxy, self.state
        route, host, ctx, _ = proxy._routing(self.rt, state, head)
        if route is None or state.backends.get(route.name) is not self.upstream:
            return None
        step, identity, edge_auth = proxy._identity_now(self.rt, state, route, head)
        if step == "revocation" and state.cert is not None:  # answered from the cache, or the full way
            known = self.rt.revocation.check_now(state.cert)
            if known is None or known[0] is not None:
                return None  # a fetch is due, or a refusal: the coroutine checks and answers
            step = "ok"
            if known[2]:
                ctx["revocation"] = known[1]
        delegator = proxy.delegators[route.name]
        delegated = delegator.headers_now(route, identity, head) if step == "ok" and identity is not None \
            and isinstance(delegator, ImmediateDelegator) else None
        if delegated is None or identity is None:
            return None
        owned, own = proxy._fields(route, state, head, host, edge_auth, delegated)
        ctx.update(getattr(delegator, "log_fields", dict)())
        self.route, self.identity, self.ctx = route, identity, ctx
        return http1_lane.LaneRequest(owned=owned, own=own, peer="backend")

    def done(self, head: RequestHead, ex: Exchange, start: float) -> bool:
        assert self.route is not None and self.upstream is not None
        self.proxy._after(self.rt, self.state, self.route, self.identity, start, self.ctx, self.upstream, ex)
        return ex.keep_alive  # a backend connection that is not reusable: the coroutine replaces it


def _pair(route: Route) -> tuple[str, str] | None:
    b = route.bridging_certificate
    return (str(b.cert), str(b.key)) if b is not None else None


def _cert_requested(conn: Conn) -> bool:
    """The backend sent a CertificateRequest in this connection's handshake (its stream's ServerFacts)."""
    facts = getattr(conn.stream, "facts", None)
    return bool(facts is not None and facts.cert_request_in_handshake)


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 2)
