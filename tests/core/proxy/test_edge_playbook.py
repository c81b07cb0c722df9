"""Playbook tests of the reverse proxy's front door (core/proxy/edge.py): ClientHello in, decision out."""

from __future__ import annotations

from bridgehead.core.proxy.edge import EdgeLayer, HelloReceived, NotTLS, Passthrough, Refuse, Terminate, covers
from bridgehead.core.reverse.model import Backend, Mode, Route
from bridgehead.failures import get


def _route(name: str, hosts: tuple[str, ...], mode: Mode) -> Route:
    return Route(name=name, listener="edge", hosts=hosts, paths=(), mode=mode,
                 backend=Backend("https", "ex01.internal.test", 443))


ROUTES = [_route("owa", ("mail.example.test",), Mode.REENCRYPT),
          _route("adfs", ("sts.example.test",), Mode.PASSTHROUGH),
          _route("any", ("*.pass.example.test",), Mode.PASSTHROUGH),
          _route("exact", ("a.pass.example.test",), Mode.PASSTHROUGH)]
CERTS = [frozenset({"mail.example.test"}), frozenset({"*.example.test"}), frozenset({"autodiscover.example.test"})]


def test_passthrough_by_server_name_exact_before_wildcard() -> None:
    edge = EdgeLayer(ROUTES, CERTS)
    assert edge.handle(HelloReceived("sts.example.test")) == Passthrough(ROUTES[1])
    assert edge.handle(HelloReceived("A.Pass.Example.Test")) == Passthrough(ROUTES[3])
    assert edge.handle(HelloReceived("b.pass.example.test")) == Passthrough(ROUTES[2])


def test_terminate_with_the_certificate_for_the_name() -> None:
    edge = EdgeLayer(ROUTES, CERTS)
    assert edge.handle(HelloReceived("mail.example.test")) == Terminate(0)
    assert edge.handle(HelloReceived("autodiscover.example.test")) == Terminate(2)  # exact beats the wildcard
    assert edge.handle(HelloReceived("owa.example.test")) == Terminate(1)  # the wildcard covers one label
    assert edge.handle(HelloReceived("x.y.example.test")) == Terminate(0)  # ... not two: the first certificate
    assert edge.handle(HelloReceived(None)) == Terminate(0)  # no SNI: the listener's first certificate


def test_not_tls_is_refused_with_a_registry_code() -> None:
    refused = EdgeLayer(ROUTES, CERTS).handle(NotTLS("an HTTP request line"))
    assert isinstance(refused, Refuse) and refused.code == "client-bad-request" and "HTTPS only" in refused.reason
    assert get(refused.code).code == refused.code


def test_wildcard_certificate_names_cover_one_label() -> None:
    assert covers("*.example.test", "owa.example.test")
    assert not covers("*.example.test", "example.test") and not covers("*.example.test", "a.b.example.test")
    assert covers("Mail.Example.Test", "mail.example.test")
