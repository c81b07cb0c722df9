"""Forward policy: exception specs, order, learned entries, certificate-request rules."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridgehead.core.forward_policy import (
    Action,
    CertRequestAction,
    CertRule,
    DestinationRule,
    ForwardPolicy,
    PolicyError,
    SourceRule,
)

IP = ipaddress.ip_address


@pytest.mark.parametrize(("spec", "host", "port", "match"), [
    ("example.com", "example.com", 443, True),
    ("example.com", "www.example.com", 443, False),
    ("*.example.com", "www.example.com", 443, True),
    ("*.example.com", "example.com", 443, False),
    ("*.example.com:8443", "a.example.com", 443, False),
    ("*.example.com:8443", "a.example.com", 8443, True),
    ("192.0.2.0/24", "192.0.2.9", 443, True),
    ("192.0.2.0/24:443", "192.0.2.9", 8443, False),
    ("[2001:db8::1]:443", "2001:db8::1", 443, True),
    ("ADMINWEBSERVICE.microsoftonline.com", "adminwebservice.microsoftonline.com.", 443, True),
])
def test_destination_rules(spec: str, host: str, port: int, match: bool) -> None:
    assert DestinationRule.parse(spec).matches(host, port) is match


def test_cidr_destination_matches_resolved_addresses() -> None:
    rule = DestinationRule.parse("10.0.0.0/8")
    assert rule.matches("intranet.corp", 443, [IP("10.1.2.3")])
    assert not rule.matches("intranet.corp", 443, [IP("192.0.2.1")])


@pytest.mark.parametrize("bad", ["", "bad name", "*.", "a..b", "host:0", "host:99999", "host:x"])
def test_bad_specs(bad: str) -> None:
    with pytest.raises(PolicyError):
        DestinationRule.parse(bad)


def test_order_first_match_wins_and_is_named() -> None:
    policy = ForwardPolicy(sources=[SourceRule.parse("dirsync01.corp"), SourceRule.parse("10.9.0.0/16")],
                           destinations=[DestinationRule.parse("*.microsoftonline.com")])
    resolved = {"dirsync01.corp": frozenset({IP("10.10.10.9")})}
    d = policy.decide(IP("10.10.10.9"), "adminwebservice.microsoftonline.com", 443, resolved_sources=resolved)
    assert d.action == Action.TUNNEL and d.rule == "exception-source[1] dirsync01.corp"
    d = policy.decide(IP("10.10.10.10"), "adminwebservice.microsoftonline.com", 443, resolved_sources=resolved)
    assert d.rule == "exception-destination[1] *.microsoftonline.com"
    d = policy.decide(IP("10.10.10.10"), "www.example.com", 443, learned="learned: renegotiation")
    assert d.action == Action.TUNNEL and d.rule == "learned-bypass"
    d = policy.decide(IP("10.10.10.10"), "www.example.com", 443)
    assert d.action == Action.INSPECT and d.rule == "default inspect"


def test_cert_request_rules() -> None:
    policy = ForwardPolicy(on_cert_request=CertRequestAction.BLOCK, cert_rules=[
        CertRule(DestinationRule.parse("api.partner.test"), CertRequestAction.PRESENT, ("c.pem", "k.pem"))])
    assert policy.on_client_cert_request("api.partner.test", 443).action == CertRequestAction.PRESENT
    assert policy.on_client_cert_request("other.test", 443).action == CertRequestAction.BLOCK


@given(st.text(max_size=60))
def test_fuzz_specs_raise_only_policy_error(text: str) -> None:
    for parse in (DestinationRule.parse, SourceRule.parse):
        try:
            parse(text)
        except PolicyError:
            pass
