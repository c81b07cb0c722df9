"""The upstream-first inspection layer of an accepted CONNECT (scenario S1), sans-IO.

The runner holds the client's ClientHello unanswered and reports what it sees; this layer
decides, in this order (the heart of seed 000):

1. ``HelloReceived`` — not TLS → tunnel untouched. A client that offers h2 (RFC 7301 ALPN,
   RFC 9113 §3.2) is inspected over h2 whether or not it also offers http/1.1; one that
   offers h2 and *not* http/1.1 follows the ``h2_only`` policy: ``inspect`` (default) →
   ``OpenUpstream``; ``tunnel`` → tunnel with its ClientHello replayed; ``block`` → the
   ``forward-h2-only-blocked`` page (served over h2). A client offering only other protocols
   (neither h2 nor http/1.1) → tunnel with its ClientHello replayed; else ``OpenUpstream``
   (server first).
2. ``UpstreamFailed`` → answer the client under TLS with the failure's page.
3. ``UpstreamReady`` without a CertificateRequest → ``Inspect`` (mint a leaf, relay HTTP).
   With one (RFC 8446 §4.3.2, RFC 5246 §7.4.4), the attempt is dropped and the destination's
   rule decides: *tunnel* → replay the ClientHello on a fresh connection and splice
   (``client-cert-spliced``); *present* with a certificate → a second ``OpenUpstream`` with it;
   *block* (or *present* without one) → the TMG 12229 page.
4. ``LateCertRequest`` (renegotiation, TLS 1.3 post-handshake auth, after a request) → learn
   the destination (its next connections tunnel) and answer that request with a 502 page.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridgehead.core.forward_policy import CertRequestAction, CertRule, refusal_action

# ---- events (what the runner saw) -------------------------------------------------------


@dataclass(frozen=True)
class HelloReceived:
    sni: str | None
    alpn: tuple[str, ...] = ()


@dataclass(frozen=True)
class NotTLS:
    reason: str


@dataclass(frozen=True)
class UpstreamReady:
    cert_requested: bool  # a CertificateRequest in the handshake
    refused: bool = False  # the server refused the handshake (e.g. the certificate we presented)


@dataclass(frozen=True)
class UpstreamFailed:
    code: str
    detail: str


@dataclass(frozen=True)
class LateCertRequest:
    renegotiation: bool  # TLS 1.2 HelloRequest; else a TLS 1.3 post-handshake CertificateRequest


Event = HelloReceived | NotTLS | UpstreamReady | UpstreamFailed | LateCertRequest

# ---- commands (what the runner must do) -------------------------------------------------


@dataclass(frozen=True)
class OpenUpstream:
    server_name: str
    client_cert: tuple[str, str] | None = None


@dataclass(frozen=True)
class DropAttempt:
    """Abort the upstream connection just made (it asked for a certificate we cannot answer)."""


@dataclass(frozen=True)
class Tunnel:
    replay_hello: bool
    reason: str
    code: str | None = None
    rule: str = ""  # appended to the log's rule


@dataclass(frozen=True)
class Inspect:
    rule: str = ""


@dataclass(frozen=True)
class AnswerUnderTLS:
    code: str
    detail: str
    action: str
    rule: str = ""


@dataclass(frozen=True)
class Learn:
    code: str
    reason: str


@dataclass(frozen=True)
class AnswerRequest:
    """Answer the request in flight with a page (the client's TLS is already up)."""

    code: str
    detail: str


Command = OpenUpstream | DropAttempt | Tunnel | Inspect | AnswerUnderTLS | Learn | AnswerRequest

H2_ONLY_ACTIONS = ("inspect", "tunnel", "block")
H2_ONLY_BLOCKED = "forward-h2-only-blocked"
SPLICED = "client-cert-spliced"
UNDER_INSPECTION = "client-cert-under-inspection"
LATE = "client-cert-requested-after-request"


class InspectionLayer:
    """One CONNECT's inspection decisions; ``rule`` is the destination's CertificateRequest rule,
    ``h2_only`` what to do with a client that offers h2 but not http/1.1."""

    def __init__(self, host: str, port: int, rule: CertRule | None, h2_only: str = "inspect") -> None:
        if h2_only not in H2_ONLY_ACTIONS:
            raise ValueError(f"h2_only must be {' | '.join(H2_ONLY_ACTIONS)}, not {h2_only!r}")
        self.h2_only = h2_only
        self.host = host
        self.port = port
        self.rule = rule
        self.sni: str | None = None
        self.presenting = False
        self.done = False

    def handle(self, event: Event) -> list[Command]:
        if self.done:
            raise RuntimeError(f"event {type(event).__name__} after the layer finished")
        if isinstance(event, NotTLS):
            return self._finish([Tunnel(False, f"not inspected: {event.reason}", rule=" (not TLS)")])
        if isinstance(event, HelloReceived):
            self.sni = event.sni
            return self._hello(event)
        if isinstance(event, UpstreamFailed):
            return self._finish([AnswerUnderTLS(event.code, event.detail, refusal_action(event.code))])
        if isinstance(event, UpstreamReady):
            return self._ready(event)
        return self._late(event)

    def _hello(self, event: HelloReceived) -> list[Command]:
        offered = ",".join(event.alpn)
        if event.alpn and "h2" in event.alpn and "http/1.1" not in event.alpn:  # an h2-only client
            if self.h2_only == "tunnel":
                return self._finish([Tunnel(True, f"client offers only {offered}: tunnelled, not inspected "
                                                  "(h2_only = tunnel)", rule=" / h2-only tunnel")])
            if self.h2_only == "block":
                return self._finish([AnswerUnderTLS(H2_ONLY_BLOCKED, f"the client offers only {offered} (no "
                                                    "http/1.1) and h2_only = block", "deny", " / h2-only block")])
        elif event.alpn and "http/1.1" not in event.alpn:  # neither h2 nor http/1.1: not HTTP we can inspect
            return self._finish([Tunnel(True, f"client offers only {offered}: tunnelled, not inspected")])
        return [OpenUpstream(event.sni or self.host)]

    def _ready(self, event: UpstreamReady) -> list[Command]:
        if self.presenting:
            if event.refused:
                return self._finish([AnswerUnderTLS(UNDER_INSPECTION, "the server refused the configured client "
                                                    "certificate", "deny")])
            return [Inspect()]
        if not event.cert_requested:
            return [Inspect()]
        action = self.rule.action if self.rule is not None else CertRequestAction.TUNNEL
        if action == CertRequestAction.TUNNEL:
            return self._finish([DropAttempt(), Tunnel(True, "server sent a TLS CertificateRequest: client's "
                                                       "ClientHello replayed, spliced end to end", SPLICED,
                                                       " / on-client-cert-request tunnel")])
        if action == CertRequestAction.PRESENT and self.rule is not None and self.rule.client_cert is not None:
            self.presenting = True
            return [DropAttempt(), OpenUpstream(self.sni or self.host, self.rule.client_cert)]
        detail = "server sent a TLS CertificateRequest during the handshake"
        if action == CertRequestAction.PRESENT:
            detail += "; 'present' has no client certificate configured for this destination"
        return self._finish([DropAttempt(), AnswerUnderTLS(UNDER_INSPECTION, detail, "deny",
                                                           " / on-client-cert-request block")])

    def _late(self, event: LateCertRequest) -> list[Command]:
        how = "TLS renegotiation (HelloRequest)" if event.renegotiation \
            else "TLS 1.3 post-handshake CertificateRequest"
        detail = f"{how} after the first request; later connections to {self.host}:{self.port} will tunnel"
        return self._finish([Learn(LATE, how), AnswerRequest(LATE, detail)])

    def _finish(self, commands: list[Command]) -> list[Command]:
        self.done = True
        return commands
