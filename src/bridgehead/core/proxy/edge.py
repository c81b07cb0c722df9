"""The front door of a reverse-proxy listener, sans-IO: what to do with a held ClientHello.

The reverse proxy's counterpart of :mod:`bridgehead.core.proxy.inspection` (the forward proxy's
upstream-first layer): the runner (``runtime/reverse/server.py``) holds the client's ClientHello
unanswered (the same ``read_hello`` as the forward proxy) and reports it; this layer decides:

1. ``NotTLS`` → refuse (log ``client-bad-request``: the listener is HTTPS only) and close;
2. ``HelloReceived`` whose server name (RFC 6066 §3) matches a passthrough route (exact names
   before wildcards) → :class:`Passthrough`: replay the ClientHello to the route's backend and
   splice — TLS, client certificates and channel bindings go end to end (scenario S3);
3. otherwise → :class:`Terminate` with the listener certificate for that name (exact SAN, then a
   wildcard, then the listener's first; RFC 6125 §6.4), then HTTP through the exchange layer.

Routes are data (``core/reverse/model.py``); certificate names are given as plain sets of names
per certificate, so the layer needs no TLS library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bridgehead.core.reverse.model import Route
from bridgehead.core.reverse.routes import passthrough_for

# ---- events ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HelloReceived:
    sni: str | None


@dataclass(frozen=True)
class NotTLS:
    reason: str


Event = HelloReceived | NotTLS

# ---- commands -------------------------------------------------------------------------


@dataclass(frozen=True)
class Passthrough:
    route: Route


@dataclass(frozen=True)
class Terminate:
    certificate: int  # index into the listener's certificates


@dataclass(frozen=True)
class Refuse:
    code: str
    reason: str


Command = Passthrough | Terminate | Refuse


class EdgeLayer:
    """One listener's decision for one connection; ``names[i]`` are the DNS names of certificate ``i``."""

    def __init__(self, routes: Sequence[Route], names: Sequence[frozenset[str]]) -> None:
        self.routes = routes
        self.names = names

    def handle(self, event: Event) -> Command:
        if isinstance(event, NotTLS):
            return Refuse("client-bad-request", f"not a TLS ClientHello (this listener is HTTPS only): {event.reason}")
        route = passthrough_for(self.routes, event.sni)
        if route is not None:
            return Passthrough(route)
        return Terminate(self.certificate_for(event.sni))

    def certificate_for(self, sni: str | None) -> int:
        """RFC 6125 §6.4: an exact DNS name first, then a wildcard that covers it, else the first."""
        if sni:
            name = sni.lower()
            for i, names in enumerate(self.names):
                if name in names:
                    return i
            for i, names in enumerate(self.names):
                if any(covers(n, name) for n in names):
                    return i
        return 0


def covers(name: str, host: str) -> bool:
    """A certificate's DNS name covers ``host`` (RFC 6125 §6.4.3: a wildcard stands for one whole label)."""
    name, host = name.lower(), host.lower()
    return name == host or (name.startswith("*.") and host.endswith(name[1:]) and host.count(".") == name.count("."))
