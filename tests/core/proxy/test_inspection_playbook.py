"""Playbook tests of the inspection layer: events in, commands out, no sockets (issue 11).

Each S1 decision of the forward proxy: CertificateRequest in the handshake (the layer sees the
same event for TLS 1.2 and 1.3) → replay + splice; block; present with and without a
certificate, and refused; late request → learn + 502; not TLS → tunnel; h2 clients inspected, h2-only ones by the
h2_only policy (inspect | tunnel | block);
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


def test_not_tls_and_clients_without_http_tunnel() -> None:
    (plain,) = layer().handle(NotTLS("not a TLS record"))
    assert isinstance(plain, Tunnel) and not plain.replay_hello and plain.rule == " (not TLS)"
    (other,) = layer().handle(HelloReceived("x.example", ("acme-tls/1",)))
    assert isinstance(other, Tunnel) and other.replay_hello and "only acme-tls/1" in other.reason


def h2_layer(h2_only: str) -> InspectionLayer:
    return InspectionLayer("x.example", 443, None, h2_only=h2_only)


@pytest.mark.parametrize("alpn", [("h2", "http/1.1"), ("http/1.1", "h2")])
@pytest.mark.parametrize("h2_only", ["inspect", "tunnel", "block"])
def test_a_client_offering_h2_and_http11_is_inspected_whatever_the_h2_only_policy(
        alpn: tuple[str, ...], h2_only: str) -> None:
    lay = h2_layer(h2_only)
    assert lay.handle(HelloReceived("x.example", alpn)) == [OpenUpstream("x.example")]
    assert lay.handle(UpstreamReady(cert_requested=False)) == [Inspect()]


def test_h2_only_client_is_inspected_by_default() -> None:
    lay = InspectionLayer("x.example", 443, None)
    assert lay.handle(HelloReceived("x.example", ("h2",))) == [OpenUpstream("x.example")]
    assert lay.handle(UpstreamReady(cert_requested=False)) == [Inspect()]


def test_h2_only_client_tunnels_with_h2_only_tunnel() -> None:
    lay = h2_layer("tunnel")
    (tunnel,) = lay.handle(HelloReceived("x.example", ("h2",)))
    assert isinstance(tunnel, Tunnel) and tunnel.replay_hello and "only h2" in tunnel.reason
    assert tunnel.rule == " / h2-only tunnel" and lay.done


def test_h2_only_client_gets_the_registry_page_with_h2_only_block() -> None:
    lay = h2_layer("block")
    (answer,) = lay.handle(HelloReceived(None, ("h2",)))
    assert answer == AnswerUnderTLS("forward-h2-only-blocked", "the client offers only h2 (no http/1.1) and "
                                    "h2_only = block", "deny", " / h2-only block")
    assert lay.done


def test_h2_only_policy_is_checked() -> None:
    with pytest.raises(ValueError, match=r"inspect \| tunnel \| block"):
        h2_layer("allow")


def test_the_h2_only_block_code_is_in_the_registry() -> None:
    from bridgehead.failures import get

    assert get("forward-h2-only-blocked").status == 403


@pytest.mark.parametrize(("code", "action"), [("upstream-cert-expired", "deny"), ("upstream-dns-failed", "error")])
def test_upstream_failure_is_answered_with_its_code(code: str, action: str) -> None:
    lay = layer()
    lay.handle(HelloReceived("x.example"))
    assert lay.handle(UpstreamFailed(code, "detail")) == [AnswerUnderTLS(code, "detail", action)]
