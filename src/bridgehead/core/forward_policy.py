"""Forward-proxy policy: which connections are inspected, tunnelled or refused.

Pure decisions over plain values (no sockets): the runtime resolves names and asks.

Order of evaluation for a CONNECT (first match wins, and the decision names the rule):
1. inspection exceptions by source (IP, CIDR, host name resolved by the runtime),
2. inspection exceptions by destination (``domain``, ``*.domain``, IP, CIDR, ``:port``),
3. destinations learned at run time (a server that asked for a client certificate after
   the first request; see DESIGN.md S1),
4. the default action (``inspect`` unless configured ``tunnel``).

What happens when the server sends a CertificateRequest is a second, per-destination
decision (:meth:`ForwardPolicy.on_client_cert_request`): ``tunnel`` (replay the client's
ClientHello and splice), ``block`` (TMG-compatible 502) or ``present`` (a configured
client certificate).

The access log's ``action`` for a refused request (:func:`refusal_action`): ``deny`` when
bridgehead refuses by its policy (a certificate it does not accept, a client-certificate rule,
a malformed request), ``error`` when the origin could not be reached or spoken to.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# failing to reach or talk to the origin: not a decision of bridgehead's, so logged as "error"
ORIGIN_ERRORS = frozenset({"upstream-dns-failed", "upstream-unreachable", "upstream-timeout", "upstream-tls-failed",
                           "upstream-bad-response", "upstream-tls-rsa-key-exchange-only"})


def refusal_action(code: str) -> str:
    """``error`` for a failure to reach or talk to the origin, ``deny`` for a policy refusal."""
    return "error" if code in ORIGIN_ERRORS or code.startswith("tls-alert-") or code == "tls-wrong-version-number" \
        else "deny"


class PolicyError(ValueError):
    """A rule or setting that cannot be understood."""


class Action(StrEnum):
    INSPECT = "inspect"
    TUNNEL = "tunnel"
    DENY = "deny"


class CertRequestAction(StrEnum):
    TUNNEL = "tunnel"
    BLOCK = "block"
    PRESENT = "present"


def _network(text: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _valid_hostname(name: str) -> bool:
    labels = name.split(".")
    return all(0 < len(lbl) <= 63 and all(c.isalnum() or c in "-_" for c in lbl) for lbl in labels)


@dataclass(frozen=True)
class SourceRule:
    """``10.1.2.3``, ``10.0.0.0/8``, ``2001:db8::/32`` or a host name (``dirsync01.corp``)."""

    spec: str
    network: IPNetwork | None = None
    hostname: str | None = None

    @classmethod
    def parse(cls, spec: str) -> SourceRule:
        text = spec.strip()
        net = _network(text)
        if net is not None:
            return cls(text, network=net)
        name = text.rstrip(".").lower()
        if not name or not _valid_hostname(name):
            raise PolicyError(f"source exception {spec!r}: not an IP, CIDR or host name")
        return cls(text, hostname=name)

    def matches(self, client: IPAddress, resolved: Mapping[str, frozenset[IPAddress]]) -> bool:
        if self.network is not None:
            return client in self.network
        return client in resolved.get(self.hostname or "", frozenset())


@dataclass(frozen=True)
class DestinationRule:
    """``example.com``, ``*.example.com``, ``192.0.2.7``, ``192.0.2.0/24``, each with optional ``:port``."""

    spec: str
    domain: str | None = None
    wildcard: bool = False
    network: IPNetwork | None = None
    port: int | None = None

    @classmethod
    def parse(cls, spec: str) -> DestinationRule:
        text = spec.strip()
        host, port = _split_port(text)
        net = _network(host)
        if net is not None:
            return cls(text, network=net, port=port)
        wildcard = host.startswith("*.")
        name = (host[2:] if wildcard else host).rstrip(".").lower()
        if not name or not _valid_hostname(name):
            raise PolicyError(f"destination exception {spec!r}: not a domain, *.domain, IP or CIDR")
        return cls(text, domain=name, wildcard=wildcard, port=port)

    def matches(self, host: str, port: int, addresses: Iterable[IPAddress] = ()) -> bool:
        if self.port is not None and port != self.port:
            return False
        if self.network is not None:
            literal = _network(host)
            candidates = [literal.network_address] if literal is not None else list(addresses)
            return any(a in self.network for a in candidates)
        name = host.rstrip(".").lower()
        if self.wildcard:
            return name.endswith("." + (self.domain or ""))
        return name == self.domain


def _split_port(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, _port(rest[1:]) if rest.startswith(":") else None
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, _port(port)
    return text, None


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise PolicyError(f"invalid port {text!r}")
    return int(text)


@dataclass(frozen=True)
class Decision:
    action: Action
    rule: str  # which rule decided, for the access log
    reason: str


@dataclass(frozen=True)
class CertRule:
    """Per-destination answer to a CertificateRequest, with the certificate for ``present``."""

    destination: DestinationRule
    action: CertRequestAction
    client_cert: tuple[str, str] | None = None


@dataclass
class ForwardPolicy:
    default: Action = Action.INSPECT
    sources: list[SourceRule] = field(default_factory=list)
    destinations: list[DestinationRule] = field(default_factory=list)
    on_cert_request: CertRequestAction = CertRequestAction.TUNNEL
    cert_rules: list[CertRule] = field(default_factory=list)

    def decide(
        self,
        client: IPAddress,
        host: str,
        port: int,
        *,
        learned: str | None = None,
        resolved_sources: Mapping[str, frozenset[IPAddress]] | None = None,
        addresses: Iterable[IPAddress] = (),
    ) -> Decision:
        """Inspect or tunnel a CONNECT from ``client`` to ``host:port``."""
        resolved = resolved_sources or {}
        for i, src in enumerate(self.sources, 1):
            if src.matches(client, resolved):
                return Decision(Action.TUNNEL, f"exception-source[{i}] {src.spec}",
                                f"client {client} matches source exception {src.spec!r}")
        addrs = list(addresses)
        for i, dst in enumerate(self.destinations, 1):
            if dst.matches(host, port, addrs):
                return Decision(Action.TUNNEL, f"exception-destination[{i}] {dst.spec}",
                                f"{host}:{port} matches destination exception {dst.spec!r}")
        if learned is not None:
            return Decision(Action.TUNNEL, "learned-bypass", learned)
        return Decision(self.default, f"default {self.default.value}", f"default action {self.default.value}")

    def on_client_cert_request(self, host: str, port: int) -> CertRule:
        """What to do when ``host:port`` sends a CertificateRequest during the upstream handshake."""
        for rule in self.cert_rules:
            if rule.destination.matches(host, port):
                return rule
        return CertRule(DestinationRule("*"), self.on_cert_request, None)
