"""The inspecting forward proxy (scenario S1): asyncio server, the only part that touches sockets.

Per client connection:

* absolute-form requests (``GET http://host/path``) are relayed to the origin over pooled
  upstream connections;
* ``CONNECT host:port`` is decided by :class:`~bridgehead.core.forward_policy.ForwardPolicy`:
  *tunnel* splices bytes; *inspect* answers ``200``, then holds the client's ClientHello
  unanswered and connects to the server first (upstream-first). If the server sends a
  CertificateRequest, the attempt is dropped and — by default — a fresh connection gets the
  client's own ClientHello replayed and the two sockets are spliced, so the client's
  certificate reaches the server on the first try. Otherwise the held ClientHello is fed to
  a TLS server presenting a leaf minted for the SNI, and HTTP is relayed inside.
* Before either, the access rules (:mod:`bridgehead.core.access_rules`) decide: allow, deny
  (403 page ``forward-rule-denied`` naming the rule) or authenticate (407 with one
  ``Proxy-Authenticate`` per configured scheme, :mod:`.auth`); NTLM/Negotiate state lives on the
  client connection, whose user is then in every access-log record of that connection.
  ``Proxy-Authorization`` is hop-by-hop (wire/http1.py) and never reaches the origin.
* A certificate request after the first request (renegotiation, post-handshake auth) is
  answered with a 502 naming the cause, and the destination is learned (store namespace
  ``bypass``, TTL 12 h by default) so its next connections tunnel.

Every request and tunnel produces one access-log record; every failure a registry code.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bridgehead.core import access_rules, errorpage
from bridgehead.core.access_rules import AccessRule, Verdict
from bridgehead.core.chaining import ChainPolicy
from bridgehead.core.forward_ocsp import OcspPolicy
from bridgehead.core.forward_policy import Action, DestinationRule, ForwardPolicy
from bridgehead.core.proxy.inspection import (
    AnswerRequest,
    AnswerUnderTLS,
    Command,
    DropAttempt,
    Event,
    HelloReceived,
    Inspect,
    InspectionLayer,
    LateCertRequest,
    Learn,
    NotTLS,
    OpenUpstream,
    Tunnel,
    UpstreamFailed,
    UpstreamReady,
)
from bridgehead.failures import Code, get, platform_number
from bridgehead.runtime import http1_lane
from bridgehead.runtime.accesslog import AccessLog
from bridgehead.runtime.asgi_auth import ConnState
from bridgehead.runtime.forward import epwatch, h2relay
from bridgehead.runtime.forward.auth import ProxyAuth
from bridgehead.runtime.forward.ca import InspectionCA
from bridgehead.runtime.forward.upstream import (
    UpstreamConnector,
    UpstreamFailure,
    alpn_offer,
    cert_request_after,
    cert_request_in_handshake,
    leaf_not_after,
    plain_request,
    renegotiation_requested,
    selected_alpn,
    upstream_note,
)
from bridgehead.runtime.limits import ConnectionLimits
from bridgehead.runtime.pool import UpstreamPool
from bridgehead.runtime.relay import RelayError, classify, exchange, switched
from bridgehead.runtime.store import Store
from bridgehead.runtime.streams import Conn, DeadlineExceeded, Deadlines, PlainStream, TLSStream, read_hello
from bridgehead.runtime.streams import splice as _splice
from bridgehead.wire.http1 import HttpError, RequestHead, parse_request_head, split_absolute
from bridgehead.wire.tls_hello import ClientHello, TlsParseError

log = logging.getLogger("bridgehead.forward")

BYPASS_NS = "bypass"

# TMG's status for a request an access rule denied (the access log's tmg_status of forward-rule-denied)
_TMG_DENIED = platform_number(Code.TMG_12202, "tmg")


@dataclass
class ForwardSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    state_dir: Path = Path("state")
    access_log: Path | None = None
    upstream_ca: list[Path] = field(default_factory=list)
    upstream_crl: list[Path] = field(default_factory=list)
    policy: ForwardPolicy = field(default_factory=ForwardPolicy)
    learn_ttl: float = 12 * 3600.0
    read_timeout: float = 60.0
    tunnel_idle_timeout: float = 300.0
    hello_timeout: float = 10.0
    head_limit: int = 64 * 1024
    store_url: str | None = None
    deadlines: Deadlines = field(default_factory=Deadlines)
    max_connections: int = 4096
    max_connections_per_source: int = 256
    legacy_tls: list[DestinationRule] = field(default_factory=list)  # static-RSA opt-in ([[legacy_tls]])
    chain: ChainPolicy = field(default_factory=ChainPolicy)  # --parent / [[chain]] (web chaining)
    on_channel_binding_failure: str = "learn"  # learn | log (Extended Protection through inspection)
    rules: list[AccessRule] = field(default_factory=list)  # [[rule]], first match wins
    auth: ProxyAuth | None = None  # proxy authentication (auth = [...], users, keytab)
    open_proxy: bool = False
    h2_only: str = "inspect"  # inspect | tunnel | block: a client offering h2 but not http/1.1
    ocsp: OcspPolicy | None = None  # OCSP for origin certificates ([forward] ocsp, [[ocsp]]); None: off

    def client_deadlines(self) -> Deadlines:
        """The client-side deadlines, the per-read one being ``read_timeout``."""
        d = self.deadlines
        return Deadlines(head=d.head, idle=d.idle, read=self.read_timeout, body_rate=d.body_rate,
                         body_grace=d.body_grace)


@dataclass
class Context:
    """What we know about one client connection, for the log."""

    client: str
    client_ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    host: str = ""
    port: int = 0
    rule: str = ""
    sni: str = ""  # the name the client asked for in its ClientHello (inspection)
    access: str = ""  # the access rule that allowed the request (when [[rule]]s are configured)
    user: str | None = None  # the authenticated user of the current request
    conn_user: str | None = None  # the user an NTLM/Negotiate handshake authenticated the connection as
    protocol: str = ""  # the client's protocol, for the log: HTTP/1.0 | HTTP/1.1 | h2 | tunnel
    upstream_protocol: str = ""  # the protocol spoken to the origin: HTTP/1.0 | HTTP/1.1 | h2 ("": none)
    upstream_note: tuple[str, str] | None = None  # code, detail: allowed with a warning (OCSP fail = open)
    auth_state: ConnState = field(default_factory=ConnState)
    upstream_open: OpenUpstream | None = None  # how the inspected upstream was opened (to open it again)


class ForwardProxy:
    def __init__(self, settings: ForwardSettings, *, access_log: AccessLog | None = None,
                 ca: InspectionCA | None = None) -> None:
        self.s = settings
        self.ca = ca if ca is not None else InspectionCA(Path(settings.state_dir) / "ca")  # serve: the array's CA
        self.store = Store.open(Path(settings.state_dir), settings.store_url)
        self.log = access_log or AccessLog(settings.access_log)
        self.upstream = UpstreamConnector(settings.upstream_ca, settings.upstream_crl,
                                          handshake_timeout=settings.read_timeout, legacy_tls=settings.legacy_tls,
                                          chain=settings.chain, ocsp=settings.ocsp)
        self.source_names: dict[str, frozenset[Any]] = {}
        self._pool = UpstreamPool(idle_timeout=min(30.0, settings.read_timeout))
        self._server: asyncio.base_events.Server | None = None
        self._learned_cache: dict[str, tuple[float, str | None]] = {}
        self.limits = ConnectionLimits(settings.max_connections, settings.max_connections_per_source)

    # ---- lifecycle -------------------------------------------------------------------
    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on ``settings.host:port``, or accept on ``sock`` (shared by worker processes)."""
        await self._resolve_sources()
        if sock is not None:
            self._server = await asyncio.start_server(self._handle, sock=sock, limit=2**20, backlog=1024)
        else:
            self._server = await asyncio.start_server(self._handle, self.s.host, self.s.port, limit=2**20,
                                                      backlog=1024)
        sock = self._server.sockets[0]
        self.s.port = sock.getsockname()[1]

    async def serve_forever(self) -> None:
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    async def _resolve_sources(self) -> None:
        loop = asyncio.get_running_loop()
        for rule in [*self.s.policy.sources, *(src for r in self.s.rules for src in r.sources)]:
            if rule.hostname:
                try:
                    infos = await loop.getaddrinfo(rule.hostname, None, type=socket.SOCK_STREAM)
                    self.source_names[rule.hostname] = frozenset(
                        ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos)
                except OSError as exc:
                    log.warning("source exception %s does not resolve: %s", rule.hostname, exc)

    async def _addresses_for_rules(self, host: str) -> list[Any]:
        """The host's addresses, resolved only when an IP/CIDR destination rule could need them."""
        if not any(rule.network is not None for rule in
                   [*self.s.policy.destinations, *(d for r in self.s.rules for d in r.destinations)]):
            return []
        try:
            ipaddress.ip_address(host)
            return []  # a literal: the rule compares it directly
        except ValueError:
            pass
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError:
            return []
        return [ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos]

    # ---- learned bypass list ----------------------------------------------------------
    def learned(self, host: str, port: int) -> str | None:
        key = f"{host}:{port}"
        now = time.monotonic()
        cached = self._learned_cache.get(key)
        if cached and cached[0] > now:
            return cached[1]
        record = self.store.get(BYPASS_NS, key)
        reason = f"learned: {record.value.get('reason', '')}" if record else None
        self._learned_cache[key] = (now + 5.0, reason)
        return reason

    def learn(self, host: str, port: int, code: str, reason: str) -> None:
        key = f"{host}:{port}"
        try:
            self.store.put(BYPASS_NS, key, {"host": host, "port": port, "code": code, "reason": reason,
                                            "learned_at": time.time()}, ttl=self.s.learn_ttl)
        except Exception as exc:  # a read-only or broken store must not cost the client its answer
            log.error("could not store the learned bypass for %s (%s: %s); kept in memory for %.0f s",
                      key, type(exc).__name__, exc, self.s.learn_ttl)
            self._learned_cache[key] = (time.monotonic() + self.s.learn_ttl, f"learned: {reason}")
            return
        self._learned_cache.pop(key, None)
        log.info("learned bypass for %s: %s", key, reason)

    def _binding_failure(self, ctx: Context, bound: Any) -> dict[str, str]:
        """A channel binding over the minted leaf refused with 401: learn (default) or only log it."""
        reason = bound.reason
        if self.s.on_channel_binding_failure == "learn":
            self.learn(ctx.host, ctx.port, bound.code, "channel binding over the minted certificate refused (401)")
            reason += f"; later connections to {ctx.host}:{ctx.port} will tunnel"
        return {"code": bound.code, "reason": reason}

    # ---- connection handling ----------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("0.0.0.0", 0)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        ctx = Context(f"{peer[0]}:{peer[1]}", ipaddress.ip_address(peer[0].split("%")[0]))
        client = Conn(PlainStream(reader, writer), timeout=self.s.read_timeout, head_limit=self.s.head_limit,
                      deadlines=self.s.client_deadlines())
        refused = self.limits.admit(str(ctx.client_ip))
        if refused is not None:
            await self._refuse(client, ctx, "client-too-many-connections", refused, time.monotonic(), action="deny")
            await client.linger_close()
            return
        try:
            await self._client_loop(client, ctx)
        except (ConnectionError, TimeoutError, ssl.SSLError, OSError, asyncio.IncompleteReadError):
            pass
        except Exception:  # never let one connection take the server down
            log.exception("unexpected error on connection from %s", ctx.client)
        finally:
            self.limits.release(str(ctx.client_ip))
            ctx.auth_state.close()
            await client.close()

    async def _client_loop(self, client: Conn, ctx: Context) -> None:
        while True:
            start = time.monotonic()
            try:
                head = await client.read_request()
            except (HttpError, DeadlineExceeded) as exc:
                await self._refuse(client, ctx, *classify(exc), start, action="deny")
                return
            if head is None:
                return
            ctx.protocol = "tunnel" if head.method == b"CONNECT" else head.version.decode("latin-1")
            admitted = await self._admit(client, head, ctx, start)
            if admitted is not None:
                if admitted:
                    continue
                return
            if head.method == b"CONNECT":
                await self._connect(client, head, ctx, start)
                return
            if not await self._plain(client, head, ctx, start):
                return

    # ---- access rules and proxy authentication --------------------------------------
    def _record(self, ctx: Context, *, rule: str | None = None, **fields: Any) -> None:
        """One access-log record with the connection's client, user and rule."""
        name = ctx.rule if rule is None else rule
        if ctx.access and rule is None:
            name = f"{ctx.access} / {name}" if name else ctx.access
        if ctx.upstream_note is not None and not fields.get("code"):
            fields.update(code=ctx.upstream_note[0], reason=fields.get("reason") or ctx.upstream_note[1])
        self.log.write(client=ctx.client, user=ctx.user, rule=name, protocol=ctx.protocol or None,
                       upstream_protocol=ctx.upstream_protocol or None, **fields)

    async def _admit(self, client: Conn, head: RequestHead, ctx: Context, start: float) -> bool | None:
        """None: go on with the request; True/False: answered (407/403), keep the connection or not."""
        method = head.method.decode("latin-1")
        target = head.target.decode("latin-1")
        ctx.user, ctx.access = ctx.conn_user, ""
        try:
            if method == "CONNECT":
                host, port = _authority(target)
            else:
                _, authority, _ = split_absolute(head.target)
                host, port = _host_port(authority.decode("latin-1"), 80)
        except ValueError:
            return None  # the request's own handling refuses it with 400
        url = f"{host}:{port}" if method == "CONNECT" else target
        header = head.headers.get(b"Proxy-Authorization")
        keep = _no_body(head)
        if header is not None and self.s.auth is not None:
            peer = (str(ctx.client_ip), 0)
            result = await self.s.auth.authenticate(header.decode("latin-1"), ctx.auth_state, peer)
            if result.state == "continue":
                await client.write(self._challenge_page("tmg-12209", "authentication handshake continues", host,
                                                        [result.token] if result.token else [], keep))
                return keep
            if result.state == "fail":
                code = result.code or "tmg-12209"
                await client.write(self._challenge_page(code, result.detail, host, None, keep))
                self._record(ctx, rule="proxy-authentication", action="deny", host=host, port=port,
                             method=method, url=url, status=407, code=code, reason=result.detail,
                             duration_ms=_ms(start))
                return keep
            ctx.user = result.user
            if result.scheme in ("NTLM", "Negotiate"):
                ctx.conn_user = result.user
        decision = access_rules.evaluate(
            self.s.rules, ctx.client_ip, host, port, method, user=ctx.user,
            exempt=any(src.matches(ctx.client_ip, self.source_names) for src in self.s.policy.sources),
            resolved=self.source_names, addresses=await self._addresses_for_rules(host))
        if decision.verdict == Verdict.AUTHENTICATE and self.s.auth is not None:
            await client.write(self._challenge_page("tmg-12209", decision.reason, host, None, keep))
            self._record(ctx, rule=decision.rule, action="deny", host=host, port=port, method=method, url=url,
                         status=407, code="tmg-12209", reason=decision.reason, duration_ms=_ms(start))
            return keep
        if decision.verdict != Verdict.ALLOW:
            detail = f"{decision.reason}; rule: {decision.rule}"
            with contextlib.suppress(Exception):
                await client.write(errorpage.render("forward-rule-denied", detail=detail, host=host))
            self._record(ctx, rule=decision.rule, action="deny", host=host, port=port, method=method, url=url,
                         status=403, code="forward-rule-denied", tmg_status=_TMG_DENIED, reason=detail,
                         duration_ms=_ms(start))
            return False
        if self.s.rules:
            ctx.access = decision.rule
        return None

    def _challenge_page(self, code: str, detail: str, host: str, tokens: list[str] | None, keep: bool) -> bytes:
        """A 407 (RFC 9110 §15.5.8) with ``Proxy-Authenticate``: the handshake's next token, or every scheme."""
        assert self.s.auth is not None
        values = tokens if tokens is not None else self.s.auth.challenges()
        page = errorpage.render(code, detail=detail, host=host, status=407)
        head, _, body = page.partition(b"\r\n\r\n")
        lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
        lines += [b"Proxy-Authenticate: " + v.encode("latin-1") for v in values]
        lines.append(b"Connection: keep-alive" if keep else b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    async def _refuse(self, client: Conn, ctx: Context, code: str, detail: str, start: float, *,
                      action: str = "error", method: str = "", url: str = "", host: str = "") -> None:
        page = errorpage.render(code, detail=detail, host=host or ctx.host)
        with contextlib.suppress(Exception):
            await client.write(page)
        failure = get(code)
        self._record(ctx, action=action, host=ctx.host or None,
                       port=ctx.port or None, method=method or None, url=url or None, status=failure.status,
                       code=code, reason=detail, duration_ms=_ms(start))

    # ---- plain HTTP (absolute-form) ---------------------------------------------------
    async def _plain(self, client: Conn, head: RequestHead, ctx: Context, start: float) -> bool:
        url = head.target.decode("latin-1")
        method = head.method.decode("latin-1")
        try:
            scheme, authority, origin = split_absolute(head.target)
            host, port = _host_port(authority.decode("latin-1"), 80)
        except ValueError:
            scheme, host, port = b"", "", 0
        if scheme != b"http" or not host:
            await self._refuse(client, ctx, "client-bad-request",
                               "a forward proxy needs absolute-form http:// URLs or CONNECT", start,
                               action="deny", method=method, url=url)
            return False
        ctx.host, ctx.port, ctx.rule, ctx.upstream_protocol = host, port, "plain-http", ctx.protocol
        try:
            upstream = await self._pooled(host, port)
        except UpstreamFailure as exc:
            await self._refuse(client, ctx, exc.code, exc.detail, start, method=method, url=url)
            return False
        # RFC 9112 §3.2.2: the target's authority replaces whatever Host the client sent; through a
        # parent proxy the target stays in absolute-form (upstream.plain_request)
        target, own, check = plain_request(self.upstream.route(host, port), origin, authority)
        try:
            ex = await exchange(client, upstream, head, target=target, own=own, check=check)
        except (RelayError, ssl.SSLError, ConnectionError, TimeoutError, OSError, HttpError) as exc:
            await upstream.close()
            code, detail = classify(exc)
            if isinstance(exc, RelayError) and exc.response_started:
                self._record(ctx, action="error", host=host, port=port,
                               method=method, url=url, code=code, reason=detail, duration_ms=_ms(start))
            else:
                await self._refuse(client, ctx, code, detail, start, method=method, url=url)
            return False
        if ex.upstream_reusable:
            await self._pool.put((host, port), upstream)
        else:
            await upstream.close()
        self._log_exchange(ctx, "inspect", ex, url, start, client)
        return ex.keep_alive

    async def _pooled(self, host: str, port: int) -> Conn:
        """An idle connection to ``host:port`` that holds no unsolicited byte, or a new one."""
        conn = await self._pool.take((host, port))
        if conn is not None:
            return conn
        reader, writer = await self.upstream.open_http(host, port)
        return Conn(PlainStream(reader, writer), timeout=self.s.read_timeout, role="upstream")

    def _log_exchange(self, ctx: Context, action: str, ex: Any, url: str, start: float, client: Conn,
                      **extra: Any) -> None:
        self._record(ctx, action=action, host=ctx.host, port=ctx.port,
                       method=ex.method, url=url, status=ex.status, duration_ms=_ms(start), **_upgrade(ex),
                       bytes_in=ex.bytes_in, bytes_out=ex.bytes_out, **extra)

    # ---- CONNECT ----------------------------------------------------------------------
    async def _connect(self, client: Conn, head: RequestHead, ctx: Context, start: float) -> None:
        try:
            host, port = _authority(head.target.decode("latin-1"))
        except ValueError as exc:
            await self._refuse(client, ctx, "client-bad-request", str(exc), start, action="deny",
                               method="CONNECT", url=head.target.decode("latin-1"))
            return
        ctx.host, ctx.port = host, port
        decision = self.s.policy.decide(ctx.client_ip, host, port, learned=self.learned(host, port),
                                        resolved_sources=self.source_names,
                                        addresses=await self._addresses_for_rules(host))
        ctx.rule = decision.rule
        if decision.action == Action.DENY:
            await self._refuse(client, ctx, "client-bad-request", decision.reason, start, action="deny",
                               method="CONNECT", url=f"{host}:{port}")
            return
        if decision.action == Action.TUNNEL:
            await self._tunnel(client, ctx, start, initial=b"", reason=decision.reason)
            return
        await client.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await self._inspect(client, ctx, start)

    async def _tunnel(self, client: Conn, ctx: Context, start: float, *, initial: bytes, reason: str,
                      established: bool = False, code: str | None = None) -> None:
        """Splice the client to a fresh connection; ``initial`` bytes (a held ClientHello) go first."""
        try:
            reader, writer = await self.upstream.open_tcp(ctx.host, ctx.port)
        except UpstreamFailure as exc:
            if established:
                self._record(ctx, action="error", host=ctx.host, port=ctx.port,
                               method="CONNECT", status=502, code=exc.code, reason=exc.detail,
                               duration_ms=_ms(start))
                return
            await self._refuse(client, ctx, exc.code, exc.detail, start, method="CONNECT",
                               url=f"{ctx.host}:{ctx.port}")
            return
        upstream = Conn(PlainStream(reader, writer), timeout=self.s.tunnel_idle_timeout, role="upstream")
        if not established:
            await client.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        pending = initial + bytes(client.buf)
        client.buf.clear()
        client.timeout = self.s.tunnel_idle_timeout
        if pending:
            await upstream.write(pending)
        sent, received = await _splice(client, upstream)
        await upstream.close()
        self._record(ctx, action="tunnel", host=ctx.host, port=ctx.port,
                       method="CONNECT", url=f"{ctx.host}:{ctx.port}", status=200, code=code, reason=reason,
                       duration_ms=_ms(start), bytes_in=sent + len(pending), bytes_out=received)

    async def _inspect(self, client: Conn, ctx: Context, start: float) -> None:
        """Run the inspection layer (``core.proxy.inspection``): report what happened, carry out its commands."""
        layer = InspectionLayer(ctx.host, ctx.port, self.s.policy.on_client_cert_request(ctx.host, ctx.port),
                                h2_only=self.s.h2_only)
        try:
            hello = await read_hello(client, self.s.hello_timeout)
        except TlsParseError as exc:  # not TLS (plain HTTP or another protocol through CONNECT)
            await self._carry_out(layer.handle(NotTLS(str(exc))), client, ctx, None, None, start)
            return
        if hello is None:
            return
        ctx.sni = (hello.sni or ctx.host).lower()
        commands = layer.handle(HelloReceived(hello.sni, tuple(hello.alpn or ())))
        await self._carry_out(commands, client, ctx, hello, layer, start)

    async def _carry_out(self, commands: list[Command], client: Conn, ctx: Context, hello: ClientHello | None,
                         layer: InspectionLayer | None, start: float, attempt: TLSStream | None = None) -> None:
        """The runner: the only place the layer's decisions touch sockets."""
        for command in commands:
            if isinstance(command, DropAttempt) and attempt is not None:
                attempt.abort()
            elif isinstance(command, Tunnel):
                ctx.rule += command.rule
                initial = hello.raw if command.replay_hello and hello is not None else b""
                await self._tunnel(client, ctx, start, initial=initial, established=True, code=command.code,
                                   reason=command.reason)
            elif isinstance(command, AnswerUnderTLS) and hello is not None:
                ctx.rule += command.rule
                await self._answer_under_tls(client, ctx, hello, command.code, command.detail, start,
                                             action=command.action)
            elif isinstance(command, Inspect) and hello is not None and attempt is not None:
                await self._inspect_with(client, ctx, hello, attempt, start)
            elif isinstance(command, OpenUpstream) and hello is not None and layer is not None:
                ctx.upstream_open = command
                if command.client_cert is not None:
                    ctx.rule += " / on-client-cert-request present"
                try:
                    upstream = await self.upstream.open_tls(ctx.host, ctx.port, command.server_name,
                                                            client_cert=command.client_cert,
                                                            alpn=alpn_offer(hello.alpn))  # h2 if the client offered it
                except UpstreamFailure as exc:
                    event: Event = UpstreamFailed(exc.code, exc.detail)
                    await self._carry_out(layer.handle(event), client, ctx, hello, layer, start)
                    return
                ctx.upstream_note = upstream_note(upstream)
                event = UpstreamReady(cert_request_in_handshake(upstream), upstream.facts.refused_without_cert)
                await self._carry_out(layer.handle(event), client, ctx, hello, layer, start, upstream)
                return

    async def _client_tls(self, client: Conn, hello: ClientHello, ctx: Context,
                          upstream: TLSStream | None = None, *, h2: bool = False) -> Conn:
        """Finish the client's handshake with a leaf minted for its SNI (never outliving the server's);
        ``h2``: offer h2 besides http/1.1 in ALPN (the caller then checks ``h2relay.is_h2``)."""
        not_after = leaf_not_after(upstream) if upstream is not None else None
        name = hello.sni or ctx.host
        tls_ctx = self.ca.cached_context(name, upstream_not_after=not_after, h2=h2) if not self.ca.rotation_due() \
            else None
        if tls_ctx is None:  # minting (a key and a signature) runs in a thread, off the event loop
            tls_ctx = await asyncio.to_thread(self.ca.context_for, name, upstream_not_after=not_after, h2=h2)
        stream = TLSStream(client.stream.reader, client.stream.writer, tls_ctx,  # type: ignore[attr-defined]
                           server_side=True, initial=hello.raw + bytes(client.buf))
        client.buf.clear()
        await asyncio.wait_for(stream.handshake(), self.s.hello_timeout)
        return Conn(stream, timeout=self.s.read_timeout, head_limit=self.s.head_limit,
                    deadlines=self.s.client_deadlines())

    async def _answer_under_tls(self, client: Conn, ctx: Context, hello: ClientHello, code: str, detail: str,
                                start: float, *, action: str) -> None:
        """Finish the client's handshake with a minted certificate and answer its request with a page."""
        try:
            # a page goes out over HTTP/1.1 when the client offers it, over h2 to an h2-only client
            inner = await self._client_tls(client, hello, ctx, h2="http/1.1" not in (hello.alpn or ()))
            if h2relay.is_h2(inner):  # the page goes out over HTTP/2
                ctx.protocol = "h2"
                await h2relay.answer_h2(self, inner, ctx, code, detail, start, action=action)
                await inner.close()
                return
            raw = await inner.read_head()
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError, HttpError):
            self._record(ctx, action=action, host=ctx.host, port=ctx.port,
                           method="CONNECT", status=get(code).status, code=code, reason=detail,
                           duration_ms=_ms(start))
            return
        method, url = "", f"https://{ctx.host}:{ctx.port}"
        if raw:  # an inner request was read: the record carries its protocol, not the CONNECT's "tunnel"
            ctx.protocol = ""
            with contextlib.suppress(HttpError):
                head = parse_request_head(raw)
                method, url = head.method.decode(), _https_url(ctx, head)
                ctx.protocol = head.version.decode("latin-1")
        await self._refuse(inner, ctx, code, detail, start, action=action, method=method, url=url)
        await inner.close()

    async def _inspect_with(self, client: Conn, ctx: Context, hello: ClientHello, up_stream: TLSStream,
                            start: float) -> None:
        upstream = Conn(up_stream, timeout=self.s.read_timeout, role="upstream")
        try:
            inner = await self._client_tls(client, hello, ctx, up_stream, h2=True)
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError) as exc:
            await upstream.close()
            self._record(ctx, action="error", host=ctx.host, port=ctx.port,
                           method="CONNECT", code="client-bad-request",
                           reason=f"client TLS handshake failed (does it trust the bridgehead CA?): {exc}",
                           duration_ms=_ms(start))
            return
        try:
            ctx.protocol = "h2" if h2relay.is_h2(inner) else "HTTP/1.1"
            if h2relay.is_h2(inner):  # the client picked h2: its streams go to the origin over h2 or HTTP/1.1
                await h2relay.inspect_h2(self, inner, upstream, up_stream, ctx)
            else:
                ctx.upstream_protocol = "HTTP/1.1"
                if selected_alpn(up_stream) == "h2":  # never HTTP/1.1 over an h2 upstream: open it again
                    await upstream.close()
                    try:
                        upstream, up_stream = await self._reopen(ctx)
                    except RelayError as exc:
                        await self._refuse(inner, ctx, exc.code, exc.detail, start)
                        return
                await self._inspect_loop(inner, upstream, up_stream, ctx)
        finally:
            await upstream.close()
            await inner.close()

    async def _inspect_loop(self, inner: Conn, upstream: Conn, up_stream: TLSStream, ctx: Context) -> None:
        """The tunnel's requests; the first upstream (closed by the caller) may be replaced by :meth:`_reopen`.

        Requests run in the event loop's callbacks (:mod:`bridgehead.runtime.http1_lane`) while they
        are the common case; a request the lane hands back (a new upstream needed, a refusal, a
        failure, a 101) continues here the full way."""
        first = upstream
        hooks = _InspectHooks(self, ctx, inner, up_stream)
        try:
            while True:
                start = time.monotonic()
                head: RequestHead | None = None
                if http1_lane.eligible(inner, upstream):
                    stop = await http1_lane.run(inner, upstream, hooks)
                    if stop.kind == "closed":
                        return
                    if stop.kind == "error":
                        if isinstance(stop.error, (HttpError, DeadlineExceeded)):
                            await self._refuse(inner, ctx, *classify(stop.error), stop.start, action="deny")
                            return
                        assert stop.error is not None
                        raise stop.error
                    if stop.kind != "slow":
                        assert stop.head is not None
                        await self._lane_outcome(inner, upstream, up_stream, ctx, stop)
                        return
                    head, start = stop.head, stop.start
                if head is None:
                    try:
                        head = await inner.read_request()
                    except (HttpError, DeadlineExceeded) as exc:
                        await self._refuse(inner, ctx, *classify(exc), start, action="deny")
                        return
                    if head is None:
                        return
                ctx.protocol = head.version.decode("latin-1")
                url = _https_url(ctx, head)
                try:
                    if not upstream.reusable():  # it sent bytes nobody asked for, or closed, while idle
                        if upstream is not first:
                            await upstream.close()
                        upstream, up_stream = await self._reopen(ctx)
                        hooks.up_stream = up_stream
                    target, own = _inner_target(head, ctx)
                    ex = await exchange(inner, upstream, head, target=target, check=hooks.too_late, own=own)
                except (RelayError, ssl.SSLError, ConnectionError, TimeoutError, OSError, HttpError) as exc:
                    await self._exchange_failed(inner, up_stream, ctx, head, url, exc, start)
                    return
                if not hooks.done(head, ex, start):
                    return
                upstream.park()
        finally:
            if upstream is not first:
                await upstream.close()

    async def _lane_outcome(self, inner: Conn, upstream: Conn, up_stream: TLSStream, ctx: Context,
                            stop: http1_lane.Stop) -> None:
        """A failure or a 101 inside a request the lane relayed: answered, logged or spliced here."""
        assert stop.head is not None
        url = _https_url(ctx, stop.head)
        if stop.kind == "failed":
            assert stop.error is not None
            await self._exchange_failed(inner, up_stream, ctx, stop.head, url, stop.error, stop.start)
            return
        assert stop.switch is not None
        ex = await switched(inner, upstream, stop.head, stop.switch)
        self._log_exchange(ctx, "inspect", ex, url, stop.start, inner)

    async def _reopen(self, ctx: Context) -> tuple[Conn, TLSStream]:
        """A fresh upstream connection for the next request of an inspected tunnel (the idle one holds
        bytes nobody asked for, or the server closed it), opened as the first was."""
        opened = ctx.upstream_open
        if opened is None:
            raise RelayError("upstream-bad-response", "the server's idle connection cannot be reused")
        try:
            stream = await self.upstream.open_tls(ctx.host, ctx.port, opened.server_name,
                                                  client_cert=opened.client_cert)
        except UpstreamFailure as exc:
            raise RelayError(exc.code, exc.detail) from None
        if cert_request_in_handshake(stream) and opened.client_cert is None:
            stream.abort()
            reason = "the server asked for a client certificate on a later connection of an inspected tunnel"
            self.learn(ctx.host, ctx.port, "client-cert-requested-after-request", reason)
            raise RelayError("client-cert-requested-after-request", reason)
        return Conn(stream, timeout=self.s.read_timeout, role="upstream"), stream

    async def _exchange_failed(self, inner: Conn, up_stream: TLSStream, ctx: Context, head: RequestHead, url: str,
                               exc: BaseException, start: float) -> None:
        late = cert_request_after(up_stream) or renegotiation_requested(up_stream)
        if late:  # the inspection layer decides: learn the destination, answer with a page
            layer = InspectionLayer(ctx.host, ctx.port, None)
            commands = layer.handle(LateCertRequest(renegotiation_requested(up_stream)))
            for command in commands:
                if isinstance(command, Learn):
                    self.learn(ctx.host, ctx.port, command.code, command.reason)
                elif isinstance(command, AnswerRequest):
                    code, detail = command.code, command.detail
        else:
            code, detail = classify(exc)
            if isinstance(exc, RelayError) and exc.response_started:
                self._record(ctx, action="error", host=ctx.host, port=ctx.port,
                               method=head.method.decode(), url=url, code=code, reason=detail,
                               duration_ms=_ms(start))
                return
        await self._refuse(inner, ctx, code, detail, start, method=head.method.decode(), url=url)

    def stop_accepting(self) -> None:
        """Close the listening socket; accepted connections carry on (serve: reload and drain)."""
        if self._server is not None:
            self._server.close()


class _InspectHooks:
    """The per-request policy of an inspected tunnel, synchronous, for the lane and the coroutine alike."""

    def __init__(self, proxy: ForwardProxy, ctx: Context, inner: Conn, up_stream: TLSStream) -> None:
        self.proxy = proxy
        self.ctx = ctx
        self.inner = inner
        self.up_stream = up_stream

    def too_late(self, _response: object) -> None:
        if cert_request_after(self.up_stream) or renegotiation_requested(self.up_stream):
            raise RelayError("client-cert-requested-after-request",
                             "the server asked for a client certificate after the request")

    def begin(self, head: RequestHead) -> http1_lane.LaneRequest:
        self.ctx.protocol = head.version.decode("latin-1")
        target, own = _inner_target(head, self.ctx)  # HttpError: the coroutine refuses it
        return http1_lane.LaneRequest(target=target, own=own, check=self.too_late)

    def done(self, head: RequestHead, ex: Any, start: float) -> bool:
        """Log the exchange (with a channel-binding finding); True when the tunnel carries on."""
        ctx = self.ctx
        bound = epwatch.observe(head, ex.status, self.inner.stream, self.up_stream)
        extra = self.proxy._binding_failure(ctx, bound) if bound is not None else {}
        self.proxy._log_exchange(ctx, "inspect", ex, _https_url(ctx, head), start, self.inner, **extra)
        return bool(ex.keep_alive and ex.upstream_reusable)


def _no_body(head: RequestHead) -> bool:
    """The request has no body to drain, so the connection may carry on after a 407 (RFC 9112 §6.3)."""
    length = head.headers.get(b"Content-Length")
    return head.headers.get(b"Transfer-Encoding") is None and (length is None or length.strip() == b"0")


def _authority(target: str) -> tuple[str, int]:
    """``host:port`` of a CONNECT (RFC 9110 §9.3.6): the port is required."""
    return _host_port(target, None)


def _host_port(authority: str, default: int | None) -> tuple[str, int]:
    """``host`` and ``port`` of a URI authority (RFC 3986 §3.2); with ``default`` None the port is
    required (a CONNECT target). ``ValueError`` with a one-line reason if malformed."""
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
    else:
        host, _, port_text = authority.rpartition(":") if ":" in authority else (authority, "", "")
    if (not port_text and default is None) or (port_text and not port_text.isdigit()) \
            or not 0 < (int(port_text) if port_text else default or 0) < 65536:
        raise ValueError("the target must be host:port with a port from 1 to 65535 (RFC 9110 §9.3.6)")
    if not host or any(c in host for c in "/@ \\"):
        raise ValueError("invalid host in the target (RFC 3986 §3.2.2)")
    return host.lower(), int(port_text) if port_text else int(default or 0)


def _inner_target(head: RequestHead, ctx: Context) -> tuple[bytes | None, list[tuple[bytes, bytes]]]:
    """The target and Host of a request inside an inspected tunnel.

    The request must be for the host the tunnel was opened to (the CONNECT authority or the
    ClientHello's SNI): otherwise the log and the policy would name one host while the server
    answers for another. An absolute-form target goes on as origin-form with its authority as
    Host (RFC 9112 §3.2.2); a request without Host (HTTP/1.0) gets the tunnel's.
    """
    if head.method == b"CONNECT":
        raise HttpError("CONNECT inside an inspected tunnel")
    target: bytes | None = None
    host = head.headers.get(b"host")
    if b"://" in head.target:
        _, host, target = split_absolute(head.target)
    if host is None:
        port = "" if ctx.port == 443 else f":{ctx.port}"
        return target, [(b"Host", f"{ctx.host}{port}".encode())]
    name = host.decode("latin-1").rpartition("]")[0].lstrip("[") if host.startswith(b"[") \
        else host.decode("latin-1").partition(":")[0]
    if name.lower() not in (ctx.host, ctx.sni):
        raise HttpError("the request's Host is not the host this tunnel was opened to (CONNECT authority or SNI)")
    return target, [(b"Host", host)]


def _https_url(ctx: Context, head: RequestHead) -> str:
    port = "" if ctx.port == 443 else f":{ctx.port}"
    target = split_absolute(head.target)[2] if b"://" in head.target else head.target
    return f"https://{ctx.host}{port}{target.decode('latin-1')}"


def _upgrade(ex: Any) -> dict[str, Any]:
    """``{"upgrade": "websocket"}`` for an exchange that switched protocols (the log records it), else ``{}``."""
    return {"upgrade": ex.upgrade} if getattr(ex, "upgrade", None) else {}


def _ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 2)
