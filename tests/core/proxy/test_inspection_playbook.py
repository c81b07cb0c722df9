"""Playbook tests of the inspection layer: events in, commands out, no sockets (issue 11).

Each S1 decision of the forward proxy: CertificateRequest in the handshake (the layer sees the
same event for TLS 1.2 and 1.3) → replay + splice; block; present with and without a
certificate, and refused; late request → learn + 502; not TLS and h2-only → tunnel;
upstream failure → the failure's page with the right action. The end-to-end tests in
tests/runtime/forward run the same decisions over real sockets.
"""

from __future__ import annotations

import pytest

from bridgehead.core.forward_policy import CertRequestAction, CertRule, DestinationRule
from bridgehead.core.proxy.inspection import (
    AnswerRequest,
    AnswerUnderTLS,
    DropAttempt,
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

CERT = ("/etc/bridgehead/dirsync.pem", "/etc/bridgehead/dirsync.key")


def layer(action: CertRequestAction = CertRequestAction.TUNNEL, cert: tuple[str, str] | None = None) -> InspectionLayer:
    return InspectionLayer("login.example.test", 443, CertRule(DestinationRule("*"), action, cert))


def test_no_certificate_request_is_inspected() -> None:
    lay = layer()
    assert lay.handle(HelloReceived("login.example.test", ("h2", "http/1.1"))) == [OpenUpstream("login.example.test")]
    assert lay.handle(UpstreamReady(cert_requested=False)) == [Inspect()]


def test_certificate_request_in_the_handshake_replays_and_splices() -> None:
    lay = layer()
    lay.handle(HelloReceived("login.example.test"))
    (drop, tunnel) = lay.handle(UpstreamReady(cert_requested=True))
    assert drop == DropAttempt()
    assert isinstance(tunnel, Tunnel) and tunnel.replay_hello and tunnel.code == "client-cert-spliced"
    assert lay.done
    with pytest.raises(RuntimeError):
        lay.handle(UpstreamReady(cert_requested=False))


def test_block_answers_the_tmg_12229_page() -> None:
    lay = layer(CertRequestAction.BLOCK)
    lay.handle(HelloReceived(None))
    assert lay.handle(UpstreamReady(cert_requested=True)) == [
        DropAttempt(), AnswerUnderTLS("client-cert-under-inspection",
                                      "server sent a TLS CertificateRequest during the handshake", "deny",
                                      " / on-client-cert-request block")]


def test_present_opens_again_with_the_configured_certificate() -> None:
    lay = layer(CertRequestAction.PRESENT, CERT)
    lay.handle(HelloReceived("login.example.test"))
    assert lay.handle(UpstreamReady(cert_requested=True)) == [DropAttempt(), OpenUpstream("login.example.test", CERT)]
    assert lay.handle(UpstreamReady(cert_requested=True)) == [Inspect()]


def test_present_refused_by_the_server_is_named() -> None:
    lay = layer(CertRequestAction.PRESENT, CERT)
    lay.handle(HelloReceived("login.example.test"))
    lay.handle(UpstreamReady(cert_requested=True))
    (answer,) = lay.handle(UpstreamReady(cert_requested=True, refused=True))
    assert isinstance(answer, AnswerUnderTLS) and answer.code == "client-cert-under-inspection"


def test_present_without_a_certificate_blocks_and_says_why() -> None:
    lay = layer(CertRequestAction.PRESENT, None)
    lay.handle(HelloReceived("login.example.test"))
    (_, answer) = lay.handle(UpstreamReady(cert_requested=True))
    assert isinstance(answer, AnswerUnderTLS) and "no client certificate configured" in answer.detail


@pytest.mark.parametrize(("renegotiation", "how"), [(True, "TLS renegotiation"), (False, "post-handshake")])
def test_late_certificate_request_learns_and_answers_502(renegotiation: bool, how: str) -> None:
    learn, answer = InspectionLayer("iis.example.test", 443, None).handle(LateCertRequest(renegotiation))
    assert isinstance(learn, Learn) and learn.code == "client-cert-requested-after-request" and how in learn.reason
    assert isinstance(answer, AnswerRequest)
    assert "later connections to iis.example.test:443 will tunnel" in answer.detail


def test_not_tls_and_h2_only_clients_tunnel() -> None:
    (plain,) = layer().handle(NotTLS("not a TLS record"))
    assert isinstance(plain, Tunnel) and not plain.replay_hello and plain.rule == " (not TLS)"
    (h2,) = layer().handle(HelloReceived("x.example", ("h2",)))
    assert isinstance(h2, Tunnel) and h2.replay_hello and "only h2" in h2.reason


@pytest.mark.parametrize(("code", "action"), [("upstream-cert-expired", "deny"), ("upstream-dns-failed", "error")])
def test_upstream_failure_is_answered_with_its_code(code: str, action: str) -> None:
    lay = layer()
    lay.handle(HelloReceived("x.example"))
    assert lay.handle(UpstreamFailed(code, "detail")) == [AnswerUnderTLS(code, "detail", action)]
